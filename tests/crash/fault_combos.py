"""Fault combinations: process faults (SIGKILL, SIGTERM) crossed with store
faults (SQLite: full disk, I/O error; PostgreSQL: the server stopped), at
every moment where they meet (during the bodies, during their completions
while the store refuses them, after the store is back), with many tasks.

    fault_combos.py TAAS_SERVER_FI --backend sqlite
    fault_combos.py TAAS_SERVER_FI --backend postgres \
        --cluster-script scripts/pg-test-cluster.sh --cluster-dir WORK_DIR

Each scenario first runs WARM short tasks, so that the server's running
average of body durations is low and it holds tasks ready beyond its
workers (claimed, body not started); then it submits TASKS tasks: three
quarters crash_probe (not idempotent, retries 0), one quarter crash_idem0
(idempotent, retries 0), each body working BODY_MS. At the moment of the
fault some tasks are finished, some running, some held ready by the server
and some still in the store. Every start of a body is appended to a file and fsynced before the
body does anything (crash_bodies.c), so the count of body starts survives
any crash. Once the fault is over (restart, store back), every task is
waited for, and:

  double runs     crash_probe tasks whose body started more than once: must be 0
  lost            acknowledged tasks missing or not final in the end: must be 0
  never-started   crash_probe tasks charged an attempt their body never used
  attempts used   (final attempt > body starts, or FAILED with no start): must be 0,
                  but for the one case the at-most-once rule allows, counted apart
                  as "mark in doubt": a start mark whose COMMIT lost its connection
                  (it may have committed) and that the node could not clear before it
                  stopped (logged task.mark_uncleared) or died (killed while its
                  task.mark_retry for a lost connection was pending). Such a task
                  ends FAILED interrupted with no body start: an attempt used, never
                  a second run (docs/reliability.md, "The rule, in one place").
  idempotent      crash_idem0 tasks not SUCCEEDED in the end (they run again
  not finished    after an interruption, retries: 0 notwithstanding): must be 0

The held column counts the tasks that were held ready but had not started
when the fault came (claimed in the store, no body start recorded).

Then (SQLite) a poison body, killing its server each time it runs: an
idempotent one runs 1 + 3 times (the give-back bound) and fails, a
non-idempotent one runs once.

The interrupted column counts crash_probe tasks FAILED "interrupted" (a body
that started and was cut off: at most once means it is not run again).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402
from crashlib import FINAL  # noqa: E402

import grpc  # noqa: E402

TASKS = 32
WARM = 24
BODY_MS = 250
WORKERS = 4

# (store fault, process fault, when). store fault: None, "full", "ioerr",
# "pgdown"; process fault: None, "kill", "term"; when: "body" (no store
# fault: during the bodies), "during" (while the store refuses the bodies'
# completions, marks and claims), "after" (the store is back, completions
# may still be queued for their retry).
SQLITE = [
    (None, "kill", "body"), (None, "term", "body"),
    ("full", "kill", "during"), ("full", "term", "during"), ("full", "kill", "after"),
    ("full", "term", "after"), ("ioerr", "kill", "during"), ("ioerr", "term", "during"),
    ("ioerr", None, "during"),
]
POSTGRES = [
    (None, "kill", "body"), (None, "term", "body"),
    ("pgdown", "kill", "during"), ("pgdown", "term", "during"), ("pgdown", "kill", "after"),
    ("pgdown", "term", "after"), ("pgdown", None, "during"),
]


class Store:
    """The database of one scenario and its outage switch."""

    def __init__(self, args, work, seq):
        self.args, self.work = args, work
        self.arm = os.path.join(work, "armed")
        # One PostgreSQL database for every scenario: each checks only its
        # own tasks, and those of the earlier ones are all final.
        self.url = args.url if args.backend == "postgres" else None

    def server_env(self, fault):
        env = {}
        if fault in ("full", "ioerr"):
            env["TAAS_SQLITE_FAULT_VFS"] = "write:1:100000000:%s" % fault
            env["TAAS_SQLITE_FAULT_ARM"] = self.arm
        return env

    def down(self, fault):
        if fault == "pgdown":
            cluster(self.args, "down")
        else:
            open(self.arm, "w").close()

    def up(self, fault):
        if fault == "pgdown":
            cluster(self.args, "up")
        elif os.path.exists(self.arm):
            os.unlink(self.arm)


def cluster(args, cmd):
    r = subprocess.run(["sh", args.script, cmd, args.cdir], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, "pg-test-cluster %s: %s" % (cmd, r.stderr)
    return r.stdout.strip()


def held_now(args, srv, kinds):
    """Tasks claimed in the store whose bodies have not started: held ready."""
    started = crashlib.read_records(srv.record)
    if args.backend == "sqlite":
        rows = crashlib.raw_tasks(srv.db)
        claimed = {i for i, r in rows.items() if r[1] == 2}
    else:
        r = subprocess.run(["psql", "-X", "-At", args.url, "-c",
                            "SELECT id FROM tasks WHERE state = 2"],
                           capture_output=True, text=True, timeout=30)
        claimed = set(r.stdout.split()) if r.returncode == 0 else set()
    return len([i for i in kinds if i in claimed and i not in started])


def scenario(args, seq, fault, proc, when, totals):
    name = "%s+%s@%s" % (fault or "-", proc or "-", when)
    work = crashlib.new_workdir("taas-combo-")
    store = Store(args, work, seq)
    srv = crashlib.FiServer(args.binary, work, workers=WORKERS, database_url=store.url, env=dict(
        store.server_env(fault),
        TAAS_LEASE_MS="3000",            # recovery after a kill comes soon
        TAAS_PROGRESS_STORE_MS="600000",  # only start marks and completions write
        TAAS_RETRY_BASE_MS="50", TAAS_RETRY_CAP_MS="200"))
    assert srv.start(), srv.text()[-3000:]
    kinds = {}
    warm = []
    for i in range(WARM):
        code, resp, det = srv.submit("crash_idem0", json.dumps({"ms": 0}))
        assert code == grpc.StatusCode.OK, (name, code, det)
        warm.append(resp.task_id)
    srv.wait_final(warm, 30)
    for i in range(TASKS):
        task = "crash_idem0" if i % 4 == 3 else "crash_probe"
        code, resp, det = srv.submit(task, json.dumps({"ms": BODY_MS}))
        assert code == grpc.StatusCode.OK, (name, code, det)
        kinds[resp.task_id] = task
    # Some bodies have run and some run now; the rest are held or waiting.
    crashlib.wait_for(lambda: len(crashlib.read_records(srv.record)) >= WORKERS + 2, 30,
             "the first bodies to start")
    restarted = False
    held = held_now(args, srv, kinds)
    try:
        if fault:
            store.down(fault)
            # The running bodies end meanwhile: their completions, the marks
            # of the next bodies and the claims are refused.
            time.sleep(BODY_MS * 2.5 / 1000)
        if proc and when in ("body", "during"):
            if proc == "kill":
                srv.kill()
            else:
                srv.stop_clean(within=90)
            restarted = True
        if fault:
            store.up(fault)
        if proc and when == "after":
            time.sleep(0.2)  # the store is back; some refused completions wait for a retry
            if proc == "kill":
                srv.kill()
            else:
                srv.stop_clean(within=90)
            restarted = True
    finally:
        store.up(fault)
    # What the node that met the fault said of its start marks.
    fault_log = srv.log(tail=None)
    in_doubt = set(re.findall(r"task\.mark_uncleared id=(\S+)", fault_log))
    if proc == "kill":
        in_doubt |= set(re.findall(r'task\.mark_retry id=(\S+) error="storage I/O error"',
                                   fault_log))
    if restarted:
        srv.env.pop("TAAS_SQLITE_FAULT_VFS", None)
        assert srv.start(), srv.text()[-3000:]
    final = srv.wait_final(list(kinds), 60)
    srv.stop_clean(within=90)
    runs = crashlib.read_records(srv.record)
    row = {"double": 0, "lost": 0, "never": 0, "doubt": 0, "idem": 0, "interrupted": 0,
           "held": held}
    problems = []
    for tid, task in kinds.items():
        t = final.get(tid)
        starts = len(runs.get(tid, []))
        if t is None or t.state not in FINAL:
            row["lost"] += 1
            problems.append("%s %s ended %s" % (task, tid,
                                               "lost" if t is None else crashlib.STATE[t.state]))
            continue
        if task == "crash_idem0":
            if t.state != 3:
                row["idem"] += 1
                problems.append("crash_idem0 %s ended %s %r" % (tid, FINAL[t.state], t.error))
            continue
        if starts > 1:
            row["double"] += starts - 1
            problems.append("crash_probe %s started %d times" % (tid, starts))
        if (starts == 0 and t.attempt == 1 and t.state == 4 and t.error == "interrupted"
                and tid in in_doubt):
            row["doubt"] += 1
        elif t.attempt > starts or (t.state == 4 and starts == 0):
            row["never"] += 1
            problems.append("crash_probe %s: attempt %d charged, %d body start(s), %s %r"
                            % (tid, t.attempt, starts, FINAL[t.state], t.error))
        if t.state == 4 and t.error.startswith("interrupted"):
            row["interrupted"] += 1
        elif t.state != 3:
            problems.append("crash_probe %s ended %s %r" % (tid, FINAL[t.state], t.error))
    if args.backend == "sqlite" and crashlib.integrity(srv.db) != "ok":
        problems.append("integrity_check failed")
    print("  %-22s %6d %5d %14d %8d %14d %12d %5d" % (
        name, row["double"], row["lost"], row["never"], row["doubt"], row["idem"],
        row["interrupted"], row["held"]))
    sys.stdout.flush()
    for k in row:
        totals[k] = totals.get(k, 0) + row[k]
    crashlib.report(work, problems)
    return problems


def poison(args):
    """A body that kills its server every time it runs: recovery must end
    the loop. crash_idem0 (idempotent, retries 0) runs 1 + TAAS_GIVEBACK_MAX
    (3) times, then fails "interrupted"; crash_probe (not idempotent) runs
    once. Returns problems."""
    problems = []
    for task, want in (("crash_idem0", 4), ("crash_probe", 1)):
        work = crashlib.new_workdir("taas-poison-")
        srv = crashlib.FiServer(args.binary, work, workers=1)
        fault = ("task.mid_body", "1+", "kill")
        assert srv.start(fault=fault), srv.text()[-3000:]
        code, resp, det = srv.submit(task, json.dumps({"ms": 0}))
        assert code == grpc.StatusCode.OK, (code, det)
        tid = resp.task_id
        for _ in range(10):
            if srv.wait_exit(30) is None:
                srv.kill()  # alive: nothing ran the body any more
                break
            if not srv.start(fault=fault):
                continue  # died during start-up recovery and claim: start again
        assert srv.start(), srv.text()[-3000:]
        t = srv.wait_final([tid], 30).get(tid)
        srv.stop_clean(within=60)
        starts = len(crashlib.read_records(srv.record).get(tid, []))
        state = crashlib.STATE[t.state] if t else "lost"
        print("  poison %-12s body starts %d (want %d), final %s %r"
              % (task, starts, want, state, t.error if t else ""))
        if starts != want or not t or t.state != 4 or t.error != "interrupted":
            problems.append("poison %s: %d body starts, %s" % (task, starts, state))
        else:
            shutil.rmtree(work, ignore_errors=True)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--cluster-script", dest="script")
    ap.add_argument("--cluster-dir", dest="cdir")
    args = ap.parse_args()
    if args.backend == "postgres":
        shutil.rmtree(args.cdir, ignore_errors=True)
        args.url = cluster(args, "start")
    print("%s: %d tasks per scenario (3/4 crash_probe, not idempotent), %d workers, "
          "bodies of %d ms" % (args.backend, TASKS, WORKERS, BODY_MS))
    print("  %-22s %6s %5s %14s %8s %14s %12s %5s" % (
        "store+process@when", "double", "lost", "never-started", "mark in", "idempotent",
        "interrupted", "held"))
    print("  %-22s %6s %5s %14s %8s %14s %12s" % ("", "runs", "", "attempts used", "doubt",
                                                  "not finished", "(at most once)"))
    problems, totals = [], {}
    try:
        for seq, (fault, proc, when) in enumerate(
                POSTGRES if args.backend == "postgres" else SQLITE):
            problems += scenario(args, seq, fault, proc, when, totals)
        if args.backend == "sqlite":
            problems += poison(args)
    finally:
        if args.backend == "postgres":
            subprocess.run(["sh", args.script, "stop", args.cdir], capture_output=True,
                           timeout=120)
    print("total: double runs %d, lost %d, never-started attempts used %d (and %d with a "
          "mark in doubt), idempotent not finished %d; held ready at the fault %d" % (
              totals.get("double", 0), totals.get("lost", 0), totals.get("never", 0),
              totals.get("doubt", 0), totals.get("idem", 0), totals.get("held", 0)))
    if problems:
        print("FAILED")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    crashlib.exit_now(main())
