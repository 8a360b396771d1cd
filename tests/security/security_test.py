"""Security tests: TLS, mutual TLS, bearer tokens, scopes, per-principal
isolation, exposure refusal, limits, many idle connections and rapid stream
cancellation - each against real taas-server processes on loopback.

    TAAS_SERVER_BIN=... TAAS_CLI_BIN=... TAAS_PY_STUBS=... /usr/bin/python3 security_test.py TEST_NAME

Servers come from tests/integration/taas_harness.py; all servers of one test
share one temporary directory (and its SQLite database). Certificates are
made for each run with openssl in that directory (SANs DNS:localhost and
IP:127.0.0.1). Every test stops its servers with SIGTERM and requires exit
status 0 and a log without sanitizer reports.
"""
import hashlib
import os
import resource
import shutil
import socket
import struct
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
CLI = os.environ["TAAS_CLI_BIN"]
TEST = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="taas-security-test-")

SVC = "/taas.v1.TaskService/"
REG = "/taas.v1.RegistryService/"
HEALTH = "/grpc.health.v1.Health/"
OK = grpc.StatusCode.OK

# ---------------------------------------------------------------------------
# Certificates

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, cwd=TMP, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name)


def make_cert(name, ca, usage):
    ext = os.path.join(TMP, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n" % usage)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext)


def path(name):
    return os.path.join(TMP, name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


CERTS = False


def certs():
    global CERTS
    if not CERTS:
        make_ca("ca")
        make_ca("otherca")
        make_cert("server", "ca", "serverAuth")
        make_cert("client", "ca", "clientAuth")
        make_cert("rogue", "otherca", "clientAuth")
        CERTS = True

# ---------------------------------------------------------------------------
# Tokens

TOKENS = {
    "alice": ("tok-alice-6f1c2a9e8d7b", "submit,read,cancel"),
    "bob": ("tok-bob-0a3e55c1f4d2", "submit,read,cancel"),
    "reader": ("tok-reader-7b7e0c9d11aa", "read"),
    "submitter": ("tok-submitter-c0ffee0012", "submit"),
    "canceller": ("tok-canceller-beef77aa31", "cancel"),
    "root": ("tok-root-9e9e1b2b3c4d5e", "admin"),
}


def tokens_file():
    p = path("tokens")
    with open(p, "w") as f:
        f.write("# test tokens\n\n")
        for who, (tok, scopes) in TOKENS.items():
            f.write("sha256:%s %s %s\n" % (hashlib.sha256(tok.encode()).hexdigest(), who, scopes))
    return p


def md(who):
    return [("authorization", "Bearer " + TOKENS[who][0])]

# ---------------------------------------------------------------------------
# Server

class Server(taas_harness.Server):
    def __init__(self, *args, env=None, tls=False, mtls=False, tokens=False):
        extra = []
        if tls or mtls:
            certs()
            extra += ["--tls-cert", path("server.pem"), "--tls-key", path("server.key")]
        if mtls:
            extra += ["--tls-client-ca", path("ca.pem")]
        if tokens:
            extra += ["--tokens-file", tokens_file()]
        super().__init__(workdir=TMP, extra_args=["--workers", "2", *extra, *args], env=env)
        self.start()
        self.addr = self.address
        self.channels = []
        if tls or mtls:
            self.ch = self.channel(ca="ca.pem", cert="client" if mtls else None)
        else:
            self.ch = self.channel()

    def channel(self, ca=None, cert=None, host="127.0.0.1", options=None):
        target = "%s:%d" % (host, self.port)
        if ca is None:
            ch = grpc.insecure_channel(target, options=options)
        else:
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(ca),
                private_key=read(cert + ".key") if cert else None,
                certificate_chain=read(cert + ".pem") if cert else None)
            ch = grpc.secure_channel(target, creds, options=options)
        self.channels.append(ch)
        return ch

    def unary(self, method, req, timeout=10, metadata=None, ch=None):
        """(status code, response bytes or None, details)"""
        fn = (ch or self.ch).unary_unary(method)
        if not isinstance(req, bytes):
            req = req.SerializeToString()
        try:
            return OK, fn(req, timeout=timeout, metadata=metadata), ""
        except grpc.RpcError as e:
            return e.code(), None, e.details()

    def stream(self, method, req, timeout=None, metadata=None, ch=None):
        if not isinstance(req, bytes):
            req = req.SerializeToString()
        return (ch or self.ch).unary_stream(method)(req, timeout=timeout, metadata=metadata)

    def health(self, ch=None, timeout=10):
        code, body, det = self.unary(HEALTH + "Check", hpb.HealthCheckRequest(), ch=ch,
                                     timeout=timeout)
        assert code == OK, (code, det)
        return hpb.HealthCheckResponse.FromString(body).status == hpb.HealthCheckResponse.SERVING

    def submit(self, name, inputs, who=None, key=""):
        code, body, det = self.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(
            task_name=name, inputs_json=inputs, idempotency_key=key),
            metadata=md(who) if who else None)
        assert code == OK, (code, det)
        return pb.SubmitTaskResponse.FromString(body).task_id

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def nfds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def stop(self, within=30):
        """Clean SIGTERM shutdown (see taas_harness.Server.stop_clean); returns the whole log."""
        try:
            return self.stop_clean(within)
        finally:
            for ch in self.channels:
                ch.close()


