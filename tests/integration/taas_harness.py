"""Start and stop a real taas-server for the integration tests.

A server runs on a free loopback port (``--listen 127.0.0.1:0``) with its own
SQLite database in a temporary directory. Its stderr goes to a file; the port
is read from the ``server.start`` line (``listen=127.0.0.1:<port>``; any
other ``--listen`` works too, see ``Server(listen=...)``). Every
wait is bounded, and a server is always killed: by ``stop()``, by the atexit
hook if a test forgot, and by the kernel (PR_SET_PDEATHSIG) if the test
process itself dies.

Paths come from the environment that ctest sets:
  TAAS_SERVER_BIN  the taas-server executable
  TAAS_CLI_BIN     the taas executable
  TAAS_SPECS_DIR   task-specs/
  TAAS_PY_STUBS    directory of the generated Python stubs
  TAAS_FI_SERVER_BIN  (optional) taas-server-fi, the build with fault points
                   (the crash tests' FiServer in tests/crash/crashlib.py)
  TAAS_IT_PG_URL_FILE  (optional) a file holding the URL of a PostgreSQL test
                   cluster: each new workdir then gets a database of its own
                   there (CREATE DATABASE), dropped by cleanup(), instead of
                   an SQLite file; the tests themselves do not change.
"""

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
# The start line, in text or JSON log format: "listen=" is part of the message
# in both.
_START_RE = re.compile(r"server\.start\b.*?\blisten=(\S+?)[\s\"]")
# What a sanitizer build writes when it finds something: a server log that
# holds one of these failed, whatever its exit status says.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

_live = []
# Log files are numbered across all servers of the process, so that servers
# sharing a workdir never write to one file.
_log_seq = [0]


def _stubs():
    stubs = os.environ.get("TAAS_PY_STUBS")
    if stubs and stubs not in sys.path:
        sys.path.insert(0, stubs)


_stubs()


