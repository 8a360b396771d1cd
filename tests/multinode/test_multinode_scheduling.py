"""Scheduling semantics on three taas-server nodes sharing one PostgreSQL
database, with the default prefetch and claim-on-submit (test_multinode.py
starts the cluster and the nodes).

Body starts are read from a durable record: the crash_probe task of
taas-server-fi appends "<id> <attempt>" to TAAS_CRASH_RECORD with one
O_APPEND write and an fsync before anything else, and all three nodes append
to the same file, so its lines are the body starts of the whole cluster in
the order they happened.

  Priorities      every worker busy with a long body, then a backlog of mixed
                  priorities submitted in random order round-robin to the
                  nodes: the cluster starts them highest priority first,
                  submit order within a priority (up to the few starts that
                  happen at the same moment on different nodes).
  CancelHeld      100 tasks held or queued behind busy workers, each
                  cancelled through a node other than the one it was
                  submitted to: CANCELLED within 100 ms (p99, the task's
                  finish time against the request), and no body
                  of them ever starts.
  ScheduleNodes   a cron schedule firing every second for 5 s gives exactly
                  5 submits with three schedulers racing; an interval
                  schedule likewise submits each due time exactly once.
"""

import os
import random
import re
import tempfile
import time
import unittest

from test_multinode import S, T, FINAL, MultiNode
import taas_harness
from taas.v1 import schedule_pb2 as Q, schedule_pb2_grpc

FI_BIN = os.environ.get("TAAS_FI_SERVER_BIN", "")


@unittest.skipUnless(FI_BIN, "needs taas-server-fi (crash_probe records body starts)")
class FiCluster(MultiNode):
    """Three nodes of one worker each, default prefetch, one start record."""

    roles = {"node-a": ("--workers", "1"), "node-b": ("--workers", "1"),
             "node-c": ("--workers", "1")}

    def setUp(self):
        fd, self.record = tempfile.mkstemp(prefix="taas-mn-starts-")
        os.close(fd)
        self.node_env = {"TAAS_CRASH_RECORD": self.record}
        os.environ["TAAS_SERVER_BIN"] = FI_BIN  # read by taas_harness.Server
        super().setUp()

    def tearDown(self):
        dead = [n.name for n in self.nodes.values() if not n.server.alive()]
        super().tearDown()
        os.unlink(self.record)
        self.assertEqual(dead, [], "nodes died")

    def starts(self):
        with open(self.record) as f:
            return [line.split()[0] for line in f if line.strip()]

    def running(self):
        """RUNNING as every node reports it (ListTasks reads the one table)."""
        seen = [sorted(t.id for t in n.stub.ListTasks(S.ListTasksRequest(
            state=S.TASK_STATE_RUNNING, page_size=1000), timeout=T).tasks)
            for n in self.nodes.values()]
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[0], seen[2])
        return seen[0]

    def warm_up(self, n=60):
        """Short bodies on every node, so each node's engine expects short
        bodies and holds tasks beyond its worker (prefetch)."""
        nodes = list(self.nodes.values())
        ids = [nodes[i % 3].submit("noop", {}).task_id for i in range(n)]
        self.wait_final(self.a, ids, 60)

    def block_all(self, ms):
        """One long crash_probe running on each node's worker."""
        ids = [n.submit("crash_probe", {"ms": ms}).task_id for n in self.nodes.values()]
        taas_harness.wait_until(lambda: sorted(self.starts()) == sorted(ids), 20, 0.05,
                                "a blocker to start on every node")
        owners = sorted(r[0] for r in self.sql(
            "SELECT lease_owner FROM tasks WHERE id IN (%s)" % ",".join("'%s'" % i for i in ids)))
        self.assertEqual(owners, ["node-a", "node-b", "node-c"])
        return ids


def late_inversions(order, rank, window):
    """Pairs of positions (i, j), j - i >= window, in the start order where
    the later start ranks first: a task that started behind one it should
    have preceded by more than the few starts that race at one moment (one
    per node)."""
    return [(i, j) for i in range(len(order)) for j in range(i + window, len(order))
            if rank[order[j]] < rank[order[i]]]