def expect(code, want, what):
    assert code == want, "%s: got %s, want %s" % (what, code, want)


def cli(*args, env=None, stdin=None):
    e = dict(os.environ)
    for k in ("TAAS_TOKEN", "TAAS_TOKEN_FILE", "TAAS_TLS", "TAAS_TLS_CA", "TAAS_TLS_CLIENT_CERT",
              "TAAS_TLS_CLIENT_KEY", "TAAS_SERVER"):
        e.pop(k, None)
    if env:
        e.update(env)
    r = subprocess.run([CLI, *args], capture_output=True, text=True, env=e, input=stdin,
                       timeout=30)
    return r.returncode, r.stdout, r.stderr


UNKNOWN_ID = "0190a000-0000-7000-8000-000000000000"

# ---------------------------------------------------------------------------
# TLS

def test_tls():
    s = Server(tls=True)
    assert s.health(), "TLS health"
    # by name as well as by address: both are in the certificate
    assert s.health(ch=s.channel(ca="ca.pem", host="localhost"))
    # plaintext client to a TLS server
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(), ch=s.channel(), timeout=5)
    expect(code, grpc.StatusCode.UNAVAILABLE, "plaintext client to TLS server")
    # a client trusting another CA
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(),
                         ch=s.channel(ca="otherca.pem"), timeout=5)
    expect(code, grpc.StatusCode.UNAVAILABLE, "client trusting the wrong CA")
    # the C client, through the CLI
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("ca.pem"), "health")
    assert rc == 0 and "SERVING" in out, (rc, out, err)
    rc, out, err = cli("--server", s.addr, "health", env={"TAAS_TLS_CA": path("ca.pem")})
    assert rc == 0, ("TAAS_TLS_CA", rc, out, err)
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("otherca.pem"), "--deadline", "5",
                       "health")
    assert rc == 6, ("CLI with the wrong CA", rc, out, err)
    rc, out, err = cli("--server", s.addr, "--deadline", "5", "health")
    assert rc == 6, ("plaintext CLI", rc, out, err)
    tid = s.submit("noop", "{}")
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("ca.pem"), "get", tid)
    assert rc == 0 and tid in out, (rc, out, err)
    assert s.health(), "still serving"
    s.stop()


