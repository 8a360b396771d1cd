"""Scheduling semantics on a real taas-server with its default settings
(prefetch and claim-on-submit on): priorities, truthful states, instant
cancel of tasks not started, the last progress word, duplicate submits.

Start order and "never started" are read from a durable record: the
crash_probe task of taas-server-fi (tests/crash) appends "<id> <attempt>"
to TAAS_CRASH_RECORD and fsyncs it before anything else, so the file lists
every body start in order. Runs on SQLite and, as integration_pg_*, on
PostgreSQL (the harness gives each server a database of its own).
"""

import json
import os
import random
import tempfile
import threading
import time
import unittest

import grpc

import taas_harness
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402  (stubs on TAAS_PY_STUBS)

S = taas_pb2
T = 10  # seconds: deadline of every unary call
FINAL = (S.TASK_STATE_SUCCEEDED, S.TASK_STATE_FAILED, S.TASK_STATE_CANCELLED)
FI_BIN = os.environ.get("TAAS_FI_SERVER_BIN", "")


def now_ms():
    return int(time.time() * 1000)


class Node:
    """A server with one worker (unless told), its stubs, and a start record."""

    def __init__(self, workers=1, extra=(), env=None):
        self.record = tempfile.NamedTemporaryFile(prefix="taas-starts-", delete=False).name
        e = {"TAAS_CRASH_RECORD": self.record}
        e.update(env or {})
        if FI_BIN:
            e["TAAS_SERVER_BIN"] = FI_BIN
        self.server = taas_harness.Server(extra_args=["--workers", str(workers)] + list(extra),
                                          env=e)
        if FI_BIN:
            self.server.binary = os.path.abspath(FI_BIN)
        self.server.start()
        self.channel = grpc.insecure_channel(self.server.address)
        self.tasks = taas_pb2_grpc.TaskServiceStub(self.channel)

    def close(self):
        self.channel.close()
        self.server.cleanup()
        os.unlink(self.record)

    def submit(self, name, inputs, **kw):
        return self.tasks.SubmitTask(
            S.SubmitTaskRequest(task_name=name, inputs_json=json.dumps(inputs), **kw), timeout=T)

    def get(self, task_id):
        return self.tasks.GetTask(S.GetTaskRequest(task_id=task_id), timeout=T).task

    def starts(self):
        """Task ids in the order their bodies started (durable record)."""
        with open(self.record) as f:
            return [line.split()[0] for line in f if line.strip()]

    def wait_state(self, task_id, states, timeout_s=30):
        states = states if isinstance(states, tuple) else (states,)
        return taas_harness.wait_until(lambda: self.get(task_id).state in states, timeout_s,
                                       what="state of %s in %s" % (task_id, states))

    def wait_final(self, ids, timeout_s=60):
        deadline = time.time() + timeout_s
        for i in ids:
            while self.get(i).state not in FINAL:
                if time.time() > deadline:
                    raise AssertionError("task %s not final in %d s" % (i, timeout_s))
                time.sleep(0.02)

    def warm_up(self, n=300):
        """Short bodies, so the engine holds more than its workers (prefetch)."""
        ids = [self.submit("noop", {}).task_id for _ in range(n)]
        self.wait_final(ids)


