// Written by codegen/clientgen.py from task-specs/; do not edit.
// Typed task methods: `await client.tasks.my_custom_task({param1: 'test', param2: 42})`
// submits the task, waits for it and resolves to its output (TaskFailedError
// when it fails or is cancelled).

import type { SubmitOptions } from './index.js';

export interface CountdownInput {
  /** How long to count down, in seconds */
  seconds: number;
  /** Interval between progress reports, in milliseconds */
  step_ms?: number;
}

export interface CountdownOutput {
  /** Seconds counted down (a cancelled countdown has no result) */
  counted: number;
  /** Progress steps taken */
  steps: number;
}

export interface CreateConfigInput {
  /** Name of the application; a letter, then letters, digits, '.', '_' or '-' */
  app_name: string;
  /** Where the application runs */
  environment?: "development" | "staging" | "production";
  /** Whether debugging aids are on */
  debug?: boolean;
  /** TCP port the application listens on */
  port?: number;
  /** Lowest severity that is logged */
  log_level?: "debug" | "info" | "warning" | "error" | "critical";
  /** Optional features to switch on (duplicates are merged) */
  features?: Array<string>;
}

/** An application configuration (the app_config schema) */
export interface CreateConfigOutput {
  app_name: string;
  environment: "development" | "staging" | "production";
  debug: boolean;
  port: number;
  log_level: "debug" | "info" | "warning" | "error" | "critical";
  features: Array<string>;
}

export interface FanOutInput {
  /** One child task per word */
  words: Array<string>;
  /** When above 0, each child is a countdown of this many seconds */
  hold_s?: number;
}

export interface FanOutOutput {
  /** The children's results, in the order of the words */
  results: Array<string>;
  /** The children's task ids, in the same order */
  children: Array<string>;
}

export interface LatencyProbeOutput {
  /** CLOCK_REALTIME at the body's entry, microseconds since the epoch */
  started_us: number;
}

export interface LlmAgentInput {
  /** What to ask the model */
  prompt: string;
  /** A system prompt */
  system?: string;
  /** Task types the model may call, by name; "*" allows every task type except llm_agent itself. Empty: no tools. */
  tools?: Array<string>;
  /** The LLM API to use; the server's TAAS_LLM_PROVIDER when absent */
  provider?: "openai" | "anthropic" | "ollama";
  /** The model; the server's configured model when absent */
  model?: string;
  /** Most model calls before the agent stops */
  max_steps?: number;
  /** Most input plus output tokens over all model calls; 0 = no limit */
  max_tokens?: number;
}

export interface LlmAgentOutputStepsItem {
  /** The model call that asked for it */
  turn: number;
  /** The task type called */
  tool: string;
  /** The provider's id of the call */
  call_id: string;
  /** The task that ran it; absent when it never ran */
  child_task_id?: string;
  /** The arguments as the model wrote them */
  inputs: string;
  /** The task's output as JSON text, when it succeeded */
  output?: string;
  /** Why there is no output */
  error?: string;
}

export interface LlmAgentOutputUsage {
  input_tokens: number;
  output_tokens: number;
  model_calls: number;
  /** Model calls with their retries */
  http_requests: number;
}

export interface LlmAgentOutput {
  /** The model's final answer ("" when a limit stopped it first) */
  answer: string;
  /** answer (a final answer), max_steps or max_tokens (a limit reached), length (the answer was cut at the reply token limit), other */
  stop_reason: "answer" | "max_steps" | "max_tokens" | "length" | "other";
  /** The provider used */
  provider: string;
  /** The model used */
  model: string;
  /** Every tool call, in order */
  steps: Array<LlmAgentOutputStepsItem>;
  usage: LlmAgentOutputUsage;
}

export interface LoadConfigInput {
  /** File to read, relative to the configuration root */
  path?: string;
  /** An inline configuration (any JSON object) */
  config?: Record<string, unknown>;
}

export interface LoadConfigOutput {
  /** The configuration */
  config: Record<string, unknown>;
  /** "file:<path>" or "inline" */
  source: string;
  /** The configuration's top-level keys, sorted by their UTF-8 bytes */
  keys: Array<string>;
}

export interface MyCustomTaskInput {
  /** First parameter */
  param1: string;
  /** Second parameter */
  param2?: number;
}

export interface MyCustomTaskOutput {
  /** "Processed <param1> with <param2>", the number as JSON shows it */
  result: string;
}

export interface NoopOutput {
  ok: boolean;
}

export interface SaveConfigInput {
  /** Where to write, relative to the output root (e.g. "prod/shop.json") */
  path: string;
  /** The configuration to save (any JSON object) */
  config: Record<string, unknown>;
  /** Create missing directories on the way (like mkdir -p) */
  create_dirs?: boolean;
}