def test_mtls():
    s = Server(mtls=True)
    assert s.health(), "mTLS with a client certificate"
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(),
                         ch=s.channel(ca="ca.pem"), timeout=5)
    expect(code, grpc.StatusCode.UNAVAILABLE, "mTLS without a client certificate")
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(),
                         ch=s.channel(ca="ca.pem", cert="rogue"), timeout=5)
    expect(code, grpc.StatusCode.UNAVAILABLE, "mTLS with a certificate from another CA")
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("ca.pem"), "--tls-cert",
                       path("client.pem"), "--tls-key", path("client.key"), "health")
    assert rc == 0, ("CLI mTLS", rc, out, err)
    rc, out, err = cli("--server", s.addr, "health", env={
        "TAAS_TLS_CA": path("ca.pem"), "TAAS_TLS_CLIENT_CERT": path("client.pem"),
        "TAAS_TLS_CLIENT_KEY": path("client.key")})
    assert rc == 0, ("CLI mTLS from the environment", rc, out, err)
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("ca.pem"), "--deadline", "5", "health")
    assert rc == 6, ("CLI without a client certificate", rc, out, err)
    rc, out, err = cli("--server", s.addr, "--tls-ca", path("ca.pem"), "--tls-cert",
                       path("client.pem"), "health")
    assert rc == 2, ("--tls-cert without --tls-key", rc, out, err)
    assert s.health()
    s.stop()
    # configuration errors: a key without a certificate, a client CA without TLS
    for args in (["--tls-key", path("server.key")], ["--tls-client-ca", path("ca.pem")]):
        r = subprocess.run([BIN, "--listen", "127.0.0.1:0", *args], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    r = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--tls-cert", path("tokens-nope"),
                        "--tls-key", path("server.key")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "tokens-nope" in r.stderr, (r.returncode, r.stderr)

# ---------------------------------------------------------------------------
# Tokens and scopes

def test_auth():
    s = Server("--log-level", "debug", tokens=True)
    req = pb.ListTaskTypesRequest()
    expect(s.unary(REG + "ListTaskTypes", req)[0], grpc.StatusCode.UNAUTHENTICATED, "no token")
    for bad in ("Bearer nope", "Bearer " + TOKENS["alice"][0] + "x", "Bearer ",
                "Basic " + TOKENS["alice"][0], TOKENS["alice"][0],
                "Bearer " + TOKENS["alice"][0][:-1], "Bearer " + "A" * 5000):
        code, _, det = s.unary(REG + "ListTaskTypes", req, metadata=[("authorization", bad)])
        expect(code, grpc.StatusCode.UNAUTHENTICATED, "authorization %r" % bad[:40])
        assert TOKENS["alice"][0] not in det, det
    expect(s.unary(REG + "ListTaskTypes", req, metadata=md("alice"))[0], OK, "alice")
    # scheme is case-insensitive (RFC 6750)
    code, _, _ = s.unary(REG + "ListTaskTypes", req,
                         metadata=[("authorization", "bearer " + TOKENS["alice"][0])])
    expect(code, OK, "lower-case scheme")
    # health stays open for load balancers, with or without a token
    assert s.health()
    code, _, _ = s.unary(HEALTH + "Check", hpb.HealthCheckRequest(), metadata=md("reader"))
    expect(code, OK, "health with a token")
    w = s.stream(HEALTH + "Watch", hpb.HealthCheckRequest(), timeout=5)
    assert hpb.HealthCheckResponse.FromString(next(w)).status == hpb.HealthCheckResponse.SERVING
    w.cancel()
    # unknown methods: a token first, then UNIMPLEMENTED
    expect(s.unary("/taas.v1.Nope/Foo", b"")[0], grpc.StatusCode.UNAUTHENTICATED, "unknown, anon")
    expect(s.unary("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", b"")[0],
           grpc.StatusCode.UNAUTHENTICATED, "reflection, anon")
    expect(s.unary("/taas.v1.Nope/Foo", b"", metadata=md("reader"))[0],
           grpc.StatusCode.UNIMPLEMENTED, "unknown, authenticated")
    # the C client and the CLI send the token
    rc, out, err = cli("--server", s.addr, "tasks")
    assert rc == 7 and "UNAUTHENTICATED" in err, (rc, out, err)
    rc, out, err = cli("--server", s.addr, "tasks", env={"TAAS_TOKEN": TOKENS["reader"][0]})
    assert rc == 0 and "noop" in out, (rc, out, err)
    with open(path("reader.token"), "w") as f:
        f.write(TOKENS["reader"][0] + "\n")
    rc, out, err = cli("--server", s.addr, "--token-file", path("reader.token"), "tasks")
    assert rc == 0, (rc, out, err)
    rc, out, err = cli("--server", s.addr, "--token-file", "-", "tasks",
                       stdin=TOKENS["reader"][0] + "\n")
    assert rc == 0, (rc, out, err)
    rc, out, err = cli("--server", s.addr, "--token", TOKENS["reader"][0], "submit", "noop",
                       "--input", "{}")
    assert rc == 7 and "PERMISSION_DENIED" in err, (rc, out, err)
    log = s.stop()
    for who, (tok, _) in TOKENS.items():
        assert tok not in log, "token of %s in the log" % who
    assert "principal=reader" in log, log[-3000:]
    assert "A" * 100 not in log


def test_scopes():
    s = Server(tokens=True)
    tid = s.submit("countdown", '{"seconds":30,"step_ms":100}', who="root")
    calls = {
        "submit": [(SVC + "SubmitTask", pb.SubmitTaskRequest(task_name="noop", inputs_json="{}"))],
        "read": [(SVC + "GetTask", pb.GetTaskRequest(task_id=UNKNOWN_ID)),
                 (SVC + "ListTasks", pb.ListTasksRequest()),
                 (REG + "ListTaskTypes", pb.ListTaskTypesRequest()),
                 (REG + "GetTaskType", pb.GetTaskTypeRequest(name="noop"))],
        "cancel": [(SVC + "CancelTask", pb.CancelTaskRequest(task_id=UNKNOWN_ID))],
    }
    who_has = {"submitter": {"submit"}, "reader": {"read"}, "canceller": {"cancel"},
               "root": {"submit", "read", "cancel"}, "alice": {"submit", "read", "cancel"}}
    for who, scopes in who_has.items():
        for scope, lst in calls.items():
            for method, req in lst:
                code, _, det = s.unary(method, req, metadata=md(who))
                if scope in scopes:
                    assert code in (OK, grpc.StatusCode.NOT_FOUND), (who, method, code, det)
                else:
                    expect(code, grpc.StatusCode.PERMISSION_DENIED, "%s %s" % (who, method))
                    assert scope in det and who in det, det
        # WatchTask is a read
        it = s.stream(SVC + "WatchTask", pb.WatchTaskRequest(task_id=tid), timeout=5,
                      metadata=md(who))
        try:
            next(it)
            got = OK
        except grpc.RpcError as e:
            got = e.code()
        it.cancel()
        if "read" in scopes:
            assert got in (OK, grpc.StatusCode.NOT_FOUND), (who, got)
        else:
            expect(got, grpc.StatusCode.PERMISSION_DENIED, "%s WatchTask" % who)
    code, _, _ = s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=tid), metadata=md("root"))
    expect(code, OK, "admin cancels")
    assert s.health()
    s.stop()


