// The TaaS dashboard: plain JavaScript over the server's own HTTP API.
// No framework, no build step, nothing loaded from elsewhere (the server's
// Content-Security-Policy allows only its own files).
//
// Tokens: entered once, kept in this tab's sessionStorage and sent as
// "Authorization: Bearer" on every API request; never in a cookie or a URL.
// Events: EventSource cannot send that header, so a task's Server-Sent
// Events are read with fetch() and parsed here, resuming with Last-Event-ID.
'use strict';

const STATES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const TOKEN_KEY = 'taas.token';
let cleanup = [];          // stoppers of the current page (timers, streams)
let typesCache = null;

// ---------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const k of kids.flat()) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

function notice(msg, isError) {
  const n = document.getElementById('notice');
  n.hidden = !msg;
  n.textContent = msg || '';
  n.className = isError ? 'error' : '';
}

function fmtTime(ms) {
  return ms ? new Date(Number(ms)).toLocaleString() : '';
}

function stateBadge(s) {
  return h('span', {class: 'state ' + s, 'data-state': s}, s);
}

// ---------------------------------------------------------------------------
// API

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function headers(extra) {
  const hd = Object.assign({}, extra || {});
  if (token()) hd.Authorization = 'Bearer ' + token();
  return hd;
}

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('HTTP ' + status));
    this.status = status;
    this.code = e.status || '';
    this.violations = ((e.details || [])[0] || {}).field_violations || [];
  }
}

async function api(method, path, body) {
  const opts = {method, headers: headers(), cache: 'no-store'};
  if (method !== 'GET') {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, opts);
  const ctype = r.headers.get('Content-Type') || '';
  const data = ctype.startsWith('application/json') ? await r.json() : await r.text();
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401) notice('The server needs a valid token: ' + err.message, true);
    throw err;
  }
  return data;
}

async function taskTypes() {
  if (!typesCache) typesCache = (await api('GET', '/v1/task-types')).task_types;
  return typesCache;
}

// Server-Sent Events over fetch: calls onEvent(type, data) until the final
// event or stop(); reconnects with Last-Event-ID after a dropped connection.
function follow(path, onEvent, onError) {
  let stopped = false, lastId = null, ctl = null;
  async function run() {
    while (!stopped) {
      ctl = new AbortController();
      const hd = headers({Accept: 'text/event-stream'});
      if (lastId !== null) hd['Last-Event-ID'] = lastId;
      let done = false;
      try {
        const r = await fetch(path, {headers: hd, signal: ctl.signal, cache: 'no-store'});
        if (!r.ok) {
          const body = await r.json().catch(() => null);
          onError(new ApiError(r.status, body));
          return;
        }
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const {value, done: end} = await reader.read();
          if (end) break;
          buf += dec.decode(value, {stream: true});
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = 'message', data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const k = line.indexOf(':');
              const f = k < 0 ? line : line.slice(0, k);
              const v = k < 0 ? '' : line.slice(k + 1).replace(/^ /, '');
              if (f === 'event') type = v;
              else if (f === 'data') data += (data ? '\n' : '') + v;
              else if (f === 'id') lastId = v;
            }
            if (!data) continue;
            onEvent(type, JSON.parse(data));
            if (type === 'final' || type === 'error') done = true;
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (done) return;
      await new Promise(r => setTimeout(r, 1000));
    }
  }
  run();
  return () => { stopped = true; if (ctl) ctl.abort(); };
}

// ---------------------------------------------------------------------------
// Client-side validation: the subset of JSON Schema the specs use, with the
// server's own messages ("invalid inputs for <task>: <path>: <message>"),
// checked in the server's order, so the form says what the server would.

function kindOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeOk(v, t) {
  const k = kindOf(v);
  if (t === 'number') return k === 'number' || k === 'integer';
  return k === t;
}

function typesText(types) {
  // The server lists the types in a fixed order, joined with " or ".
  const order = ['null', 'boolean', 'object', 'array', 'number', 'string', 'integer'];
  const ts = order.filter(t => types.includes(t));
  return ts.length < 2 ? ts.join('') : ts.slice(0, -1).join(', ') + ' or ' + ts[ts.length - 1];
}

