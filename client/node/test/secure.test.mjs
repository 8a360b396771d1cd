// taas-client over mutual TLS with bearer tokens, from arguments and from the
// CLI's environment variables. Certificates come from openssl at run time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  PermissionDeniedError, TaasClient, TaskState, UnauthenticatedError, UnavailableError,
} from '../index.js';
import { startServer } from './server.mjs';

const TOKENS = { alice: ['tok-alice-node-81c2e0', 'submit,read,cancel'], reader: ['tok-reader-node-5d1a9b', 'read'] };
let dir;
let server;
const p = (n) => path.join(dir, n);

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}

function makeCert(name, ca, usage) {
  writeFileSync(p(`${name}.ext`), `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'taas-node-pki-'));
  makeCa('ca');
  makeCa('otherca');
  makeCert('server', 'ca', 'serverAuth');
  makeCert('client', 'ca', 'clientAuth');
  writeFileSync(p('tokens'), Object.entries(TOKENS).map(([who, [tok, scopes]]) =>
    `sha256:${createHash('sha256').update(tok).digest('hex')} ${who} ${scopes}\n`).join(''));
  server = await startServer(['--tls-cert', p('server.pem'), '--tls-key', p('server.key'),
    '--tls-client-ca', p('ca.pem'), '--tokens-file', p('tokens')]);
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mtls = () => ({ server: server.address, caFile: p('ca.pem'), certFile: p('client.pem'),
  keyFile: p('client.key') });

test('mutual TLS and tokens', async () => {
  const c = new TaasClient({ ...mtls(), token: TOKENS.alice[0] });
  assert.equal(c.tls, true);
  const t = await c.submitTask('my_custom_task', { param1: 'tls', param2: 1 }, { wait: true });
  assert.deepEqual(t.output, { result: 'Processed tls with 1' });
  c.close();
  const anon = new TaasClient({ ...mtls(), retries: 0 });
  await assert.rejects(anon.listTaskTypes(), UnauthenticatedError);
  anon.close();
  const reader = new TaasClient({ ...mtls(), token: TOKENS.reader[0] });
  assert.ok((await reader.listTaskTypes()).length > 0);
  await assert.rejects(reader.submitTask('noop', {}), PermissionDeniedError);
  reader.close();
  const wrongCa = new TaasClient({ ...mtls(), caFile: p('otherca.pem'), token: TOKENS.alice[0],
    retries: 1, rpcTimeoutMs: 10000 });
  await assert.rejects(wrongCa.health(), UnavailableError);
  wrongCa.close();
});

test('the CLI environment variables', async () => {
  const keys = ['TAAS_SERVER', 'TAAS_TLS_CA', 'TAAS_TLS_CLIENT_CERT', 'TAAS_TLS_CLIENT_KEY',
    'TAAS_TOKEN', 'TAAS_TOKEN_FILE'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  try {
    writeFileSync(p('token'), `${TOKENS.alice[0]}\n`);
    Object.assign(process.env, { TAAS_SERVER: server.address, TAAS_TLS_CA: p('ca.pem'),
      TAAS_TLS_CLIENT_CERT: p('client.pem'), TAAS_TLS_CLIENT_KEY: p('client.key'),
      TAAS_TOKEN_FILE: p('token') });
    delete process.env.TAAS_TOKEN;
    const c = new TaasClient();
    assert.equal((await c.submitTask('noop', {}, { wait: true })).state, TaskState.SUCCEEDED);
    c.close();
    process.env.TAAS_TOKEN = TOKENS.reader[0]; // wins over the file
    const r = new TaasClient();
    await assert.rejects(r.submitTask('noop', {}), PermissionDeniedError);
    r.close();
    delete process.env.TAAS_TLS_CLIENT_KEY;
    assert.throws(() => new TaasClient(), /go together/);
  } finally {
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});