def test_isolation():
    s = Server(tokens=True)
    a1 = s.submit("countdown", '{"seconds":30,"step_ms":100}', who="alice")
    a2 = s.submit("noop", '{"n":1}', who="alice")
    b1 = s.submit("countdown", '{"seconds":30,"step_ms":100}', who="bob")

    def get(tid, who):
        return s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid), metadata=md(who))

    expect(get(a1, "alice")[0], OK, "alice reads hers")
    code, _, det_foreign = get(a1, "bob")
    expect(code, grpc.StatusCode.NOT_FOUND, "bob reads alice's")
    # indistinguishable from an id that does not exist
    code, _, det_unknown = get(UNKNOWN_ID, "bob")
    expect(code, grpc.StatusCode.NOT_FOUND, "unknown id")
    assert det_foreign.replace(a1, "ID") == det_unknown.replace(UNKNOWN_ID, "ID"), \
        (det_foreign, det_unknown)
    code, _, _ = s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=a1), metadata=md("bob"))
    expect(code, grpc.StatusCode.NOT_FOUND, "bob cancels alice's")
    it = s.stream(SVC + "WatchTask", pb.WatchTaskRequest(task_id=a1), timeout=5, metadata=md("bob"))
    try:
        next(it)
        raise AssertionError("bob watched alice's task")
    except grpc.RpcError as e:
        expect(e.code(), grpc.StatusCode.NOT_FOUND, "bob watches alice's")

    def listed(who):
        code, body, det = s.unary(SVC + "ListTasks", pb.ListTasksRequest(page_size=100),
                                  metadata=md(who))
        assert code == OK, (code, det)
        return {t.task_id if hasattr(t, "task_id") else t.id
                for t in pb.ListTasksResponse.FromString(body).tasks}

    assert listed("alice") == {a1, a2}, listed("alice")
    assert listed("bob") == {b1}, listed("bob")
    assert {a1, a2, b1} <= listed("root"), listed("root")
    # alice's task is still running: bob's cancel did nothing
    body = get(a1, "alice")[1]
    assert pb.GetTaskResponse.FromString(body).task.state in (pb.TASK_STATE_PENDING, pb.TASK_STATE_RUNNING)
    # idempotency keys do not cross principals
    k1 = s.submit("noop", '{"k":1}', who="alice", key="same-key")
    assert s.submit("noop", '{"k":1}', who="alice", key="same-key") == k1
    # bob's "same-key" is his own key: a new task of his, not alice's
    code, body, det = s.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(
        task_name="noop", inputs_json='{"k":2}', idempotency_key="same-key"), metadata=md("bob"))
    expect(code, OK, "bob uses the key alice used")
    kb = pb.SubmitTaskResponse.FromString(body)
    assert kb.task_id != k1 and not kb.duplicate, (kb, k1)
    assert s.submit("noop", '{"k":2}', who="bob", key="same-key") == kb.task_id
    expect(get(kb.task_id, "alice")[0], grpc.StatusCode.NOT_FOUND, "alice reads bob's keyed task")
    # the owner cancels; admin sees and cancels anyone's
    code, _, _ = s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=a1), metadata=md("alice"))
    expect(code, OK, "alice cancels hers")
    expect(get(b1, "root")[0], OK, "admin reads bob's")
    code, _, _ = s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=b1), metadata=md("root"))
    expect(code, OK, "admin cancels bob's")
    # the CLI as bob
    rc, out, err = cli("--server", s.addr, "get", a2, env={"TAAS_TOKEN": TOKENS["bob"][0]})
    assert rc == 4, ("CLI: bob gets alice's task", rc, out, err)
    rc, out, err = cli("--server", s.addr, "get", a2, env={"TAAS_TOKEN": TOKENS["alice"][0]})
    assert rc == 0, (rc, out, err)
    s.stop()
    # Ownership is stored with the task: it holds after a restart.
    s = Server(tokens=True)
    expect(get(a2, "alice")[0], OK, "alice reads hers after a restart")
    expect(get(a2, "bob")[0], grpc.StatusCode.NOT_FOUND, "bob reads alice's after a restart")
    assert listed("bob") == {b1, kb.task_id}, listed("bob")
    assert s.submit("noop", '{"k":1}', who="alice", key="same-key") == k1
    s.stop()


