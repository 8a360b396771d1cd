// A submit whose answer is lost (the connection dies after the server stored
// the task) is retried with the same idempotency key: one task, not two.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { TaasClient } from '../index.js';
import { startServer } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

// A TCP proxy to the server that can swallow the server's answers, then cut
// every connection.
function dropProxy(upstreamPort) {
  const sockets = new Set();
  const proxy = { swallow: false };
  const srv = net.createServer((c) => {
    const u = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(c).add(u);
    c.on('data', (d) => u.write(d));
    u.on('data', (d) => { if (!proxy.swallow) c.write(d); });
    const end = () => { c.destroy(); u.destroy(); sockets.delete(c); sockets.delete(u); };
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
  });
  proxy.listen = () => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
  proxy.cut = () => { for (const s of sockets) s.destroy(); sockets.clear(); };
  proxy.close = () => { proxy.cut(); srv.close(); };
  return proxy;
}

test('a retried submit makes one task', async () => {
  const proxy = dropProxy(Number(server.address.split(':')[1]));
  const port = await proxy.listen();
  const direct = new TaasClient({ server: server.address });
  const c = new TaasClient({ server: `127.0.0.1:${port}`, retries: 5 });
  const count = async () => {
    let n = 0;
    for await (const t of direct.listTasks({ taskName: 'countdown' })) n += t ? 1 : 0;
    return n;
  };
  try {
    assert.equal(await c.health(), 'SERVING');
    const before = await count();
    proxy.swallow = true;
    let settled = false;
    const submit = c.submitTask('countdown', { seconds: 0 });
    submit.finally(() => { settled = true; }).catch(() => {});
    for (let i = 0; i < 200 && (await count()) === before; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await count(), before + 1, 'the submit never arrived');
    assert.equal(settled, false);
    proxy.swallow = false;
    proxy.cut(); // the client sees UNAVAILABLE and submits again, same key
    const r = await submit;
    assert.equal(r.duplicate, true);
    assert.match(r.idempotencyKey, /^taas-client-/);
    assert.equal(await count(), before + 1);
    assert.equal((await direct.getTask(r.taskId)).idempotencyKey, r.idempotencyKey);
  } finally {
    c.close();
    direct.close();
    proxy.close();
  }
});
