"""Storage faults: failed writes, failed syncs, a full disk, a locked
database. Every failure must reach the client as a clear error, nothing
acknowledged may be lost, the database must stay intact, and the server
must recover by itself once the fault clears.

    io_faults.py TAAS_SERVER_FI --case write_ioerr|sync_ioerr|write_full|locked
                 [--first N] [--last M]

write_ioerr, sync_ioerr, write_full: for every N in [first, last], a fresh
taas-server-fi whose SQLite fault VFS (store/faultvfs.c) fails the Nth to
(N+2)th write or sync after the test arms it (the server starts cleanly
first). Submits go one at a time; each reply must be OK, or UNAVAILABLE /
RESOURCE_EXHAUSTED (full disk) with a message. The last submits, after the
fault window, must all succeed: the server recovered without a restart.
Every acknowledged task must then reach a final state, crash_probe bodies
must have run at most once, SIGTERM must stop the server with status 0
(under the ASan build: no leak report), and PRAGMA integrity_check must
say ok.

locked: another process holds the database's write lock past the busy
timeout (5 s): the submit fails with UNAVAILABLE; once the lock is gone,
the next submit succeeds.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402
from crashlib import FINAL  # noqa: E402

import grpc  # noqa: E402

OK_ERRORS = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
FAULT_WINDOW = 3
# A task costs two or three syncs (insert, maybe a claim, completion), so the
# window of the largest N is over well before the last TAIL_OK submits.
SUBMITS = 20
TAIL_OK = 4


def finish(srv, acked, problems):
    """Run acknowledged tasks to the end, stop, and check what is stored."""
    final = srv.wait_final(list(acked), 30)
    srv.stop_clean(within=30)
    runs = crashlib.read_records(srv.record)
    for tid, name in acked.items():
        t = final.get(tid)
        if t is None:
            problems.append("%s %s acknowledged but lost" % (name, tid))
        elif t.state not in FINAL:
            problems.append("%s %s stuck in %s" % (name, tid, crashlib.STATE[t.state]))
        elif name == "crash_probe" and len(runs.get(tid, [])) > 1:
            problems.append("crash_probe %s ran %d times" % (tid, len(runs[tid])))
    check = crashlib.integrity(srv.db)
    if check != "ok":
        problems.append("integrity_check: " + check)
    return final


def run_vfs(binary, case, n, problems):
    op, err = {"write_ioerr": ("write", "ioerr"), "sync_ioerr": ("sync", "ioerr"),
               "write_full": ("write", "full")}[case]
    work = crashlib.new_workdir("taas-io-")
    arm = os.path.join(work, "armed")
    srv = crashlib.FiServer(binary, work, workers=2, env={
        "TAAS_SQLITE_FAULT_VFS": "%s:%d:%d:%s" % (op, n, FAULT_WINDOW, err),
        "TAAS_SQLITE_FAULT_ARM": arm,
        "TAAS_LEASE_MS": "1000",     # a completion lost to the fault is recovered soon
        "TAAS_RETRY_BASE_MS": "50",
        "TAAS_RETRY_CAP_MS": "200",
    })
    if not srv.start():
        problems.append("N=%d: the server did not start:\n%s" % (n, srv.text()[-2000:]))
        return 0, 0
    open(arm, "w").close()
    acked, replies, errors = {}, [], 0
    for i in range(SUBMITS):
        name = "crash_probe" if i % 2 else "crash_idem"
        code, resp, det = srv.submit(name, json.dumps({"ms": 20}), timeout=30)
        replies.append(code)
        if code == grpc.StatusCode.OK:
            acked[resp.task_id] = name
            continue
        errors += 1
        want = grpc.StatusCode.RESOURCE_EXHAUSTED if err == "full" else grpc.StatusCode.UNAVAILABLE
        if code != want or not det or "nothing was stored" not in det:
            problems.append("N=%d submit %d: %s %r, want %s with a message" % (n, i, code, det,
                                                                              want))
        time.sleep(0.02)
    if any(c != grpc.StatusCode.OK for c in replies[-TAIL_OK:]):
        problems.append("N=%d: no recovery after the fault cleared: last replies %s"
                        % (n, [c.name for c in replies[-TAIL_OK:]]))
    injected = len(re.findall(r"^faultvfs: %s \d+ ->" % op, srv.text(), re.M))
    finish(srv, acked, problems)
    if not problems:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("  work folder kept: %s" % work)
    return injected, errors


def run_locked(binary, problems):
    work = crashlib.new_workdir("taas-io-locked-")
    srv = crashlib.FiServer(binary, work, workers=2)
    assert srv.start()
    acked = {}
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 0}))
    assert code == grpc.StatusCode.OK, (code, det)
    acked[resp.task_id] = "crash_probe"
    srv.wait_final(list(acked), 10)
    held = threading.Event()
    release = threading.Event()

    def holder():
        con = sqlite3.connect(srv.db, timeout=10, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(30)
        con.execute("ROLLBACK")
        con.close()

    t = threading.Thread(target=holder)
    t.start()
    held.wait(10)
    t0 = time.time()
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 0}), timeout=30)
    took = time.time() - t0
    release.set()
    t.join(30)
    print("  locked: submit -> %s %r after %.1f s" % (code.name, det, took))
    if code != grpc.StatusCode.UNAVAILABLE or not det:
        problems.append("locked database: got %s %r, want UNAVAILABLE with a message"
                        % (code, det))
    recovered = False
    for _ in range(20):
        code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 0}))
        if code == grpc.StatusCode.OK:
            acked[resp.task_id] = "crash_probe"
            recovered = True
            break
        time.sleep(0.2)
    print("  locked: after the lock is released -> %s" % ("OK" if recovered else "still failing"))
    if not recovered:
        problems.append("locked database: submits still fail after the lock was released")
    finish(srv, acked, problems)
    if not problems:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--case", required=True)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--last", type=int, default=12)
    a = ap.parse_args()
    problems = []
    if a.case == "locked":
        run_locked(a.binary, problems)
    else:
        print("%s: fail calls N..N+%d after arming, %d submits each" % (a.case, FAULT_WINDOW - 1,
                                                                         SUBMITS))
        print("  %4s %9s %14s %s" % ("N", "injected", "client errors", "result"))
        total_err = 0
        for n in range(a.first, a.last + 1):
            before = len(problems)
            injected, errors = run_vfs(a.binary, a.case, n, problems)
            total_err += errors
            print("  %4d %9d %14d %s" % (n, injected, errors,
                                         "held" if len(problems) == before else "VIOLATED"))
            sys.stdout.flush()
        if total_err == 0:
            problems.append("no submit ever saw a fault: the shim injected nothing visible")
    if problems:
        print("VIOLATIONS:")
        for p in problems[:30]:
            print("  - " + p.replace("\n", "\n    "))
        return 1
    print("held")
    return 0


if __name__ == "__main__":
    crashlib.exit_now(main())
