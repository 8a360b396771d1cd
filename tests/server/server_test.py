"""Tests of the gRPC module (runtime/server, services, middleware) against a
real taas-server process on a free loopback port.

    TAAS_SERVER_BIN=... TAAS_PY_STUBS=... /usr/bin/python3 server_test.py TEST_NAME

Servers come from tests/integration/taas_harness.py. All servers of one test
share one temporary directory, hence one SQLite database (test_role hands a
task from one server to the next through it). Every test stops its servers
with SIGTERM and requires exit status 0: every test is also a shutdown test.
"""
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import taas_harness  # noqa: E402
from taas.v1 import taas_pb2 as pb  # noqa: E402
import health_pb2 as hpb  # noqa: E402

BIN = os.environ["TAAS_SERVER_BIN"]
TEST = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="taas-server-test-")

SVC = "/taas.v1.TaskService/"
REG = "/taas.v1.RegistryService/"
HEALTH = "/grpc.health.v1.Health/"


class Server(taas_harness.Server):
    def __init__(self, *args, env=None):
        super().__init__(workdir=TMP, extra_args=["--workers", "2", *args], env=env)
        self.start()
        self.addr = self.address
        self.ch = grpc.insecure_channel(self.addr)

    def unary(self, method, req_bytes, timeout=10, metadata=None):
        """(status code, response bytes or None, details)"""
        fn = self.ch.unary_unary(method)
        try:
            return grpc.StatusCode.OK, fn(req_bytes, timeout=timeout, metadata=metadata), ""
        except grpc.RpcError as e:
            return e.code(), None, e.details()

    def stream(self, method, req_bytes, timeout=None):
        return self.ch.unary_stream(method)(req_bytes, timeout=timeout)

    def healthy(self):
        code, body, _ = self.unary(HEALTH + "Check", hpb.HealthCheckRequest().SerializeToString())
        assert code == grpc.StatusCode.OK, code
        return hpb.HealthCheckResponse.FromString(body).status == hpb.HealthCheckResponse.SERVING

    def submit(self, name, inputs):
        code, body, det = self.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(
            task_name=name, inputs_json=inputs).SerializeToString())
        assert code == grpc.StatusCode.OK, (code, det)
        return pb.SubmitTaskResponse.FromString(body).task_id

    def stop(self, within=20):
        """Clean SIGTERM shutdown (see taas_harness.Server.stop_clean); returns the seconds it took."""
        t0 = time.time()
        try:
            self.stop_clean(within)
        finally:
            self.ch.close()
        return time.time() - t0


def expect(code, want, what):
    assert code == want, "%s: got %s, want %s" % (what, code, want)


# ---------------------------------------------------------------------------

def test_unimplemented():
    s = Server()
    for m in ("/taas.v1.Nope/Foo", SVC + "Nope", "/x"):
        code, _, _ = s.unary(m, b"\x0a\x01x", timeout=5)
        expect(code, grpc.StatusCode.UNIMPLEMENTED, m)
    # a unary call to a stream method name shape still works for real ones
    assert s.healthy()
    s.stop()


