// taas-client: the Node.js client of a TaaS server (docs/clients.md).
//
//   import { TaasClient } from 'taas-client';
//   const client = new TaasClient();            // $TAAS_SERVER, else 127.0.0.1:50051
//   const { taskId } = await client.submitTask('my_custom_task', { param1: 'test', param2: 42 });
//   const task = await client.wait(taskId);
//   console.log(task.output);
//   client.close();
//
// The same environment variables as the `taas` CLI: TAAS_SERVER, TAAS_TLS,
// TAAS_TLS_CA, TAAS_TLS_CLIENT_CERT, TAAS_TLS_CLIENT_KEY, TAAS_TOKEN,
// TAAS_TOKEN_FILE. Calls that fail with UNAVAILABLE are tried again; a submit
// keeps one idempotency key across its tries, so it never makes two tasks.

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

import { makeTasks } from './tasks.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';
const RETRY_FIRST_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 2000;
const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';

// The .proto files: shipped in ./proto by `npm pack`, else the repository's.
const HERE = path.dirname(fileURLToPath(import.meta.url));
function protoDir() {
  for (const d of [process.env.TAAS_PROTO_DIR, path.join(HERE, 'proto'),
    path.join(HERE, '..', '..', 'proto')]) {
    if (d && existsSync(path.join(d, 'taas', 'v1', 'taas.proto'))) return d;
  }
  throw new Error('taas-client: cannot find taas/v1/taas.proto (set TAAS_PROTO_DIR)');
}

