// A real taas-server on a free loopback port with its own SQLite database
// (TAAS_SERVER_BIN, set by ctest). The port comes from its server.start line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export async function startServer(extraArgs = []) {
  const bin = process.env.TAAS_SERVER_BIN;
  if (!bin) throw new Error('TAAS_SERVER_BIN is not set');
  const dir = mkdtempSync(path.join(tmpdir(), 'taas-node-'));
  const proc = spawn(bin, ['--listen', '127.0.0.1:0', '--database-url',
    `sqlite:///${path.join(dir, 'taas.db')}`, ...extraArgs], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TAAS_OUTPUT_ROOT: path.join(dir, 'output') },
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no server.start within 30 s:\n${log}`)), 30000);
    const onData = (d) => {
      log += d;
      const m = /server\.start.*listen=127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`taas-server exited with ${code}:\n${log}`));
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 20000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