class Priorities(FiCluster):
    def backlog_by_priority(self, settle):
        self.warm_up()
        nodes = list(self.nodes.values())
        if settle:
            blockers = self.block_all(4000)
        else:
            blockers = [n.submit("crash_probe", {"ms": 4000}).task_id for n in nodes]
        prios = [p for p in (0, 1, 3, 5, 9) for _ in range(7)] + [9]
        random.shuffle(prios)
        backlog = []
        for i, p in enumerate(prios):
            r = nodes[i % 3].submit("crash_probe", {"ms": 150}, priority=p)
            self.assertEqual(r.state, S.TASK_STATE_PENDING)
            backlog.append((r.task_id, p))
        if not settle:
            taas_harness.wait_until(lambda: sorted(self.starts()) == sorted(blockers), 20, 0.05,
                                    "a blocker to start on every node")
        self.assertEqual(sorted(self.running()), sorted(blockers), "RUNNING while they wait")
        ids = [t for t, _ in backlog]
        self.wait_final(self.a, blockers + ids, 60)
        order = [t for t in self.starts() if t in dict(backlog)]
        self.assertEqual(sorted(order), sorted(ids))
        prio = dict(backlog)
        index = {t: i for i, t in enumerate(ids)}
        seq = [prio[t] for t in order]
        print("start order by priority: %s" % seq)
        # Three workers free at about the same moment and each starts the
        # best task left: starts less than three apart may race.
        by_prio = {t: -prio[t] for t in ids}
        self.assertEqual(late_inversions(order, by_prio, 3), [],
                         "priority order across nodes: %s" % seq)
        fifo = {t: (-prio[t], index[t]) for t in ids}
        self.assertEqual(late_inversions(order, fifo, 3), [],
                         "submit order within a priority: %s"
                         % [(prio[t], index[t]) for t in order])
        # A task held and given back has not used an attempt.
        for t in ids:
            got = self.a.get(t)
            self.assertEqual((got.state, got.attempt), (S.TASK_STATE_SUCCEEDED, 1), t)

    def test_backlog_starts_by_priority_across_nodes(self):
        """Three nodes of one worker each, all busy with long bodies after
        short ones (so each node's engine expects short bodies and would hold
        tasks beyond its worker); 36 tasks of priorities 0-9 submitted in
        random order, round-robin to the nodes. When the workers free, the
        tasks start by priority across the cluster, FIFO within one; while
        they wait every node reads them PENDING and only the blockers
        RUNNING."""
        self.backlog_by_priority(settle=True)

    def test_backlog_submitted_as_long_bodies_start(self):
        """The same backlog submitted the moment the long bodies are
        submitted: each node takes some of it while its body is young (it
        expects a short one), and gives it back once the body runs long, so
        the cluster still starts the backlog by priority, and no attempt is
        used by the give-back."""
        self.backlog_by_priority(settle=False)


class CancelHeld(FiCluster):
    def test_cancel_held_tasks_through_another_node(self):
        """100 tasks behind busy workers, submitted round-robin (held in a
        node's memory or waiting in the store), each cancelled through the
        next node: CANCELLED within 100 ms p99 as seen by the cancelling
        node, durably CANCELLED, and not one body of them starts."""
        self.warm_up()
        blockers = self.block_all(60000)  # cancelled below
        nodes = list(self.nodes.values())
        held = []
        for i in range(100):
            held.append((nodes[i % 3].submit("crash_probe", {"ms": 0}).task_id, nodes[(i + 1) % 3]))
        took, stamped = [], []
        for tid, via in held:
            asked = time.time()
            t0 = time.monotonic()
            st = via.stub.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T).state
            while st != S.TASK_STATE_CANCELLED and time.monotonic() - t0 < 2:
                st = via.get(tid).state
            took.append(time.monotonic() - t0)
            self.assertEqual(st, S.TASK_STATE_CANCELLED, tid)
            # When the server made it CANCELLED (the holder's finish time;
            # one machine, one clock), without the client's polling.
            stamped.append(via.get(tid).finished_at_ms / 1000.0 - asked)
        took.sort()
        stamped.sort()
        print("cancel through another node, ms: server p50 %.1f p99 %.1f max %.1f;"
              " seen by the client p50 %.1f p99 %.1f max %.1f"
              % (stamped[49] * 1e3, stamped[98] * 1e3, stamped[-1] * 1e3,
                 took[49] * 1e3, took[98] * 1e3, took[-1] * 1e3))
        self.assertLess(stamped[98], 0.100, "server p99 %.1f ms" % (stamped[98] * 1e3))
        # The client's view adds the holder's commit and a poll round trip
        # per look, on a machine shared with three servers and PostgreSQL
        # (and under the sanitizers): measured at 1-11 ms p99 on a quiet
        # machine, bounded here with room for a loaded one, printed above.
        self.assertLess(took[98], 0.5, "client p99 %.1f ms" % (took[98] * 1e3))
        ids = [t for t, _ in held]
        # Every node reads every one as CANCELLED, and so does the table.
        for n in nodes:
            self.assertEqual({n.get(t).state for t in ids}, {S.TASK_STATE_CANCELLED}, n.name)
        self.assertEqual(self.sql("SELECT count(*) FROM tasks WHERE state = 5 AND id IN (%s)"
                                  % ",".join("'%s'" % t for t in ids)), [["100"]])
        self.assertEqual(sorted(self.running()), sorted(blockers))  # they held the workers
        for b in blockers:
            self.a.stub.CancelTask(S.CancelTaskRequest(task_id=b), timeout=T)
        self.wait_final(self.a, blockers, 30)
        # Freed workers would now start anything a node still held.
        time.sleep(1.0)
        started = set(self.starts())
        self.assertEqual([t for t in ids if t in started], [], "cancelled bodies started")