function validate(schema, v, path) {
  if (schema === true || !schema) return null;
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some(t => typeOk(v, t))) {
      return [path, 'expected ' + typesText(types) + ', got ' + kindOf(v)];
    }
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v)) {
    return [path, 'must equal the constant ' + JSON.stringify(schema.const)];
  }
  if (schema.enum && !schema.enum.some(e => JSON.stringify(e) === JSON.stringify(v))) {
    return [path, 'value is not one of the allowed values'];
  }
  if (typeof v === 'number') {
    if ('minimum' in schema && v < schema.minimum) return [path, 'must be >= ' + schema.minimum];
    if ('maximum' in schema && v > schema.maximum) return [path, 'must be <= ' + schema.maximum];
    if ('exclusiveMinimum' in schema && v <= schema.exclusiveMinimum)
      return [path, 'must be > ' + schema.exclusiveMinimum];
    if ('exclusiveMaximum' in schema && v >= schema.exclusiveMaximum)
      return [path, 'must be < ' + schema.exclusiveMaximum];
  }
  if (typeof v === 'string') {
    const n = [...v].length;
    if ('minLength' in schema && n < schema.minLength)
      return [path, 'must be at least ' + schema.minLength + ' characters long'];
    if ('maxLength' in schema && n > schema.maxLength)
      return [path, 'must be at most ' + schema.maxLength + ' characters long'];
    if (schema.pattern) {
      let re = null;
      try { re = new RegExp(schema.pattern, 'u'); } catch (e) { re = null; }
      if (re && !re.test(v)) return [path, 'does not match pattern "' + schema.pattern + '"'];
    }
  }
  if (kindOf(v) === 'object') {
    for (const r of schema.required || []) {
      if (!(r in v)) return [path + '/' + escPtr(r), 'required property is missing'];
    }
    const props = schema.properties || {};
    for (const [k, val] of Object.entries(v)) {
      if (k in props) {
        const e = validate(props[k], val, path + '/' + escPtr(k));
        if (e) return e;
      } else if (schema.additionalProperties === false) {
        return [path + '/' + escPtr(k), 'property is not allowed'];
      }
    }
  }
  if (kindOf(v) === 'array' && schema.items) {
    for (let i = 0; i < v.length; i++) {
      const e = validate(schema.items, v[i], path + '/' + i);
      if (e) return e;
    }
  }
  return null;
}