def test_tokens_file():
    # --hash-token prints what the file stores
    r = subprocess.run([BIN, "--hash-token"], input="s3cret-token\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sha256:" + hashlib.sha256(b"s3cret-token").hexdigest(), r.stdout
    assert "s3cret" not in r.stdout + r.stderr
    r = subprocess.run([BIN, "--hash-token"], input="", capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    good = "sha256:" + "ab" * 32
    cases = {
        "": "no tokens",
        "# only a comment\n": "no tokens",
        "sha256:abc alice read\n": ":1:",
        "%s alice\n" % good: ":1:",
        "\n%s alice read,write\n" % good: ":2: unknown scope",
        "%s al/ice read\n" % good: "principal",
        "md5:%s alice read\n" % ("ab" * 16): ":1:",
        "%s alice read\n%s bob read\n" % (good, good): ":2: the same token hash",
        "%s alice read extra\n" % good: "unexpected text",
    }
    for i, (text, want) in enumerate(cases.items()):
        p = path("bad-tokens-%d" % i)
        with open(p, "w") as f:
            f.write(text)
        r = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--tokens-file", p],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, DATABASE_URL="sqlite:///" + path("x.db")))
        assert r.returncode == 1 and want in r.stderr, (text, r.returncode, r.stderr)
    r = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--tokens-file", path("missing")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "missing" in r.stderr, r.stderr
    tokens_file_checks()
    # the environment variable names the file too
    s = Server(env={"TAAS_TOKENS_FILE": tokens_file()})
    expect(s.unary(REG + "ListTaskTypes", pb.ListTaskTypesRequest())[0],
           grpc.StatusCode.UNAUTHENTICATED, "TAAS_TOKENS_FILE")
    expect(s.unary(REG + "ListTaskTypes", pb.ListTaskTypesRequest(), metadata=md("bob"))[0], OK,
           "TAAS_TOKENS_FILE with a token")
    s.stop()


def start_refused(tokens_path, timeout=10):
    """Start a server on tokens_path; it must exit 1 within timeout s."""
    t0 = time.monotonic()
    r = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--tokens-file", tokens_path],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, DATABASE_URL="sqlite:///" + path("x.db")))
    assert r.returncode == 1, (tokens_path, r.returncode, r.stderr)
    return r.stderr, time.monotonic() - t0


def tokens_file_checks():
    """Whoever can write the tokens file or its directory can make
    themselves admin: such files are refused, as ssh refuses them."""
    good = tokens_file()
    d = path("tokdir")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o700)
    f = os.path.join(d, "tokens")
    shutil.copyfile(good, f)
    for mode, want in ((0o666, "writable by others"), (0o646, "writable by others"),
                       (0o664, "writable by its group")):
        os.chmod(f, mode)
        err, _ = start_refused(f)
        assert want in err and "chmod go-w" in err, (oct(mode), err)
    os.chmod(f, 0o600)
    os.chown(f, 4242, -1)  # the tests run as root: another user's file
    err, _ = start_refused(f)
    assert "owned by uid 4242" in err, err
    os.chown(f, os.geteuid(), -1)
    os.chmod(d, 0o777)
    err, _ = start_refused(f)
    assert "directory %s" % os.path.realpath(d) in err and "writable by others" in err, err
    # ... also reached through a symbolic link from a safe place
    link = path("tokens-link")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(f, link)
    err, _ = start_refused(link)
    assert "writable by others" in err, err
    os.chmod(d, 0o775)
    err, _ = start_refused(f)
    assert "writable by its group" in err, err
    os.chown(d, 4242, -1)
    os.chmod(d, 0o700)
    err, _ = start_refused(f)
    assert "owned by uid 4242" in err, err
    os.chown(d, os.geteuid(), -1)
    # Not regular files: refused at once, not read forever or waited on.
    err, took = start_refused("/dev/zero")
    assert "not a regular file" in err and took < 5, (err, took)
    fifo = path("tokens-fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    err, took = start_refused(fifo)
    assert "not a regular file" in err and took < 5, (err, took)
    err, _ = start_refused(d)
    assert "not a regular file" in err or "Is a directory" in err, err
    # A size cap
    big = os.path.join(d, "big")
    with open(big, "w") as fh:
        fh.write("#" * (1 << 20) + "\n")
    os.chmod(big, 0o600)
    err, _ = start_refused(big)
    assert "cap" in err, err
    # A NUL byte is not silently cut
    nul = os.path.join(d, "nul")
    with open(nul, "wb") as fh:
        fh.write(open(good, "rb").read() + b"sha256:" + b"cd" * 32 + b" eve\0x admin\n")
    os.chmod(nul, 0o600)
    err, _ = start_refused(nul)
    assert "NUL" in err, err
    # The safe layout starts, through the link as well
    os.chmod(f, 0o600)
    s = Server(env={"TAAS_TOKENS_FILE": link})
    expect(s.unary(REG + "ListTaskTypes", pb.ListTaskTypesRequest(), metadata=md("bob"))[0], OK,
           "a safe tokens file")
    s.stop()


def test_exposure():
    env = dict(os.environ, DATABASE_URL="sqlite:///" + path("e.db"), GRPC_DNS_RESOLVER="native")
    for listen in ("0.0.0.0:0", "[::]:0", "10.1.2.3:0", "example.com:0"):
        r = subprocess.run([BIN, "--listen", listen], capture_output=True, text=True, timeout=30,
                           env=env)
        assert r.returncode == 2, (listen, r.returncode, r.stderr)
        assert "refusing to listen" in r.stderr and "--insecure" in r.stderr, r.stderr
    certs()
    # TLS alone or tokens alone is not enough
    r = subprocess.run([BIN, "--listen", "0.0.0.0:0", "--tls-cert", path("server.pem"),
                        "--tls-key", path("server.key")], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 2 and "bearer tokens" in r.stderr, r.stderr
    r = subprocess.run([BIN, "--listen", "0.0.0.0:0", "--tokens-file", tokens_file()],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2 and "TLS" in r.stderr, r.stderr
    # loopback names are fine without either (every other test relies on 127.0.0.1)
    for listen, args in (("0.0.0.0:0", ["--insecure"]),
                         ("0.0.0.0:0", ["--tls-cert", path("server.pem"), "--tls-key",
                                        path("server.key"), "--tokens-file", tokens_file()]),
                         ("localhost:0", []), ("[::1]:0", [])):
        srv = taas_harness.Server(workdir=TMP, listen=listen, extra_args=args, env=env)
        srv.start()
        log = srv.stop_clean(30)
        if "--insecure" in args:
            assert "server.insecure" in log, log

# ---------------------------------------------------------------------------
# Limits

def test_limit_message():
    s = Server("--max-message-bytes", "4096")
    base = pb.SubmitTaskRequest(task_name="noop", inputs_json='{"a":""}').SerializeToString()
    pad = 4096 - len(base)
    # exactly at the limit: accepted (the inputs are then refused or not by the schema, not the cap)
    at = pb.SubmitTaskRequest(task_name="noop", inputs_json='{"a":"%s"}' % ("x" * pad))
    at_b = at.SerializeToString()
    while len(at_b) > 4096:
        pad -= 1
        at_b = pb.SubmitTaskRequest(task_name="noop", inputs_json='{"a":"%s"}' % ("x" * pad)).SerializeToString()
    assert len(at_b) == 4096, len(at_b)
    code, _, det = s.unary(SVC + "SubmitTask", at_b)
    expect(code, OK, "message of exactly the limit: " + det)
    over = pb.SubmitTaskRequest(task_name="noop", inputs_json='{"a":"%s"}' % ("x" * (pad + 1))).SerializeToString()
    assert len(over) == 4097, len(over)
    code, _, det = s.unary(SVC + "SubmitTask", over)
    expect(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit + 1")
    assert s.health() and s.unary(SVC + "SubmitTask", at_b)[0] == OK
    s.stop()


def test_limit_json():
    s = Server()

    def submit(inputs):
        return s.unary(SVC + "SubmitTask", pb.SubmitTaskRequest(task_name="noop", inputs_json=inputs))

    # depth: the object is level 1, so 63 nested arrays make 64
    code, _, det = submit('{"a":' + "[" * 63 + "]" * 63 + "}")
    expect(code, OK, "depth 64: " + det)
    code, _, det = submit('{"a":' + "[" * 64 + "]" * 64 + "}")
    expect(code, grpc.StatusCode.INVALID_ARGUMENT, "depth 65")
    # whole document (and so any one string): 1 MiB
    frame = '{"a":""}'
    at = '{"a":"' + "x" * ((1 << 20) - len(frame)) + '"}'
    assert len(at) == 1 << 20
    code, _, det = submit(at)
    expect(code, OK, "inputs of exactly 1 MiB: " + det)
    over = '{"a":"' + "x" * ((1 << 20) - len(frame) + 1) + '"}'
    code, _, det = submit(over)
    expect(code, grpc.StatusCode.INVALID_ARGUMENT, "inputs of 1 MiB + 1")
    assert s.health()
    expect(submit('{"a":1}')[0], OK, "still serving")
    s.stop()


def test_limit_metadata():
    s = Server("--max-metadata-bytes", "8192")
    req = pb.ListTaskTypesRequest()
    code, _, det = s.unary(REG + "ListTaskTypes", req, metadata=[("x-pad", "p" * 4000)])
    expect(code, OK, "metadata under the limit: " + det)
    code, _, det = s.unary(REG + "ListTaskTypes", req, metadata=[("x-pad", "p" * 9000)])
    expect(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "metadata over the limit")
    # other connections go on; the offending one is closed by gRPC 1.51 (its
    # HPACK error is a connection error), and the client reconnects
    other = s.channel(options=[("grpc.use_local_subchannel_pool", 1)])
    assert s.health(ch=other)
    codes = [s.unary(REG + "ListTaskTypes", req)[0] for _ in range(3)]
    assert codes[-1] == OK, codes
    expect(s.unary(REG + "ListTaskTypes", req, metadata=[("x-pad", "p" * 4000)])[0], OK,
           "under the limit again")
    s.stop()


def test_limit_streams():
    s = Server("--max-concurrent-streams", "4", "--workers", "4")
    # its own connection (channels to one target otherwise share one)
    ch = s.channel(options=[("grpc.use_local_subchannel_pool", 1)])
    tids = [s.submit("countdown", '{"seconds":30,"step_ms":100}') for _ in range(5)]
    its = []
    for tid in tids[:4]:
        it = s.stream(SVC + "WatchTask", pb.WatchTaskRequest(task_id=tid), ch=ch)
        next(it)
        its.append(it)
    # the fifth stream on that connection waits for a free slot
    t0 = time.time()
    code, _, _ = s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tids[4]), ch=ch, timeout=1.5)
    expect(code, grpc.StatusCode.DEADLINE_EXCEEDED, "stream 5 of 4")
    # other connections are served meanwhile
    expect(s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tids[4]))[0], OK, "other connection")
    its[0].cancel()
    time.sleep(0.3)
    expect(s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tids[4]), ch=ch, timeout=5)[0], OK,
           "after one stream ended")
    for it in its[1:]:
        it.cancel()
    for tid in tids:
        s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=tid))
    assert time.time() - t0 < 30
    s.stop()