class Server:
    """One taas-server process on a temporary database.

    ``workdir`` may be shared between two Server objects to restart on the
    same database.
    """

    def __init__(self, workdir=None, extra_args=(), env=None, database_url=None,
                 listen="127.0.0.1:0", binary=None):
        self.binary = os.path.abspath(binary or os.environ["TAAS_SERVER_BIN"])
        self.listen = listen
        self.owns_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="taas-it-")
        self.db_path = os.path.join(self.workdir, "taas.db")
        self.database_url = "sqlite:///" + self.db_path
        if database_url:
            self.database_url = database_url
        elif os.environ.get("TAAS_IT_PG_URL_FILE"):
            self.database_url = _pg_database(self.workdir)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env.setdefault("GRPC_DNS_RESOLVER", "native")
        self.env.setdefault("TAAS_OUTPUT_ROOT", os.path.join(self.workdir, "output"))
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None
        self.bound = None  # the listen address the start line reports
        self.log_path = None
        self.starts = 0
        self.returncode = None  # exit status of the last process, once it ended

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, extra_env=None, timeout=START_TIMEOUT_S):
        """Starts the server and waits for its start line; raises if it
        exits first. `extra_env` is added to the environment of this start
        only (a fault to inject, say)."""
        if not self.try_start(extra_env, timeout):
            raise RuntimeError("taas-server exited with %s before listening:\n%s"
                               % (self.returncode, self.log()))
        return self

    def try_start(self, extra_env=None, timeout=START_TIMEOUT_S):
        """Like start(), for a start that may die on purpose (a fault during
        start-up): True once listening, False if the process exited first
        (its status in `returncode`, its output in log()). Still starting
        after `timeout` s is an error either way: the process is killed."""
        self.starts += 1
        self.port = None
        self.bound = None
        self.returncode = None
        _log_seq[0] += 1
        self.log_path = os.path.join(self.workdir, "server-%d.log" % _log_seq[0])
        env = self.env
        if extra_env:
            env = dict(self.env, **extra_env)
        log = open(self.log_path, "wb")
        # setpriv makes the server die with this process and execs it, so no
        # preexec_fn is needed (with one, Python forks instead of vforking
        # and grpcio's fork handlers can abort this process).
        args = ["setpriv", "--pdeathsig", "KILL", self.binary, "--listen", self.listen,
                "--database-url", self.database_url] + self.extra_args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=self.workdir, env=env)
        log.close()
        _live.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "r", errors="replace") as f:
                m = _START_RE.search(f.read())
            if m:
                self.bound = m.group(1)
                host, _, port = self.bound.rpartition(":")
                self.port = int(port) if host and port.isdigit() else None
                return True
            if self.proc.poll() is not None:
                self._ended(self.proc.returncode)
                return False
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("taas-server did not report server.start within %ds:\n%s"
                           % (timeout, self.log()))

    def _ended(self, rc):
        """The process is gone (reaped): forget it, keep its exit status."""
        self.returncode = rc
        self.proc = None
        if self in _live:
            _live.remove(self)

    def wait_exit(self, timeout):
        """Waits up to `timeout` s for the server to exit by itself (a fault
        that kills it, a signal sent before): its exit status, or None if it
        is still running."""
        if not self.proc:
            return self.returncode
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._ended(rc)
        return rc

    def send_signal(self, sig):
        """Sends `sig` to a running server without waiting for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def log(self, tail=20000):
        """The server's output so far: its last `tail` characters, all of it with tail=None."""
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "r", errors="replace") as f:
            text = f.read()
        return text if tail is None else text[-tail:]

    def stop_clean(self, within=STOP_TIMEOUT_S):
        """Stops the server with SIGTERM and requires a clean shutdown: exit
        status 0 within `within` s, a server.stop line, and no sanitizer
        report. Returns the whole log."""
        if not self.proc:
            raise AssertionError("stop_clean: the server is not running")
        proc = self.proc
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("no exit within %ss of SIGTERM:\n%s" % (within, self.log()))
        self._ended(rc)
        log = self.log(tail=None)
        assert rc == 0, "exit status %d\n%s" % (rc, log[-4000:])
        assert "server.stop" in log, log[-2000:]
        self.check_log()
        return log

    def check_log(self):
        """Fails if the last run's log holds a sanitizer report, whatever
        the exit status (a server killed on purpose included)."""
        log = self.log(tail=None)
        for bad in SANITIZER_MARKS:
            assert bad not in log, log[-8000:]

    def stop(self, sig=signal.SIGTERM):
        """Stops the server with `sig`; returns its exit status (None if it had to be killed)."""
        if not self.proc:
            return None
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        else:
            rc = self.proc.returncode
        self._ended(rc)
        return rc

    def kill(self):
        """SIGKILL (if still running) and reap."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rc = None
        self._ended(rc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.kill()
        if self.owns_workdir:
            if os.environ.get("TAAS_IT_PG_URL_FILE"):
                _pg_drop(self.workdir)
            shutil.rmtree(self.workdir, ignore_errors=True)


# PostgreSQL: one database per workdir, named in workdir/pg-database, so a
# second Server on the same workdir (a restart) finds the same tasks.
PSQL_TIMEOUT_S = 30


def _pg_base_url():
    with open(os.environ["TAAS_IT_PG_URL_FILE"]) as f:
        return f.read().strip()


def _pg_url_for(dbname):
    u = urllib.parse.urlsplit(_pg_base_url())
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def _psql(sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", _pg_base_url(),
                    "-c", sql], check=True, timeout=PSQL_TIMEOUT_S,
                   stdout=subprocess.DEVNULL)


def _pg_database(workdir):
    marker = os.path.join(workdir, "pg-database")
    if os.path.exists(marker):
        with open(marker) as f:
            return _pg_url_for(f.read().strip())
    dbname = "taas_it_" + uuid.uuid4().hex[:16]
    _psql("CREATE DATABASE " + dbname)
    with open(marker, "w") as f:
        f.write(dbname)
    return _pg_url_for(dbname)


def _pg_drop(workdir):
    marker = os.path.join(workdir, "pg-database")
    if not os.path.exists(marker):
        return
    with open(marker) as f:
        dbname = f.read().strip()
    try:
        _psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
    except (subprocess.SubprocessError, OSError) as e:
        print("taas_harness: could not drop database %s: %s" % (dbname, e), file=sys.stderr)


@atexit.register
def _kill_all():
    for s in list(_live):
        s.kill()


def one_server_per_module(module_globals, name="server", **server_args):
    """Gives a unittest module one server for all its tests: defines the
    module's setUpModule (starts a Server(**server_args) into its global
    `name`) and tearDownModule (cleans it up). Call it at module level with
    globals()."""
    def setUpModule():
        module_globals[name] = Server(**server_args).start()

    def tearDownModule():
        srv = module_globals.get(name)
        if srv:
            srv.cleanup()

    module_globals[name] = None
    module_globals["setUpModule"] = setUpModule
    module_globals["tearDownModule"] = tearDownModule


def wait_until(pred, timeout_s, interval_s=0.05, what="condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout_s, what))
        time.sleep(interval_s)


def load_specs():
    """task-specs/*.yaml (and .json) by task name."""
    import json
    import yaml
    specs = {}
    d = os.environ["TAAS_SPECS_DIR"]
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.endswith((".yaml", ".yml")):
            with open(path) as f:
                spec = yaml.safe_load(f)
        elif name.endswith(".json"):
            with open(path) as f:
                spec = json.load(f)
        else:
            continue
        specs[spec["name"]] = spec
    return specs