function escPtr(s) {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function inputsMessage(task, err) {
  return 'invalid inputs for ' + task + ': ' + (err[0] ? err[0] + ': ' : '') + err[1];
}

// ---------------------------------------------------------------------------
// Pages

// Pages load asynchronously; only the page of the latest navigation may
// render (a slow answer for an earlier one is dropped).
let gen = 0;

function page(g, title, ...kids) {
  if (g !== gen) return;
  const v = document.getElementById('view');
  v.replaceChildren(h('h1', {text: title}), ...kids);
}

function guard(p) {
  return p.catch(e => {
    if (e instanceof ApiError) {
      if (e.status !== 401) notice(e.message, true);
      if (e.status === 401) document.getElementById('view').replaceChildren();
    } else {
      notice(String(e), true);
    }
  });
}

// Overview: throughput, queue depth and latency over the last hour, from
// the server's own samples (/v1/metrics/history, one per 10 s).
async function overview() {
  const g = gen;
  const charts = h('div', {class: 'cards'});
  const summary = h('p', {class: 'muted', id: 'overview-summary'});
  async function draw() {
    const hist = await api('GET', '/v1/metrics/history');
    const s = hist.samples;
    const rate = k => s.map(x => [x.t, x.seconds > 0 ? x[k] / x.seconds : 0]);
    const total = k => s.reduce((a, x) => a + x[k], 0);
    summary.textContent = 'Last ' + Math.round(s.length * hist.interval_s / 60) + ' min: ' +
      total('submitted') + ' submitted, ' + total('finished') + ' finished.';
    const queue = s.some(x => x.queue !== null)
      ? [['queued', '#9a6700', s.map(x => [x.t, x.queue || 0])]]
      : [];
    charts.replaceChildren(
      card('Throughput (tasks/s)', [['submitted', '#1f6feb', rate('submitted')],
                                    ['finished', '#1a7f37', rate('finished')]]),
      card('Queue depth and running', queue.concat([['running', '#1f6feb', s.map(x => [x.t, x.running])]])),
      card('Submit latency (ms)', [['p50', '#1a7f37', s.map(x => [x.t, x.p50_ms])],
                                   ['p90', '#9a6700', s.map(x => [x.t, x.p90_ms])],
                                   ['p99', '#cf222e', s.map(x => [x.t, x.p99_ms])]]));
  }
  // Nothing is shown until the server has answered (a refused token shows
  // an empty page, not an empty frame).
  await draw();
  page(g, 'Overview', summary, charts);
  const t = setInterval(() => guard(draw()), 10000);
  cleanup.push(() => clearInterval(t));
}

function card(title, series) {
  return h('div', {class: 'card'}, h('h3', {text: title}), chart(series),
           h('div', {class: 'legend'}, series.map(([n, c]) =>
             h('span', {}, h('span', {class: 'sw ' + 'sw-' + n}), n))));
}

function chart(series) {
  const W = 400, H = 160, L = 40, B = 20;
  const now = Date.now(), t0 = now - 3600 * 1000;
  const pts = series.flatMap(([, , p]) => p.filter(([, y]) => y !== null && y !== undefined));
  const ymax = Math.max(1, ...pts.map(([, y]) => y)) * 1.1;
  const x = t => L + (W - L - 5) * (t - t0) / (now - t0);
  const y = v => H - B - (H - B - 5) * v / ymax;
  const g = svg('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img'});
  g.append(svg('line', {x1: L, y1: H - B, x2: W, y2: H - B, stroke: '#d0d7de'}));
  g.append(svg('line', {x1: L, y1: 0, x2: L, y2: H - B, stroke: '#d0d7de'}));
  g.append(svg('text', {x: 2, y: 12}, fmtNum(ymax)));
  g.append(svg('text', {x: 2, y: H - B}, '0'));
  g.append(svg('text', {x: L, y: H - 4}, '-60 min'));
  g.append(svg('text', {x: W - 30, y: H - 4}, 'now'));
  for (const [, color, p] of series) {
    const d = p.filter(([t, v]) => t >= t0 && v !== null && v !== undefined)
      .map(([t, v], i) => (i ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1)).join(' ');
    if (d) g.append(svg('path', {d, fill: 'none', stroke: color, 'stroke-width': 2}));
  }
  return g;
}

function fmtNum(v) {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2);
}

async function typesPage() {
  const g = gen;
  const types = await taskTypes();
  const rows = types.map(t => h('tr', {},
    h('td', {}, h('a', {href: '#/types/' + t.name, text: t.name})),
    h('td', {text: t.version}), h('td', {text: t.description})));
  page(g, 'Task types', h('table', {},
    h('thead', {}, h('tr', {}, h('th', {text: 'Name'}), h('th', {text: 'Version'}),
                     h('th', {text: 'Description'}))),
    h('tbody', {}, rows)));
}