export interface SaveConfigOutput {
  /** The path written, relative to the output root */
  path: string;
  /** Size of the file in bytes */
  bytes: number;
  /** SHA-256 of the file's contents, lowercase hex */
  sha256: string;
}

export interface ValidateConfigInput {
  /** The configuration to check (any JSON object) */
  config: Record<string, unknown>;
}

export interface ValidateConfigOutputErrorsItem {
  /** JSON Pointer of the offending value ("" for the whole configuration) */
  path: string;
  /** What is wrong with it */
  message: string;
}

export interface ValidateConfigOutput {
  /** True when the configuration conforms to the schema */
  valid: boolean;
  /** Every violation found, in document order; empty when valid */
  errors: Array<ValidateConfigOutputErrorsItem>;
}

export interface Tasks {
  /** Counts down for `seconds` seconds, reporting progress ("3 seconds left") every `step_ms` milliseconds. Stops within one step or 100 ms, whichever is less, when cancelled. Safe to run again after a crash. */
  countdown(inputs: CountdownInput, options?: SubmitOptions): Promise<CountdownOutput>;
  /** Builds an application configuration from typed parameters, filling in defaults for everything but the application name. Features are a set: the result lists them sorted, each once. The result conforms to the shared app_config schema and can be passed to validate_config or save_config. */
  create_config(inputs: CreateConfigInput, options?: SubmitOptions): Promise<CreateConfigOutput>;
  /** Runs one child task per word - the guide's example task with the word and its position or, with hold_s, a count-down of hold_s seconds - all at once, waits for every child and returns their results in order. Each child is a task of its own, listed under this one (ListTasks with parent_id). Cancelling this task cancels its unfinished children. */
  fan_out(inputs: FanOutInput, options?: SubmitOptions): Promise<FanOutOutput>;
  /** Does nothing but read the clock: returns when its body started, in microseconds since the Unix epoch (CLOCK_REALTIME), so a client on the same machine can measure submit to body start to the microsecond (started_at_ms has millisecond resolution). Accepts any small object as inputs. */
  latency_probe(inputs?: Record<string, unknown>, options?: SubmitOptions): Promise<LatencyProbeOutput>;
  /** Answers a prompt with a language model that may call other tasks as tools. Each tool call runs the named task with the model's arguments, checked against the task's input schema; errors go back to the model so that it can correct itself. Stops at a final answer or at the step or token limit. Provider and model default to the server's configuration (TAAS_LLM_PROVIDER, TAAS_LLM_MODEL, ...). */
  llm_agent(inputs: LlmAgentInput, options?: SubmitOptions): Promise<LlmAgentOutput>;
  /** Loads a configuration from a JSON file (a path relative to the configuration root: TAAS_CONFIG_ROOT, else TAAS_OUTPUT_ROOT, else "taas-output" in the server's working directory) or from an inline object, and returns it with its source ("file:<path>" or "inline") and its top-level keys, sorted. Give exactly one of `path` and `config`. A missing file, a file over 1 MiB, a file that is not a JSON object, or a path that leaves the root or crosses a symbolic link fails the task permanently. */
  load_config(inputs?: LoadConfigInput, options?: SubmitOptions): Promise<LoadConfigOutput>;
  /** Formats its two parameters into one sentence ("Processed <param1> with <param2>"), reporting progress half way. The smallest complete task, used as the worked example of the author guide. */
  my_custom_task(inputs: MyCustomTaskInput, options?: SubmitOptions): Promise<MyCustomTaskOutput>;
  /** Does nothing and returns at once; accepts any small object as inputs. Used to measure what the server costs per task (validation, durable storage, dispatch, completion) without the cost of a body. */
  noop(inputs?: Record<string, unknown>, options?: SubmitOptions): Promise<NoopOutput>;
  /** Saves a configuration as pretty-printed JSON to a file beneath the output root (TAAS_OUTPUT_ROOT, default "taas-output" in the server's working directory, created if missing). The path must be relative and stay beneath the root: absolute paths, '.', '..' and empty components, backslashes, control characters, symbolic links anywhere on the way, and existing targets that are not regular files are refused. Missing directories are created only when create_dirs is true. Saving the same content again leaves the file untouched (not even rewritten) and returns the same result, so a retry after a crash is harmless. */
  save_config(inputs: SaveConfigInput, options?: SubmitOptions): Promise<SaveConfigOutput>;
  /** Checks a configuration against the shared app_config schema (task-specs/schemas/app_config.yaml) and reports every violation, each with the JSON Pointer of the offending value. An invalid configuration is a successful run whose result says valid: false. */
  validate_config(inputs: ValidateConfigInput, options?: SubmitOptions): Promise<ValidateConfigOutput>;
}

export declare const TASK_NAMES: readonly string[];
export declare function makeTasks(run: (name: string, inputs: object, options?: SubmitOptions) => Promise<unknown>): Tasks;
