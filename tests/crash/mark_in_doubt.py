"""A start mark in doubt: the one case where at most once costs an attempt
without a run (docs/reliability.md, "The rule, in one place").

    mark_in_doubt.py TAAS_SERVER_FI

A non-idempotent body starts only once its start mark has committed. Here
the mark's COMMIT makes it durable but its reply is lost: fault point
writer.reply_lost tells the worker the commit failed, as a connection
dropped after the database flushed its commit would. Meanwhile (the writer
paused 1.5 s at writer.committed.progress) the SQLite fault VFS starts
failing every write: the store is down. The worker logs task.mark_retry and
sends the mark again, and again; the body waits.

  store back:  the store comes back while the node runs. The mark is sent
               again and commits; the body runs once and the task
               SUCCEEDS with attempt 1: the doubt cost nothing.
  stop:        the node is stopped (SIGTERM) while the store is still down.
               The body never started; the node tries to clear the mark,
               cannot, and says so (task.mark_uncleared), then stops
               cleanly. Restarted with the store back, recovery finds the
               mark standing and the lease expired: the task ends FAILED
               "interrupted", attempt 1, with no body start. An attempt
               used, never a second run, and the log names the task.

Both: no body starts before the mark is settled, and a task submitted
afterwards runs normally.
"""
import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402

import grpc  # noqa: E402

FAULTS = {
    "TAAS_FAULT_POINT": "writer.committed.progress,writer.reply_lost",
    "TAAS_FAULT_HIT": "1,1",
    "TAAS_FAULT_ACTION": "pause:1500,skip",
}


def wait_log(srv, pattern, what, timeout=20):
    crashlib.wait_for(lambda: re.search(pattern, srv.text()), timeout, what)


def run(binary, store_back):
    name = "store back" if store_back else "stop"
    work = crashlib.new_workdir("taas-doubt-")
    arm = os.path.join(work, "armed")
    srv = crashlib.FiServer(binary, work, workers=1, env={
        "TAAS_SQLITE_FAULT_VFS": "write:1:100000000:ioerr",
        "TAAS_SQLITE_FAULT_ARM": arm,
        "TAAS_LEASE_MS": "3000",            # recovery after the stop comes soon
        "TAAS_PROGRESS_STORE_MS": "600000",  # only the start mark writes PROGRESS
    })
    assert srv.start(extra_env=FAULTS), srv.text()[-3000:]
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 0}))
    assert code == grpc.StatusCode.OK, (code, det)
    tid = resp.task_id
    # The mark has committed; the writer holds its reply back for 1.5 s.
    wait_log(srv, r"fault: writer\.committed\.progress hit 1", "the start mark's commit")
    open(arm, "w").close()  # every write fails from now on
    wait_log(srv, r"task\.mark_retry id=%s " % tid, "the mark's retry")
    time.sleep(0.5)  # a retry or two, refused by the store
    problems = []
    if crashlib.read_records(srv.record).get(tid):
        problems.append("the body started before its mark was settled")
    first_log = None
    if store_back:
        os.unlink(arm)
    else:
        srv.stop()  # SIGTERM: exit status 0, a clean log
        first_log = srv.text()
        os.unlink(arm)
        assert srv.start(), srv.text()[-3000:]
    t = srv.wait_final([tid], 30).get(tid)
    starts = len(crashlib.read_records(srv.record).get(tid, []))
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 0}))
    assert code == grpc.StatusCode.OK, (code, det)
    after = srv.wait_final([resp.task_id], 30).get(resp.task_id)
    srv.stop()
    state = crashlib.STATE[t.state] if t else "lost"
    print("  %-10s task %s, attempt %d, error %r, body starts %d"
          % (name, state, t.attempt if t else 0, t.error if t else "", starts))
    if store_back:
        if not t or t.state != 3 or t.attempt != 1 or starts != 1:
            problems.append("want SUCCEEDED, attempt 1, one body start")
        if "task.mark_uncleared" in srv.text():
            problems.append("task.mark_uncleared logged although the mark was settled")
    else:
        if not t or t.state != 4 or t.error != "interrupted" or t.attempt != 1 or starts != 0:
            problems.append("want FAILED 'interrupted', attempt 1, no body start")
        if not re.search(r"task\.mark_uncleared id=%s attempt=1 " % tid, first_log):
            problems.append("the stopping node did not log task.mark_uncleared for the task")
    if not after or after.state != 3:
        problems.append("a task submitted afterwards did not succeed")
    crashlib.report(work, problems)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    args = ap.parse_args()
    print("a start mark committed, its reply lost, the store down:")
    problems = run(args.binary, store_back=True) + run(args.binary, store_back=False)
    print("FAILED" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    crashlib.exit_now(main())
