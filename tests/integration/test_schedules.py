"""ScheduleService on a real taas-server (SQLite, and PostgreSQL as
integration_pg_py_schedules): validation at create time, an interval
schedule that submits once per due time, pause and resume, list and get
with next fire times, delete."""

import json
import time
import unittest

import grpc

import taas_harness
from taas.v1 import schedule_pb2 as Q, schedule_pb2_grpc, taas_pb2 as S, taas_pb2_grpc  # noqa: E402

T = 10
server = None  # the module's one server, started by setUpModule
taas_harness.one_server_per_module(globals())


class Schedules(unittest.TestCase):
    def setUp(self):
        self.channel = grpc.insecure_channel(server.address)
        self.sched = schedule_pb2_grpc.ScheduleServiceStub(self.channel)
        self.tasks = taas_pb2_grpc.TaskServiceStub(self.channel)

    def tearDown(self):
        self.channel.close()
        self.assertTrue(server.alive(), "the server died:\n" + server.log())

    def create(self, **kw):
        return self.sched.CreateSchedule(Q.CreateScheduleRequest(schedule=Q.Schedule(**kw)),
                                         timeout=T).schedule

    def refused(self, want, **kw):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.create(**kw)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn(want, ctx.exception.details())

    def test_validation(self):
        self.refused("cron: hour field: 24 is out of range 0-23", cron="0 24 * * *",
                     task_name="noop")
        self.refused("time_zone: unknown time zone", cron="0 3 * * *", time_zone="Mars/Base",
                     task_name="noop")
        self.refused("interval_ms: must be between 1000", interval_ms=10, task_name="noop")
        self.refused("set one of cron", task_name="noop")
        self.refused("inputs_json: invalid inputs for countdown", interval_ms=5000,
                     task_name="countdown", inputs_json='{"seconds":"x"}')
        self.refused("never fire", cron="0 0 30 2 *", task_name="noop")

    def test_interval_fires_once_per_due_time(self):
        s = self.create(name="every second", interval_ms=1000, task_name="noop",
                        catch_up=Q.CATCH_UP_RUN_ALL)
        self.assertGreater(s.next_fire_at_ms, s.created_at_ms)
        self.assertEqual(len(s.upcoming_at_ms), 5)
        self.assertEqual(list(s.upcoming_at_ms), [s.created_at_ms + 1000 * k for k in range(1, 6)])
        time.sleep(3.6)
        p = self.sched.PauseSchedule(Q.PauseScheduleRequest(schedule_id=s.id), timeout=T).schedule
        self.assertTrue(p.paused)
        time.sleep(1.2)  # paused: nothing more
        g = self.sched.GetSchedule(Q.GetScheduleRequest(schedule_id=s.id), timeout=T).schedule
        keys = sorted(t.idempotency_key for t in self.tasks.ListTasks(
            S.ListTasksRequest(task_name="noop", page_size=1000), timeout=T).tasks
            if t.idempotency_key.startswith("schedule:%s:" % s.id))
        dues = sorted(int(k.rsplit(":", 1)[1]) for k in keys)
        self.assertEqual(len(dues), g.submitted)
        self.assertIn(len(dues), (3, 4))
        self.assertEqual(dues, [s.created_at_ms + 1000 * k for k in range(1, len(dues) + 1)])
        listed = self.sched.ListSchedules(Q.ListSchedulesRequest(), timeout=T).schedules
        self.assertIn(s.id, [x.id for x in listed])
        self.sched.ResumeSchedule(Q.ResumeScheduleRequest(schedule_id=s.id), timeout=T)
        self.sched.DeleteSchedule(Q.DeleteScheduleRequest(schedule_id=s.id), timeout=T)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.sched.GetSchedule(Q.GetScheduleRequest(schedule_id=s.id), timeout=T)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)


if __name__ == "__main__":
    unittest.main()
