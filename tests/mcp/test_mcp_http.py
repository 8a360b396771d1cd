"""POST /mcp (MCP over Streamable HTTP) on a real taas-server's HTTP port with
bearer tokens: the official TypeScript SDK's StreamableHTTPClientTransport
(sdk_http_client.mjs), and the transport's rules the SDK does not exercise -
sessions and their owners, the headers, Origin, scopes and isolation -
spoken raw over http.client."""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import taas_harness  # noqa: E402
from test_mcp import ensure_sdk  # noqa: E402

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef",
          "reader": "reader-token-0123456789abcdef"}
SCOPES = {"alice": "submit,read,cancel", "bob": "submit,read,cancel", "reader": "read"}
_HTTP_RE = re.compile(r"server\.http http=127\.0\.0\.1:(\d+)")
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}}

srv = None
tmp = None
port = None


def setUpModule():
    global srv, tmp, port
    tmp = tempfile.mkdtemp(prefix="taas-mcp-http-")
    path = os.path.join(tmp, "tokens")
    with open(path, "w") as f:
        for who, tok in TOKENS.items():
            h = subprocess.run([os.environ["TAAS_SERVER_BIN"], "--hash-token"],
                               input=tok.encode(), capture_output=True,
                               check=True).stdout.decode().strip()
            f.write("%s %s %s\n" % (h, who, SCOPES[who]))
    os.chmod(path, 0o600)
    srv = taas_harness.Server(extra_args=["--http", "127.0.0.1:0", "--tokens-file", path])
    srv.start()
    m = taas_harness.wait_until(lambda: _HTTP_RE.search(srv.log()), 10, what="server.http")
    port = int(m.group(1))


def tearDownModule():
    rc = srv.stop() if srv else 0
    log = open(srv.log_path, errors="replace").read()[-8000:] if srv else ""
    if srv:
        srv.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0, "%s\n%s" % (rc, log)  # a clean stop (under ASan: no leak, no error)


