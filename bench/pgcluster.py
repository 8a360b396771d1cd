"""bench/pgcluster.py - a throwaway PostgreSQL cluster for bench/compare and
bench/costs (scripts/pg-test-cluster.sh: loopback TCP, fsync,
synchronous_commit and full_page_writes on), a fresh database per run, and
the statements each database received (pg_stat_statements, when the
extension is installed).

    c = Cluster()
    c.start(stats=True)          # raises ClusterError, which says why
    url = c.create_db("run_1")
    ...
    s = c.statements("run_1")    # [(calls, query)] or None
    c.drop_db("run_1")
    c.stop()                     # always: removes the cluster's directory
"""
import glob
import os
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "pg-test-cluster.sh")
SEP = "\x1f"


class ClusterError(RuntimeError):
    pass


def bindir():
    """The PostgreSQL server binaries pg-test-cluster.sh would use, or None."""
    if os.environ.get("PG_BINDIR"):
        d = os.environ["PG_BINDIR"]
        return d if os.access(os.path.join(d, "initdb"), os.X_OK) else None
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if all(os.access(os.path.join(d, b), os.X_OK)
                    for b in ("initdb", "pg_ctl", "postgres"))]

    def version(d):
        v = d.split("/")[-2]
        return [int(x) if x.isdigit() else 0 for x in v.split(".")]
    return max(found, key=version) if found else None


def missing():
    """Why a cluster cannot be started here, or None."""
    d = bindir()
    if not d and os.environ.get("PG_BINDIR"):
        return "PG_BINDIR=%s has no initdb" % os.environ["PG_BINDIR"]
    if not d:
        return ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) under "
                "/usr/lib/postgresql/*/bin: install the Debian package postgresql "
                "(scripts/deps.sh test) or set PG_BINDIR")
    if not (os.access(os.path.join(d, "psql"), os.X_OK) or
            any(os.access(os.path.join(p, "psql"), os.X_OK)
                for p in os.environ.get("PATH", "").split(os.pathsep) if p)):
        return "no psql (Debian package postgresql-client)"
    return None


class Cluster:
    def __init__(self):
        self.dir = None
        self.url = None
        self.has_stats = False
        self.preloaded = []
        self.psql_bin = "psql"
        d = bindir()
        if d and os.access(os.path.join(d, "psql"), os.X_OK):
            self.psql_bin = os.path.join(d, "psql")

    def _script(self, cmd):
        p = subprocess.run(["sh", SCRIPT, cmd, self.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=180)
        if p.returncode != 0:
            raise ClusterError("pg-test-cluster.sh %s: %s" % (
                cmd, p.stderr.decode(errors="replace").strip()[-500:]))
        return p.stdout.decode().strip()

    def db_url(self, name):
        return self.url.rsplit("/", 1)[0] + "/" + name

    def psql(self, sql, db=None, fields=False):
        cmd = [self.psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1",
               "-d", self.db_url(db) if db else self.url]
        if fields:
            cmd += ["-A", "-t", "-F", SEP]
        p = subprocess.run(cmd + ["-c", sql], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if p.returncode != 0:
            raise ClusterError("psql: %s: %s" % (sql[:60], p.stderr.decode(
                errors="replace").strip()[-300:]))
        return p.stdout.decode(errors="replace")

    def start(self, stats=True, prefix="taas-bench-pg.", settings=None, preload=()):
        """initdb and start in a new temporary directory; with stats, load
        pg_stat_statements when the extension is installed (one restart).
        settings: {name: value} for ALTER SYSTEM (e.g. track_wal_io_timing);
        preload: more shared_preload_libraries (e.g. auto_explain), when
        installed. Neither changes the durability settings of the script."""
        why = missing()
        if why:
            raise ClusterError(why)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.url = self._script("start").splitlines()[-1]
        libdir = os.path.join(os.path.dirname(bindir()), "lib")
        libs = [x for x in preload if os.path.exists(os.path.join(libdir, x + ".so"))]
        if stats and os.path.exists(os.path.join(libdir, "pg_stat_statements.so")):
            libs.insert(0, "pg_stat_statements")
        # A library's own settings (name.setting) are known only once it is
        # loaded: those are set after the restart, with a reload.
        settings = settings or {}
        late = {k: v for k, v in settings.items() if "." in k}
        for k, v in sorted(settings.items()):
            if k not in late:
                self.psql("ALTER SYSTEM SET %s = '%s'" % (k, v))
        if libs:
            self.psql("ALTER SYSTEM SET shared_preload_libraries = %s"
                      % ", ".join("'%s'" % x for x in libs))
        if libs or len(late) < len(settings):
            self._script("down")
            self._script("up")
        for k, v in sorted(late.items()):
            self.psql("ALTER SYSTEM SET %s = '%s'" % (k, v))
        if late:
            self.psql("SELECT pg_reload_conf()")
        if "pg_stat_statements" in libs:
            self.psql("CREATE EXTENSION pg_stat_statements")
            self.has_stats = True
        self.preloaded = libs
        return self.url

    def postmaster_pid(self):
        """The cluster's postmaster pid (first line of postmaster.pid)."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            return int(f.readline().strip())

    def create_db(self, name):
        self.psql("CREATE DATABASE %s" % name)
        return self.db_url(name)

    def drop_db(self, name):
        self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

    def statements(self, name):
        """[(calls, query with whitespace collapsed)] sent to database `name`
        (not counting queries of pg_stat_statements itself), or None when the
        extension is not loaded."""
        if not self.has_stats:
            return None
        out = self.psql(
            "SELECT calls, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '%s') "
            "AND query NOT LIKE '%%pg_stat_statements%%'" % name, fields=True)
        rows = []
        for line in out.splitlines():
            if SEP in line:
                c, q = line.split(SEP, 1)
                rows.append((int(c), q.strip()))
        return rows

    def stop(self):
        if not self.dir:
            return
        d, self.dir = self.dir, None
        p = subprocess.run(["sh", SCRIPT, "stop", d], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=180)
        if p.returncode != 0:
            raise ClusterError("pg-test-cluster.sh stop %s: %s" % (
                d, p.stderr.decode(errors="replace").strip()))


def summarize(rows, n, readback=0):
    """Per-task figures of one run's statements: every statement, the
    writer's round trips (one pipelined batch per BEGIN) plus one per read
    (GetTask, ListTasks), and transactions (COMMITs). `readback` GetTask
    calls are not counted: taas-bench reads every task back once after its
    clock stopped, which is not part of the workload measured."""
    total = begin = commit = lists = gets = 0
    for calls, q in rows:
        total += calls
        if q == "BEGIN":
            begin += calls
        elif q == "COMMIT":
            commit += calls
        elif q.startswith("SELECT ") and " FROM tasks WHERE id = $1" in q:
            gets += calls
        elif q.startswith("SELECT id, name, ") and " FROM tasks " in q:
            lists += calls  # ListTasks (pg_stat_statements shows its NULLs as $n)
    readback = min(readback, gets)
    n = float(n)
    return {"statements": (total - readback) / n,
            "round_trips": (begin + lists + gets - readback) / n,
            "transactions": commit / n, "gets": (gets - readback) / n, "lists": lists / n}
