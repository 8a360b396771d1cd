"""Typed task methods for TaasClient, one per task spec of this repository.

Written by codegen/clientgen.py from task-specs/; do not edit. Use them as

    output = await client.tasks.my_custom_task(param1="test", param2=42)

which submits the task, waits for it and returns its output (a TypedDict),
or raises TaskFailed. Options of the submit go through with_options():
`client.tasks.with_options(priority=5, wait_timeout=60).noop()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, TypedDict, Union, cast

from taas_client.errors import TaskFailed
from taas_client.types import TaskState

if TYPE_CHECKING:
    from taas_client.client import TaasClient

__all__ = ["Tasks"]


class CountdownOutput(TypedDict):
    """The output of countdown.

    counted: Seconds counted down (a cancelled countdown has no result)
    steps: Progress steps taken
    """
    counted: int
    steps: int


class _CountdownInputRequired(TypedDict):
    seconds: int


class CountdownInput(_CountdownInputRequired, total=False):
    """The inputs of countdown.

    seconds: How long to count down, in seconds
    step_ms (optional): Interval between progress reports, in milliseconds
    """
    step_ms: int


class CreateConfigOutput(TypedDict):
    """An application configuration (the app_config schema)

    app_name: -
    environment: -
    debug: -
    port: -
    log_level: -
    features: -
    """
    app_name: str
    environment: Literal['development', 'staging', 'production']
    debug: bool
    port: int
    log_level: Literal['debug', 'info', 'warning', 'error', 'critical']
    features: List[str]


class _CreateConfigInputRequired(TypedDict):
    app_name: str


class CreateConfigInput(_CreateConfigInputRequired, total=False):
    """The inputs of create_config.

    app_name: Name of the application; a letter, then letters, digits, '.', '_' or '-'
    environment (optional): Where the application runs
    debug (optional): Whether debugging aids are on
    port (optional): TCP port the application listens on
    log_level (optional): Lowest severity that is logged
    features (optional): Optional features to switch on (duplicates are merged)
    """
    environment: Literal['development', 'staging', 'production']
    debug: bool
    port: int
    log_level: Literal['debug', 'info', 'warning', 'error', 'critical']
    features: List[str]


class FanOutOutput(TypedDict):
    """The output of fan_out.

    results: The children's results, in the order of the words
    children: The children's task ids, in the same order
    """
    results: List[str]
    children: List[str]


class _FanOutInputRequired(TypedDict):
    words: List[str]


class FanOutInput(_FanOutInputRequired, total=False):
    """The inputs of fan_out.

    words: One child task per word
    hold_s (optional): When above 0, each child is a countdown of this many seconds
    """
    hold_s: int


class LatencyProbeOutput(TypedDict):
    """The output of latency_probe.

    started_us: CLOCK_REALTIME at the body's entry, microseconds since the epoch
    """
    started_us: int


class _LlmAgentOutputStepsItemRequired(TypedDict):
    turn: int
    tool: str
    call_id: str
    inputs: str


class LlmAgentOutputStepsItem(_LlmAgentOutputStepsItemRequired, total=False):
    """LlmAgentOutputStepsItem

    turn: The model call that asked for it
    tool: The task type called
    call_id: The provider's id of the call
    child_task_id (optional): The task that ran it; absent when it never ran
    inputs: The arguments as the model wrote them
    output (optional): The task's output as JSON text, when it succeeded
    error (optional): Why there is no output
    """
    child_task_id: str
    output: str
    error: str


class LlmAgentOutputUsage(TypedDict):
    """LlmAgentOutputUsage

    input_tokens: -
    output_tokens: -
    model_calls: -
    http_requests: Model calls with their retries
    """
    input_tokens: int
    output_tokens: int
    model_calls: int
    http_requests: int


class LlmAgentOutput(TypedDict):
    """The output of llm_agent.

    answer: The model's final answer ("" when a limit stopped it first)
    stop_reason: answer (a final answer), max_steps or max_tokens (a limit reached), length (the
        answer was cut at the reply token limit), other
    provider: The provider used
    model: The model used
    steps: Every tool call, in order
    usage: -
    """
    answer: str
    stop_reason: Literal['answer', 'max_steps', 'max_tokens', 'length', 'other']
    provider: str
    model: str
    steps: List[LlmAgentOutputStepsItem]
    usage: LlmAgentOutputUsage


class _LlmAgentInputRequired(TypedDict):
    prompt: str


class LlmAgentInput(_LlmAgentInputRequired, total=False):
    """The inputs of llm_agent.

    prompt: What to ask the model
    system (optional): A system prompt
    tools (optional): Task types the model may call, by name; "*" allows every task type except
        llm_agent itself. Empty: no tools.
    provider (optional): The LLM API to use; the server's TAAS_LLM_PROVIDER when absent
    model (optional): The model; the server's configured model when absent
    max_steps (optional): Most model calls before the agent stops
    max_tokens (optional): Most input plus output tokens over all model calls; 0 = no limit
    """
    system: str
    tools: List[str]
    provider: Literal['openai', 'anthropic', 'ollama']
    model: str
    max_steps: int
    max_tokens: int


class LoadConfigOutput(TypedDict):
    """The output of load_config.

    config: The configuration
    source: "file:<path>" or "inline"
    keys: The configuration's top-level keys, sorted by their UTF-8 bytes
    """
    config: Dict[str, Any]
    source: str
    keys: List[str]


class LoadConfigInput(TypedDict, total=False):
    """The inputs of load_config.

    path (optional): File to read, relative to the configuration root
    config (optional): An inline configuration (any JSON object)
    """
    path: str
    config: Dict[str, Any]


class MyCustomTaskOutput(TypedDict):
    """The output of my_custom_task.

    result: "Processed <param1> with <param2>", the number as JSON shows it
    """
    result: str


class _MyCustomTaskInputRequired(TypedDict):
    param1: str


class MyCustomTaskInput(_MyCustomTaskInputRequired, total=False):
    """The inputs of my_custom_task.

    param1: First parameter
    param2 (optional): Second parameter
    """
    param2: float


class NoopOutput(TypedDict):
    """The output of noop.

    ok: -
    """
    ok: bool


class SaveConfigOutput(TypedDict):
    """The output of save_config.

    path: The path written, relative to the output root
    bytes: Size of the file in bytes
    sha256: SHA-256 of the file's contents, lowercase hex
    """
    path: str
    bytes: int
    sha256: str


class _SaveConfigInputRequired(TypedDict):
    path: str
    config: Dict[str, Any]


class SaveConfigInput(_SaveConfigInputRequired, total=False):
    """The inputs of save_config.

    path: Where to write, relative to the output root (e.g. "prod/shop.json")
    config: The configuration to save (any JSON object)
    create_dirs (optional): Create missing directories on the way (like mkdir -p)
    """
    create_dirs: bool


class ValidateConfigOutputErrorsItem(TypedDict):
    """ValidateConfigOutputErrorsItem

    path: JSON Pointer of the offending value ("" for the whole configuration)
    message: What is wrong with it
    """
    path: str
    message: str


class ValidateConfigOutput(TypedDict):
    """The output of validate_config.

    valid: True when the configuration conforms to the schema
    errors: Every violation found, in document order; empty when valid
    """
    valid: bool
    errors: List[ValidateConfigOutputErrorsItem]


class ValidateConfigInput(TypedDict):
    """The inputs of validate_config.

    config: The configuration to check (any JSON object)
    """
    config: Dict[str, Any]


class Tasks:
    """One method per task type: submit, wait, return the output."""

    def __init__(self, client: "TaasClient", **options: Any) -> None:
        self._client = client
        self._options = options

    def with_options(self, **options: Any) -> "Tasks":
        """The same methods with submit options: priority, run_after, timeout,
        idempotency_key, wait_timeout (see TaasClient.submit_task)."""
        return Tasks(self._client, **dict(self._options, **options))

    async def _run(self, name: str, inputs: Dict[str, Any]) -> Any:
        task = await self._client.submit_task(name, inputs, wait=True, **self._options)
        if task.state is not TaskState.SUCCEEDED:
            raise TaskFailed("task %s (%s) ended %s: %s"
                             % (task.id, name, task.state, task.error), task)
        return task.output

    async def countdown(self, *, seconds: int, step_ms: Optional[int] = None) -> CountdownOutput:
        """Counts down for `seconds` seconds, reporting progress ("3 seconds left") every `step_ms`
        milliseconds. Stops within one step or 100 ms, whichever is less, when cancelled. Safe to
        run again after a crash.

        seconds: How long to count down, in seconds
        step_ms: Interval between progress reports, in milliseconds (default 1000)
        """
        inputs: Dict[str, Any] = {}
        inputs['seconds'] = seconds
        if step_ms is not None:
            inputs['step_ms'] = step_ms
        return cast(CountdownOutput, await self._run('countdown', inputs))

    async def create_config(
            self,
            *,
            app_name: str,
            environment: Optional[Literal['development', 'staging', 'production']] = None,
            debug: Optional[bool] = None,
            port: Optional[int] = None,
            log_level: Optional[Literal['debug', 'info', 'warning', 'error', 'critical']] = None,
            features: Optional[List[str]] = None,
    ) -> CreateConfigOutput:
        """Builds an application configuration from typed parameters, filling in defaults for
        everything but the application name. Features are a set: the result lists them sorted, each
        once. The result conforms to the shared app_config schema and can be passed to
        validate_config or save_config.

        app_name: Name of the application; a letter, then letters, digits, '.', '_' or '-'
        environment: Where the application runs (default "development")
        debug: Whether debugging aids are on (default false)
        port: TCP port the application listens on (default 8080)
        log_level: Lowest severity that is logged (default "info")
        features: Optional features to switch on (duplicates are merged) (default [])
        """
        inputs: Dict[str, Any] = {}
        inputs['app_name'] = app_name
        if environment is not None:
            inputs['environment'] = environment
        if debug is not None:
            inputs['debug'] = debug
        if port is not None:
            inputs['port'] = port
        if log_level is not None:
            inputs['log_level'] = log_level
        if features is not None:
            inputs['features'] = features
        return cast(CreateConfigOutput, await self._run('create_config', inputs))

    async def fan_out(self, *, words: List[str], hold_s: Optional[int] = None) -> FanOutOutput:
        """Runs one child task per word - the guide's example task with the word and its position
        or, with hold_s, a count-down of hold_s seconds - all at once, waits for every child and
        returns their results in order. Each child is a task of its own, listed under this one
        (ListTasks with parent_id). Cancelling this task cancels its unfinished children.

        words: One child task per word
        hold_s: When above 0, each child is a countdown of this many seconds (default 0)
        """
        inputs: Dict[str, Any] = {}
        inputs['words'] = words
        if hold_s is not None:
            inputs['hold_s'] = hold_s
        return cast(FanOutOutput, await self._run('fan_out', inputs))

    async def latency_probe(self, **inputs_: Any) -> LatencyProbeOutput:
        """Does nothing but read the clock: returns when its body started, in microseconds since
        the Unix epoch (CLOCK_REALTIME), so a client on the same machine can measure submit to body
        start to the microsecond (started_at_ms has millisecond resolution). Accepts any small
        object as inputs.
        """
        inputs: Dict[str, Any] = dict(inputs_)
        return cast(LatencyProbeOutput, await self._run('latency_probe', inputs))

    async def llm_agent(
            self,
            *,
            prompt: str,
            system: Optional[str] = None,
            tools: Optional[List[str]] = None,
            provider: Optional[Literal['openai', 'anthropic', 'ollama']] = None,
            model: Optional[str] = None,
            max_steps: Optional[int] = None,
            max_tokens: Optional[int] = None,
    ) -> LlmAgentOutput:
        """Answers a prompt with a language model that may call other tasks as tools. Each tool
        call runs the named task with the model's arguments, checked against the task's input
        schema; errors go back to the model so that it can correct itself. Stops at a final answer
        or at the step or token limit. Provider and model default to the server's configuration
        (TAAS_LLM_PROVIDER, TAAS_LLM_MODEL, ...).

        prompt: What to ask the model
        system: A system prompt
        tools: Task types the model may call, by name; "*" allows every task type except llm_agent
            itself. Empty: no tools. (default [])
        provider: The LLM API to use; the server's TAAS_LLM_PROVIDER when absent
        model: The model; the server's configured model when absent
        max_steps: Most model calls before the agent stops (default 8)
        max_tokens: Most input plus output tokens over all model calls; 0 = no limit (default
            200000)
        """
        inputs: Dict[str, Any] = {}
        inputs['prompt'] = prompt
        if system is not None:
            inputs['system'] = system
        if tools is not None:
            inputs['tools'] = tools
        if provider is not None:
            inputs['provider'] = provider
        if model is not None:
            inputs['model'] = model
        if max_steps is not None:
            inputs['max_steps'] = max_steps
        if max_tokens is not None:
            inputs['max_tokens'] = max_tokens
        return cast(LlmAgentOutput, await self._run('llm_agent', inputs))

    async def load_config(
            self,
            *,
            path: Optional[str] = None,
            config: Optional[Dict[str, Any]] = None,
    ) -> LoadConfigOutput:
        """Loads a configuration from a JSON file (a path relative to the configuration root:
        TAAS_CONFIG_ROOT, else TAAS_OUTPUT_ROOT, else "taas-output" in the server's working
        directory) or from an inline object, and returns it with its source ("file:<path>" or
        "inline") and its top-level keys, sorted. Give exactly one of `path` and `config`. A
        missing file, a file over 1 MiB, a file that is not a JSON object, or a path that leaves
        the root or crosses a symbolic link fails the task permanently.

        path: File to read, relative to the configuration root
        config: An inline configuration (any JSON object)
        """
        inputs: Dict[str, Any] = {}
        if path is not None:
            inputs['path'] = path
        if config is not None:
            inputs['config'] = config
        return cast(LoadConfigOutput, await self._run('load_config', inputs))

    async def my_custom_task(
            self,
            *,
            param1: str,
            param2: Optional[float] = None,
    ) -> MyCustomTaskOutput:
        """Formats its two parameters into one sentence ("Processed <param1> with <param2>"),
        reporting progress half way. The smallest complete task, used as the worked example of the
        author guide.

        param1: First parameter
        param2: Second parameter (default 0)
        """
        inputs: Dict[str, Any] = {}
        inputs['param1'] = param1
        if param2 is not None:
            inputs['param2'] = param2
        return cast(MyCustomTaskOutput, await self._run('my_custom_task', inputs))

    async def noop(self, **inputs_: Any) -> NoopOutput:
        """Does nothing and returns at once; accepts any small object as inputs. Used to measure
        what the server costs per task (validation, durable storage, dispatch, completion) without
        the cost of a body.
        """
        inputs: Dict[str, Any] = dict(inputs_)
        return cast(NoopOutput, await self._run('noop', inputs))

    async def save_config(
            self,
            *,
            path: str,
            config: Dict[str, Any],
            create_dirs: Optional[bool] = None,
    ) -> SaveConfigOutput:
        """Saves a configuration as pretty-printed JSON to a file beneath the output root
        (TAAS_OUTPUT_ROOT, default "taas-output" in the server's working directory, created if
        missing). The path must be relative and stay beneath the root: absolute paths, '.', '..'
        and empty components, backslashes, control characters, symbolic links anywhere on the way,
        and existing targets that are not regular files are refused. Missing directories are
        created only when create_dirs is true. Saving the same content again leaves the file
        untouched (not even rewritten) and returns the same result, so a retry after a crash is
        harmless.

        path: Where to write, relative to the output root (e.g. "prod/shop.json")
        config: The configuration to save (any JSON object)
        create_dirs: Create missing directories on the way (like mkdir -p) (default false)
        """
        inputs: Dict[str, Any] = {}
        inputs['path'] = path
        inputs['config'] = config
        if create_dirs is not None:
            inputs['create_dirs'] = create_dirs
        return cast(SaveConfigOutput, await self._run('save_config', inputs))

    async def validate_config(self, *, config: Dict[str, Any]) -> ValidateConfigOutput:
        """Checks a configuration against the shared app_config schema
        (task-specs/schemas/app_config.yaml) and reports every violation, each with the JSON
        Pointer of the offending value. An invalid configuration is a successful run whose result
        says valid: false.

        config: The configuration to check (any JSON object)
        """
        inputs: Dict[str, Any] = {}
        inputs['config'] = config
        return cast(ValidateConfigOutput, await self._run('validate_config', inputs))