def post(body, who="alice", headers=None, method="POST", raw=None):
    """One request to /mcp; returns (status, headers dict, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if who:
        h["Authorization"] = "Bearer " + TOKENS[who]
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    c.request(method, "/mcp", body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    hs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hs, text


def messages(hs, text):
    """The JSON-RPC messages of an answer, JSON or an event stream."""
    if hs.get("content-type", "").startswith("text/event-stream"):
        return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]
    return [json.loads(text)] if text else []


def session(who="alice"):
    st, hs, text = post(INIT, who)
    assert st == 200, (st, text)
    sid = hs["mcp-session-id"]
    st, _, _ = post({"jsonrpc": "2.0", "method": "notifications/initialized"}, who,
                    {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
    assert st == 202, st
    return sid


class SdkClient(unittest.TestCase):
    def test_official_sdk_streamable_http_client(self):
        why = ensure_sdk()
        if why:
            self.skipTest(why)
        env = dict(os.environ, TAAS_MCP_URL="http://127.0.0.1:%d/mcp" % port,
                   TAAS_TOKEN=TOKENS["alice"])
        p = subprocess.run(["node", os.path.join(HERE, "sdk_http_client.mjs")], cwd=HERE,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + srv.log())
        seen = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["result"], "Processed test with 42")
        self.assertIn("countdown", seen["tools"])
        self.assertGreaterEqual(len(seen["progress"]), 3)
        self.assertIn("param1", seen["badArguments"])
        self.assertRegex(seen["unauthenticated"], "401|nauthorized")
        self.assertTrue(seen["terminated"])
        # The aborted countdown was cancelled on the server, as alice's task.
        st, hs, text = self.rest("GET", "/v1/tasks?task_name=countdown", "alice")
        self.assertEqual(st, 200, text)
        tasks = json.loads(text).get("tasks", [])

        def cancelled():
            st, _, t = self.rest("GET", "/v1/tasks?task_name=countdown", "alice")
            return any(x.get("state") == "CANCELLED"
                       for x in json.loads(t).get("tasks", []))
        try:
            taas_harness.wait_until(cancelled, 15, what="the aborted countdown CANCELLED")
        except AssertionError as e:
            log = "\n".join(x for x in open(srv.log_path, errors="replace").read().splitlines()
                             if "ListTasks" not in x)[-6000:]
            raise AssertionError("%s\n%s" % (e, log)) from None
        self.assertTrue(tasks)

    def rest(self, method, path, who):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request(method, path, headers={"Authorization": "Bearer " + TOKENS[who]})
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        return r.status, dict(r.getheaders()), text


class Raw(unittest.TestCase):
    def test_unauthenticated_and_bad_tokens_refused(self):
        st, hs, text = post(INIT, who=None)
        self.assertEqual(st, 401, text)
        self.assertIn("Bearer", hs.get("www-authenticate", ""))
        st, _, text = post(INIT, who=None, headers={"Authorization": "Bearer nope"})
        self.assertEqual(st, 401, text)
        self.assertIn("invalid bearer token", text)

    def test_sessions_headers_and_origin(self):
        sid = session()
        hdr = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        lst = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        st, hs, text = post(lst, headers=hdr)
        self.assertEqual(st, 200, text)
        self.assertIn("my_custom_task", [t["name"] for t in messages(hs, text)[0]["result"]["tools"]])
        # No session: 400. An unknown one: 404. Another principal's: 404.
        self.assertEqual(post(lst)[0], 400)
        self.assertEqual(post(lst, headers={"Mcp-Session-Id": "0" * 32})[0], 404)
        self.assertEqual(post(lst, who="bob", headers=hdr)[0], 404)
        # A protocol version we do not speak: 400.
        st, _, text = post(lst, headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "1999-01-01"})
        self.assertEqual(st, 400, text)
        self.assertIn("MCP-Protocol-Version", text)
        # A page of another site: 403 before anything runs; a local page is fine.
        st, _, text = post(lst, headers=dict(hdr, Origin="http://evil.example"))
        self.assertEqual(st, 403, text)
        self.assertEqual(post(lst, headers=dict(hdr, Origin="http://localhost:3000"))[0], 200)
        # Not JSON: 400 with a JSON-RPC parse error. Not application/json: 415.
        st, _, text = post(None, headers=hdr, raw="{nope")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(text)["error"]["code"], -32700)
        self.assertEqual(post(None, headers=dict(hdr, **{"Content-Type": "text/plain"}),
                              raw=json.dumps(lst))[0], 415)
        # No standalone stream: 405 naming what is allowed.
        st, hs, _ = post(None, method="GET", headers=hdr)
        self.assertEqual(st, 405)
        self.assertIn("POST", hs.get("allow", ""))
        # DELETE ends the session.
        self.assertEqual(post(None, method="DELETE", headers=hdr)[0], 204)
        self.assertEqual(post(lst, headers=hdr)[0], 404)

    def cancelled_countdowns(self):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/v1/tasks?task_name=countdown&state=CANCELLED&page_size=1000",
                  headers={"Authorization": "Bearer " + TOKENS["alice"]})
        n = len(json.loads(c.getresponse().read().decode()).get("tasks", []))
        c.close()
        return n

    def test_cancel_after_the_stream_closed(self):
        # A client that closed a call's stream leaves the task running; its
        # notifications/cancelled for that request still stops the task.
        sid = session()
        hdr = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        before = self.cancelled_countdowns()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/mcp", body=json.dumps(
            {"jsonrpc": "2.0", "id": 77, "method": "tools/call",
             "params": {"name": "countdown", "arguments": {"seconds": 60, "step_ms": 100},
                        "_meta": {"progressToken": "p77"}}}),
            headers=dict(hdr, **{"Content-Type": "application/json",
                                 "Accept": "application/json, text/event-stream",
                                 "Authorization": "Bearer " + TOKENS["alice"]}))
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        while not r.fp.readline().startswith(b"data: "):
            pass  # the first progress notification: the task runs
        c.close()
        st, _, _ = post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": 77, "reason": "changed my mind"}},
                        headers=hdr)
        self.assertEqual(st, 202)
        taas_harness.wait_until(lambda: self.cancelled_countdowns() == before + 1, 15,
                                what="the countdown CANCELLED after its stream closed")

    def test_modern_style_needs_no_session(self):
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
        st, hs, text = post({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                             "params": {"name": "my_custom_task", "arguments": {"param1": "m"},
                                        "_meta": meta}},
                            headers={"Accept": "application/json"})
        self.assertEqual(st, 200, text)
        self.assertEqual(hs["content-type"], "application/json")
        r = json.loads(text)["result"]
        self.assertEqual(r["resultType"], "complete")
        self.assertEqual(r["structuredContent"], {"result": "Processed m with 0"})

    def test_scopes_and_isolation(self):
        # reader may list tools but not submit: a tool error naming the scope.
        sid = session("reader")
        hdr = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        st, hs, text = post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, "reader", hdr)
        self.assertEqual(st, 200, text)
        st, hs, text = post({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                             "params": {"name": "my_custom_task", "arguments": {"param1": "r"}}},
                            "reader", hdr)
        self.assertEqual(st, 200, text)
        r = messages(hs, text)[-1]["result"]
        self.assertTrue(r["isError"])
        self.assertIn("PERMISSION_DENIED", r["content"][0]["text"])
        # A task alice runs through /mcp is hers: bob cannot see it.
        sid = session("alice")
        hdr = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        st, hs, text = post({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                             "params": {"name": "my_custom_task",
                                        "arguments": {"param1": "secret-of-alice"}}},
                            "alice", hdr)
        self.assertEqual(st, 200, text)
        self.assertFalse(messages(hs, text)[-1]["result"]["isError"])
        for who, want in (("alice", True), ("bob", False)):
            self.assertEqual(self.owned(who), want, who)

    def owned(self, who):
        """Whether `who` sees a my_custom_task with the input secret-of-alice (GetTask)."""
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/v1/tasks?task_name=my_custom_task",
                  headers={"Authorization": "Bearer " + TOKENS[who]})
        tasks = json.loads(c.getresponse().read().decode()).get("tasks", [])
        c.close()
        for t in tasks:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/v1/tasks/" + t["id"],
                      headers={"Authorization": "Bearer " + TOKENS[who]})
            body = c.getresponse().read().decode()
            c.close()
            if "secret-of-alice" in body:
                return True
        return False


if __name__ == "__main__":
    unittest.main()
