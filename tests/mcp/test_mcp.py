"""`taas mcp` against a real taas-server: the official TypeScript SDK client
(sdk_client.mjs), and the protocol's edges the SDK does not exercise - the
2026-07-28 style without initialize, malformed messages, cancellation, end of
input - spoken raw over the process's stdin/stdout."""

import json
import os
import select
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import grpc  # noqa: E402
import taas_harness  # noqa: E402
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402

S = taas_pb2
CLI = os.environ.get("TAAS_CLI_BIN", "taas")
MODERN = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {}}

server = None


def setUpModule():
    global server
    server = taas_harness.Server().start()


def tearDownModule():
    if server:
        server.cleanup()


def ensure_sdk():
    """npm ci when the SDK is not installed yet (skipped when it is, so an
    offline machine that has it still runs the test)."""
    if os.path.isdir(os.path.join(HERE, "node_modules", "@modelcontextprotocol", "sdk")):
        return None
    if not shutil.which("npm") or not shutil.which("node"):
        return "node and npm are needed (scripts/deps.sh test)"
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("npm ci failed:\n" + p.stdout[-4000:])
    return None


class Peer:
    """`taas mcp` as a child process, spoken to line by line."""

    def __init__(self):
        self.p = subprocess.Popen([CLI, "--server", server.address, "mcp"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, bufsize=0)
        self.buf = b""

    def send(self, msg):
        data = msg if isinstance(msg, (bytes, str)) else json.dumps(msg)
        if isinstance(data, str):
            data = data.encode()
        self.p.stdin.write(data + b"\n")
        self.p.stdin.flush()

    def recv(self, timeout=15):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from taas mcp")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError("taas mcp closed stdout")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def quiet(self, seconds):
        """True when nothing arrives within `seconds`."""
        if self.buf:
            return False
        r, _, _ = select.select([self.p.stdout], [], [], seconds)
        return not r

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(15)
        err = self.p.stderr.read()
        self.p.stdout.close()
        self.p.stderr.close()
        return rc, err


class SdkClient(unittest.TestCase):
    def test_official_sdk_client(self):
        why = ensure_sdk()
        if why:
            self.skipTest(why)
        env = dict(os.environ, TAAS_CLI_BIN=CLI, TAAS_ADDR=server.address)
        p = subprocess.run(["node", os.path.join(HERE, "sdk_client.mjs")], cwd=HERE, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        seen = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["result"], "Processed test with 42")
        self.assertIn("countdown", seen["tools"])
        self.assertIn("llm_agent", seen["tools"])
        self.assertGreaterEqual(len(seen["progress"]), 3)
        self.assertEqual(seen["serverVersion"]["name"], "taas")
        # The aborted countdown's task was cancelled on the server.
        ch = grpc.insecure_channel(server.address)
        tasks = taas_pb2_grpc.TaskServiceStub(ch)

        def cancelled():
            r = tasks.ListTasks(S.ListTasksRequest(task_name="countdown"), timeout=10)
            return any(t.state == S.TASK_STATE_CANCELLED for t in r.tasks)
        taas_harness.wait_until(cancelled, 10, what="the aborted countdown CANCELLED")
        ch.close()


class Raw(unittest.TestCase):
    def setUp(self):
        self.peer = Peer()

    def tearDown(self):
        rc, err = self.peer.close()
        self.assertEqual(rc, 0, err)
        self.assertTrue(server.alive(), server.log())

    def test_modern_style_without_initialize(self):
        pe = self.peer
        pe.send({"jsonrpc": "2.0", "id": 1, "method": "server/discover"})
        r = pe.recv()["result"]
        self.assertEqual(r["resultType"], "complete")
        self.assertIn("2026-07-28", r["supportedVersions"])
        self.assertIn("tools", r["capabilities"])
        pe.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": MODERN}})
        r = pe.recv()["result"]
        self.assertEqual((r["resultType"], r["ttlMs"], r["cacheScope"]),
                         ("complete", 0, "private"))
        self.assertIn("my_custom_task", [t["name"] for t in r["tools"]])
        pe.send({"jsonrpc": "2.0", "id": "c", "method": "tools/call",
                 "params": {"_meta": dict(MODERN, progressToken="p"), "name": "my_custom_task",
                            "arguments": {"param1": "test", "param2": 42}}})
        msgs = [pe.recv()]
        while "id" not in msgs[-1]:
            msgs.append(pe.recv())
        self.assertTrue(all(m["method"] == "notifications/progress" and
                            m["params"]["progressToken"] == "p" for m in msgs[:-1]))
        r = msgs[-1]
        self.assertEqual(r["id"], "c")
        self.assertEqual(r["result"]["resultType"], "complete")
        self.assertEqual(r["result"]["structuredContent"], {"result": "Processed test with 42"})
        # The envelope is required without a handshake.
        pe.send({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}})
        self.assertEqual(pe.recv()["error"]["code"], -32602)
        pe.send({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})
        self.assertEqual(pe.recv()["error"]["code"], -32602)
        pe.send({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": dict(
            MODERN, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})}})
        e = pe.recv()["error"]
        self.assertEqual(e["code"], -32022)
        self.assertEqual(e["data"], {"supported": ["2026-07-28"], "requested": "2099-01-01"})

    def test_handshake_versions(self):
        pe = self.peer
        pe.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                            "clientInfo": {"name": "c", "version": "1"}}})
        r = pe.recv()["result"]
        self.assertEqual(r["protocolVersion"], "2024-11-05")
        self.assertEqual(r["capabilities"], {"tools": {"listChanged": False}})
        pe.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        pe.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = pe.recv()["result"]["tools"]
        # outputSchema and structuredContent arrived in 2025-06-18.
        self.assertTrue(all("outputSchema" not in t for t in tools))
        pe.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                 "params": {"name": "my_custom_task", "arguments": {"param1": "x"}}})
        r = pe.recv()["result"]
        self.assertNotIn("structuredContent", r)
        self.assertNotIn("resultType", r)
        self.assertEqual(json.loads(r["content"][0]["text"]), {"result": "Processed x with 0"})
        # An unknown version gets our latest.
        pe.send({"jsonrpc": "2.0", "id": 4, "method": "initialize",
                 "params": {"protocolVersion": "1999-01-01", "capabilities": {},
                            "clientInfo": {"name": "c", "version": "1"}}})
        self.assertEqual(pe.recv()["result"]["protocolVersion"], "2025-11-25")

    def test_malformed_messages(self):
        pe = self.peer
        pe.send("{not json")
        r = pe.recv()
        self.assertEqual((r["id"], r["error"]["code"]), (None, -32700))
        pe.send("[]")
        self.assertEqual(pe.recv()["error"]["code"], -32600)
        pe.send({"jsonrpc": "2.0", "id": None, "method": "ping"})
        self.assertEqual(pe.recv()["error"]["code"], -32600)
        pe.send({"jsonrpc": "1.0", "id": 1, "method": "ping"})
        self.assertEqual(pe.recv()["error"]["code"], -32600)
        pe.send({"jsonrpc": "2.0", "id": 2, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "c", "version": "1"}}})
        pe.recv()
        pe.send({"jsonrpc": "2.0", "id": 3, "method": "resources/list"})
        self.assertEqual(pe.recv()["error"]["code"], -32601)
        pe.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                 "params": {"name": "my_custom_task", "arguments": [1]}})
        self.assertEqual(pe.recv()["error"]["code"], -32602)
        pe.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"arguments": {}}})
        self.assertEqual(pe.recv()["error"]["code"], -32602)
        pe.send({"jsonrpc": "2.0", "method": "notifications/unknown"})  # ignored
        pe.send({"jsonrpc": "2.0", "id": 6, "method": "ping"})
        r = pe.recv()
        self.assertEqual((r["id"], r["result"]), (6, {}))

    def test_cancelled_call_sends_nothing_and_cancels_the_task(self):
        pe = self.peer
        pe.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "c", "version": "1"}}})
        pe.recv()
        pe.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                 "params": {"name": "countdown", "arguments": {"seconds": 60, "step_ms": 100},
                            "_meta": {"progressToken": 70}}})
        self.assertEqual(pe.recv()["method"], "notifications/progress")
        pe.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                 "params": {"requestId": 7, "reason": "changed my mind"}})
        # Nothing but the progress already on its way; never a response to 7.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if pe.quiet(0.2):
                continue
            m = pe.recv()
            self.assertNotIn("id", m, m)
        pe.send({"jsonrpc": "2.0", "id": 8, "method": "ping"})
        while True:
            m = pe.recv()
            if m.get("id") == 8:
                break
        ch = grpc.insecure_channel(server.address)
        tasks = taas_pb2_grpc.TaskServiceStub(ch)
        r = tasks.ListTasks(S.ListTasksRequest(task_name="countdown"), timeout=10)
        running = [t for t in r.tasks if t.state in (S.TASK_STATE_RUNNING, S.TASK_STATE_PENDING)]
        self.assertEqual(running, [])
        ch.close()


if __name__ == "__main__":
    unittest.main()
