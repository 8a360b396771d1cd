"""Tasks and results survive a SIGTERM and a restart on the same database."""

import json
import signal
import time
import unittest

import grpc

import taas_harness
from taas.v1 import taas_pb2 as S, taas_pb2_grpc  # noqa: E402

T = 10


def now_ms():
    return int(time.time() * 1000)


class Restart(unittest.TestCase):
    def test_restart_keeps_tasks(self):
        first = taas_harness.Server()
        try:
            self.run_restart(first)
        finally:
            first.cleanup()

    def connect(self, server):
        ch = grpc.insecure_channel(server.address)
        return ch, taas_pb2_grpc.TaskServiceStub(ch)

    def run_restart(self, first):
        first.start()
        ch, stub = self.connect(first)
        done = []
        for i in range(10):
            r = stub.SubmitTask(S.SubmitTaskRequest(
                task_name="my_custom_task",
                inputs_json=json.dumps({"param1": "r%d" % i, "param2": i}),
                idempotency_key="restart-%d" % i), timeout=T)
            done.append(r.task_id)
        for task_id in done:
            events = list(stub.WatchTask(S.WatchTaskRequest(task_id=task_id), timeout=30))
            self.assertEqual(events[-1].state, S.TASK_STATE_SUCCEEDED)
        later = stub.SubmitTask(S.SubmitTaskRequest(
            task_name="my_custom_task", inputs_json='{"param1": "later"}',
            run_after_ms=now_ms() + 3600 * 1000), timeout=T).task_id
        cancelled = stub.SubmitTask(S.SubmitTaskRequest(
            task_name="my_custom_task", inputs_json='{"param1": "gone"}',
            run_after_ms=now_ms() + 3600 * 1000), timeout=T).task_id
        stub.CancelTask(S.CancelTaskRequest(task_id=cancelled), timeout=T)
        ids = done + [later, cancelled]
        before = {i: stub.GetTask(S.GetTaskRequest(task_id=i), timeout=T).task for i in ids}
        ch.close()

        rc = first.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, "taas-server did not exit cleanly on SIGTERM:\n" + first.log())

        second = taas_harness.Server(workdir=first.workdir)
        second.starts = first.starts
        try:
            second.start()
            ch, stub = self.connect(second)
            for i in ids:
                after = stub.GetTask(S.GetTaskRequest(task_id=i), timeout=T).task
                b = before[i]
                with self.subTest(task=i):
                    self.assertEqual(after.state, b.state)
                    self.assertEqual(after.task_name, b.task_name)
                    self.assertEqual(json.loads(after.inputs_json), json.loads(b.inputs_json))
                    self.assertEqual(after.output_json, b.output_json)
                    self.assertEqual(after.created_at_ms, b.created_at_ms)
                    self.assertEqual(after.finished_at_ms, b.finished_at_ms)
                    self.assertEqual(after.idempotency_key, b.idempotency_key)
            for n, task_id in enumerate(done):
                out = json.loads(stub.GetTask(S.GetTaskRequest(task_id=task_id),
                                              timeout=T).task.output_json)
                self.assertEqual(out, {"result": "Processed r%d with %d" % (n, n)})
            # The idempotency keys survived too.
            dup = stub.SubmitTask(S.SubmitTaskRequest(
                task_name="my_custom_task", inputs_json=json.dumps({"param1": "r0", "param2": 0}),
                idempotency_key="restart-0"), timeout=T)
            self.assertTrue(dup.duplicate)
            self.assertEqual(dup.task_id, done[0])
            listed, token = [], ""
            while True:
                resp = stub.ListTasks(S.ListTasksRequest(page_size=5, page_token=token), timeout=T)
                listed += [t.id for t in resp.tasks]
                token = resp.next_page_token
                if not token:
                    break
            self.assertEqual(sorted(listed), sorted(ids))
            ch.close()
            rc = second.stop(signal.SIGTERM)
            self.assertEqual(rc, 0, second.log())
        finally:
            second.kill()


if __name__ == "__main__":
    unittest.main()