def test_malformed():
    s = Server()
    bad = b"\xff\xff\xff\xff\xff"
    for m in (SVC + "SubmitTask", SVC + "GetTask", SVC + "ListTasks", SVC + "CancelTask",
              REG + "ListTaskTypes", REG + "GetTaskType", HEALTH + "Check"):
        code, _, _ = s.unary(m, bad)
        expect(code, grpc.StatusCode.INVALID_ARGUMENT, m)
    it = s.stream(SVC + "WatchTask", bad, timeout=5)
    try:
        list(it)
        raise AssertionError("WatchTask accepted garbage")
    except grpc.RpcError as e:
        expect(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "WatchTask")
    # error mapping
    code, _, det = s.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(task_name="countdwn").SerializeToString())
    expect(code, grpc.StatusCode.NOT_FOUND, "unknown task")
    assert "countdown" in det, det
    code, _, det = s.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(
        task_name="countdown", inputs_json="[1]").SerializeToString())
    expect(code, grpc.StatusCode.INVALID_ARGUMENT, "bad inputs")
    code, _, _ = s.unary(SVC + "GetTask", pb.GetTaskRequest(
        task_id="0190a000-0000-7000-8000-000000000000").SerializeToString())
    expect(code, grpc.StatusCode.NOT_FOUND, "unknown id")
    code, _, _ = s.unary(SVC + "GetTask", pb.GetTaskRequest().SerializeToString())
    expect(code, grpc.StatusCode.INVALID_ARGUMENT, "empty id")
    code, _, _ = s.unary(SVC + "ListTasks", pb.ListTasksRequest(page_size=5000).SerializeToString())
    expect(code, grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    code, _, det = s.unary(REG + "GetTaskType", pb.GetTaskTypeRequest(name="countdow").SerializeToString())
    expect(code, grpc.StatusCode.NOT_FOUND, "unknown type")
    assert "countdown" in det, det
    code, body, _ = s.unary(REG + "ListTaskTypes", b"")
    names = [t.name for t in pb.ListTaskTypesResponse.FromString(body).task_types]
    assert names == sorted(names) and "countdown" in names, names
    assert s.healthy()
    s.stop()


def test_size_cap():
    s = Server("--max-message-bytes", "2048")
    small = pb.SubmitTaskRequest(task_name="countdown", inputs_json='{"seconds":0}').SerializeToString()
    code, _, det = s.unary(SVC + "SubmitTask", small)
    expect(code, grpc.StatusCode.OK, "small submit: " + det)
    big = pb.SubmitTaskRequest(task_name="countdown",
                               inputs_json='{"seconds":0,"pad":"' + "x" * 4096 + '"}').SerializeToString()
    code, _, _ = s.unary(SVC + "SubmitTask", big)
    expect(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "big submit")
    assert s.healthy()
    s.stop()


def test_rate_limit():
    s = Server("--rate-limit", "5")
    codes = [s.unary(REG + "ListTaskTypes", b"")[0] for _ in range(40)]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
    assert codes.count(grpc.StatusCode.OK) >= 4, codes
    time.sleep(1.2)
    expect(s.unary(REG + "ListTaskTypes", b"")[0], grpc.StatusCode.OK, "after refill")
    s.stop()


def raw(port, data, read=True):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if data:
            c.sendall(data)
        if read:
            try:
                c.recv(65536)
            except (socket.timeout, ConnectionError):
                pass
    finally:
        c.close()


def test_garbage():
    s = Server()
    rnd = random.Random(7)
    raw(s.port, b"", read=False)
    for _ in range(20):
        raw(s.port, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096))))
    raw(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    raw(s.port, b"POST /taas.v1.TaskService/GetTask HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    raw(s.port, b"PRI * HTTP/2.0\r\n\r\nSM", read=False)
    raw(s.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x04\x00\x00\x00\x00", read=False)
    raw(s.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(rnd.getrandbits(8) for _ in range(512)))
    assert s.healthy()
    code, _, _ = s.unary(REG + "ListTaskTypes", b"")
    expect(code, grpc.StatusCode.OK, "after garbage")
    s.stop()


def watch_req(tid):
    return pb.WatchTaskRequest(task_id=tid).SerializeToString()


def test_watch():
    s = Server()
    tid = s.submit("countdown", '{"seconds":1,"step_ms":100}')
    events = [pb.TaskEvent.FromString(m) for m in s.stream(SVC + "WatchTask", watch_req(tid), timeout=30)]
    assert events, "no events"
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), [e.seq for e in events]
    assert events[-1].state == pb.TASK_STATE_SUCCEEDED, events[-1]
    assert events[-1].task.id == tid and events[-1].task.output_json, events[-1]
    # already final: a single final event
    again = [pb.TaskEvent.FromString(m) for m in s.stream(SVC + "WatchTask", watch_req(tid), timeout=10)]
    assert len(again) == 1 and again[0].state == pb.TASK_STATE_SUCCEEDED, again
    try:
        list(s.stream(SVC + "WatchTask", watch_req("0190a000-0000-7000-8000-000000000000"), timeout=5))
        raise AssertionError("watch of unknown id")
    except grpc.RpcError as e:
        expect(e.code(), grpc.StatusCode.NOT_FOUND, "watch unknown")
    code, body, _ = s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid).SerializeToString())
    expect(code, grpc.StatusCode.OK, "get")
    assert pb.GetTaskResponse.FromString(body).task.state == pb.TASK_STATE_SUCCEEDED
    s.stop()


