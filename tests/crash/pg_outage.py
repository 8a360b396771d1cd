"""PostgreSQL stopped while a body runs: its completion is refused while the
database is down; the result must be kept and sent again once it is back,
and no stop or crash may make the task run a second time.

    pg_outage.py TAAS_SERVER_FI CLUSTER_SCRIPT WORK_DIR

A throwaway cluster (scripts/pg-test-cluster.sh) in WORK_DIR, one database
for all rounds. Each round runs one crash_probe task (not idempotent; every
start of its body is recorded durably); while it runs the cluster is
stopped (`down`), so the body's completion fails; then:

  after_outage   the cluster comes back (`up`), SIGTERM at once (the lease
                 has not expired), and a restart:
                 the task must be SUCCEEDED (the result was kept), its body
                 run once;
  during_outage  SIGTERM while the cluster is down; `up`; restart: the body
                 must not run again;
  kill           SIGKILL while the cluster is down; `up`; restart: the same.

Printed at the end: double runs per ending (the test fails on any).
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402

import grpc  # noqa: E402

ENDINGS = ["after_outage", "during_outage", "kill"]


def cluster(script, cmd, d):
    r = subprocess.run(["sh", script, cmd, d], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, "pg-test-cluster %s: %s" % (cmd, r.stderr)
    return r.stdout.strip()


def run(binary, script, cdir, url, ending, problems):
    work = crashlib.new_workdir("taas-pg-outage-")
    srv = crashlib.FiServer(binary, work, workers=1, database_url=url, env={
        "TAAS_LEASE_MS": "8000",  # outlives the outage; recovery after a kill within 8 s
        "TAAS_PROGRESS_STORE_MS": "600000",
    })
    assert srv.start(), srv.text()[-2000:]
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 1500}))
    assert code == grpc.StatusCode.OK, (code, det)
    tid = resp.task_id
    crashlib.wait_for(lambda: tid in crashlib.read_records(srv.record), 15, "the body to start")
    time.sleep(0.2)
    cluster(script, "down", cdir)
    try:
        crashlib.wait_for(lambda: "task.complete_retry" in srv.text() or
                 "task.complete_failed" in srv.text(), 30, "the completion to be refused")
        if ending == "after_outage":
            cluster(script, "up", cdir)
            time.sleep(0.5)  # SIGTERM before the lease could expire
            srv.stop_clean(within=60)
        elif ending == "during_outage":
            srv.stop_clean(within=90)
        else:
            srv.kill()
    finally:
        if ending != "after_outage":
            cluster(script, "up", cdir)
    runs, t, state = crashlib.restart_and_check_once(
        srv, tid, ending, problems, (lambda t: t.state == 3) if ending == "after_outage" else None)
    print("  %s: body ran %d time(s), final %s %r" % (ending, runs, state, t.error if t else ""))
    if not problems:
        shutil.rmtree(work, ignore_errors=True)
    return runs - 1 if runs > 1 else 0


def main():
    binary, script, cdir = sys.argv[1:4]
    shutil.rmtree(cdir, ignore_errors=True)
    url = cluster(script, "start", cdir)
    problems, doubles = [], {}
    try:
        for ending in ENDINGS:
            doubles[ending] = run(binary, script, cdir, url, ending, problems)
    finally:
        subprocess.run(["sh", script, "stop", cdir], capture_output=True, timeout=120)
    print("double runs of non-idempotent tasks, PostgreSQL outage: " +
          ", ".join("%s %d" % (e, d) for e, d in doubles.items()))
    return crashlib.verdict(problems)


if __name__ == "__main__":
    sys.exit(main())
