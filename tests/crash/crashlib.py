"""Shared parts of the crash tests: a taas-server-fi process, a small gRPC
client (protoc-generated messages, generic calls), the execution records
the crash-test task bodies write, and the checks every scenario ends with.

Every process started here is killed on exit (PR_SET_PDEATHSIG as well as an
atexit hook), and every wait is bounded.
"""
import atexit
import faulthandler
import ctypes
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import grpc

_PROTO_TMP = None
pb = None
SVC = "/taas.v1.TaskService/"
FINAL = {3: "SUCCEEDED", 4: "FAILED", 5: "CANCELLED"}
STATE = {0: "UNSPECIFIED", 1: "PENDING", 2: "RUNNING", 3: "SUCCEEDED", 4: "FAILED",
         5: "CANCELLED"}
_live = []
faulthandler.register(signal.SIGUSR1, all_threads=True)


def load_proto(proto_dir):
    """Generate and import taas_pb2 (messages only; calls go through a
    generic channel)."""
    global _PROTO_TMP, pb
    if pb is not None:
        return pb
    _PROTO_TMP = tempfile.mkdtemp(prefix="taas-crash-proto-")
    subprocess.check_call(["protoc", "-I", proto_dir, "--python_out=" + _PROTO_TMP,
                           os.path.join(proto_dir, "taas/v1/taas.proto")])
    sys.path.insert(0, _PROTO_TMP)
    from taas.v1 import taas_pb2  # noqa: E402
    pb = taas_pb2
    return pb


@atexit.register
def _kill_all():
    for p in list(_live):
        if p.poll() is None:
            p.kill()
            p.wait()
    if _PROTO_TMP:
        shutil.rmtree(_PROTO_TMP, ignore_errors=True)