// A form generated from the task's input schema.
async function typePage(name) {
  const g = gen;
  const types = await taskTypes();
  const t = types.find(x => x.name === name);
  if (!t) return page(g, 'Unknown task type', h('p', {text: name}));
  const schema = t.input_schema || {};
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = [];
  const form = h('form', {id: 'submit-form', novalidate: true});
  for (const [key, ps] of Object.entries(props)) {
    const id = 'in-' + key;
    const type = Array.isArray(ps.type) ? ps.type.find(x => x !== 'null') : ps.type;
    let input;
    if (ps.enum) {
      input = h('select', {id, name: key},
        required.has(key) ? null : h('option', {value: '', text: ''}),
        ps.enum.map(e => h('option', {value: JSON.stringify(e), text: String(e),
                                      selected: JSON.stringify(e) === JSON.stringify(ps.default)})));
    } else if (type === 'boolean') {
      input = h('input', {id, name: key, type: 'checkbox', checked: ps.default === true});
    } else if (type === 'object' || type === 'array' || !type) {
      input = h('textarea', {id, name: key, rows: 3,
                             placeholder: ps.default !== undefined ? JSON.stringify(ps.default) : 'JSON'});
    } else {
      // Text, even for numbers: what was typed is what is checked, so a bad
      // value gets the server's message instead of vanishing.
      input = h('input', {id, name: key, type: 'text',
                          inputmode: type === 'integer' ? 'numeric' : type === 'number' ? 'decimal' : null,
                          placeholder: ps.default !== undefined ? String(ps.default) : ''});
    }
    const limits = [];
    if ('minimum' in ps) limits.push('min ' + ps.minimum);
    if ('maximum' in ps) limits.push('max ' + ps.maximum);
    if (ps.default !== undefined) limits.push('default ' + JSON.stringify(ps.default));
    fields.push({key, type, input, ps});
    form.append(h('div', {class: 'field'},
      h('label', {for: id}, key, ' ', h('span', {class: 'muted', text: type || 'JSON'}),
        required.has(key) ? h('span', {class: 'req', text: ' *'}) : null),
      input,
      h('span', {class: 'help', text: [ps.description, limits.join(', ')].filter(Boolean).join(' — ')})));
  }
  const err = h('div', {class: 'form-error', id: 'form-error', role: 'alert'});
  form.append(err, h('button', {type: 'submit', class: 'primary', id: 'submit', text: 'Submit'}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    err.textContent = '';
    const inputs = {};
    for (const f of fields) {
      const el = f.input;
      if (el.type === 'checkbox') { inputs[f.key] = el.checked; continue; }
      const raw = el.value.trim();
      if (raw === '') continue;
      if (el.tagName === 'SELECT') { inputs[f.key] = JSON.parse(raw); continue; }
      if (f.type === 'number' || f.type === 'integer') {
        const n = Number(raw);
        inputs[f.key] = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) && isFinite(n) ? n : raw;
      } else if (f.type === 'string') {
        inputs[f.key] = el.value;
      } else {
        try { inputs[f.key] = JSON.parse(raw); } catch (e) { inputs[f.key] = raw; }
      }
    }
    const bad = validate(schema, inputs, '');
    if (bad) { err.textContent = inputsMessage(name, bad); return; }
    try {
      const r = await api('POST', '/v1/tasks', {task_name: name, inputs});
      location.hash = '#/tasks/' + r.task_id;
    } catch (e) {
      err.textContent = e.message;
    }
  });
  page(g, name, h('p', {class: 'muted', text: t.description}), form,
       h('h2', {text: 'Input schema'}), h('pre', {text: JSON.stringify(schema, null, 2)}),
       h('h2', {text: 'Output schema'}), h('pre', {text: JSON.stringify(t.output_schema, null, 2)}));
}

