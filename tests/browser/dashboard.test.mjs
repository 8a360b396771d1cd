// The dashboard in the system's headless Chromium, driven by playwright-core
// (which never downloads a browser: it launches /usr/bin/chromium). A real
// taas-server with a tokens file; every page is screenshotted into
// $TAAS_SCREENSHOT_DIR.
//
// usage: node dashboard.test.mjs   (env TAAS_SERVER_BIN, TAAS_SCREENSHOT_DIR,
//                                   TAAS_CHROMIUM default /usr/bin/chromium)
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import {chromium} from 'playwright-core';

const BIN = process.env.TAAS_SERVER_BIN;
const SHOTS = process.env.TAAS_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'taas-shots-'));
const CHROMIUM = process.env.TAAS_CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token-' + Math.random().toString(36).slice(2);
fs.mkdirSync(SHOTS, {recursive: true});

function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taas-browser-'));
  const hash = execFileSync(BIN, ['--hash-token'], {input: TOKEN}).toString().trim();
  const tokens = path.join(dir, 'tokens');
  fs.writeFileSync(tokens, `${hash} operator submit,read,cancel\n`, {mode: 0o600});
  const log = path.join(dir, 'server.log');
  const fd = fs.openSync(log, 'w');
  const proc = spawn(BIN, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--tokens-file', tokens,
                           '--database-url', 'sqlite:///' + path.join(dir, 'taas.db')],
                     {cwd: dir, stdio: ['ignore', fd, fd],
                      env: {...process.env, TAAS_OUTPUT_ROOT: path.join(dir, 'out')}});
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      const m = /server\.http http=127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(log, 'utf8'));
      if (m) { clearInterval(poll); resolve({proc, dir, base: 'http://127.0.0.1:' + m[1]}); }
      else if (proc.exitCode !== null || Date.now() - t0 > 30000) {
        clearInterval(poll);
        reject(new Error('taas-server did not start:\n' + fs.readFileSync(log, 'utf8')));
      }
    }, 50);
  });
}

async function apiCall(base, method, p, body) {
  const r = await fetch(base + p, {method, headers: {Authorization: 'Bearer ' + TOKEN,
    'Content-Type': 'application/json'}, body: body ? JSON.stringify(body) : undefined});
  return {status: r.status, json: await r.json()};
}

// Poll a predicate in the page. (Playwright's waitForFunction evaluates a
// string in the page, which the dashboard's CSP rightly refuses.)
async function waitFor(page, fn, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    if (await page.evaluate(fn)) return;
    if (Date.now() - t0 > timeout) throw new Error('timed out waiting for ' + fn.toString());
    await new Promise(r => setTimeout(r, 50));
  }
}

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(name);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}

const srv = await startServer();
const browser = await chromium.launch({executablePath: CHROMIUM, headless: true,
                                       args: ['--no-sandbox', '--disable-gpu']});