@unittest.skipUnless(FI_BIN, "needs taas-server-fi (crash_probe records body starts)")
class Scheduling(unittest.TestCase):
    def setUp(self):
        self.node = None

    def tearDown(self):
        if self.node:
            alive = self.node.server.alive()
            log = self.node.server.log()
            self.node.close()
            self.assertTrue(alive, "the server died:\n" + log)

    def test_priority_order_behind_a_busy_worker(self):
        """One worker busy; a backlog of mixed priorities submitted in random
        order starts highest first, submit order within a priority; while it
        waits every task is PENDING with no start time, and only the busy one
        is RUNNING."""
        n = self.node = Node(workers=1)
        n.warm_up()  # short bodies: the engine holds tasks beyond its worker
        blocker = n.submit("crash_probe", {"ms": 6000}).task_id
        n.wait_state(blocker, S.TASK_STATE_RUNNING)
        prios = [random.choice([0, 1, 3, 5, 9]) for _ in range(40)]
        random.shuffle(prios)
        backlog = []
        for p in prios:
            r = n.submit("crash_probe", {"ms": 0}, priority=p)
            self.assertEqual(r.state, S.TASK_STATE_PENDING)
            backlog.append((r.task_id, p))
        # States tell the truth while they wait.
        for tid, _ in backlog:
            t = n.get(tid)
            if t.state in FINAL:
                self.fail("task %s finished while the worker was busy" % tid)
            self.assertEqual(t.state, S.TASK_STATE_PENDING, t)
            self.assertEqual(t.started_at_ms, 0, t)
        # The start reaches the store with the next group commit after the
        # body has run START_MARK_MS; allow a loaded machine a moment.
        def running_ids():
            return [t.id for t in n.tasks.ListTasks(S.ListTasksRequest(
                state=S.TASK_STATE_RUNNING, page_size=1000), timeout=T).tasks]
        taas_harness.wait_until(lambda: running_ids() == [blocker], 3,
                                what="ListTasks(RUNNING) == [blocker]")
        self.assertEqual(running_ids(), [blocker])
        pending = n.tasks.ListTasks(S.ListTasksRequest(state=S.TASK_STATE_PENDING,
                                                       page_size=1000), timeout=T).tasks
        self.assertEqual(sorted(t.id for t in pending), sorted(t for t, _ in backlog))
        n.wait_final([blocker] + [t for t, _ in backlog])
        order = [tid for tid in n.starts() if tid in dict(backlog)]
        self.assertEqual(len(order), len(backlog))
        index = {tid: i for i, (tid, _) in enumerate(backlog)}
        want = sorted(backlog, key=lambda tp: (-tp[1], index[tp[0]]))
        self.assertEqual(order, [tid for tid, _ in want],
                         "start order by priority: %s" % [dict(backlog)[t] for t in order])
        b = n.get(blocker)
        self.assertGreater(b.started_at_ms, 0)

    def test_higher_priority_overtakes_held_tasks(self):
        """Tasks already held in memory (claimed) do not delay a later one of
        a higher priority."""
        n = self.node = Node(workers=1)
        n.warm_up()
        blocker = n.submit("crash_probe", {"ms": 4000}).task_id
        n.wait_state(blocker, S.TASK_STATE_RUNNING)
        low = [n.submit("crash_probe", {"ms": 0}, priority=1).task_id for _ in range(10)]
        high = n.submit("crash_probe", {"ms": 0}, priority=7).task_id
        n.wait_final([blocker, high] + low)
        order = [t for t in n.starts() if t in low or t == high]
        self.assertEqual(order[0], high, "the priority-7 task started %d-th" % (order.index(high) + 1))
        self.assertEqual(order[1:], low)

    def test_held_behind_a_long_body_given_back(self):
        """Tasks claimed while the one worker's body was young (the engine
        expected a short one) are given back to the queue once the body
        runs long, without using an attempt: a later submit of a higher
        priority then starts before them, and they start in submit order."""
        n = self.node = Node(workers=1)
        n.warm_up()
        blocker = n.submit("crash_probe", {"ms": 2500}).task_id
        low = [n.submit("crash_probe", {"ms": 0}, priority=1).task_id for _ in range(10)]
        n.wait_state(blocker, S.TASK_STATE_RUNNING)
        time.sleep(0.5)  # the body is long by now; what was held goes back
        high = n.submit("crash_probe", {"ms": 0}, priority=7).task_id
        n.wait_final([blocker, high] + low)
        order = [t for t in n.starts() if t in low or t == high]
        self.assertEqual(order[0], high,
                         "the priority-7 task started %d-th" % (order.index(high) + 1))
        self.assertEqual(order[1:], low)
        for t in low + [high]:
            got = n.get(t)
            self.assertEqual((got.state, got.attempt), (S.TASK_STATE_SUCCEEDED, 1), t)

    def test_running_never_above_workers(self):
        """10,000 tasks flowing through two workers: ListTasks(RUNNING)
        never shows more than two, a RUNNING task always has its start time,
        every task succeeds, and every probe body starts exactly once (the
        durable start record)."""
        n = self.node = Node(workers=2)
        total, seen_max, bad, polls, stop = 10000, [0], [], [0], threading.Event()

        def poll():
            ch = grpc.insecure_channel(n.server.address)
            stub = taas_pb2_grpc.TaskServiceStub(ch)
            while not stop.is_set():
                ts = stub.ListTasks(S.ListTasksRequest(state=S.TASK_STATE_RUNNING,
                                                       page_size=1000), timeout=T).tasks
                seen_max[0] = max(seen_max[0], len(ts))
                bad.extend(t.id for t in ts if t.started_at_ms == 0)
                polls[0] += 1
                time.sleep(0.005)  # thousands of looks, not a load of their own
            ch.close()

        def unfinished():
            return sum(len(n.tasks.ListTasks(S.ListTasksRequest(state=st, page_size=10),
                                             timeout=T).tasks)
                       for st in (S.TASK_STATE_PENDING, S.TASK_STATE_RUNNING))

        poller = threading.Thread(target=poll)
        poller.start()
        t0 = time.monotonic()
        futs = []
        try:
            for i in range(total):
                # Every tenth a crash_probe of 2 ms (its start recorded),
                # the rest no-op bodies: the flow of a busy server.
                probe = i % 10 == 0
                futs.append(n.tasks.SubmitTask.future(
                    S.SubmitTaskRequest(task_name="crash_probe" if probe else "noop",
                                        inputs_json=json.dumps({"ms": 2} if probe else {}),
                                        priority=i % 4), timeout=60))
                if len(futs) % 64 == 0:
                    futs[-64].result()
            ids = [f.result().task_id for f in futs]
            submitted = time.monotonic() - t0
            taas_harness.wait_until(lambda: unfinished() == 0, 180, 0.2, "every task to end")
        finally:
            stop.set()
            poller.join()
        took = time.monotonic() - t0
        print("10,000 tasks in %.1f s (submitted in %.1f s); %d RUNNING polls, at most %d"
              " RUNNING seen" % (took, submitted, polls[0], seen_max[0]))
        self.assertLessEqual(seen_max[0], 2, "ListTasks(RUNNING) showed %d tasks" % seen_max[0])
        self.assertGreater(polls[0], 10)
        self.assertEqual(bad, [], "RUNNING without a start time")
        starts = n.starts()
        self.assertEqual(len(starts), total // 10)  # each probe started once
        self.assertEqual(set(starts), set(ids[::10]))
        failed = n.tasks.ListTasks(S.ListTasksRequest(state=S.TASK_STATE_FAILED, page_size=10),
                                   timeout=T).tasks
        self.assertEqual(list(failed), [])
        done, token = 0, ""
        while True:
            r = n.tasks.ListTasks(S.ListTasksRequest(state=S.TASK_STATE_SUCCEEDED,
                                                     page_size=1000, page_token=token), timeout=T)
            done += len(r.tasks)
            token = r.next_page_token
            if not token:
                break
        self.assertEqual(done, total)

    def test_readers_agree_while_bodies_run(self):
        """A body shorter than the start mark's delay never has its start
        stored before its completion: GetTask says RUNNING, and so must
        ListTasks - RUNNING lists it, PENDING does not. Checked only when
        GetTask says RUNNING both before and after the two lists were read
        (the states only move forward, so the lists saw it RUNNING too)."""
        n = self.node = Node(workers=1)
        ids = [n.submit("crash_probe", {"ms": 10}).task_id for _ in range(150)]

        def listed(state):
            return {t.id for t in n.tasks.ListTasks(S.ListTasksRequest(
                state=state, page_size=1000), timeout=T).tasks}
        checked, wrong = 0, []
        for tid in ids:
            st = n.get(tid).state
            deadline = time.monotonic() + 30
            while st == S.TASK_STATE_PENDING and time.monotonic() < deadline:
                st = n.get(tid).state
            if st != S.TASK_STATE_RUNNING:
                continue  # it ended before this look
            running = listed(S.TASK_STATE_RUNNING)
            pending = listed(S.TASK_STATE_PENDING)
            if n.get(tid).state != S.TASK_STATE_RUNNING:
                continue
            checked += 1
            if tid not in running or tid in pending:
                wrong.append((tid, tid in running, tid in pending))
        n.wait_final(ids)
        print("readers checked on %d running bodies" % checked)
        self.assertEqual(wrong, [], "(task, in RUNNING list, in PENDING list)")
        self.assertGreater(checked, 10)

    def test_cancel_held_tasks_at_once(self):
        """100 tasks held behind a busy worker (in memory or in the store):
        each is CANCELLED within 100 ms of the request, and none ever starts."""
        n = self.node = Node(workers=1)
        n.warm_up()
        blocker = n.submit("crash_probe", {"ms": 20000}).task_id  # cancelled below
        n.wait_state(blocker, S.TASK_STATE_RUNNING)
        held = [n.submit("crash_probe", {"ms": 0}).task_id for _ in range(100)]
        took = []
        for tid in held:
            t0 = time.monotonic()
            r = n.tasks.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T)
            st = r.state
            while st != S.TASK_STATE_CANCELLED and time.monotonic() - t0 < 2:
                st = n.get(tid).state
            took.append(time.monotonic() - t0)
            self.assertEqual(st, S.TASK_STATE_CANCELLED)
            self.assertEqual(n.get(tid).state, S.TASK_STATE_CANCELLED)
        took.sort()
        p99 = took[98]
        self.assertLess(p99, 0.100, "p99 %.1f ms, max %.1f ms" % (p99 * 1e3, took[-1] * 1e3))
        self.assertEqual(n.get(blocker).state, S.TASK_STATE_RUNNING)  # it held the worker
        n.tasks.CancelTask(S.CancelTaskRequest(task_id=blocker), timeout=T)
        n.wait_final([blocker])
        started = set(n.starts())
        self.assertEqual([t for t in held if t in started], [], "cancelled bodies started")

    def test_cancel_right_after_submit(self):
        """A cancel sent the moment a submit is acknowledged, while the one
        worker is busy: the task is held here and nowhere else, so the answer
        is CANCELLED every time (not PENDING), and no body starts."""
        n = self.node = Node(workers=1)
        n.warm_up()
        blocker = n.submit("crash_probe", {"ms": 20000}).task_id
        n.wait_state(blocker, S.TASK_STATE_RUNNING)
        ids, answers = [], []
        for _ in range(200):
            tid = n.submit("crash_probe", {"ms": 0}).task_id
            ids.append(tid)
            answers.append(n.tasks.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T).state)
        wrong = [(t, S.TaskState.Name(a)) for t, a in zip(ids, answers)
                 if a != S.TASK_STATE_CANCELLED]
        self.assertEqual(wrong, [], "cancel answers")
        n.tasks.CancelTask(S.CancelTaskRequest(task_id=blocker), timeout=T)
        n.wait_final([blocker])
        started = set(n.starts())
        self.assertEqual([t for t in ids if t in started], [], "cancelled bodies started")

    def test_last_progress_word_kept(self):
        """The final event and the stored task carry the last progress the
        body reported."""
        n = self.node = Node(workers=1)
        for _ in range(5):
            tid = n.submit("countdown", {"seconds": 1, "step_ms": 250}).task_id
            events = list(n.tasks.WatchTask(S.WatchTaskRequest(task_id=tid), timeout=30))
            running = [e for e in events if e.state == S.TASK_STATE_RUNNING]
            final = events[-1]
            self.assertEqual(final.state, S.TASK_STATE_SUCCEEDED)
            last = running[-1]
            self.assertEqual((final.progress, final.progress_message),
                             (last.progress, last.progress_message))
            self.assertEqual((final.task.progress, final.task.progress_message),
                             (last.progress, last.progress_message))
            t = n.get(tid)
            self.assertEqual((t.progress, t.progress_message),
                             (last.progress, last.progress_message))

    def test_duplicate_returns_current_state(self):
        """A duplicate submit answers with the original as it is now: its
        state, and its output once it succeeded; also after a cancel."""
        n = self.node = Node(workers=1)
        key = "dup-%d" % random.randrange(1 << 30)
        first = n.submit("countdown", {"seconds": 0}, idempotency_key=key)
        n.wait_final([first.task_id])
        again = n.submit("countdown", {"seconds": 0}, idempotency_key=key)
        self.assertTrue(again.duplicate)
        self.assertEqual(again.task_id, first.task_id)
        self.assertEqual(again.state, S.TASK_STATE_SUCCEEDED)
        self.assertEqual(json.loads(again.task.output_json), {"counted": 0, "steps": 0})
        self.assertEqual(again.task.id, first.task_id)

        key2 = key + "-cancel"
        later = now_ms() + 3600 * 1000
        c = n.submit("countdown", {"seconds": 5}, idempotency_key=key2, run_after_ms=later)
        dup = n.submit("countdown", {"seconds": 5}, idempotency_key=key2, run_after_ms=later)
        self.assertEqual(dup.state, S.TASK_STATE_PENDING)
        n.tasks.CancelTask(S.CancelTaskRequest(task_id=c.task_id), timeout=T)
        dup = n.submit("countdown", {"seconds": 5}, idempotency_key=key2, run_after_ms=later)
        self.assertTrue(dup.duplicate)
        self.assertEqual(dup.state, S.TASK_STATE_CANCELLED)
        self.assertEqual(dup.task.state, S.TASK_STATE_CANCELLED)


if __name__ == "__main__":
    unittest.main()
