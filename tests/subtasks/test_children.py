"""Child tasks (taas_submit_child / taas_wait_child) on a real server: the
fan_out task runs one child per word. Parents waiting on children never
starve the pool; children carry their parent's id; cancelling a parent
cancels its children; after a crash the rerun parent gets its children back."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import grpc  # noqa: E402
import taas_harness  # noqa: E402
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402

S = taas_pb2
T = 10


class Children(unittest.TestCase):
    def start(self, **env):
        e = {"TAAS_WORKERS": "2"}
        e.update(env)
        self.server = taas_harness.Server(env=e).start()
        self.addCleanup(self.server.cleanup)
        self.connect()

    def connect(self):
        self.channel = grpc.insecure_channel(self.server.address)
        self.addCleanup(self.channel.close)
        self.tasks = taas_pb2_grpc.TaskServiceStub(self.channel)

    def submit(self, name, inputs):
        return self.tasks.SubmitTask(S.SubmitTaskRequest(task_name=name,
                                                         inputs_json=json.dumps(inputs)),
                                     timeout=T).task_id

    def get(self, tid):
        return self.tasks.GetTask(S.GetTaskRequest(task_id=tid), timeout=T).task

    def children(self, parent):
        r = self.tasks.ListTasks(S.ListTasksRequest(parent_id=parent, page_size=100), timeout=T)
        return list(r.tasks)

    def wait_final(self, tid, timeout_s):
        final = (S.TASK_STATE_SUCCEEDED, S.TASK_STATE_FAILED, S.TASK_STATE_CANCELLED)
        taas_harness.wait_until(lambda: self.get(tid).state in final, timeout_s,
                                what="task %s final" % tid)
        return self.get(tid)

    def test_eight_parents_three_children_two_workers(self):
        self.start()
        parents = [self.submit("fan_out", {"words": ["a%d" % p, "b%d" % p, "c%d" % p]})
                   for p in range(8)]
        for p, tid in enumerate(parents):
            t = self.wait_final(tid, 90)
            self.assertEqual(S.TaskState.Name(t.state), "TASK_STATE_SUCCEEDED", t.error)
            out = json.loads(t.output_json)
            self.assertEqual(out["results"], ["Processed a%d with 0" % p,
                                              "Processed b%d with 1" % p,
                                              "Processed c%d with 2" % p])
            self.assertEqual(t.parent_id, "")
            kids = self.children(tid)
            self.assertEqual(sorted(k.id for k in kids), sorted(out["children"]))
            for k in kids:
                self.assertEqual(k.parent_id, tid)
                self.assertEqual(k.task_name, "my_custom_task")
                self.assertEqual(S.TaskState.Name(k.state), "TASK_STATE_SUCCEEDED")
            self.assertEqual(self.get(out["children"][0]).parent_id, tid)
        # The filter is by parent: an unknown parent has none.
        self.assertEqual(self.children("00000000-0000-7000-8000-000000000000"), [])

    def test_waiting_bodies_past_the_bound_never_hang(self):
        # One body may wait off its slot (TAAS_MAX_WAITING_BODIES=1), two
        # workers. The first parent waits off its slot; the second keeps its
        # slot while the other slot is free of waiters; a third that finds
        # both slots taken by waiters is told so at once ("cannot wait for a
        # child now") - a retryable failure - instead of holding the last
        # worker. Every parent ends; none hangs.
        self.start(TAAS_MAX_WAITING_BODIES="1", TAAS_RETRY_BASE_MS="300",
                   TAAS_RETRY_CAP_MS="1000")
        parents = [self.submit("fan_out", {"words": ["p%dx" % p, "p%dy" % p], "hold_s": 2})
                   for p in range(4)]
        finals = [self.wait_final(tid, 120) for tid in parents]
        refused = [t for t in finals
                   if "cannot wait for a child now" in t.error or
                   any("cannot wait for a child now" in a.error for a in t.attempts)]
        self.assertTrue(refused, [(S.TaskState.Name(t.state), t.error) for t in finals])
        with open(self.server.log_path, errors="replace") as f:
            self.assertIn("engine.waiting_full", f.read())
        for t in finals:
            if t.state != S.TASK_STATE_SUCCEEDED:
                self.assertEqual(S.TaskState.Name(t.state), "TASK_STATE_FAILED")
                self.assertIn("cannot wait for a child now", t.error)
        self.assertGreaterEqual(len([t for t in finals if t.state == S.TASK_STATE_SUCCEEDED]), 2)

    def test_cancelling_the_parent_cancels_its_children(self):
        self.start()
        tid = self.submit("fan_out", {"words": ["x", "y"], "hold_s": 120})
        taas_harness.wait_until(
            lambda: len([k for k in self.children(tid)
                         if k.state == S.TASK_STATE_RUNNING]) == 2, 30,
            what="both children running")
        self.tasks.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T)
        t = self.wait_final(tid, 15)
        self.assertEqual(S.TaskState.Name(t.state), "TASK_STATE_CANCELLED", t.error)
        for k in self.children(tid):
            k = self.wait_final(k.id, 15)
            self.assertEqual(S.TaskState.Name(k.state), "TASK_STATE_CANCELLED")

    def test_crash_while_the_parent_waits(self):
        # The rules (docs/reliability.md): the parent's interrupted attempt
        # is recovered like any idempotent task's - run again, the attempt
        # given back; its children are tasks of their own, recovered by
        # their own rules (countdown is idempotent: run again too); the
        # parent's rerun gets the same children back - no new ones - and
        # their results.
        self.start(TAAS_LEASE_MS="1500")
        tid = self.submit("fan_out", {"words": ["x", "y"], "hold_s": 6})
        taas_harness.wait_until(
            lambda: len([k for k in self.children(tid)
                         if k.state == S.TASK_STATE_RUNNING]) == 2, 30,
            what="both children running")
        before = sorted(k.id for k in self.children(tid))
        # The parent's start mark rides the next group commit after its
        # wait began; give it a moment to land before the crash.
        time.sleep(0.5)
        self.channel.close()
        self.server.stop(signal.SIGKILL)
        self.server.start()
        self.connect()
        t = self.wait_final(tid, 60)
        self.assertEqual(S.TaskState.Name(t.state), "TASK_STATE_SUCCEEDED", t.error)
        self.assertEqual(t.attempt, 1, "an interruption uses no attempt")
        self.assertEqual([a.error for a in t.attempts], ["interrupted"],
                         "the parent ran again after the crash")
        self.assertEqual(sorted(k.id for k in self.children(tid)), before,
                         "the rerun made no new children")
        for k in self.children(tid):
            k = self.get(k.id)
            self.assertEqual(S.TaskState.Name(k.state), "TASK_STATE_SUCCEEDED")
            self.assertEqual([a.error for a in k.attempts], ["interrupted"])

    def test_parent_cancelled_pending_after_a_crash_cancels_its_children(self):
        # Two workers: the parent waits, two children run, the other six
        # wait their turn. A crash then: the parent is requeued PENDING (it
        # is idempotent with retries), the running children fail
        # "interrupted", the waiting ones stay PENDING. The server comes back
        # serving the API only (--role api), so nothing runs: the parent is
        # cancelled while PENDING - no body of it is there to cancel its
        # children - and the children its earlier attempt left PENDING must
        # be cancelled all the same.
        self.start(TAAS_LEASE_MS="1500")
        tid = self.submit("fan_out", {"words": ["w%d" % i for i in range(8)], "hold_s": 60})
        taas_harness.wait_until(
            lambda: len(self.children(tid)) == 8 and
            len([k for k in self.children(tid) if k.state == S.TASK_STATE_RUNNING]) >= 1, 30,
            what="all eight children submitted, some running")
        self.channel.close()
        self.server.stop(signal.SIGKILL)
        self.server.extra_args = list(self.server.extra_args) + ["--role", "api"]
        self.server.start()
        self.connect()
        # SQLite recovers at start; PostgreSQL once the dead server's lease expires.
        taas_harness.wait_until(lambda: self.get(tid).state == S.TASK_STATE_PENDING, 20,
                                what="the parent requeued PENDING")
        taas_harness.wait_until(
            lambda: not [k for k in self.children(tid) if k.state == S.TASK_STATE_RUNNING], 20,
            what="the interrupted children recovered")
        left = [k.id for k in self.children(tid) if k.state == S.TASK_STATE_PENDING]
        self.assertTrue(left, "children left PENDING by the crash")
        r = self.tasks.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T)
        self.assertEqual(S.TaskState.Name(r.state), "TASK_STATE_CANCELLED")
        for kid in left:
            k = self.wait_final(kid, 15)
            self.assertEqual(S.TaskState.Name(k.state), "TASK_STATE_CANCELLED", kid)
        # Nothing of the parent is left unfinished.
        self.assertEqual([k.id for k in self.children(tid)
                          if k.state in (S.TASK_STATE_PENDING, S.TASK_STATE_RUNNING)], [])

    def test_crash_after_the_children_finished(self):
        # Children that finished before the crash are not run again: the
        # rerun parent gets their results back.
        self.start(TAAS_LEASE_MS="1500")
        tid = self.submit("fan_out", {"words": ["x", "y", "z"], "hold_s": 1})
        taas_harness.wait_until(
            lambda: len([k for k in self.children(tid)
                         if k.state == S.TASK_STATE_SUCCEEDED]) == 3, 30,
            what="the children done")
        before = sorted(k.id for k in self.children(tid))
        # The parent may have finished already, or be about to: either way
        # its result must come from these three children.
        self.channel.close()
        self.server.stop(signal.SIGKILL)
        self.server.start()
        self.connect()
        t = self.wait_final(tid, 60)
        self.assertEqual(S.TaskState.Name(t.state), "TASK_STATE_SUCCEEDED", t.error)
        out = json.loads(t.output_json)
        self.assertEqual(out["results"], ["counted 1"] * 3)
        self.assertEqual(sorted(out["children"]), before)
        self.assertEqual(sorted(k.id for k in self.children(tid)), before)


if __name__ == "__main__":
    unittest.main()
