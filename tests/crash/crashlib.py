"""Shared parts of the crash tests: a taas-server-fi process started by the
integration harness (tests/integration/taas_harness.py), a small gRPC client
(the build's Python stubs, generic calls), the execution records the
crash-test task bodies write, and the checks every scenario ends with.

What the harness gives every Python test holds here too: the stubs come
from TAAS_PY_STUBS, the port from the server.start line, every process is
killed on exit (PR_SET_PDEATHSIG as well as an atexit hook), and every wait
is bounded. The binary is TAAS_FI_SERVER_BIN unless a test names another.
"""
import faulthandler
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import taas_harness  # noqa: E402  (puts TAAS_PY_STUBS on sys.path)
from taas.v1 import taas_pb2 as pb  # noqa: E402

SVC = "/taas.v1.TaskService/"
FINAL = {3: "SUCCEEDED", 4: "FAILED", 5: "CANCELLED"}
STATE = {0: "UNSPECIFIED", 1: "PENDING", 2: "RUNNING", 3: "SUCCEEDED", 4: "FAILED",
         5: "CANCELLED"}
faulthandler.register(signal.SIGUSR1, all_threads=True)

# Fault settings a test's own environment must not pass on to a server by
# accident: each start says which fault it wants.
_FAULT_ENV = ("TAAS_FAULT_POINT", "TAAS_FAULT_HIT", "TAAS_FAULT_ACTION",
              "TAAS_SQLITE_FAULT_VFS", "TAAS_SQLITE_FAULT_ARM")


class FiServer(taas_harness.Server):
    """One taas-server-fi process on the database of `workdir`, kept across
    restarts: SQLite at workdir/taas.db, or `database_url` (PostgreSQL).
    The crash bodies append their execution records to workdir/executions."""

    def __init__(self, binary=None, workdir=None, env=None, workers=2, database_url=None):
        env = dict(env or {})
        # The URL is a command-line option of the harness's start, which
        # would win over DATABASE_URL in the environment.
        database_url = env.pop("DATABASE_URL", None) or database_url
        super().__init__(workdir=workdir or new_workdir("taas-crash-"),
                         extra_args=["--workers", str(workers)],
                         database_url=database_url or None,
                         binary=binary or os.environ["TAAS_FI_SERVER_BIN"])
        for k in _FAULT_ENV:
            self.env.pop(k, None)
        self.db = self.db_path
        self.record = os.path.join(self.workdir, "executions")
        self.env.update({"GRPC_VERBOSITY": "ERROR", "TAAS_CRASH_RECORD": self.record})
        self.env.update(env)
        self.workers = workers
        self.ch = None

    # -- process ----------------------------------------------------------
    def start(self, fault=None, extra_env=None, timeout=30):
        """Start; True once serving, False if the process died first (a
        fault during start-up). fault = (point, hit[, action]).

        A start without a fault that dies before writing a single log line
        died inside gRPC's own initialisation (seen rarely under ASan: an
        abseil mutex check in grpc_init), before any TaaS code ran: it is
        retried once, and reported on stderr so it is not hidden."""
        env = dict(extra_env or {})
        if fault:
            env["TAAS_FAULT_POINT"] = fault[0]
            env["TAAS_FAULT_HIT"] = str(fault[1])
            env["TAAS_FAULT_ACTION"] = fault[2] if len(fault) > 2 else "kill"
        ok = self.try_start(env, timeout)
        if not ok and fault is None and not self.text().strip():
            sys.stderr.write("crashlib: server died silently during start-up "
                             "(exit %s); retrying once\n" % self.returncode)
            ok = self.try_start(env, timeout)
        if ok:
            self.ch = grpc.insecure_channel(self.address)
        return ok

    def text(self):
        """The whole output of the current (or last) run."""
        return self.log(tail=None)

    def _ended(self, rc):
        super()._ended(rc)
        if self.ch:
            self.ch.close()
            self.ch = None

    def stop(self, within=30):
        """SIGTERM; require exit status 0, a server.stop line and a clean
        log (sanitizers)."""
        self.stop_clean(within)
        return 0

    def fired(self):
        """The fault line of the last run, or None."""
        for line in self.text().splitlines():
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


def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until it is true; fails after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def restart_and_check_once(srv, tid, label, problems, kept):
    """After a fault around the completion of crash_probe `tid` (not
    idempotent): restart on the same database, let the task end, stop
    cleanly, and check the at-most-once promise - its body ran exactly once
    and the task is final; where kept(task) is given, the result the body
    made must have been kept. Problems go to `problems` under `label`.
    Returns (runs, task or None, state name)."""
    assert srv.start(), srv.text()[-2000:]
    final = srv.wait_final([tid], 30)
    srv.stop_clean(within=60)
    runs = len(read_records(srv.record).get(tid, []))
    t = final.get(tid)
    state = STATE[t.state] if t else "lost"
    if runs != 1:
        problems.append("%s: crash_probe %s ran %d times" % (label, tid, runs))
    if not t or t.state not in FINAL:
        problems.append("%s: task %s ended %s" % (label, tid, state))
    elif kept and not kept(t):
        problems.append("%s: the kept result was lost: %s %r" % (label, state, t.error))
    return runs, t, state


def verdict(problems):
    """The end of a scenario script: its problems and exit status 1, or
    "ok" and 0."""
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("ok")
    return 0


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


def report(work, problems, most=20):
    """Print the problems and keep the work folder for a look, or remove it."""
    if problems:
        print("    work folder kept: %s" % work)
        for p in problems[:most]:
            print("    - " + p)
    else:
        shutil.rmtree(work, ignore_errors=True)


def exit_now(code):
    """Leave without running grpcio's shutdown at interpreter exit, which
    can abort on this grpcio version (thread_pool.cc "state_ ==
    State::kRunning") after the result is already printed: kill what the
    atexit hook would, flush, and _exit with the test's own code."""
    taas_harness._kill_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)
