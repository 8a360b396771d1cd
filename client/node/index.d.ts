// Types of taas-client (index.js). The task methods' types are generated
// from the specs: tasks.d.ts.
import type { Tasks } from './tasks.js';

export declare const DEFAULT_SERVER: string;

export type TaskStateName = 'UNSPECIFIED' | 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export declare const TaskState: Readonly<{ [K in TaskStateName]: K }>;
export declare function isFinished(state: TaskStateName): boolean;

export interface Attempt {
  number: number;
  error: string;
  finishedAt: Date | null;
}

export interface Task {
  id: string;
  taskName: string;
  state: TaskStateName;
  /** Decoded JSON; null in listTasks summaries. */
  inputs: Record<string, unknown> | null;
  /** Decoded JSON; set when SUCCEEDED (null in listTasks summaries). */
  output: unknown;
  error: string;
  progress: number;
  progressMessage: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  createdAt: Date | null;
  updatedAt: Date | null;
  runAfter: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  idempotencyKey: string;
  cancelRequested: boolean;
  attempts: Attempt[];
  /** The task that submitted this one as a child; '' for a top-level task. */
  parentId: string;
}

export interface TaskEvent {
  taskId: string;
  state: TaskStateName;
  progress: number;
  progressMessage: string;
  seq: number;
  at: Date | null;
  /** Set on the last event (a finished state). */
  task: Task | null;
}

export interface TaskType {
  name: string;
  version: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  idempotent: boolean;
  retries: number;
  timeoutS: number;
}

export interface SubmitResult {
  taskId: string;
  state: TaskStateName;
  duplicate: boolean;
  idempotencyKey: string;
}

export interface SubmitOptions {
  /** Same key + same inputs returns the first task; default: a random key per submit. */
  idempotencyKey?: string;
  priority?: number;
  /** Not before this time (a Date, or Unix epoch milliseconds). */
  runAfter?: Date | number;
  /** The task's execution deadline, seconds, instead of its type's. */
  timeoutS?: number;
  /** With wait: give up after this many milliseconds (DeadlineExceededError). */
  waitTimeoutMs?: number;
}

export interface ClientOptions {
  server?: string;
  tls?: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  token?: string;
  tokenFile?: string;
  rpcTimeoutMs?: number;
  retries?: number;
  channelOptions?: Record<string, unknown>;
}

export interface FieldViolation {
  /** JSON Pointer into the inputs; "" is the whole document. */
  field: string;
  description: string;
}

export declare class TaasError extends Error {
  code: number;
  method: string;
}
export declare class InvalidArgumentError extends TaasError {}
export declare class InvalidInputsError extends InvalidArgumentError {
  violations: FieldViolation[];
}
export declare class NotFoundError extends TaasError {}
export declare class TaskNotFoundError extends NotFoundError {}
export declare class TaskTypeNotFoundError extends NotFoundError {}
export declare class AlreadyExistsError extends TaasError {}
export declare class ResourceExhaustedError extends TaasError {}
export declare class UnavailableError extends TaasError {}
export declare class UnauthenticatedError extends TaasError {}
export declare class PermissionDeniedError extends TaasError {}
export declare class DeadlineExceededError extends TaasError {}
export declare class CancelledError extends TaasError {}
export declare class TaskFailedError extends TaasError {
  task: Task;
}
export declare function violationsOf(err: unknown): FieldViolation[];

export declare class TaasClient {
  constructor(options?: ClientOptions);
  readonly server: string;
  readonly tls: boolean;
  readonly tasks: Tasks;
  submitTask(taskName: string, inputs?: object, options?: SubmitOptions & { wait?: false }): Promise<SubmitResult>;
  submitTask(taskName: string, inputs: object, options: SubmitOptions & { wait: true }): Promise<Task>;
  wait(taskId: string, options?: { timeoutMs?: number }): Promise<Task>;
  getTask(taskId: string): Promise<Task>;
  listTasks(filter?: { state?: TaskStateName; taskName?: string; parentId?: string; pageSize?: number; limit?: number }): AsyncIterableIterator<Task>;
  watchTask(taskId: string, options?: { signal?: AbortSignal }): AsyncIterableIterator<TaskEvent>;
  cancelTask(taskId: string): Promise<TaskStateName>;
  listTaskTypes(): Promise<TaskType[]>;
  getTaskType(name: string): Promise<TaskType>;
  health(service?: string): Promise<string>;
  close(): void;
}