// The task list: filters by state, name and creation time; paging by the
// server's page tokens; refreshed every 2 s while "live" is on.
async function tasksPage(query) {
  const g = gen;
  const types = await taskTypes().catch(() => []);
  const q = new URLSearchParams(query);
  const state = h('select', {id: 'f-state'}, h('option', {value: '', text: 'any'}),
    STATES.map(s => h('option', {value: s, text: s, selected: q.get('state') === s})));
  const name = h('select', {id: 'f-name'}, h('option', {value: '', text: 'any'}),
    types.map(t => h('option', {value: t.name, text: t.name, selected: q.get('task_name') === t.name})));
  const after = h('input', {id: 'f-after', type: 'datetime-local', value: q.get('after') || ''});
  const before = h('input', {id: 'f-before', type: 'datetime-local', value: q.get('before') || ''});
  const size = h('select', {id: 'f-size'}, [5, 10, 25, 50, 100].map(n =>
    h('option', {value: n, text: n, selected: String(n) === (q.get('page_size') || '25')})));
  const live = h('input', {id: 'f-live', type: 'checkbox', checked: true});
  const tbody = h('tbody', {id: 'task-rows'});
  const info = h('span', {class: 'muted', id: 'page-info'});
  const prev = h('button', {id: 'prev', type: 'button', text: '← Newer'});
  const next = h('button', {id: 'next', type: 'button', text: 'Older →'});
  const tokens = [''];   // page tokens of the pages seen, to go back
  let pageIdx = 0, nextToken = '';
  function apply() {
    const p = new URLSearchParams();
    for (const [k, el] of [['state', state], ['task_name', name], ['after', after],
                           ['before', before], ['page_size', size]]) {
      if (el.value) p.set(k, el.value);
    }
    location.hash = '#/tasks?' + p.toString();
  }
  for (const el of [state, name, after, before, size]) el.addEventListener('change', apply);
  async function load() {
    const p = new URLSearchParams();
    if (state.value) p.set('state', state.value);
    if (name.value) p.set('task_name', name.value);
    p.set('page_size', size.value);
    if (tokens[pageIdx]) p.set('page_token', tokens[pageIdx]);
    const r = await api('GET', '/v1/tasks?' + p.toString());
    // Time filter: the API filters by state and name; the creation time
    // window is applied to the page here.
    const lo = after.value ? new Date(after.value).getTime() : -Infinity;
    const hi = before.value ? new Date(before.value).getTime() : Infinity;
    const rows = r.tasks.filter(t => t.created_at_ms >= lo && t.created_at_ms <= hi);
    nextToken = r.next_page_token;
    tbody.replaceChildren(...rows.map(t => h('tr', {'data-id': t.id},
      h('td', {}, h('a', {href: '#/tasks/' + t.id, text: t.id})),
      h('td', {text: t.task_name}), h('td', {}, stateBadge(t.state)),
      h('td', {text: t.state === 'RUNNING' ? Math.round(t.progress * 100) + '% ' + t.progress_message : ''}),
      h('td', {text: fmtTime(t.created_at_ms)}))));
    info.textContent = 'Page ' + (pageIdx + 1) + ' · ' + rows.length + ' tasks';
    prev.disabled = pageIdx === 0;
    next.disabled = !nextToken;
  }
  prev.addEventListener('click', () => { if (pageIdx > 0) { pageIdx--; guard(load()); } });
  next.addEventListener('click', () => {
    if (!nextToken) return;
    tokens[pageIdx + 1] = nextToken;
    pageIdx++;
    guard(load());
  });
  await load();
  page(g, 'Tasks',
       h('div', {class: 'filters'},
         h('label', {}, 'State', state), h('label', {}, 'Task', name),
         h('label', {}, 'Created after', after), h('label', {}, 'Created before', before),
         h('label', {}, 'Page size', size), h('label', {}, 'Live', live)),
       h('table', {id: 'task-table'},
         h('thead', {}, h('tr', {}, ['Id', 'Task', 'State', 'Progress', 'Created'].map(
           x => h('th', {text: x})))), tbody),
       h('div', {class: 'pager'}, prev, next, info));
  const timer = setInterval(() => { if (live.checked) guard(load()); }, 2000);
  cleanup.push(() => clearInterval(timer));
}

