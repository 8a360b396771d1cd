"""The kill matrix: crash taas-server-fi with SIGKILL at a named step of the
task life, restart it, and check what survived.

    kill_matrix.py TAAS_SERVER_FI --point NAME [--seeds N]
                   [--first-seed S] [--soak-seconds T] [--list]

--soak-seconds T runs as many seeds as fit in T seconds in all (shared
evenly by the points), with larger task mixes, instead of --seeds.

For each seed: a random mix of crash-test tasks (crash_probe: not
idempotent; crash_idem: idempotent, retries, some failing retryably first)
is submitted to a server whose fault point NAME fires on a random hit; the
process dies there (raise(SIGKILL)); a clean server is started on the same
database and runs everything to a final state. Then, against the replies
the client saw and the execution records the bodies wrote (fsync'd before
each body does anything else):

  - every acknowledged task exists and is final (nothing lost, nothing stuck);
  - every task in the database is final;
  - a crash_probe body ran at most once; SUCCEEDED means exactly once, and
    FAILED is only "interrupted" (at-most-once);
  - a crash_idem task that SUCCEEDED carries the output of an attempt that
    could succeed and whose body did run; runs that did not end by the
    body's own decision (cut by the crash) are counted as extra runs
    (at-least-once: allowed, reported);
  - the database passes PRAGMA integrity_check; the final server stops
    cleanly on SIGTERM.

A table per point: seed, where the fault fired, tasks acked, final states,
probe runs, extra idempotent runs. Exit status 1 on any violation.
"""
import argparse
import faulthandler
import json
import os
import queue
import random
import shutil
import signal
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib  # noqa: E402
from crashlib import FINAL, STATE  # noqa: E402

import grpc  # noqa: E402

POINTS = {
    "submit_before_commit": dict(fault="store.txn.insert", hit=(1, 12),
                                 what="submit applied inside its transaction, before COMMIT"),
    "submit_before_reply": dict(fault="writer.committed.insert", hit=(1, 12),
                                what="after the submit's commit, before the reply"),
    "claim_before_commit": dict(fault="store.txn.claim", hit=(2, 8),
                                what="claim applied inside its transaction, before COMMIT"),
    "claim_before_body": dict(fault="writer.committed.claim", hit=(2, 8),
                              what="after the claim's commit, before any body starts"),
    "mid_body": dict(fault="task.mid_body", hit=(1, 10),
                     what="inside a body, after it started"),
    "body_before_complete": dict(fault="engine.body_done", hit=(1, 10),
                                 what="after a body returned, before its COMPLETE is queued"),
    "complete_before_commit": dict(fault="store.txn.complete", hit=(1, 10),
                                   what="completion applied inside its transaction, before COMMIT"),
    "complete_before_watchers": dict(fault="writer.committed.complete", hit=(1, 10), watch=True,
                                     what="after the completion's commit, before watchers are told"),
    "retry_scheduling": dict(fault="engine.retry_scheduled", hit=(1, 4), retries=True,
                             what="a retryable failure's backoff computed, retry not yet queued"),
    "prune": dict(fault="store.txn.prune", hit=(1, 1), prune=True,
                  what="pruning applied inside its transaction, before COMMIT"),
    "shutdown_after_release": dict(fault="engine.released", hit=(1, 1), shutdown=True,
                                   what="graceful stop (SIGTERM): after RELEASE, before exit"),
    "startup_recovery": dict(fault="task.mid_body", hit=(1, 6), recover_fault=True,
                             what="a crash, then a second crash inside start-up recovery"),
    "after_heartbeat": dict(fault="writer.committed.heartbeat", hit=(1, 3), slow=True,
                            what="after a lease-extending heartbeat committed"),
    "cancel_before_commit": dict(fault="store.txn.cancel", hit=(1, 4), cancels=True,
                                 what="cancel applied inside its transaction, before COMMIT"),
    "cancel_before_reply": dict(fault="writer.committed.cancel", hit=(1, 4), cancels=True,
                                what="after a cancel's commit, before its reply"),
}