let failed = false;
try {
  const ctx = await browser.newContext({viewport: {width: 1280, height: 860}});
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  const shot = name => page.screenshot({path: path.join(SHOTS, name + '.png'), fullPage: true});
  const base = srv.base;

  await step('a wrong token gets nothing', async () => {
    await page.goto(base + '/#/tasks');
    await page.waitForSelector('#notice:not([hidden])');
    assert.match(await page.textContent('#notice'), /valid token/);
    assert.equal(await page.locator('#task-rows tr').count(), 0);
    await page.fill('#token', 'not-the-token');
    await page.click('#token-use');
    await page.waitForSelector('#notice:not([hidden])');
    assert.match(await page.textContent('#notice'), /valid token/);
    assert.equal(await page.locator('#task-table').count(), 0);
    await shot('login-refused');
    // The token is in sessionStorage only: no cookie, not in the URL.
    assert.deepEqual(await ctx.cookies(), []);
    await page.click('#token-forget');
    await page.fill('#token', TOKEN);
    await page.click('#token-use');
    await page.waitForSelector('#task-table');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('taas.token')), TOKEN);
    assert.ok(!page.url().includes(TOKEN));
    assert.deepEqual(await ctx.cookies(), []);
  });

  await step('submit my_custom_task from its form and see the result', async () => {
    await page.goto(base + '/#/types');
    await page.click('text=my_custom_task');
    await page.waitForSelector('#in-param1');
    await page.fill('#in-param1', 'test');
    await page.fill('#in-param2', '42');
    await shot('task-type-form');
    await page.click('#submit');
    await waitFor(page, () => /Processed test with 42/.test(
      document.getElementById('task-output')?.textContent || ''), 20000);
    assert.equal(await page.getAttribute('#task-state .state', 'data-state'), 'SUCCEEDED');
    await shot('task-succeeded');
  });

  await step('countdown: the progress bar moves and reaches SUCCEEDED', async () => {
    await page.goto(base + '/#/types/countdown');
    await page.fill('#in-seconds', '3');
    await page.fill('#in-step_ms', '200');
    await page.click('#submit');
    await page.waitForSelector('#progress-fill');
    const widths = new Set();
    const t0 = Date.now();
    let state = '';
    while (Date.now() - t0 < 20000) {
      const w = await page.evaluate(() => document.getElementById('progress-fill').style.width);
      widths.add(w);
      state = await page.getAttribute('#task-state .state', 'data-state');
      if (state === 'RUNNING' && widths.size === 3) await shot('task-progress');
      if (state === 'SUCCEEDED') break;
      await page.waitForTimeout(100);
    }
    assert.equal(state, 'SUCCEEDED');
    const moving = [...widths].filter(w => w && w !== '0%' && w !== '100%');
    assert.ok(moving.length >= 3, 'intermediate widths seen: ' + [...widths].join(' '));
    assert.equal(await page.evaluate(() => document.getElementById('progress-fill').style.width), '100%');
  });

  await step('cancel a running task', async () => {
    await page.goto(base + '/#/types/countdown');
    await page.fill('#in-seconds', '120');
    await page.click('#submit');
    await waitFor(page, () =>
      document.querySelector('#task-state .state')?.dataset.state === 'RUNNING', 20000);
    await page.click('#cancel');
    await waitFor(page, () =>
      document.querySelector('#task-state .state')?.dataset.state === 'CANCELLED', 20000);
    assert.ok(await page.isDisabled('#cancel'));
    await shot('task-cancelled');
  });

  await step('a form refuses a bad value with the server\'s message', async () => {
    for (const [task, fill, inputs] of [
      ['countdown', {'#in-seconds': '-1'}, {seconds: -1}],
      ['countdown', {'#in-seconds': '1.5'}, {seconds: 1.5}],
      ['countdown', {'#in-seconds': '4000'}, {seconds: 4000}],
      ['my_custom_task', {'#in-param1': 'x', '#in-param2': 'abc'}, {param1: 'x', param2: 'abc'}],
      ['my_custom_task', {'#in-param2': '3'}, {param2: 3}],
    ]) {
      await page.goto(base + '/#/types/' + task);
      await page.waitForSelector('#submit-form');
      await page.goto(base + '/#/tasks');   // a fresh form each time
      await page.goto(base + '/#/types/' + task);
      await page.waitForSelector('#submit-form');
      for (const [sel, v] of Object.entries(fill)) await page.fill(sel, v);
      const before = await apiCall(base, 'GET', '/v1/tasks?page_size=1000');
      await page.click('#submit');
      await waitFor(page, () => document.getElementById('form-error').textContent !== '');
      const shown = await page.textContent('#form-error');
      const server = await apiCall(base, 'POST', '/v1/tasks', {task_name: task, inputs});
      assert.equal(server.status, 400);
      assert.equal(shown, server.json.error.message);
      // Refused in the browser: nothing was submitted.
      const after = await apiCall(base, 'GET', '/v1/tasks?page_size=1000');
      assert.equal(after.json.tasks.length, before.json.tasks.length);
    }
    await shot('form-refused');
  });

  await step('task list: filters and paging', async () => {
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push((await apiCall(base, 'POST', '/v1/tasks', {task_name: 'noop', inputs: {}})).json.task_id);
    await page.goto(base + '/#/tasks?task_name=noop&page_size=10');
    await waitFor(page, () => document.getElementById('f-name')?.value === 'noop' &&
                              document.querySelectorAll('#task-rows tr').length === 7);
    await page.selectOption('#f-size', '5');
    await waitFor(page, () => document.querySelectorAll('#task-rows tr').length === 5);
    const first = await page.$$eval('#task-rows tr', rs => rs.map(r => r.dataset.id));
    assert.ok(await page.$$eval('#task-rows tr td:nth-child(2)', ts => ts.every(t => t.textContent === 'noop')));
    await shot('task-list');
    await page.uncheck('#f-live');
    await page.click('#next');
    await waitFor(page, () => document.querySelectorAll('#task-rows tr').length === 2);
    const second = await page.$$eval('#task-rows tr', rs => rs.map(r => r.dataset.id));
    assert.deepEqual([...first, ...second].sort(), [...ids].sort());
    assert.ok(await page.isDisabled('#next'));
    await page.click('#prev');
    await waitFor(page, () => document.querySelectorAll('#task-rows tr').length === 5);
    // State filter.
    await page.goto(base + '/#/tasks?state=CANCELLED');
    await waitFor(page, () => document.getElementById('f-state')?.value === 'CANCELLED' &&
                              document.querySelectorAll('#task-rows tr').length >= 1);
    assert.ok(await page.$$eval('#task-rows .state', s => s.every(x => x.dataset.state === 'CANCELLED')));
    // Time filter: a window in the future holds nothing.
    await page.goto(base + '/#/tasks?after=2999-01-01T00:00');
    await waitFor(page, () => document.getElementById('f-after')?.value === '2999-01-01T00:00');
    await waitFor(page, () => /· 0 tasks/.test(document.getElementById('page-info').textContent));
  });

  await step('overview draws throughput, queue and latency', async () => {
    await page.goto(base + '/#/overview');
    await waitFor(page, () => document.querySelectorAll('svg.chart').length === 3);
    await waitFor(page, () => document.querySelectorAll('svg.chart path').length >= 2);
    assert.match(await page.textContent('#overview-summary'), /submitted/);
    await shot('overview');
  });

  await step('no errors in the console, no inline script', async () => {
    assert.deepEqual(consoleErrors.filter(e => !/status of 40[01]/.test(e)), []);
  });
} catch (e) {
  failed = true;
} finally {
  await browser.close();
  srv.proc.kill('SIGTERM');
  const code = await new Promise(r => srv.proc.once('exit', c => r(c)));
  if (code !== 0) {
    // A clean stop is part of the test (under ASan: no leak, no error).
    console.log(`FAIL taas-server exited with ${code}:\n` +
                fs.readFileSync(path.join(srv.dir, 'server.log'), 'utf8').slice(-4000));
    failed = true;
  }
  fs.rmSync(srv.dir, {recursive: true, force: true});
}
console.log(`${results.length} steps passed; screenshots in ${SHOTS}`);
process.exit(failed ? 1 : 0);
