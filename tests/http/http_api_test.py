"""The HTTP/JSON API against a real taas-server (tests/http).

Every endpoint and every error path, authentication and isolation between
two principals, Server-Sent Events through a slow reader, a disconnect and
Last-Event-ID, oversize bodies and malformed JSON, /metrics (promtool) and
1,000 concurrent event streams while gRPC keeps serving.
"""
import http.client
import json
import os
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import taas_harness  # noqa: E402

_HTTP_RE = re.compile(r"server\.http http=127\.0\.0\.1:(\d+)")
TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef",
          "reader": "reader-token-0123456789abcdef", "admin": "admin-token-0123456789abcdef"}
SCOPES = {"alice": "submit,read,cancel", "bob": "submit,read,cancel", "reader": "read",
          "admin": "admin"}


def http_port(srv):
    m = taas_harness.wait_until(lambda: _HTTP_RE.search(srv.log()), 10, what="server.http line")
    return int(m.group(1))


def start(extra=(), env=None):
    srv = taas_harness.Server(extra_args=["--http", "127.0.0.1:0"] + list(extra), env=env)
    srv.start()
    srv.http = http_port(srv)
    return srv


class Client:
    def __init__(self, port, token=None):
        self.port, self.token = port, token

    def req(self, method, path, body=None, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        ctype = r.getheader("Content-Type") or ""
        parsed = json.loads(text) if ctype.startswith("application/json") else text.decode()
        return r.status, parsed, r

    def submit(self, task, inputs, **kw):
        body = {"task_name": task, "inputs": inputs}
        body.update(kw)
        st, j, _ = self.req("POST", "/v1/tasks", body)
        assert st == 200, (st, j)
        return j["task_id"]

    def wait_state(self, tid, states, timeout=30):
        def done():
            st, j, _ = self.req("GET", "/v1/tasks/" + tid)
            return j["task"] if st == 200 and j["task"]["state"] in states else None
        return taas_harness.wait_until(done, timeout, interval_s=0.05, what="state " + str(states))


def sse_open(port, path, token=None, headers=None, rcvbuf=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    # Connection: close, so that the end of the stream is the end of the socket.
    h = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
         "Connection: close\r\n" % (path, port))
    if token:
        h += "Authorization: Bearer %s\r\n" % token
    for k, v in (headers or {}).items():
        h += "%s: %s\r\n" % (k, v)
    s.sendall((h + "\r\n").encode())
    return s


def sse_read_all(s, timeout=30):
    """Reads until the server closes; returns (status, headers, events, comments)."""
    s.settimeout(timeout)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    # Chunked transfer: undo it.
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            n = int(line.split(b";")[0], 16) if line.strip() else 0
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    return status, head.decode(), parse_events(body.decode()), body.decode().count(": keepalive")


def parse_events(text):
    events = []
    for block in text.split("\n\n"):
        ev = {}
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            k, _, v = line.partition(": ")
            ev[k] = v
        if "data" in ev:
            ev["json"] = json.loads(ev["data"])
            events.append(ev)
    return events


class HttpApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start(env={"TAAS_HTTP_KEEPALIVE_MS": "200"})
        cls.c = Client(cls.srv.http)
        cls.specs = taas_harness.load_specs()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        assert rc == 0, rc

    def test_health_ready_openapi(self):
        st, body, _ = self.c.req("GET", "/healthz")
        self.assertEqual((st, body), (200, "ok\n"))
        st, body, _ = self.c.req("GET", "/readyz")
        self.assertEqual((st, body), (200, "ready\n"))
        st, doc, _ = self.c.req("GET", "/openapi.json")
        self.assertEqual(st, 200)
        self.assertEqual(doc["openapi"], "3.1.0")
        schemas = doc["components"]["schemas"]
        types = {t["name"]: t for t in self.c.req("GET", "/v1/task-types")[1]["task_types"]}
        for name, spec in self.specs.items():
            # The per-task schemas are the spec's own.
            self.assertEqual(schemas[name + "_inputs"], types[name]["input_schema"])
            self.assertEqual(schemas[name + "_outputs"], types[name]["output_schema"])
            if "properties" in spec["inputs"]:
                self.assertEqual(schemas[name + "_inputs"]["properties"].keys(),
                                 spec["inputs"]["properties"].keys())
            self.assertIn({"$ref": "#/components/schemas/%s_submit" % name},
                          schemas["SubmitTaskRequest"]["oneOf"])
        for path in ["/v1/tasks", "/v1/tasks/{id}", "/v1/tasks/{id}/cancel",
                     "/v1/tasks/{id}/events", "/v1/task-types", "/v1/task-types/{name}", "/metrics"]:
            self.assertIn(path, doc["paths"])

    def test_task_types(self):
        st, j, _ = self.c.req("GET", "/v1/task-types")
        self.assertEqual(st, 200)
        names = [t["name"] for t in j["task_types"]]
        self.assertEqual(sorted(names), sorted(self.specs))
        st, j, _ = self.c.req("GET", "/v1/task-types/my_custom_task")
        self.assertEqual(st, 200)
        self.assertEqual(j["task_type"]["input_schema"]["required"], ["param1"])
        st, j, _ = self.c.req("GET", "/v1/task-types/my_custm_task")
        self.assertEqual(st, 404)
        self.assertEqual(j["error"]["status"], "NOT_FOUND")
        self.assertIn("my_custom_task", j["error"]["message"])

    def test_submit_get_result(self):
        tid = self.c.submit("my_custom_task", {"param1": "test", "param2": 42})
        t = self.c.wait_state(tid, ["SUCCEEDED"])
        self.assertEqual(t["output"], {"result": "Processed test with 42"})
        self.assertEqual(t["inputs"], {"param1": "test", "param2": 42})
        self.assertEqual(t["task_name"], "my_custom_task")
        # Idempotency key: the second submit is the same task.
        a = self.c.req("POST", "/v1/tasks", {"task_name": "noop", "inputs": {},
                                              "idempotency_key": "k-http-1"})[1]
        b = self.c.req("POST", "/v1/tasks", {"task_name": "noop", "inputs": {},
                                              "idempotency_key": "k-http-1"})[1]
        self.assertEqual(a["task_id"], b["task_id"])
        self.assertFalse(a["duplicate"])
        self.assertTrue(b["duplicate"])

    def test_list_filters_and_paging(self):
        ids = [self.c.submit("noop", {}) for _ in range(5)]
        for tid in ids:
            self.c.wait_state(tid, ["SUCCEEDED"])
        seen, token = [], ""
        while True:
            q = "/v1/tasks?task_name=noop&state=SUCCEEDED&page_size=2"
            if token:
                q += "&page_token=" + token
            st, j, _ = self.c.req("GET", q)
            self.assertEqual(st, 200, j)
            self.assertLessEqual(len(j["tasks"]), 2)
            for t in j["tasks"]:
                self.assertEqual((t["task_name"], t["state"]), ("noop", "SUCCEEDED"))
            seen += [t["id"] for t in j["tasks"]]
            token = j["next_page_token"]
            if not token:
                break
        self.assertEqual(len(seen), len(set(seen)))
        for tid in ids:
            self.assertIn(tid, seen)
        st, j, _ = self.c.req("GET", "/v1/tasks?state=running&task_name=noop")
        self.assertEqual(st, 200)
        self.assertEqual(j["tasks"], [])

    def test_list_children_by_parent(self):
        pid = self.c.submit("fan_out", {"words": ["p", "q"]})
        parent = self.c.wait_state(pid, ["SUCCEEDED"], timeout=60)
        self.assertEqual(parent.get("parent_id", ""), "")
        st, j, _ = self.c.req("GET", "/v1/tasks?parent_id=" + pid)
        self.assertEqual(st, 200, j)
        kids = j["tasks"]
        self.assertEqual(sorted(t["id"] for t in kids), sorted(parent["output"]["children"]))
        for t in kids:
            self.assertEqual(t["parent_id"], pid)
        st, j, _ = self.c.req("GET", "/v1/tasks/" + kids[0]["id"])
        self.assertEqual((st, j["task"]["parent_id"]), (200, pid))
        st, j, _ = self.c.req("GET", "/v1/tasks?parent_id=" + kids[0]["id"])
        self.assertEqual((st, j["tasks"]), (200, []))
        st, doc, _ = self.c.req("GET", "/openapi.json")
        self.assertIn("parent_id", doc["components"]["schemas"]["Task"]["properties"])
        self.assertIn("parent_id", [p["name"] for p in doc["paths"]["/v1/tasks"]["get"]["parameters"]])

    def test_cancel_running(self):
        tid = self.c.submit("countdown", {"seconds": 30, "step_ms": 50})
        self.c.wait_state(tid, ["RUNNING"])
        st, j, _ = self.c.req("POST", "/v1/tasks/%s/cancel" % tid, {})
        self.assertEqual(st, 200, j)
        t = self.c.wait_state(tid, ["CANCELLED"], timeout=10)
        self.assertEqual(t["state"], "CANCELLED")
        st, j, _ = self.c.req("POST", "/v1/tasks/%s/cancel" % "01890000-0000-7000-8000-000000000000", {})
        self.assertEqual(st, 404)

    def test_errors(self):
        c = self.c
        cases = [
            ("POST", "/v1/tasks", '{"task_name": "noop",', 400, "INVALID_ARGUMENT", "malformed JSON"),
            ("POST", "/v1/tasks", '[1,2]', 400, "INVALID_ARGUMENT", "must be a JSON object"),
            ("POST", "/v1/tasks", '', 400, "INVALID_ARGUMENT", "must be a JSON object"),
            ("POST", "/v1/tasks", '{"task_name": "noop", "bogus": 1}', 400, "INVALID_ARGUMENT",
             "unknown field 'bogus'"),
            ("POST", "/v1/tasks", '{"task_name": 5}', 400, "INVALID_ARGUMENT",
             "task_name: expected string, got number"),
            ("POST", "/v1/tasks", '{"task_name": "noop", "priority": 1.5}', 400,
             "INVALID_ARGUMENT", "priority"),
            ("POST", "/v1/tasks", '{"task_name": "nope_task"}', 404, "NOT_FOUND", "unknown task"),
            ("POST", "/v1/tasks", '{"inputs": {}}', 400, "INVALID_ARGUMENT", "task_name: required"),
            ("POST", "/v1/tasks", '{"task_name": "noop", "timeout_s": -1}', 400,
             "INVALID_ARGUMENT", "timeout_s"),
            ("POST", "/v1/tasks", '{"task_name":"a","task_name":"b"}', 400, "INVALID_ARGUMENT",
             "duplicate key"),
            ("GET", "/v1/tasks?page_size=5000", None, 400, "INVALID_ARGUMENT", "page_size"),
            ("GET", "/v1/tasks?page_size=abc", None, 400, "INVALID_ARGUMENT", "page_size"),
            ("GET", "/v1/tasks?state=BOGUS", None, 400, "INVALID_ARGUMENT", "state"),
            ("GET", "/v1/tasks?nope=1", None, 400, "INVALID_ARGUMENT", "unknown field 'nope'"),
            ("GET", "/v1/tasks/not-a-task", None, 404, "NOT_FOUND", "not-a-task"),
            ("GET", "/v1/tasks/01890000-0000-7000-8000-000000000000/events", None, 404,
             "NOT_FOUND", "not found"),
            ("GET", "/v1/nothing", None, 404, "NOT_FOUND", "no such path"),
            ("DELETE", "/v1/tasks", None, 405, "UNIMPLEMENTED", "allowed: GET, POST"),
            ("GET", "/v1/tasks/x/cancel", None, 405, "UNIMPLEMENTED", "allowed: POST"),
        ]
        for method, path, raw, code, status, needle in cases:
            with self.subTest(method=method, path=path, raw=raw):
                st, j, _ = c.req(method, path, raw=raw)
                self.assertEqual(st, code, j)
                self.assertEqual(j["error"]["status"], status)
                self.assertIn(needle, j["error"]["message"])
        # No JSON content type on a state-changing request (what a cross-site
        # form would send): refused before anything happens.
        for path in ["/v1/tasks", "/v1/tasks/x/cancel"]:
            st, j, _ = c.req("POST", path, raw='{"task_name": "noop"}',
                             headers={"Content-Type": "text/plain"})
            self.assertEqual(st, 415, j)
            self.assertEqual(j["error"]["message"], "Content-Type must be application/json")
        # A schema violation names the field, as gRPC's message does.
        st, j, _ = c.req("POST", "/v1/tasks", {"task_name": "my_custom_task",
                                               "inputs": {"param1": "x", "param2": "y"}})
        self.assertEqual(st, 400)
        self.assertEqual(j["error"]["message"],
                         "invalid inputs for my_custom_task: /param2: expected number, got string")
        fv = j["error"]["details"][0]["field_violations"]
        self.assertEqual(fv, [{"field": "/param2", "description": "expected number, got string"}])
        # Every violation, as gRPC's google.rpc.BadRequest lists them.
        st, j, _ = c.req("POST", "/v1/tasks", {"task_name": "countdown",
                                               "inputs": {"seconds": -1, "step_ms": 0, "x": 1}})
        self.assertEqual(st, 400)
        fields = [v["field"] for v in j["error"]["details"][0]["field_violations"]]
        self.assertEqual(sorted(fields), ["/seconds", "/step_ms", "/x"])

    def test_dns_rebinding_refused_without_tokens(self):
        for host, code in [("evil.example:8080", 403), ("localhost:1", 200), ("127.0.0.1", 200),
                           ("[::1]:80", 200)]:
            st, j, _ = self.c.req("GET", "/v1/task-types", headers={"Host": host})
            self.assertEqual(st, code, (host, j))
        self.assertTrue(j["task_types"])

    def test_oversize_body(self):
        big = '{"task_name": "noop", "inputs": {"x": "%s"}}' % ("a" * (5 << 20))
        st, j, _ = self.c.req("POST", "/v1/tasks", raw=big)
        self.assertEqual(st, 413)
        self.assertEqual(j["error"]["status"], "RESOURCE_EXHAUSTED")
        # The server goes on.
        self.assertEqual(self.c.req("GET", "/healthz")[0], 200)

    def test_sse_events_to_success(self):
        tid = self.c.submit("countdown", {"seconds": 1, "step_ms": 100})
        st, head, events, _ = sse_read_all(sse_open(self.srv.http, "/v1/tasks/%s/events" % tid))
        self.assertEqual(st, 200)
        self.assertIn("text/event-stream", head)
        self.assertEqual(events[-1]["event"], "final")
        self.assertEqual(events[-1]["json"]["task"]["state"], "SUCCEEDED")
        self.assertEqual(events[-1]["json"]["task"]["output"], {"counted": 1, "steps": 10})
        progress = [e["json"]["progress"] for e in events]
        self.assertEqual(progress, sorted(progress))
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(ids))

    def test_sse_last_event_id(self):
        tid = self.c.submit("noop", {})
        self.c.wait_state(tid, ["SUCCEEDED"])
        # Everything seen: only the final event comes again (so the client ends).
        far = str(int(time.time() * 1000) + 10 ** 6)
        st, _, events, _ = sse_read_all(sse_open(self.srv.http, "/v1/tasks/%s/events" % tid,
                                                 headers={"Last-Event-ID": far}))
        self.assertEqual(st, 200)
        self.assertEqual([e["event"] for e in events], ["final"])
        # Resuming a running task: nothing at or before the id is repeated.
        tid = self.c.submit("countdown", {"seconds": 2, "step_ms": 100})
        s = sse_open(self.srv.http, "/v1/tasks/%s/events" % tid)
        s.settimeout(10)
        got = b""
        while got.count(b"\nid: ") < 1 and b"\r\n\r\nid: " not in got or got.count(b"data: ") < 3:
            got += s.recv(4096)
        s.close()
        last = max(int(x) for x in re.findall(rb"id: (\d+)", got))
        st, _, events, _ = sse_read_all(sse_open(self.srv.http, "/v1/tasks/%s/events" % tid,
                                                 headers={"Last-Event-ID": str(last)}))
        self.assertTrue(all(int(e["id"]) > last for e in events), events)
        self.assertEqual(events[-1]["json"]["task"]["state"], "SUCCEEDED")

    def test_sse_slow_reader_and_keepalive(self):
        # Progress every millisecond for 2 s (2,000 reports, ~500 KB of
        # events); a reader that takes 2 KiB every 20 ms. Progress coalesces
        # while the reader lags, so the final event arrives long before 500 KB
        # could have been read, and nothing grows without bound on the server.
        tid = self.c.submit("countdown", {"seconds": 2, "step_ms": 1})
        s = sse_open(self.srv.http, "/v1/tasks/%s/events" % tid, rcvbuf=4096)
        s.settimeout(30)
        buf = b""
        t0 = time.monotonic()
        while True:
            d = s.recv(2048)
            if not d:
                break
            buf += d
            time.sleep(0.02)
        s.close()
        self.assertIn(b"event: final", buf)
        self.assertLess(buf.count(b"event: task"), 1000, "progress coalesced for the slow reader")
        self.assertLess(time.monotonic() - t0, 20)
        # A long step: the stream carries keepalive comments (200 ms here).
        tid = self.c.submit("countdown", {"seconds": 1, "step_ms": 1000})
        _, _, events, keepalives = sse_read_all(sse_open(self.srv.http, "/v1/tasks/%s/events" % tid))
        self.assertGreaterEqual(keepalives, 2)
        self.assertEqual(events[-1]["event"], "final")

    def test_sse_disconnect(self):
        tid = self.c.submit("countdown", {"seconds": 3, "step_ms": 20})
        for _ in range(20):
            s = sse_open(self.srv.http, "/v1/tasks/%s/events" % tid)
            s.recv(100)
            s.close()  # mid-stream
        s = sse_open(self.srv.http, "/v1/tasks/%s/events" % tid)
        s.close()  # before any answer
        self.assertEqual(self.c.req("GET", "/readyz")[0], 200)
        t = self.c.wait_state(tid, ["SUCCEEDED"])
        self.assertEqual(t["output"]["counted"], 3)

    def test_metrics_promtool_and_counters(self):
        def scrape():
            st, text, r = self.c.req("GET", "/metrics")
            self.assertEqual(st, 200)
            self.assertEqual(r.getheader("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            return text

        def value(text, name, labels=""):
            m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
            return float(m.group(1)) if m else 0.0

        # Queue depth: a task that waits (run_after_ms in the future) is pending.
        waiting = self.c.submit("noop", {}, run_after_ms=int(time.time() * 1000) + 3600 * 1000)
        first = scrape()
        self.assertGreaterEqual(value(first, "taas_tasks", '{state="pending"}'), 1)
        self.c.req("POST", "/v1/tasks/%s/cancel" % waiting, {})
        before = scrape()
        # A pending task cancelled is counted under its own task name.
        lbl = '{task="noop",state="cancelled"}'
        self.assertEqual(value(before, "taas_tasks_finished_total", lbl) -
                         value(first, "taas_tasks_finished_total", lbl), 1)
        tid = self.c.submit("my_custom_task", {"param1": "m", "param2": 1})
        self.c.wait_state(tid, ["SUCCEEDED"])
        self.c.req("GET", "/v1/tasks/not-a-task")
        after = scrape()
        # The access log has the call, as the gRPC method it mirrors.
        taas_harness.wait_until(lambda: re.search(
            r"rpc method=/taas\.v1\.TaskService/GetTask peer=ipv4:127\.0\.0\.1:\d+ "
            r"status=NOT_FOUND transport=http duration_us=\d+", self.srv.log()), 5,
            what="the access log line")
        self.assertEqual(value(after, "taas_tasks_submitted_total", '{task="my_custom_task"}') -
                         value(before, "taas_tasks_submitted_total", '{task="my_custom_task"}'), 1)
        lbl = '{task="my_custom_task",state="succeeded"}'
        self.assertEqual(value(after, "taas_tasks_finished_total", lbl) -
                         value(before, "taas_tasks_finished_total", lbl), 1)
        for family in ["taas_submit_ack_seconds_count", "taas_task_run_seconds_count",
                       "taas_task_queue_wait_seconds_count", "taas_store_commit_seconds_count",
                       "taas_store_commit_batch_operations_count"]:
            self.assertGreater(value(after, family), value(before, family), family)
        lbl = '{transport="http",method="/taas.v1.TaskService/GetTask",code="NOT_FOUND"}'
        self.assertEqual(value(after, "taas_calls_total", lbl) - value(before, "taas_calls_total", lbl), 1)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=after.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        st, hist, _ = self.c.req("GET", "/v1/metrics/history")
        self.assertEqual(st, 200)
        self.assertEqual(hist["interval_s"], 10)
        self.assertGreaterEqual(sum(s["submitted"] for s in hist["samples"]), 1)

    def test_dashboard_assets_and_csp(self):
        st, html, r = self.c.req("GET", "/")
        self.assertEqual(st, 200)
        csp = r.getheader("Content-Security-Policy")
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("<script>", html)  # no inline script
        for src in re.findall(r'(?:src|href)="(/[^"]*)"', html):
            self.assertEqual(self.c.req("GET", src)[0], 200, src)


class HttpAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taas-http-auth-")
        path = os.path.join(cls.tmp, "tokens")
        with open(path, "w") as f:
            for who, tok in TOKENS.items():
                h = subprocess.run([os.environ["TAAS_SERVER_BIN"], "--hash-token"], input=tok.encode(),
                                   capture_output=True, check=True).stdout.decode().strip()
                f.write("%s %s %s\n" % (h, who, SCOPES[who]))
        os.chmod(path, 0o600)
        cls.srv = start(["--tokens-file", path])
        cls.p = cls.srv.http

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, rc  # a clean stop (under ASan: no leak, no error)

    def test_wrong_or_missing_token_gets_nothing(self):
        for c in [Client(self.p), Client(self.p, "wrong-token")]:
            for method, path in [("GET", "/v1/tasks"), ("GET", "/v1/task-types"), ("GET", "/metrics"),
                                 ("GET", "/v1/metrics/history"), ("POST", "/v1/tasks")]:
                st, j, _ = c.req(method, path, {"task_name": "noop"} if method == "POST" else None)
                self.assertEqual(st, 401, (path, j))
                self.assertEqual(j["error"]["status"], "UNAUTHENTICATED")
        # Health stays open, as grpc.health.v1 does.
        self.assertEqual(Client(self.p).req("GET", "/healthz")[0], 200)
        self.assertEqual(Client(self.p).req("GET", "/readyz")[0], 200)

    def test_scopes(self):
        st, j, _ = Client(self.p, TOKENS["reader"]).req("POST", "/v1/tasks", {"task_name": "noop"})
        self.assertEqual(st, 403)
        self.assertEqual(j["error"]["status"], "PERMISSION_DENIED")
        self.assertEqual(Client(self.p, TOKENS["reader"]).req("GET", "/v1/tasks")[0], 200)

    def test_isolation(self):
        alice, bob = Client(self.p, TOKENS["alice"]), Client(self.p, TOKENS["bob"])
        admin = Client(self.p, TOKENS["admin"])
        tid = alice.submit("countdown", {"seconds": 5, "step_ms": 100})
        unknown = "01890000-0000-7000-8000-000000000000"
        for path, method in [("/v1/tasks/%s", "GET"), ("/v1/tasks/%s/cancel", "POST"),
                             ("/v1/tasks/%s/events", "GET")]:
            body = {} if method == "POST" else None
            st_b, jb, _ = bob.req(method, path % tid, body)
            st_u, ju, _ = bob.req(method, path % unknown, body)
            self.assertEqual(st_b, 404)
            # Exactly what an unknown id gets, but for the id itself.
            self.assertEqual(jb["error"]["message"].replace(tid, "X"),
                             ju["error"]["message"].replace(unknown, "X"))
        self.assertNotIn(tid, [t["id"] for t in bob.req("GET", "/v1/tasks")[1]["tasks"]])
        self.assertIn(tid, [t["id"] for t in alice.req("GET", "/v1/tasks")[1]["tasks"]])
        self.assertEqual(admin.req("GET", "/v1/tasks/" + tid)[0], 200)
        self.assertEqual(alice.req("POST", "/v1/tasks/%s/cancel" % tid, {})[0], 200)


class HttpExposure(unittest.TestCase):
    def test_non_loopback_refused(self):
        p = subprocess.run([os.environ["TAAS_SERVER_BIN"], "--http", "0.0.0.0:0",
                            "--database-url", "sqlite:///" + tempfile.mktemp(suffix=".db")],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"refusing to serve HTTP on 0.0.0.0:0", p.stderr)


class HttpManyStreams(unittest.TestCase):
    N = 1000

    def test_1000_streams_while_grpc_serves(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < self.N + 200:
            self.skipTest("needs %d descriptors, the hard limit is %d" % (self.N + 200, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        import grpc
        from taas.v1 import taas_pb2, taas_pb2_grpc
        srv = start()
        try:
            c = Client(srv.http)
            tid = c.submit("countdown", {"seconds": 4, "step_ms": 500})
            sel = selectors.DefaultSelector()
            socks = []
            for i in range(self.N):
                s = sse_open(srv.http, "/v1/tasks/%s/events" % tid)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
                socks.append(s)
            bufs = [b""] * self.N
            closed = set()
            channel = grpc.insecure_channel(srv.address)
            stub = taas_pb2_grpc.TaskServiceStub(channel)
            grpc_ok, stop = [0], threading.Event()

            def grpc_load():
                while not stop.is_set():
                    r = stub.SubmitTask(taas_pb2.SubmitTaskRequest(task_name="noop",
                                                                   inputs_json="{}"), timeout=10)
                    stub.GetTask(taas_pb2.GetTaskRequest(task_id=r.task_id), timeout=10)
                    grpc_ok[0] += 1
            th = threading.Thread(target=grpc_load)
            th.start()
            deadline = time.monotonic() + 90
            try:
                while len(closed) < self.N and time.monotonic() < deadline:
                    for key, _ in sel.select(timeout=1):
                        i = key.data
                        try:
                            d = key.fileobj.recv(65536)
                        except BlockingIOError:
                            continue
                        if d:
                            bufs[i] += d
                        else:
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                            closed.add(i)
            finally:
                stop.set()
                th.join(30)
                for s in socks:
                    s.close()
                channel.close()
            finals = sum(1 for b in bufs if b"event: final" in b and b'"SUCCEEDED"' in b)
            self.assertEqual(finals, self.N, "streams with the final event")
            self.assertGreater(grpc_ok[0], 5, "gRPC calls answered meanwhile")
            self.assertEqual(c.req("GET", "/readyz")[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)
            srv.cleanup()


def sse_head(s, timeout=30):
    """Reads a stream's status line and headers; for a refused stream (a
    plain answer, Connection: close) also its body. Returns (status, body)."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if status != 200:
        while True:
            d = s.recv(65536)
            if not d:
                break
            body += d
    return status, body


class HttpWatchCaps(unittest.TestCase):
    """Event streams count toward the principal's cap on open watches, with
    gRPC's WatchTask, and have a cap of their own per client address (each
    stream is its own HTTP connection): the next one is refused with 429 and
    a JSON error naming the limit."""

    def test_event_streams_are_capped(self):
        import grpc
        from taas.v1 import taas_pb2, taas_pb2_grpc
        srv = start(["--max-watches-per-connection", "3", "--max-watches-per-principal", "5"])
        socks, calls = [], []
        channel = grpc.insecure_channel(srv.address)
        try:
            c = Client(srv.http)
            tid = c.submit("countdown", {"seconds": 60, "step_ms": 100})
            path = "/v1/tasks/%s/events" % tid

            def refused(what):
                s = sse_open(srv.http, path)
                status, body = sse_head(s)
                s.close()
                self.assertEqual(status, 429, body)
                err = json.loads(body)["error"]
                self.assertEqual(err["status"], "RESOURCE_EXHAUSTED", err)
                self.assertIn(what, err["message"])
                return err

            for _ in range(3):
                s = sse_open(srv.http, path)
                self.assertEqual(sse_head(s)[0], 200)
                socks.append(s)
            # The fourth from this address: over the per-client cap.
            err = refused("--max-watches-per-connection")
            self.assertIn("client address", err["message"])

            # gRPC watches of the same principal fill the principal's cap.
            stub = taas_pb2_grpc.TaskServiceStub(channel)
            for _ in range(2):
                call = stub.WatchTask(taas_pb2.WatchTaskRequest(task_id=tid), timeout=60)
                next(call)
                calls.append(call)
            with self.assertRaises(grpc.RpcError) as cm:
                next(stub.WatchTask(taas_pb2.WatchTaskRequest(task_id=tid), timeout=10))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("--max-watches-per-principal", cm.exception.details())
            # A closed stream gives its slot back; a gRPC watch takes it: room
            # under the per-client cap (2 of 3), none under the principal's.
            socks.pop().close()

            def grpc_watch():
                call = stub.WatchTask(taas_pb2.WatchTaskRequest(task_id=tid), timeout=60)
                try:
                    next(call)
                except grpc.RpcError as e:
                    self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                    return False
                calls.append(call)
                return True
            taas_harness.wait_until(grpc_watch, 10, what="a closed stream's slot given back")
            refused("--max-watches-per-principal")

            # Everything closed: streams are served again.
            for s in socks:
                s.close()
            socks = []
            for call in calls:
                call.cancel()
            calls = []
            taas_harness.wait_until(lambda: self._sse_ok(srv, path, socks), 10,
                                    what="slots given back")
            self.assertTrue(srv.alive(), srv.log())
            c.req("POST", "/v1/tasks/%s/cancel" % tid, {})
        finally:
            for s in socks:
                s.close()
            for call in calls:
                call.cancel()
            channel.close()
            self.assertEqual(srv.stop(), 0)
            srv.cleanup()

    @staticmethod
    def _sse_ok(srv, path, socks):
        """Opens a stream; keeps it (True) when served, else False."""
        s = sse_open(srv.http, path)
        status, _ = sse_head(s)
        if status == 200:
            socks.append(s)
            return True
        s.close()
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