def test_watch_abandon():
    """1,000 concurrent watch streams, all abandoned mid-stream; the server keeps serving."""
    s = Server()
    tids = [s.submit("countdown", '{"seconds":30,"step_ms":20}') for _ in range(4)]
    calls = [s.stream(SVC + "WatchTask", watch_req(tids[i % 4])) for i in range(1000)]
    first = 0
    for c in calls[:50]:
        next(c)  # the current state arrives first
        first += 1
    time.sleep(0.5)
    for c in calls:
        c.cancel()
    # a second wave on separate connections that simply disappear
    chans = [grpc.insecure_channel(s.addr, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(20)]
    waves = [ch.unary_stream(SVC + "WatchTask")(watch_req(tids[0])) for ch in chans for _ in range(10)]
    for w in waves[::10]:
        next(w)
    for ch in chans:
        ch.close()
    time.sleep(0.5)
    assert s.healthy()
    code, body, _ = s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tids[0]).SerializeToString())
    expect(code, grpc.StatusCode.OK, "get after abandon")
    for t in tids:
        s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=t).SerializeToString())
    s.stop()


def test_deadline():
    s = Server()
    tid = s.submit("countdown", '{"seconds":30,"step_ms":50}')
    t0 = time.time()
    try:
        for _ in s.stream(SVC + "WatchTask", watch_req(tid), timeout=0.7):
            pass
        raise AssertionError("stream ended without deadline")
    except grpc.RpcError as e:
        expect(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED, "watch deadline")
    assert time.time() - t0 < 5
    code, body, _ = s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=tid).SerializeToString())
    expect(code, grpc.StatusCode.OK, "cancel")
    assert pb.CancelTaskResponse.FromString(body).state in (pb.TASK_STATE_RUNNING, pb.TASK_STATE_CANCELLED,
                                                            pb.TASK_STATE_PENDING)
    assert s.healthy()
    s.stop()


def test_health():
    s = Server()
    for name in ("", "taas.v1.TaskService", "taas.v1.RegistryService"):
        code, body, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(service=name).SerializeToString())
        expect(code, grpc.StatusCode.OK, name)
        assert hpb.HealthCheckResponse.FromString(body).status == hpb.HealthCheckResponse.SERVING
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(service="nope").SerializeToString())
    expect(code, grpc.StatusCode.NOT_FOUND, "unknown service")
    w = s.stream(HEALTH + "Watch", hpb.HealthCheckRequest(service="nope").SerializeToString())
    assert hpb.HealthCheckResponse.FromString(next(w)).status == hpb.HealthCheckResponse.SERVICE_UNKNOWN
    w.cancel()
    w = s.stream(HEALTH + "Watch", hpb.HealthCheckRequest().SerializeToString())
    assert hpb.HealthCheckResponse.FromString(next(w)).status == hpb.HealthCheckResponse.SERVING
    got = []

    def rest():
        try:
            for m in w:
                got.append(hpb.HealthCheckResponse.FromString(m).status)
        except grpc.RpcError:
            pass
    t = threading.Thread(target=rest)
    t.start()
    time.sleep(0.2)
    s.stop()
    t.join(10)
    assert hpb.HealthCheckResponse.NOT_SERVING in got, got


def test_shutdown_open_streams():
    s = Server("--shutdown-grace-ms", "500")
    tid = s.submit("countdown", '{"seconds":60,"step_ms":50}')
    streams = [s.stream(SVC + "WatchTask", watch_req(tid)) for _ in range(50)]
    for st in streams[:5]:
        next(st)
    ends = []

    def drain(st):
        try:
            for _ in st:
                pass
            ends.append("OK")
        except grpc.RpcError as e:
            ends.append(e.code())
    ts = [threading.Thread(target=drain, args=(st,)) for st in streams]
    for t in ts:
        t.start()
    took = s.stop(within=20)
    for t in ts:
        t.join(10)
    assert took < 15, took
    assert grpc.StatusCode.UNAVAILABLE in ends, ends


def test_cli():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--listen", "TAAS_LISTEN", "--database-url", "DATABASE_URL", "--workers", "TAAS_WORKERS",
                 "--log-level", "TAAS_LOG_LEVEL", "--log-format", "TAAS_LOG_FORMAT", "--max-message-bytes",
                 "--rate-limit", "--shutdown-grace-ms", "--version"):
        assert flag in out.stdout, flag
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("taas-server "), out.stdout
    out = subprocess.run([BIN, "--workers", "x"], capture_output=True, text=True)
    assert out.returncode == 2, out
    # passwords never reach the log
    out = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--database-url",
                          "postgresql://u:s3cr3t@127.0.0.1:1/db"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "s3cr3t" not in out.stderr, out.stderr
    s = Server("--log-format", "json")
    assert '"event":"server.start"' in s.log(), s.log()
    s.stop()