def test_rate_principal():
    # 2 calls a second: a bucket that has just handed out its last token
    # holds the next one back for ~0.5 s, the window the checks below run in.
    s = Server("--rate-limit-peer", "2", tokens=True)
    req = pb.ListTaskTypesRequest()
    ch2 = s.channel()
    # bob's bucket is his own: warm the second connection up as bob, so the
    # checks in alice's window below do not wait for a connect.
    expect(s.unary(REG + "ListTaskTypes", req, metadata=md("bob"), ch=ch2)[0], OK, "bob, ch2")
    codes = [s.unary(REG + "ListTaskTypes", req, metadata=md("alice"))[0] for _ in range(30)]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
    # The bucket refills continuously: call as alice until a call is let
    # through, which leaves her bucket empty for the next ~0.5 s however
    # slowly the burst above ran; the checks must run inside that window
    # (a loaded machine may miss it: then again, a few times).
    for attempt in range(5):
        # A call let through right after one refused: the bucket is empty.
        deadline = time.time() + 10
        refused = False
        while True:
            c = s.unary(REG + "ListTaskTypes", req, metadata=md("alice"))[0]
            if c == OK and refused:
                break
            refused = c == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.time() < deadline, "alice's bucket never ran dry and refilled"
            time.sleep(0.01)
        t_empty = time.time()
        # same address, another principal: its own bucket
        code_bob = s.unary(REG + "ListTaskTypes", req, metadata=md("bob"))[0]
        code, _, det = s.unary(REG + "ListTaskTypes", req, metadata=md("alice"))
        # alice over several connections is still one principal
        code2 = s.unary(REG + "ListTaskTypes", req, metadata=md("alice"), ch=ch2)[0]
        if time.time() - t_empty < 0.4:
            break
        time.sleep(1.1)  # bob's bucket refills too
    else:
        raise AssertionError("five tries, and the checks never ran within 0.4 s")
    expect(code_bob, OK, "bob after alice's burst")
    expect(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "alice still over")
    assert "principal" in det, det
    expect(code2, grpc.StatusCode.RESOURCE_EXHAUSTED, "alice on a second connection")
    time.sleep(1.3)
    expect(s.unary(REG + "ListTaskTypes", req, metadata=md("alice"))[0], OK, "after refill")
    assert s.health()
    s.stop()