let loaded = null;
function load() {
  if (loaded) return loaded;
  const dir = protoDir();
  const def = protoLoader.loadSync(['taas/v1/taas.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [dir], keepCase: false, longs: Number, enums: String, defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const root = protobuf.loadSync(path.join(dir, 'internal', 'rpc_status.proto'));
  loaded = {
    TaskService: pkg.taas.v1.TaskService,
    RegistryService: pkg.taas.v1.RegistryService,
    Health: pkg.grpc.health.v1.Health,
    Status: root.lookupType('taas.internal.rpc.Status'),
    BadRequest: root.lookupType('taas.internal.rpc.BadRequest'),
  };
  return loaded;
}

// ---------------------------------------------------------------------------
// States and values

/** Task states, as the protocol names them without the TASK_STATE_ prefix. */
export const TaskState = Object.freeze({
  UNSPECIFIED: 'UNSPECIFIED', PENDING: 'PENDING', RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', CANCELLED: 'CANCELLED',
});
const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export function isFinished(state) {
  return FINISHED.has(state);
}

function stateName(s) {
  const name = String(s || '').replace(/^TASK_STATE_/, '');
  return name in TaskState ? name : 'UNSPECIFIED';
}

function msToDate(ms) {
  return ms ? new Date(Number(ms)) : null;
}

function jsonOrNull(text) {
  return text ? JSON.parse(text) : null;
}

function toTask(t) {
  return {
    id: t.id, taskName: t.taskName, state: stateName(t.state),
    inputs: jsonOrNull(t.inputsJson), output: jsonOrNull(t.outputJson), error: t.error,
    progress: t.progress, progressMessage: t.progressMessage,
    attempt: t.attempt, maxAttempts: t.maxAttempts, priority: t.priority,
    createdAt: msToDate(t.createdAtMs), updatedAt: msToDate(t.updatedAtMs),
    runAfter: msToDate(t.runAfterMs), startedAt: msToDate(t.startedAtMs),
    finishedAt: msToDate(t.finishedAtMs), idempotencyKey: t.idempotencyKey,
    cancelRequested: t.cancelRequested, parentId: t.parentId || '',
    attempts: (t.attempts || []).map((a) => ({
      number: a.number, error: a.error, finishedAt: msToDate(a.finishedAtMs),
    })),
  };
}

function toEvent(e) {
  return {
    taskId: e.taskId, state: stateName(e.state), progress: e.progress,
    progressMessage: e.progressMessage, seq: e.seq, at: msToDate(e.atMs),
    task: e.task ? toTask(e.task) : null,
  };
}

function toTaskType(t) {
  return {
    name: t.name, version: t.version, description: t.description,
    inputSchema: jsonOrNull(t.inputSchemaJson) || {},
    outputSchema: jsonOrNull(t.outputSchemaJson) || {},
    idempotent: t.idempotent, retries: t.retries, timeoutS: t.timeoutS,
  };
}

// ---------------------------------------------------------------------------
// Errors

/** A call failed: `code` is the gRPC status code, `details` the server's message. */
export class TaasError extends Error {
  constructor(message, { code = grpc.status.UNKNOWN, method = '', cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = this.constructor.name;
    this.code = code;
    this.method = method;
  }
}
export class InvalidArgumentError extends TaasError {}
/** Refused inputs; `violations` lists every bad value: {field (JSON Pointer), description}. */
export class InvalidInputsError extends InvalidArgumentError {
  constructor(message, violations, opts) {
    super(message, opts);
    this.violations = violations;
  }
}
export class NotFoundError extends TaasError {}
export class TaskNotFoundError extends NotFoundError {}
export class TaskTypeNotFoundError extends NotFoundError {}
export class AlreadyExistsError extends TaasError {}
export class ResourceExhaustedError extends TaasError {}
export class UnavailableError extends TaasError {}
export class UnauthenticatedError extends TaasError {}
export class PermissionDeniedError extends TaasError {}
export class DeadlineExceededError extends TaasError {}
export class CancelledError extends TaasError {}
/** A typed task method's task ended FAILED or CANCELLED; `task` is it. */
export class TaskFailedError extends TaasError {
  constructor(message, task) {
    super(message);
    this.task = task;
  }
}

const BY_CODE = {
  [grpc.status.INVALID_ARGUMENT]: InvalidArgumentError,
  [grpc.status.NOT_FOUND]: NotFoundError,
  [grpc.status.ALREADY_EXISTS]: AlreadyExistsError,
  [grpc.status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [grpc.status.UNAVAILABLE]: UnavailableError,
  [grpc.status.UNAUTHENTICATED]: UnauthenticatedError,
  [grpc.status.PERMISSION_DENIED]: PermissionDeniedError,
  [grpc.status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [grpc.status.CANCELLED]: CancelledError,
};

/** The BadRequest field violations in an error's grpc-status-details-bin, if any. */
export function violationsOf(err) {
  const out = [];
  const values = err && err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  const { Status, BadRequest } = load();
  for (const v of values) {
    let st;
    try {
      st = Status.decode(Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'base64'));
    } catch {
      continue; // not a Status: nothing to offer
    }
    for (const d of st.details || []) {
      if (d.typeUrl !== BAD_REQUEST_TYPE_URL) continue;
      const br = BadRequest.decode(d.value);
      for (const f of br.fieldViolations || []) {
        out.push({ field: f.field, description: f.description });
      }
    }
  }
  return out;
}

function toError(err, method, subject) {
  const code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
  const message = err.details || err.message || String(err);
  const opts = { code, method, cause: err };
  if (code === grpc.status.INVALID_ARGUMENT && method === 'SubmitTask') {
    let violations = violationsOf(err);
    if (!violations.length) {
      const m = /^invalid inputs for [^:]+: (\/[^:]*|): (.*)$/s.exec(message);
      if (m) violations = [{ field: m[1], description: m[2] }];
    }
    return new InvalidInputsError(message, violations, opts);
  }
  if (code === grpc.status.NOT_FOUND && subject === 'task') return new TaskNotFoundError(message, opts);
  if (code === grpc.status.NOT_FOUND && subject === 'taskType') {
    return new TaskTypeNotFoundError(message, opts);
  }
  const Cls = BY_CODE[code] || TaasError;
  return new Cls(message, opts);
}

// ---------------------------------------------------------------------------
// Options

function env(name) {
  const v = process.env[name];
  return v ? v : undefined;
}

function tokenFromFile(file) {
  const t = readFileSync(file, 'utf8').replace(/[\r\n ]+$/, '');
  if (!t || /[\r\n]/.test(t)) throw new Error(`${file}: expected one token on one line`);
  return t;
}

function runAfterMs(v) {
  if (v === undefined || v === null) return 0;
  if (v instanceof Date) return v.getTime();
  return Number(v); // Unix epoch milliseconds
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The client

export class TaasClient {
  /**
   * @param {object} [o]
   * @param {string} [o.server]  host:port ($TAAS_SERVER, else 127.0.0.1:50051)
   * @param {boolean} [o.tls]    TLS with the system's roots ($TAAS_TLS=1); implied by caFile/certFile
   * @param {string} [o.caFile]  PEM CAs to trust ($TAAS_TLS_CA)
   * @param {string} [o.certFile] client certificate ($TAAS_TLS_CLIENT_CERT), with keyFile ($TAAS_TLS_CLIENT_KEY)
   * @param {string} [o.token]   bearer token ($TAAS_TOKEN), or tokenFile ($TAAS_TOKEN_FILE)
   * @param {number} [o.rpcTimeoutMs] deadline of each unary call (30000)
   * @param {number} [o.retries] tries again after UNAVAILABLE (4), backing off from 100 ms
   */
  constructor(o = {}) {
    const { Health, RegistryService, TaskService } = load();
    this.server = o.server || env('TAAS_SERVER') || DEFAULT_SERVER;
    const caFile = o.caFile || env('TAAS_TLS_CA');
    const certFile = o.certFile || env('TAAS_TLS_CLIENT_CERT');
    const keyFile = o.keyFile || env('TAAS_TLS_CLIENT_KEY');
    if (!certFile !== !keyFile) {
      throw new Error('a client certificate and its key go together (certFile/keyFile, '
        + 'TAAS_TLS_CLIENT_CERT/TAAS_TLS_CLIENT_KEY)');
    }
    let tls = o.tls;
    if (tls === undefined) tls = ['1', 'true'].includes(env('TAAS_TLS') || '') || !!(caFile || certFile);
    let token = o.token;
    let tokenFile = o.tokenFile;
    if (token === undefined && tokenFile === undefined) {
      token = env('TAAS_TOKEN');
      if (token === undefined) tokenFile = env('TAAS_TOKEN_FILE');
    }
    if (token === undefined && tokenFile !== undefined) token = tokenFromFile(tokenFile);
    this.tls = !!tls;
    this.rpcTimeoutMs = o.rpcTimeoutMs ?? 30000;
    this.retries = Math.max(0, o.retries ?? 4);
    this._metadata = new grpc.Metadata();
    if (token) this._metadata.set('authorization', `Bearer ${token}`);
    const creds = this.tls
      ? grpc.credentials.createSsl(caFile ? readFileSync(caFile) : null,
        keyFile ? readFileSync(keyFile) : null, certFile ? readFileSync(certFile) : null)
      : grpc.credentials.createInsecure();
    this._tasks = new TaskService(this.server, creds, o.channelOptions || {});
    // One channel for the three services.
    const channelOverride = this._tasks.getChannel();
    this._registry = new RegistryService(this.server, creds, { channelOverride });
    this._health = new Health(this.server, creds, { channelOverride });
    this._typed = null;
  }

  /** One method per task type of this repository's task-specs/ (tasks.d.ts). */
  get tasks() {
    if (!this._typed) this._typed = makeTasks((name, inputs, options) => this._runTyped(name, inputs, options));
    return this._typed;
  }

  async _runTyped(name, inputs, options = {}) {
    const task = await this.submitTask(name, inputs, { ...options, wait: true });
    if (task.state !== TaskState.SUCCEEDED) {
      throw new TaskFailedError(`task ${task.id} (${name}) ended ${task.state}: ${task.error}`, task);
    }
    return task.output;
  }

  close() {
    this._tasks.close();
  }

  _unaryOnce(stub, method, req, timeoutMs) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + (timeoutMs ?? this.rpcTimeoutMs));
      stub[method](req, this._metadata, { deadline }, (err, resp) => (err ? reject(err) : resolve(resp)));
    });
  }

  async _call(stub, method, req, subject = '') {
    let delay = RETRY_FIRST_DELAY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this._unaryOnce(stub, method, req);
      } catch (err) {
        if (err.code === grpc.status.UNAVAILABLE && attempt < this.retries) {
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS);
          continue;
        }
        throw toError(err, method, subject);
      }
    }
  }

  /**
   * Submit a task. Resolves to {taskId, state, duplicate, idempotencyKey},
   * or with `wait: true` to the finished task.
   */
  async submitTask(taskName, inputs = {}, opts = {}) {
    let key = opts.idempotencyKey;
    if (key === undefined && this.retries > 0) key = `taas-client-${randomUUID()}`;
    const req = {
      taskName,
      inputsJson: JSON.stringify(inputs ?? {}),
      idempotencyKey: key || '',
      priority: opts.priority || 0,
      runAfterMs: runAfterMs(opts.runAfter),
      timeoutS: opts.timeoutS || 0,
    };
    const resp = await this._call(this._tasks, 'SubmitTask', req, 'taskType');
    if (opts.wait) return this.wait(resp.taskId, { timeoutMs: opts.waitTimeoutMs });
    return {
      taskId: resp.taskId, state: stateName(resp.state), duplicate: resp.duplicate,
      idempotencyKey: key || '',
    };
  }

  async getTask(taskId) {
    const resp = await this._call(this._tasks, 'GetTask', { taskId }, 'task');
    return toTask(resp.task);
  }

  /** Every task, newest first, page by page; filters: state, taskName; at most `limit`. */
  async* listTasks({ state, taskName, parentId, pageSize = 100, limit } = {}) {
    let pageToken = '';
    let n = 0;
    for (;;) {
      const req = {
        state: state ? `TASK_STATE_${state}` : 'TASK_STATE_UNSPECIFIED',
        taskName: taskName || '', parentId: parentId || '', pageSize, pageToken,
      };
      const resp = await this._call(this._tasks, 'ListTasks', req);
      for (const t of resp.tasks) {
        if (limit !== undefined && n >= limit) return;
        n++;
        yield toTask(t);
      }
      pageToken = resp.nextPageToken;
      if (!pageToken) return;
    }
  }

  /** CANCELLED, RUNNING (asked to stop), or the final state of a finished task. */
  async cancelTask(taskId) {
    const resp = await this._call(this._tasks, 'CancelTask', { taskId }, 'task');
    return stateName(resp.state);
  }

  /** The task's current state, then every change, ending after a finished state. */
  async* watchTask(taskId, { signal } = {}) {
    const call = this._tasks.WatchTask({ taskId }, this._metadata);
    const stop = () => call.cancel();
    signal?.addEventListener('abort', stop);
    try {
      for await (const ev of call) yield toEvent(ev);
    } catch (err) {
      if (signal?.aborted) return;
      throw toError(err, 'WatchTask', 'task');
    } finally {
      signal?.removeEventListener('abort', stop);
      call.cancel();
    }
  }

  /** Resolves to the finished task; DeadlineExceededError after timeoutMs (the task goes on). */
  async wait(taskId, { timeoutMs } = {}) {
    const ac = new AbortController();
    const follow = async () => {
      let failures = 0;
      let delay = RETRY_FIRST_DELAY_MS;
      while (!ac.signal.aborted) {
        try {
          for await (const ev of this.watchTask(taskId, { signal: ac.signal })) {
            if (isFinished(ev.state)) return ev.task || this.getTask(taskId);
          }
        } catch (err) {
          if (!(err instanceof UnavailableError) || ++failures > this.retries) throw err;
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS);
          continue;
        }
        if (ac.signal.aborted) break;
        const task = await this.getTask(taskId);
        if (isFinished(task.state)) return task;
      }
      return null;
    };
    if (timeoutMs === undefined || timeoutMs === null) return follow();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new DeadlineExceededError(`task ${taskId} did not finish within ${timeoutMs} ms`,
          { code: grpc.status.DEADLINE_EXCEEDED, method: 'WatchTask' }));
      }, timeoutMs);
    });
    try {
      return await Promise.race([follow(), timeout]);
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }

  async listTaskTypes() {
    const resp = await this._call(this._registry, 'ListTaskTypes', {});
    return resp.taskTypes.map(toTaskType);
  }

  async getTaskType(name) {
    const resp = await this._call(this._registry, 'GetTaskType', { name }, 'taskType');
    return toTaskType(resp.taskType);
  }

  /** The standard gRPC health check: 'SERVING', 'NOT_SERVING', ... */
  async health(service = '') {
    const resp = await this._call(this._health, 'Check', { service });
    return resp.status;
  }
}
