// taas-client against a real taas-server: every method and error type.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import {
  AlreadyExistsError, DeadlineExceededError, InvalidArgumentError, InvalidInputsError, TaasClient,
  TaskFailedError, TaskNotFoundError, TaskState, TaskTypeNotFoundError, UnavailableError,
} from '../index.js';
import { startServer } from './server.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = new TaasClient({ server: server.address });
});

after(async () => {
  client?.close();
  await server?.stop();
});

test('submit, wait, get', async () => {
  const before = Date.now() - 5000;
  const r = await client.submitTask('my_custom_task', { param1: 'test', param2: 42 });
  assert.equal(r.duplicate, false);
  assert.ok([TaskState.PENDING, TaskState.RUNNING].includes(r.state));
  assert.match(r.taskId, /^[0-9a-f-]{36}$/);
  const task = await client.wait(r.taskId, { timeoutMs: 30000 });
  assert.equal(task.state, TaskState.SUCCEEDED);
  assert.deepEqual(task.output, { result: 'Processed test with 42' });
  assert.deepEqual(task.inputs, { param1: 'test', param2: 42 });
  assert.ok(task.createdAt instanceof Date && task.createdAt.getTime() > before);
  assert.ok(task.finishedAt >= task.createdAt);
  const got = await client.getTask(r.taskId);
  assert.deepEqual(got.output, task.output);
  const done = await client.submitTask('my_custom_task', { param1: 'w' }, { wait: true });
  assert.deepEqual(done.output, { result: 'Processed w with 0' });
});

test('typed task methods', async () => {
  assert.deepEqual(await client.tasks.my_custom_task({ param1: 'test', param2: 42 }),
    { result: 'Processed test with 42' });
  const cfg = await client.tasks.create_config({ app_name: 'demo', features: ['b', 'a'] },
    { priority: 2 });
  assert.deepEqual(cfg.features, ['a', 'b']);
  await assert.rejects(client.tasks.load_config({ path: 'no/such.json' }), (e) => {
    assert.ok(e instanceof TaskFailedError);
    assert.equal(e.task.state, TaskState.FAILED);
    return true;
  });
});

test('options and idempotency', async () => {
  const later = new Date(Date.now() + 3600e3);
  const key = `node-${randomUUID()}`;
  const r = await client.submitTask('my_custom_task', { param1: 'later' },
    { priority: 7, runAfter: later, timeoutS: 12, idempotencyKey: key });
  const t = await client.getTask(r.taskId);
  assert.equal(t.priority, 7);
  assert.equal(t.state, TaskState.PENDING);
  assert.equal(t.runAfter.getTime(), later.getTime());
  assert.equal(t.idempotencyKey, key);
  const again = await client.submitTask('my_custom_task', { param1: 'later' },
    { priority: 7, runAfter: later, idempotencyKey: key });
  assert.equal(again.duplicate, true);
  assert.equal(again.taskId, r.taskId);
  await assert.rejects(client.submitTask('my_custom_task', { param1: 'x' }, { idempotencyKey: key }),
    AlreadyExistsError);
  assert.equal(await client.cancelTask(r.taskId), TaskState.CANCELLED);
});

test('listTasks pages and filters', async () => {
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await client.submitTask('my_custom_task', { param1: 'l', param2: i })).taskId);
  }
  for (const id of ids) await client.wait(id, { timeoutMs: 30000 });
  const seen = [];
  for await (const t of client.listTasks({ taskName: 'my_custom_task', pageSize: 2 })) seen.push(t.id);
  for (const id of ids) assert.ok(seen.includes(id));
  assert.equal(new Set(seen).size, seen.length);
  const three = [];
  for await (const t of client.listTasks({ pageSize: 2, limit: 3 })) three.push(t);
  assert.equal(three.length, 3);
  for await (const t of client.listTasks({ state: TaskState.SUCCEEDED, pageSize: 3 })) {
    assert.equal(t.state, TaskState.SUCCEEDED);
  }
});

test('listTasks by parent', async () => {
  const r = await client.submitTask('fan_out', { words: ['p', 'q'] });
  const parent = await client.wait(r.taskId, { timeoutMs: 60000 });
  assert.equal(parent.state, TaskState.SUCCEEDED);
  assert.equal(parent.parentId, '');
  const kids = [];
  for await (const t of client.listTasks({ parentId: r.taskId })) kids.push(t);
  assert.equal(kids.length, 2);
  for (const k of kids) assert.equal(k.parentId, r.taskId);
  assert.deepEqual(kids.map((k) => k.id).sort(), [...parent.output.children].sort());
  assert.equal((await client.getTask(kids[0].id)).parentId, r.taskId);
});

