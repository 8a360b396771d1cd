"""Stale worker: a body that stalls past its lease must not be able to
overwrite the attempt that replaced it.

    stale_worker.py TAAS_SERVER_FI [--tasks 100] [--hold-ms 7000]

Method. taas-server-fi runs with a short lease (TAAS_LEASE_MS=300) and its
heartbeats dropped (fault point engine.heartbeat, action skip): the leases
of running bodies expire as they would for a node whose renewals do not
land. Each crash_idem task holds its first attempt's body for hold_ms,
deaf to everything. Meanwhile the sweeper recovers the expired lease (back
to PENDING, attempt 1 recorded "interrupted" and given back), a new claim gives the second run a new token
(and the same attempt number: an interruption of an idempotent body does
not use an attempt), and it succeeds. When attempt 1's body finally returns,
its COMPLETE carries the old token and the store must refuse it.

Checks, for every task: the server logged task.fenced for it (the refusal),
exactly once; the task is SUCCEEDED with the second run's output (the
stale completion did not overwrite it); both bodies ran, both as attempt 1
(the interruption used no attempt). Prints "fenced N of N".
"""
import argparse
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402

import grpc  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--hold-ms", type=int, default=7000)
    a = ap.parse_args()
    work = crashlib.new_workdir("taas-stale-")
    srv = crashlib.FiServer(a.binary, work, workers=a.tasks + 8, env={
        "TAAS_LEASE_MS": "300",
        "TAAS_PREFETCH": "-1",
        "TAAS_LOG_LEVEL": "info",
    })
    assert srv.start(fault=("engine.heartbeat", "1+", "skip"))
    ids = []
    inputs = json.dumps({"hold_run": 1, "hold_ms": a.hold_ms})
    for _ in range(a.tasks):
        code, resp, det = srv.submit("crash_idem", inputs)
        assert code == grpc.StatusCode.OK, (code, det)
        ids.append(resp.task_id)
    final = srv.wait_final(ids, a.hold_ms / 1000 + 30)
    # The held first attempts return hold_ms after they started; wait for
    # every one of their completions to be decided.
    deadline = time.time() + a.hold_ms / 1000 + 20
    while time.time() < deadline and srv.text().count("task.fenced") < a.tasks:
        time.sleep(0.1)
    time.sleep(0.5)
    srv.stop_clean(within=30)
    log = srv.text()
    fenced = {}
    for m in re.finditer(r"task\.fenced\W.*?id=([0-9a-f-]{36}) attempt=(\d+)", log):
        fenced.setdefault(m.group(1), []).append(int(m.group(2)))
    runs = crashlib.read_records(srv.record)
    problems = []
    ok = 0
    for tid in ids:
        t = final.get(tid)
        good = True
        if t is None or t.state != 3:
            problems.append("%s ended %s" % (tid, None if t is None else crashlib.STATE[t.state]))
            good = False
        else:
            out = json.loads(t.output_json)
            if out["run"] != 2 or out["attempt"] != 1:
                problems.append("%s: stored output is run %s (attempt %s), not run 2 (attempt 1)"
                                % (tid, out["run"], out["attempt"]))
                good = False
        if fenced.get(tid) != [1]:
            problems.append("%s: refused completions %s, want exactly attempt 1's"
                            % (tid, fenced.get(tid)))
            good = False
        if sorted(runs.get(tid, [])) != [1, 1]:
            problems.append("%s: bodies ran for attempts %s, want [1, 1]" % (tid, runs.get(tid)))
            good = False
        ok += good
    check = crashlib.integrity(srv.db)
    if check != "ok":
        problems.append("integrity_check: " + check)
    print("stale worker: lease 300 ms, heartbeats dropped, first attempt held %d ms" % a.hold_ms)
    print("fenced %d of %d (stale completion refused, the second run's result kept)" % (ok, a.tasks))
    if problems:
        print("VIOLATIONS (work folder kept: %s):" % work)
        for p in problems[:30]:
            print("  - " + p)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    crashlib.exit_now(main())