class FiServer:
    """One taas-server-fi process on the database in `workdir`."""

    def __init__(self, binary, workdir, env=None, workers=2):
        self.binary = binary
        self.workdir = workdir
        self.db = os.path.join(workdir, "taas.db")
        self.record = os.path.join(workdir, "executions")
        self.env = dict(os.environ)
        self.env.update({
            "GRPC_DNS_RESOLVER": "native",
            "GRPC_VERBOSITY": "ERROR",
            "DATABASE_URL": "sqlite:///" + self.db,
            "TAAS_CRASH_RECORD": self.record,
            "TAAS_OUTPUT_ROOT": os.path.join(workdir, "output"),
        })
        for k in ("TAAS_FAULT_POINT", "TAAS_FAULT_HIT", "TAAS_FAULT_ACTION",
                  "TAAS_SQLITE_FAULT_VFS", "TAAS_SQLITE_FAULT_ARM"):
            self.env.pop(k, None)
        if env:
            self.env.update(env)
        self.workers = workers
        self.proc = None
        self.log = []
        self.port = None
        self.ch = None
        self.starts = 0

    # -- process ----------------------------------------------------------
    def start(self, fault=None, extra_env=None, timeout=30):
        """Start; True once serving, False if the process died first (a
        fault during start-up). fault = (point, hit[, action]).

        A start without a fault that dies before writing a single log line
        died inside gRPC's own initialisation (seen rarely under ASan: an
        abseil mutex check in grpc_init), before any TaaS code ran: it is
        retried once, and reported on stderr so it is not hidden."""
        ok = self._start(fault, extra_env, timeout)
        if not ok and fault is None and not self.text().strip():
            sys.stderr.write("crashlib: server died silently during start-up "
                             "(exit %s); retrying once\n" % self.proc.returncode)
            ok = self._start(fault, extra_env, timeout)
        return ok

    def _start(self, fault, extra_env, timeout):
        env = dict(self.env)
        if fault:
            env["TAAS_FAULT_POINT"] = fault[0]
            env["TAAS_FAULT_HIT"] = str(fault[1])
            env["TAAS_FAULT_ACTION"] = fault[2] if len(fault) > 2 else "kill"
        if extra_env:
            env.update(extra_env)
        self.starts += 1
        self.log = []
        self.port = None
        # setpriv sets "die with the parent" and execs the server, so Popen
        # needs no preexec_fn: with one, Python forks rather than vforks and
        # grpcio's fork handlers can abort this process.
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", self.binary, "--listen", "127.0.0.1:0",
             "--workers", str(self.workers)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, errors="replace")
        _live.append(self.proc)
        started = threading.Event()

        def reader(proc=self.proc, log=self.log):
            for line in proc.stderr:
                log.append(line)
                if self.port is None:
                    m = re.search(r"server\.start\W.*listen=127\.0\.0\.1:(\d+)", line)
                    if m:
                        self.port = int(m.group(1))
                        started.set()
            started.set()

        self.reader = threading.Thread(target=reader, daemon=True)
        self.reader.start()
        started.wait(timeout)
        if self.port is None:
            # Either the process died (its stderr closed; it may not be
            # reaped yet) or it is still starting past the timeout.
            try:
                self.proc.wait(timeout=5 if started.is_set() else 0.1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("no server.start within %ss:\n%s" % (timeout, self.text()))
            self.reader.join(5)
            return False
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % self.port)
        return True

    def text(self):
        return "".join(self.log)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(5)
        self._close()
        return rc

    def _close(self):
        if self.ch:
            self.ch.close()
            self.ch = None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        self._close()

    def stop(self, within=30):
        """SIGTERM; require exit status 0 and a clean log (sanitizers)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("no exit within %ss of SIGTERM:\n%s" % (within, self.text()[-4000:]))
        self.reader.join(5)
        self._close()
        self.check_log()
        assert rc == 0, "exit status %d after SIGTERM:\n%s" % (rc, self.text()[-4000:])
        return rc

    def check_log(self):
        log = self.text()
        for bad in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert bad not in log, log[-8000:]

    def fired(self):
        """The fault line of the last run, or None."""
        for line in self.log:
            if line.startswith("fault: "):
                return line.strip()[len("fault: "):]
        return None

    # -- calls -----------------------------------------------------------
    def _unary(self, method, req, resp_type, timeout=10):
        if not self.ch:
            return grpc.StatusCode.UNAVAILABLE, None, "no channel"
        fn = self.ch.unary_unary(SVC + method)
        try:
            body = fn(req.SerializeToString(), timeout=timeout)
            return grpc.StatusCode.OK, resp_type.FromString(body), ""
        except grpc.RpcError as e:
            return e.code(), None, e.details()
        except ValueError as e:  # channel closed under us
            return grpc.StatusCode.UNAVAILABLE, None, str(e)

    def submit(self, name, inputs, timeout=10, key=""):
        return self._unary("SubmitTask", pb.SubmitTaskRequest(
            task_name=name, inputs_json=inputs, idempotency_key=key), pb.SubmitTaskResponse,
            timeout)

    def get(self, task_id):
        return self._unary("GetTask", pb.GetTaskRequest(task_id=task_id), pb.GetTaskResponse)

    def cancel(self, task_id):
        return self._unary("CancelTask", pb.CancelTaskRequest(task_id=task_id),
                           pb.CancelTaskResponse)

    def list_all(self):
        tasks, token = {}, ""
        while True:
            code, resp, det = self._unary("ListTasks", pb.ListTasksRequest(
                page_size=500, page_token=token), pb.ListTasksResponse)
            assert code == grpc.StatusCode.OK, (code, det)
            for t in resp.tasks:
                tasks[t.id] = t
            token = resp.next_page_token
            if not token:
                return tasks

    def wait_final(self, ids, timeout):
        """Poll until every task in ids is final; {id: Task}; missing ids
        (NOT_FOUND) map to None."""
        out, left = {}, set(ids)
        deadline = time.time() + timeout
        while left and time.time() < deadline:
            for tid in list(left):
                code, resp, det = self.get(tid)
                if code == grpc.StatusCode.NOT_FOUND:
                    out[tid] = None
                    left.discard(tid)
                elif code == grpc.StatusCode.OK and resp.task.state in FINAL:
                    out[tid] = resp.task
                    left.discard(tid)
            if left:
                time.sleep(0.05)
        for tid in left:
            code, resp, det = self.get(tid)
            out[tid] = resp.task if code == grpc.StatusCode.OK else None
        return out


def read_records(path):
    """{task id: [attempt, ...]} from the bodies' execution records."""
    runs = {}
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                runs.setdefault(parts[0], []).append(int(parts[1]))
    return runs


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def raw_tasks(db):
    """Every row straight from the database file, for checks that must not
    trust the server: {id: (name, state, attempt, error)}."""
    con = sqlite3.connect(db)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT id, name, state, attempt, error FROM tasks")}
    finally:
        con.close()


def new_workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def exit_now(code):
    """Leave without running grpcio's shutdown at interpreter exit, which
    can abort on this grpcio version (thread_pool.cc "state_ ==
    State::kRunning") after the result is already printed: clean up what
    the atexit hook would, flush, and _exit with the test's own code."""
    _kill_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)