test('watchTask and cancel', async () => {
  const r = await client.submitTask('countdown', { seconds: 1, step_ms: 200 });
  const events = [];
  for await (const e of client.watchTask(r.taskId)) events.push(e);
  assert.equal(events.at(-1).state, TaskState.SUCCEEDED);
  assert.ok(events.at(-1).task.output);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
  assert.ok(events.every((e) => e.at instanceof Date));

  const long = await client.submitTask('countdown', { seconds: 60, step_ms: 50 });
  for await (const e of client.watchTask(long.taskId)) if (e.state === TaskState.RUNNING) break;
  assert.ok([TaskState.RUNNING, TaskState.CANCELLED].includes(await client.cancelTask(long.taskId)));
  assert.equal((await client.wait(long.taskId, { timeoutMs: 30000 })).state, TaskState.CANCELLED);
});

test('registry and health', async () => {
  const types = await client.listTaskTypes();
  const names = types.map((t) => t.name);
  assert.deepEqual(names, [...names].sort());
  const t = await client.getTaskType('my_custom_task');
  assert.equal(t.inputSchema.properties.param2.type, 'number');
  assert.equal(await client.health(), 'SERVING');
});

test('errors', async () => {
  await assert.rejects(client.getTask(randomUUID()), TaskNotFoundError);
  await assert.rejects(client.cancelTask(randomUUID()), TaskNotFoundError);
  await assert.rejects(async () => {
    for await (const e of client.watchTask(randomUUID())) void e;
  }, TaskNotFoundError);
  await assert.rejects(client.submitTask('my_custom_tsak', { param1: 'x' }), (e) => {
    assert.ok(e instanceof TaskTypeNotFoundError);
    assert.match(e.message, /my_custom_task/);
    return true;
  });
  await assert.rejects(client.getTaskType('nope'), TaskTypeNotFoundError);
  await assert.rejects(client.submitTask('countdown', { seconds: -1, step_ms: 'x', bogus: 1 }), (e) => {
    assert.ok(e instanceof InvalidInputsError && e instanceof InvalidArgumentError);
    assert.match(e.message, /^invalid inputs for countdown: \//);
    assert.deepEqual(e.violations.map((v) => v.field).sort(), ['/bogus', '/seconds', '/step_ms']);
    return true;
  });
  await assert.rejects(async () => {
    for await (const t of client.listTasks({ pageSize: 5000 })) void t;
  }, (e) => e instanceof InvalidArgumentError && !(e instanceof InvalidInputsError));
  const r = await client.submitTask('countdown', { seconds: 30, step_ms: 100 });
  const t0 = Date.now();
  await assert.rejects(client.wait(r.taskId, { timeoutMs: 500 }), DeadlineExceededError);
  assert.ok(Date.now() - t0 < 10000);
  await client.cancelTask(r.taskId);
  const nobody = new TaasClient({ server: '127.0.0.1:1', retries: 2 });
  const t1 = Date.now();
  await assert.rejects(nobody.health(), UnavailableError);
  assert.ok(Date.now() - t1 >= 300); // backed off 100 + 200 ms
  nobody.close();
});

test('environment like the CLI', async () => {
  const saved = process.env.TAAS_SERVER;
  try {
    delete process.env.TAAS_SERVER;
    const d = new TaasClient();
    assert.equal(d.server, '127.0.0.1:50051');
    d.close();
    process.env.TAAS_SERVER = server.address;
    const c = new TaasClient();
    assert.equal(await c.health(), 'SERVING');
    c.close();
  } finally {
    if (saved === undefined) delete process.env.TAAS_SERVER;
    else process.env.TAAS_SERVER = saved;
  }
});

test('examples/simple_task.mjs', async () => {
  const { execFile } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const example = fileURLToPath(new URL('../../../examples/simple_task.mjs', import.meta.url));
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, [example], { env: { ...process.env, TAAS_SERVER: server.address },
      timeout: 60000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message))
      : resolve(stdout)));
  });
  assert.match(out, /^Task ID: [0-9a-f-]{36}\nState: SUCCEEDED\nResult: Processed test with 42\n$/);
});
