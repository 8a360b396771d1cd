"""A body finishes while the store refuses writes (full disk, I/O error):
its result must be kept and its completion sent again until the store takes
it, and no stop or crash may make the task run a second time.

    complete_outage.py TAAS_SERVER_FI

Each round runs one crash_probe task (not idempotent; every start of its
body is recorded durably) on a taas-server-fi whose SQLite fault VFS fails
every write while a file exists (TAAS_SQLITE_FAULT_ARM). The file is
created while the body runs, so the body's completion is refused; then:

  after_outage   the file is removed (the store works again), SIGTERM,
                 restart: the task must be SUCCEEDED with its output (the
                 result was kept), its body run once.
  during_outage  SIGTERM while the store still refuses; the file is
                 removed; restart: the body must not run again (the stop
                 may not give the started attempt back as PENDING).
  kill           SIGKILL while the store still refuses; the file is
                 removed; restart: the same.

Printed at the end: the number of double runs for each fault and ending
(the test fails on any).
"""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402

import grpc  # noqa: E402

CASES = [("full", "after_outage"), ("ioerr", "after_outage"), ("full", "during_outage"),
         ("ioerr", "during_outage"), ("full", "kill")]


def run(binary, err, ending, problems):
    work = crashlib.new_workdir("taas-complete-outage-")
    arm = os.path.join(work, "armed")
    env = {
        "TAAS_SQLITE_FAULT_VFS": "write:1:1000000:%s" % err,
        "TAAS_SQLITE_FAULT_ARM": arm,
        "TAAS_LEASE_MS": "3000",            # recovery after a kill comes soon
        "TAAS_PROGRESS_STORE_MS": "600000",  # no progress write competes with the completion
    }
    srv = crashlib.FiServer(binary, work, workers=1, env=env)
    assert srv.start(), srv.text()[-2000:]
    code, resp, det = srv.submit("crash_probe", json.dumps({"ms": 600}))
    assert code == grpc.StatusCode.OK, (code, det)
    tid = resp.task_id
    crashlib.wait_for(lambda: tid in crashlib.read_records(srv.record), 10, "the body to start")
    time.sleep(0.2)  # past the start mark, before the body's end
    open(arm, "w").close()
    crashlib.wait_for(lambda: "task.complete" in srv.text() or "faultvfs: write" in srv.text(), 10,
             "the completion to be refused")
    time.sleep(0.5)  # a few refused attempts
    refused = srv.text().count("faultvfs: write")
    if ending == "after_outage":
        os.unlink(arm)
        time.sleep(1.0)
        srv.stop_clean(within=60)
    elif ending == "during_outage":
        srv.stop_clean(within=60)
        os.unlink(arm)
    else:
        srv.kill()
        os.unlink(arm)
    srv.env.pop("TAAS_SQLITE_FAULT_VFS")
    kept = None
    if ending == "after_outage":
        def kept(t):
            return t.state == 3 and json.loads(t.output_json)["attempt"] == 1
    runs, t, state = crashlib.restart_and_check_once(srv, tid, "%s/%s" % (err, ending), problems,
                                                     kept)
    print("  %s/%s: %d write(s) refused, body ran %d time(s), final %s %r"
          % (err, ending, refused, runs, state, t.error if t else ""))
    if crashlib.integrity(srv.db) != "ok":
        problems.append("%s/%s: integrity_check failed" % (err, ending))
    if not problems:
        shutil.rmtree(work, ignore_errors=True)
    return runs - 1 if runs > 1 else 0


def main():
    binary = sys.argv[1]
    problems, doubles = [], {}
    for err, ending in CASES:
        doubles[(err, ending)] = run(binary, err, ending, problems)
    print("double runs of non-idempotent tasks: " +
          ", ".join("%s/%s %d" % (e, n, d) for (e, n), d in doubles.items()))
    return crashlib.verdict(problems)


if __name__ == "__main__":
    sys.exit(main())
