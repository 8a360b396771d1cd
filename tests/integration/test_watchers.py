"""1,000 concurrent WatchTask streams (grpc.aio), each to its final event."""

import asyncio
import json
import time
import unittest

import grpc

import taas_harness
from taas.v1 import taas_pb2 as S, taas_pb2_grpc  # noqa: E402

WATCHERS = 1000
TASKS = 20
CHANNELS = 10
LIMIT_S = 120


class Watchers(unittest.TestCase):
    def setUp(self):
        self.server = taas_harness.Server().start()

    def tearDown(self):
        alive = self.server.alive()
        log = self.server.log()
        self.server.cleanup()
        self.assertTrue(alive, "the server died:\n" + log)

    def test_thousand_watchers(self):
        asyncio.run(asyncio.wait_for(self.run_watchers(), LIMIT_S))

    async def run_watchers(self):
        channels = [grpc.aio.insecure_channel(self.server.address) for _ in range(CHANNELS)]
        try:
            stubs = [taas_pb2_grpc.TaskServiceStub(c) for c in channels]
            # The tasks start two seconds from now, so every watcher is attached
            # while they are still pending and sees them run.
            start = int(time.time() * 1000) + 2000
            ids = []
            for i in range(TASKS):
                r = await stubs[0].SubmitTask(S.SubmitTaskRequest(
                    task_name="my_custom_task",
                    inputs_json=json.dumps({"param1": "w", "param2": i}),
                    run_after_ms=start), timeout=10)
                ids.append(r.task_id)

            async def watch(n):
                task_id = ids[n % TASKS]
                events = []
                call = stubs[n % CHANNELS].WatchTask(S.WatchTaskRequest(task_id=task_id),
                                                     timeout=LIMIT_S - 10)
                async for ev in call:
                    events.append(ev)
                return n % TASKS, events

            results = await asyncio.gather(*(watch(n) for n in range(WATCHERS)),
                                           return_exceptions=True)
        finally:
            for c in channels:
                await c.close()

        errors = [r for r in results if isinstance(r, BaseException)]
        self.assertEqual(errors[:3], [], "%d of %d watchers failed" % (len(errors), WATCHERS))
        for i, events in results:
            self.assertTrue(events)
            last = events[-1]
            self.assertEqual(last.state, S.TASK_STATE_SUCCEEDED)
            self.assertEqual(json.loads(last.task.output_json),
                             {"result": "Processed w with %d" % i})
            self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))


if __name__ == "__main__":
    unittest.main()