async function taskPage(id) {
  const g = gen;
  const r = await api('GET', '/v1/tasks/' + encodeURIComponent(id));
  let t = r.task;
  const bar = h('div', {id: 'progress-fill'});
  const pct = h('span', {id: 'progress-pct'});
  const msg = h('span', {class: 'muted', id: 'progress-msg'});
  const state = h('span', {id: 'task-state'});
  const output = h('pre', {id: 'task-output'});
  const error = h('pre', {id: 'task-error'});
  const attempts = h('tbody', {id: 'attempts'});
  const cancel = h('button', {class: 'danger', id: 'cancel', type: 'button', text: 'Cancel'});
  function render() {
    state.replaceChildren(stateBadge(t.state));
    const p = Math.max(0, Math.min(1, t.progress || 0));
    bar.style.width = (p * 100).toFixed(1) + '%';
    pct.textContent = (p * 100).toFixed(0) + '%';
    msg.textContent = t.progress_message || '';
    output.textContent = t.output === null || t.output === undefined ? '—' : JSON.stringify(t.output, null, 2);
    error.textContent = t.error || '—';
    attempts.replaceChildren(...(t.attempts || []).map(a => h('tr', {},
      h('td', {text: a.number}), h('td', {text: a.error}), h('td', {text: fmtTime(a.finished_at_ms)}))));
    cancel.disabled = FINAL.has(t.state);
  }
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      const c = await api('POST', '/v1/tasks/' + encodeURIComponent(id) + '/cancel', {});
      notice('Cancel requested; the task is ' + c.state + '.');
    } catch (e) {
      notice(e.message, true);
      cancel.disabled = false;
    }
  });
  page(g, 'Task ' + id,
       h('dl', {class: 'kv'},
         h('dt', {text: 'Task'}), h('dd', {}, h('a', {href: '#/types/' + t.task_name, text: t.task_name})),
         h('dt', {text: 'State'}), h('dd', {}, state),
         h('dt', {text: 'Progress'}), h('dd', {},
           h('div', {class: 'progress', role: 'progressbar'}, bar), pct, ' ', msg),
         h('dt', {text: 'Created'}), h('dd', {text: fmtTime(t.created_at_ms)}),
         h('dt', {text: 'Started'}), h('dd', {text: fmtTime(t.started_at_ms)}),
         h('dt', {text: 'Finished'}), h('dd', {text: fmtTime(t.finished_at_ms)}),
         h('dt', {text: 'Attempt'}), h('dd', {text: t.attempt + ' of ' + t.max_attempts}),
         h('dt', {text: 'Priority'}), h('dd', {text: t.priority})),
       h('p', {}, cancel),
       h('h2', {text: 'Inputs'}), h('pre', {id: 'task-inputs', text: JSON.stringify(t.inputs, null, 2)}),
       h('h2', {text: 'Output'}), output,
       h('h2', {text: 'Error'}), error,
       h('h2', {text: 'Attempts'}),
       h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Error', 'Finished'].map(x => h('th', {text: x})))),
         attempts));
  render();
  if (!FINAL.has(t.state)) {
    const stop = follow('/v1/tasks/' + encodeURIComponent(id) + '/events', (type, ev) => {
      if (type === 'error') { notice(ev.error.message, true); return; }
      if (ev.task) t = ev.task;
      else Object.assign(t, {state: ev.state, progress: ev.progress, progress_message: ev.progress_message});
      render();
    }, e => notice(e.message, true));
    cleanup.push(stop);
  }
}

// ---------------------------------------------------------------------------
// Routing

function route() {
  gen++;
  for (const f of cleanup) f();
  cleanup = [];
  notice('');
  const hash = location.hash.replace(/^#/, '') || '/overview';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.id === 'nav-' + (parts[0] || 'overview'));
  }
  let p;
  if (parts[0] === 'types' && parts[1]) p = typePage(decodeURIComponent(parts[1]));
  else if (parts[0] === 'types') p = typesPage();
  else if (parts[0] === 'tasks' && parts[1]) p = taskPage(decodeURIComponent(parts[1]));
  else if (parts[0] === 'tasks') p = tasksPage(query || '');
  else p = overview();
  guard(p);
}

document.addEventListener('DOMContentLoaded', () => {
  const input = document.getElementById('token');
  input.value = token() ? '••••••••' : '';
  document.getElementById('token-form').addEventListener('submit', ev => {
    ev.preventDefault();
    if (input.value && input.value !== '••••••••') sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = token() ? '••••••••' : '';
    typesCache = null;
    route();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = '';
    typesCache = null;
    route();
  });
  window.addEventListener('hashchange', route);
  route();
});