class ScheduleNodes(MultiNode):
    node_env = {}  # the defaults

    def sched(self, node):
        return schedule_pb2_grpc.ScheduleServiceStub(node.channel)

    def keys(self, sid):
        prefix = "schedule:%s:" % sid
        rows = self.sql("SELECT idempotency_key FROM tasks WHERE idempotency_key LIKE '%s%%'"
                        % prefix)
        return [int(r[0][len(prefix):]) for r in rows]

    def fired_by(self, sid):
        """Which node committed each fire (their schedule.fired log lines)."""
        pat = re.compile(r"schedule\.fired.*id=%s .*submitted=1" % sid)
        return {n.name: len(pat.findall(n.log())) for n in self.nodes.values()}

    def test_cron_every_second_for_5s_gives_5_submits(self):
        # Seconds S..S+4 of one minute, at least 3 s ahead, in UTC.
        base = int(time.time()) + 3
        if base % 60 > 55:
            base += 60 - base % 60
        t = time.gmtime(base)
        start = t.tm_sec
        expr = "%d-%d %d %d %d %d *" % (start, start + 4, t.tm_min, t.tm_hour, t.tm_mday,
                                        t.tm_mon)
        s = self.sched(self.a).CreateSchedule(Q.CreateScheduleRequest(schedule=Q.Schedule(
            cron=expr, task_name="noop", catch_up=Q.CATCH_UP_RUN_ALL)), timeout=T).schedule
        first = s.next_fire_at_ms
        self.assertEqual(first % 1000, 0)
        self.assertEqual(list(s.upcoming_at_ms), [first + 1000 * k for k in range(5)])
        # Wait past the last fire time, then a little more for a late node.
        time.sleep(max(0, (first + 4000) / 1000 - time.time()) + 2.0)
        got = sorted(self.keys(s.id))
        self.assertEqual(got, [first + 1000 * k for k in range(5)], expr)
        for n in self.nodes.values():
            g = self.sched(n).GetSchedule(Q.GetScheduleRequest(schedule_id=s.id),
                                          timeout=T).schedule
            self.assertEqual((g.submitted, g.skipped), (5, 0), n.name)
        fired = self.fired_by(s.id)
        self.assertEqual(sum(fired.values()), 5, fired)
        print("cron fires by node: %s" % fired)

    def test_interval_each_due_time_once(self):
        s = self.sched(self.b).CreateSchedule(Q.CreateScheduleRequest(schedule=Q.Schedule(
            interval_ms=1000, task_name="noop", catch_up=Q.CATCH_UP_RUN_ALL)), timeout=T).schedule
        five = s.created_at_ms + 5000

        def fired_five():
            g = self.sched(self.c).GetSchedule(Q.GetScheduleRequest(schedule_id=s.id),
                                               timeout=T).schedule
            return g.last_fire_at_ms >= five
        taas_harness.wait_until(fired_five, 20, 0.1, "five fires")
        g = self.sched(self.a).PauseSchedule(Q.PauseScheduleRequest(schedule_id=s.id),
                                             timeout=T).schedule
        got = sorted(self.keys(s.id))
        want = [s.created_at_ms + 1000 * k for k in range(1, len(got) + 1)]
        self.assertEqual(got, want)  # each due time once, none missing
        self.assertEqual(len([d for d in got if d <= five]), 5)
        self.assertEqual((g.submitted, g.skipped), (len(got), 0))
        fired = self.fired_by(s.id)
        print("interval fires by node: %s" % fired)
        time.sleep(1.5)  # paused: no node fires it any more
        self.assertEqual(sorted(self.keys(s.id)), got)


if __name__ == "__main__":
    unittest.main()