def make_mix(rng, cfg, soak):
    n = rng.randint(24, 80) if soak else rng.randint(14, 28)
    mix = []
    for _ in range(n):
        if cfg.get("slow") or cfg.get("shutdown") or cfg.get("cancels"):
            ms = rng.choice([0, 100, 300, 600, 1000])
        else:
            ms = rng.choice([0, 0, 5, 30, 120, 300])
        if rng.random() < 0.5:
            mix.append(("crash_probe", {"ms": ms}))
        else:
            fb = rng.choice([2, 3, 3]) if cfg.get("retries") else rng.choice([1, 1, 1, 2, 3])
            mix.append(("crash_idem", {"ms": ms, "fail_before": fb}))
    return mix


class Phase1:
    """Submit the mix (4 client threads) until done or the server died."""

    def __init__(self, srv, mix, rng, cfg):
        self.srv, self.cfg = srv, cfg
        self.acked = {}           # id -> (name, inputs)
        self.failed_submits = 0   # replies that were errors (not acknowledged)
        self.cancels = {}         # id -> status of the cancel reply
        self.lock = threading.Lock()
        self.q = queue.Queue()
        for m in mix:
            self.q.put(m)
        self.seeds = [rng.randrange(1 << 30) for _ in range(4)]
        self.watchers = []

    def _watch(self, tid):
        fn = self.srv.ch.unary_stream(crashlib.SVC + "WatchTask")
        try:
            for _ in fn(crashlib.pb.WatchTaskRequest(task_id=tid).SerializeToString(), timeout=30):
                pass
        except (grpc.RpcError, ValueError):
            pass

    def _client(self, k):
        rng = random.Random(self.seeds[k])
        while self.srv.alive():
            try:
                name, inputs = self.q.get_nowait()
            except queue.Empty:
                return
            code, resp, det = self.srv.submit(name, json.dumps(inputs))
            if code != grpc.StatusCode.OK:
                with self.lock:
                    self.failed_submits += 1
                continue
            with self.lock:
                self.acked[resp.task_id] = (name, inputs)
                ids = list(self.acked)
            if self.cfg.get("watch") and rng.random() < 0.3:
                t = threading.Thread(target=self._watch, args=(resp.task_id,), daemon=True)
                t.start()
                self.watchers.append(t)
            if self.cfg.get("cancels") and rng.random() < 0.5:
                victim = rng.choice(ids)
                c, _, _ = self.srv.cancel(victim)
                with self.lock:
                    self.cancels[victim] = c.name

    def run(self):
        ts = [threading.Thread(target=self._client, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)


def run_seed(binary, point, cfg, seed, soak):
    rng = random.Random(seed)
    work = crashlib.new_workdir("taas-crash-%s-" % point)
    env = {
        "TAAS_LOG_LEVEL": "info",
        "TAAS_LEASE_MS": str(cfg.get("lease", 2000)),
        "TAAS_RETRY_BASE_MS": "50",
        "TAAS_RETRY_CAP_MS": "400",
        "TAAS_PREFETCH": str(rng.choice([-1, 0, 4])),
        "TAAS_SHUTDOWN_GRACE_MS": str(rng.choice([0, 50, 200])),
        # Submits claimed in their own insert, or left to claims (always
        # at the claim points, so that they are reached).
        "TAAS_CLAIM_ON_SUBMIT": "-1" if ".claim" in cfg["fault"] else rng.choice(["-1", "0"]),
    }
    if cfg.get("prune"):
        env["TAAS_RETENTION_S"] = "1"
    if cfg.get("slow"):
        env["TAAS_LEASE_MS"] = "600"  # heartbeats every 200 ms
    srv = crashlib.FiServer(binary, work, env=env, workers=rng.randint(1, 4))
    hit = rng.randint(*cfg["hit"])
    mix = make_mix(rng, cfg, soak)
    row = {"seed": seed, "hit": hit, "fired": "-", "problems": []}
    problems = row["problems"]
    seen_final = {}

    # Phase 1: the run that dies at the fault point.
    started = srv.start(fault=(cfg["fault"], hit))
    p1 = Phase1(srv, mix, rng, cfg)
    if started:
        p1.run()
        if cfg.get("prune"):
            # Everything final first, then slow tasks that are running when
            # the pruner (every 10 s) is killed mid-transaction.
            seen_final = {k: v for k, v in srv.wait_final(list(p1.acked), 20).items()
                          if v is not None and v.state in FINAL}
            for _ in range(4):
                kind = rng.choice(["crash_probe", "crash_idem"])
                code, resp, _ = srv.submit(kind, json.dumps({"ms": 3000}))
                if code == grpc.StatusCode.OK:
                    p1.acked[resp.task_id] = (kind, {"ms": 3000})
        if cfg.get("shutdown") and srv.alive():
            time.sleep(rng.uniform(0.0, 0.4))
            srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(25 if cfg.get("prune") else 15)
        if rc is None:
            srv.kill()
            rc = -9
            row["fired"] = "external SIGKILL"
    else:
        rc = srv.returncode
    fired = srv.fired()
    if fired:
        row["fired"] = fired
    elif row["fired"] == "-":
        problems.append("server exited with %s and no fault fired:\n%s" % (rc, srv.text()[-3000:]))
    srv.check_log()

    if cfg.get("recover_fault"):
        # Crash again, this time inside the recovery of the first crash.
        if srv.start(fault=("store.txn.recover", 1)):
            srv.kill()
            problems.append("start-up recovery did not reach its fault point")
        else:
            row["fired"] += " + " + (srv.fired() or "?")
            if not (srv.fired() or "").startswith("store.txn.recover"):
                problems.append("second start died without the recovery fault:\n" + srv.text()[-3000:])

    # Phase 2: a clean server runs everything to the end.
    if not srv.start():
        problems.append("clean restart failed:\n" + srv.text()[-3000:])
        return row, work
    in_db = srv.list_all()
    known = set(p1.acked) | set(in_db)
    final = srv.wait_final(known, 60)
    srv.stop_clean(within=30)
    check = crashlib.integrity(srv.db)
    if check != "ok":
        problems.append("integrity_check: " + check)
    rows = crashlib.raw_tasks(srv.db)
    runs = crashlib.read_records(srv.record)

    stats = {"acked": len(p1.acked), "unacked_stored": len(set(in_db) - set(p1.acked)),
             "SUCCEEDED": 0, "FAILED": 0, "CANCELLED": 0, "interrupted": 0, "pruned": 0,
             "probe_runs_max": 0, "idem_extra": 0}
    specs = dict(p1.acked)
    for tid, t in in_db.items():
        if tid not in specs:
            specs[tid] = (t.task_name, json.loads(t.inputs_json) if t.inputs_json else {})
    for tid in known:
        name, inputs = specs.get(tid, (rows.get(tid, ("?",))[0], {}))
        t = final.get(tid)
        nruns = len(runs.get(tid, []))
        if t is None:
            if tid in seen_final:
                stats["pruned"] += 1
                continue
            problems.append("%s %s acknowledged but lost" % (name, tid))
            continue
        if t.state not in FINAL:
            problems.append("%s %s stuck in %s (db row %s)" % (name, tid, STATE.get(t.state),
                                                              rows.get(tid)))
            continue
        if tid in seen_final and seen_final[tid].state != t.state:
            problems.append("%s %s was %s, now %s" % (name, tid, FINAL[seen_final[tid].state],
                                                      FINAL[t.state]))
        stats[FINAL[t.state]] += 1
        if t.error.startswith("interrupted"):
            stats["interrupted"] += 1
        if name == "crash_probe":
            stats["probe_runs_max"] = max(stats["probe_runs_max"], nruns)
            if nruns > 1:
                problems.append("crash_probe %s (not idempotent) ran %d times: attempts %s"
                                % (tid, nruns, runs[tid]))
            if t.state == 3 and nruns != 1:
                problems.append("crash_probe %s SUCCEEDED with %d recorded runs" % (tid, nruns))
            if t.state == 4 and not t.error.startswith("interrupted"):
                problems.append("crash_probe %s FAILED with %r" % (tid, t.error))
        elif name == "crash_idem":
            # Runs a crash-free life would make: one per attempt that ended
            # by the body's own decision (a retryable failure, the success).
            # Every other run was cut short by a crash: an extra run.
            need = int(inputs.get("fail_before", 1))
            decided = sum(1 for at in t.attempts if not at.error.startswith("interrupted"))
            if t.state == 3:
                out = json.loads(t.output_json)
                decided += 1
                if out["attempt"] < need or out["attempt"] not in runs.get(tid, []):
                    problems.append("crash_idem %s SUCCEEDED with the output of attempt %s, "
                                    "runs %s, fail_before %d" % (tid, out["attempt"],
                                                                 runs.get(tid), need))
            stats["idem_extra"] += max(0, nruns - decided)
    for tid, attempts in runs.items():
        if tid not in known and tid not in seen_final:
            problems.append("a body ran for %s, which is in no reply and not in the database"
                            % tid)
    for tid, r in rows.items():
        if r[1] not in FINAL:
            problems.append("db row %s left in state %s" % (tid, STATE.get(r[1])))
    row.update(stats)
    return row, work


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--point", action="append")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--soak-seconds", type=float, default=0)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    a = ap.parse_args()
    if a.list:
        for p, cfg in POINTS.items():
            print("%-26s %-28s %s" % (p, cfg["fault"], cfg["what"]))
        return 0
    points = a.point or list(POINTS)
    if points == ["all"]:
        points = list(POINTS)
    bad = 0
    for point in points:
        cfg = POINTS[point]
        base = zlib.crc32(point.encode()) % 100000 * 1000
        print("point %s: fault %s - %s" % (point, cfg["fault"], cfg["what"]))
        hdr = ("seed", "hit", "acked", "unacked", "SUCC", "FAIL", "CANC", "intr", "pruned",
               "probe_max", "idem_extra", "fired")
        print("  %-9s %4s %6s %8s %5s %5s %5s %5s %7s %10s %11s  %s" % hdr)
        t0 = time.time()
        i, n, totals = 0, 0, {"acked": 0, "idem_extra": 0, "fired": 0}
        bad_here = 0
        while True:
            if a.soak_seconds:
                # The budget is for the whole run, shared evenly by the points.
                if time.time() - t0 >= a.soak_seconds / len(points):
                    break
            elif i >= a.seeds:
                break
            seed = base + a.first_seed + i
            i += 1
            # A seed that hangs fails loudly, with every thread's stack.
            faulthandler.dump_traceback_later(200, exit=True)
            row, work = run_seed(a.binary, point, cfg, seed, a.soak_seconds > 0)
            faulthandler.cancel_dump_traceback_later()
            n += 1
            totals["acked"] += row.get("acked", 0)
            totals["idem_extra"] += row.get("idem_extra", 0)
            totals["fired"] += row["fired"] not in ("-", "external SIGKILL")
            print("  %-9d %4d %6s %8s %5s %5s %5s %5s %7s %10s %11s  %s" % (
                seed, row["hit"], row.get("acked", "-"), row.get("unacked_stored", "-"),
                row.get("SUCCEEDED", "-"), row.get("FAILED", "-"), row.get("CANCELLED", "-"),
                row.get("interrupted", "-"), row.get("pruned", "-"),
                row.get("probe_runs_max", "-"), row.get("idem_extra", "-"), row["fired"]))
            sys.stdout.flush()
            if row["problems"]:
                bad += 1
                bad_here += 1
                print("    VIOLATIONS (work folder kept: %s):" % work)
                for p in row["problems"][:20]:
                    print("      - " + p.replace("\n", "\n        "))
            elif not a.keep:
                shutil.rmtree(work, ignore_errors=True)
        print("  %s: %d seeds, %d fired at the point, %d tasks acked, %d extra idempotent "
              "runs, %s" % (point, n, totals["fired"], totals["acked"], totals["idem_extra"],
                            "VIOLATED in %d seeds" % bad_here if bad_here else "held"))
    return 1 if bad else 0


if __name__ == "__main__":
    crashlib.exit_now(main())