def test_config_checks():
    """--listen ports outside 0..65535 are refused (gRPC would take them
    modulo 65536), a unix socket's start line names the socket, and a
    negative TAAS_RETRY_BASE_MS is warned about and ignored."""
    env = dict(os.environ, DATABASE_URL="sqlite:///" + os.path.join(TMP, "c.db"))
    for bad in ("127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1",
                "127.0.0.1:12ab", "[::1:50051"):
        out = subprocess.run([BIN, "--listen", bad], capture_output=True, text=True, timeout=30,
                             env=env)
        assert out.returncode == 2, (bad, out.returncode, out.stderr)
        assert "PORT 0 to 65535" in out.stderr and bad in out.stderr, (bad, out.stderr)
    out = subprocess.run([BIN, "--listen", "127.0.0.1:99999"], capture_output=True, text=True,
                         timeout=30, env=dict(env, TAAS_LISTEN="127.0.0.1:0"))
    assert out.returncode == 2, out.stderr

    sock = os.path.join(TMP, "taas.sock")
    u = taas_harness.Server(workdir=TMP, listen="unix:" + sock,
                            env={"TAAS_RETRY_BASE_MS": "-1", "TAAS_RETRY_CAP_MS": "-5"})
    u.start()
    try:
        text = u.log(tail=None)
        assert u.bound == "unix:" + sock and "listen=unix:%s " % sock in text, text
        for var in ("TAAS_RETRY_BASE_MS", "TAAS_RETRY_CAP_MS"):
            assert re.search(r"engine\.bad_env.*var=%s" % var, text), text
        ch = grpc.insecure_channel("unix:" + sock)
        body = ch.unary_unary(HEALTH + "Check")(hpb.HealthCheckRequest().SerializeToString(),
                                               timeout=10)
        assert hpb.HealthCheckResponse.FromString(body).status == \
            hpb.HealthCheckResponse.SERVING
        ch.close()
    finally:
        u.stop_clean(30)


def test_log_no_secrets():
    s = Server()
    s.unary(REG + "ListTaskTypes", b"", metadata=[("authorization", "Bearer t0psecret")])
    time.sleep(0.3)
    s.stop()
    log = s.log(tail=None)
    assert "method=/taas.v1.RegistryService/ListTaskTypes" in log and "status=OK" in log, log
    assert "t0psecret" not in log


def test_role():
    """--role api accepts tasks and runs none; --role worker runs them and
    serves only health; the same database carries the task from one to the other."""
    api = Server("--role", "api")
    assert "role=api" in api.log()
    tid = api.submit("noop", '{"r":1}')
    time.sleep(1.0)
    code, body, _ = api.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid).SerializeToString())
    expect(code, grpc.StatusCode.OK, "api GetTask")
    assert pb.GetTaskResponse.FromString(body).task.state == pb.TASK_STATE_PENDING, body
    api.stop()

    w = Server("--role", "worker")
    assert "role=worker" in w.log()
    assert w.healthy()
    for m, req in ((SVC + "GetTask", pb.GetTaskRequest(task_id=tid)),
                   (SVC + "SubmitTask", pb.SubmitTaskRequest(task_name="noop", inputs_json="{}")),
                   (REG + "ListTaskTypes", pb.ListTaskTypesRequest())):
        code, _, det = w.unary(m, req.SerializeToString())
        expect(code, grpc.StatusCode.UNAVAILABLE, "worker " + m)
        assert "this node runs with --role worker" in det, det
    it = w.stream(SVC + "WatchTask", pb.WatchTaskRequest(task_id=tid).SerializeToString(), timeout=5)
    try:
        next(it)
        raise AssertionError("worker served WatchTask")
    except grpc.RpcError as e:
        expect(e.code(), grpc.StatusCode.UNAVAILABLE, "worker WatchTask")
    time.sleep(1.5)  # the worker claims and runs the pending task
    w.stop()

    a = Server(env={"TAAS_ROLE": "all"})
    code, body, _ = a.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid).SerializeToString())
    expect(code, grpc.StatusCode.OK, "all GetTask")
    assert pb.GetTaskResponse.FromString(body).task.state == pb.TASK_STATE_SUCCEEDED, body
    a.stop()
    r = subprocess.run([BIN, "--role", "boss"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "all|api|worker" in r.stderr, r.stderr


TESTS = {n[5:]: f for n, f in globals().items() if n.startswith("test_")}
if __name__ == "__main__":
    TESTS[TEST]()
    print("ok", TEST)