# ---------------------------------------------------------------------------
# Raw HTTP/2 (keepalive, idle, ping strikes, many connections)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def h2_connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(PREFACE + SETTINGS)
    return c


def read_frames(c, until, ack_pings=False, ack_settings=True):
    """Read frames until the peer closes or `until` seconds pass; returns the
    list of (type, flags, payload) seen."""
    seen = []
    buf = b""
    end = time.time() + until
    while time.time() < end:
        c.settimeout(max(0.05, end - time.time()))
        try:
            data = c.recv(65536)
        except socket.timeout:
            continue
        except ConnectionError:
            break
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            t, fl, payload = buf[3], buf[4], buf[9:9 + n]
            buf = buf[9 + n:]
            seen.append((t, fl, payload))
            try:
                if t == 4 and not fl & 1 and ack_settings:
                    c.sendall(SETTINGS_ACK)
                if t == 6 and not fl & 1 and ack_pings:
                    c.sendall(frame(6, 1, 0, payload))
            except OSError:
                pass
    return seen


def test_keepalive():
    s = Server("--keepalive-time-ms", "400", "--keepalive-timeout-ms", "400")
    # a peer that never answers pings is dropped
    c = h2_connect(s.port)
    t0 = time.time()
    seen = read_frames(c, 10)
    took = time.time() - t0
    assert any(t == 6 and not fl & 1 for t, fl, _ in seen), ("no keepalive ping", seen)
    assert took < 8, "dead peer kept %.1fs" % took
    c.close()
    # one that answers stays
    c = h2_connect(s.port)
    seen = read_frames(c, 2.5, ack_pings=True)
    assert sum(1 for t, fl, _ in seen if t == 6 and not fl & 1) >= 2, seen
    assert not any(t == 7 for t, _, _ in seen), ("a live peer was sent GOAWAY", seen)
    c.close()
    assert s.health()
    s.stop()
    s = Server("--max-connection-idle-ms", "1000")
    # an idle connection is closed with GOAWAY after the idle limit
    c = h2_connect(s.port)
    t0 = time.time()
    seen = read_frames(c, 10, ack_pings=True)
    took = time.time() - t0
    assert any(t == 7 for t, _, _ in seen), ("no GOAWAY for an idle connection", seen)
    assert 0.8 < took < 8, "idle connection closed after %.1fs" % took
    c.close()
    assert s.health()
    s.stop()


def test_ping_strikes():
    s = Server("--max-ping-strikes", "2", "--min-ping-interval-ms", "60000")
    c = h2_connect(s.port)
    read_frames(c, 0.3)
    for i in range(10):
        try:
            c.sendall(frame(6, 0, 0, struct.pack(">Q", i)))
        except OSError:
            break
        time.sleep(0.02)
    seen = read_frames(c, 5)
    goaways = [p for t, _, p in seen if t == 7]
    assert goaways, ("no GOAWAY after a ping flood", seen)
    # ENHANCE_YOUR_CALM (0xb)
    assert int.from_bytes(goaways[0][4:8], "big") == 0xB, goaways[0][:8].hex()
    c.close()
    assert s.health()
    s.stop()


def test_idle_connections():
    want = 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = want + 512
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= need, "RLIMIT_NOFILE hard limit %d is below %d" % (hard, need)
    s = Server()
    base = s.nfds()
    socks = []
    t0 = time.time()
    try:
        for i in range(want):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(10)
            c.connect(("127.0.0.1", s.port))
            c.sendall(PREFACE + SETTINGS)
            socks.append(c)
            if i % 1000 == 999:
                assert s.health(timeout=10), "health at %d connections" % (i + 1)
        # the server holds them all
        deadline = time.time() + 20
        while s.nfds() < base + want and time.time() < deadline:
            time.sleep(0.2)
        assert s.nfds() >= base + want, "server holds %d fds, want >= %d" % (s.nfds(), base + want)
        # and still serves, quickly, on a new connection
        t1 = time.time()
        tid = s.submit("noop", '{"x":1}')
        code, _, det = s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid))
        expect(code, OK, "get with %d idle connections" % want)
        bound = 20 if os.environ.get("TAAS_SANITIZE") else 5
        assert time.time() - t1 < bound, "calls took %.1fs" % (time.time() - t1)
        rc, out, err = cli("--server", s.addr, "health")
        assert rc == 0, (rc, out, err)
    finally:
        for c in socks:
            c.close()
    assert time.time() - t0 < 50
    assert s.health()
    s.stop()


def test_rapid_cancel():
    # AddressSanitizer keeps freed memory in a quarantine (256 MiB by default),
    # which would read as growth: keep it small so RSS measures live memory.
    asan = os.environ.get("ASAN_OPTIONS", "")
    s = Server(env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"})
    tid = s.submit("countdown", '{"seconds":60,"step_ms":50}')
    req = pb.WatchTaskRequest(task_id=tid).SerializeToString()
    watch = s.ch.unary_stream(SVC + "WatchTask")

    def burst(n):
        for i in range(n):
            it = watch(req)
            if i % 8 == 0:
                next(it)
            it.cancel()

    burst(500)
    time.sleep(0.5)
    before = s.rss_kb()
    t0 = time.time()
    threads = [threading.Thread(target=burst, args=(1000,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - t0
    time.sleep(0.5)
    after = s.rss_kb()
    assert s.health(), "serving after 4000 open-and-cancel streams"
    expect(s.unary(SVC + "GetTask", pb.GetTaskRequest(task_id=tid))[0], OK, "get after the burst")
    growth = (after - before) / 1024
    limit = 64 if os.environ.get("TAAS_SANITIZE") else 32
    assert growth < limit, "RSS grew %.1f MiB (from %d to %d KiB) over 4000 cancels" % (growth, before, after)
    print("4000 open-and-cancel streams in %.1fs; RSS %d -> %d KiB" % (took, before, after))
    s.unary(SVC + "CancelTask", pb.CancelTaskRequest(task_id=tid))
    s.stop()


TESTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}

if __name__ == "__main__":
    if TEST not in TESTS:
        sys.exit("unknown test %s; one of %s" % (TEST, " ".join(sorted(TESTS))))
    t0 = time.time()
    TESTS[TEST]()
    print("%s: ok (%.1fs)" % (TEST, time.time() - t0))
