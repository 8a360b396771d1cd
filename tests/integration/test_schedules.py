"""ScheduleService on a real taas-server (SQLite, and PostgreSQL as
integration_pg_py_schedules): validation at create time, an interval
schedule that submits once per due time, pause and resume, list and get
with next fire times, delete, and the catch-up policies across a restart."""

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
        # A fire inserts its task directly: the range a submit accepts.
        self.refused("priority: out of range", interval_ms=5000, task_name="noop",
                     priority=1000001)
        self.refused("priority: out of range", interval_ms=5000, task_name="noop",
                     priority=-1000001)
        self.assertEqual(self.create(interval_ms=60000, task_name="noop", priority=1000000,
                                     paused=True).priority, 1000000)

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

    def test_catch_up_after_downtime(self):
        """A server stopped across at least 3 fire times of 1 s schedules, then
        restarted on the same database: each catch-up policy is followed.

        A due time counts as missed when the fire that handles it runs more
        than TAAS_SCHEDULE_MISFIRE_MS after it; that fire's clock is the
        created_at_ms of the tasks it submits, so each submitted due time is
        classified here by the server's own clock, not by when the test asked
        for the restart (the server's first fire comes later: start-up plus
        up to one scheduler tick)."""
        srv = taas_harness.Server().start()
        try:
            self._catch_up(srv)
        finally:
            srv.cleanup()

    def _catch_up(self, srv):
        misfire = 300
        step = 1000
        ch = grpc.insecure_channel(srv.address)
        sched = schedule_pb2_grpc.ScheduleServiceStub(ch)

        def create(**kw):
            return sched.CreateSchedule(Q.CreateScheduleRequest(schedule=Q.Schedule(
                task_name="noop", **kw)), timeout=T).schedule
        made = {
            "skip": create(interval_ms=step, catch_up=Q.CATCH_UP_SKIP),
            "once": create(interval_ms=step, catch_up=Q.CATCH_UP_RUN_ONCE),
            "all2": create(interval_ms=step, catch_up=Q.CATCH_UP_RUN_ALL, max_catch_up=2),
            "cron_once": create(cron="* * * * * *", catch_up=Q.CATCH_UP_RUN_ONCE),
        }
        time.sleep(2.0)  # one or two on-time fires first
        ch.close()
        self.assertEqual(srv.stop(), 0, srv.log())
        down = int(time.time() * 1000)
        time.sleep(3.5)  # at least 3 due times of every schedule pass
        # The default threshold (60 s) would count these as on time.
        srv.env["TAAS_SCHEDULE_MISFIRE_MS"] = str(misfire)
        up = int(time.time() * 1000)
        srv.start()
        ch = grpc.insecure_channel(srv.address)
        sched = schedule_pb2_grpc.ScheduleServiceStub(ch)
        tasks_api = taas_pb2_grpc.TaskServiceStub(ch)
        try:
            def fired_since_restart():
                return all(sched.GetSchedule(Q.GetScheduleRequest(schedule_id=x.id),
                                             timeout=T).schedule.last_fire_at_ms > down + 2 * step
                           for x in made.values())
            taas_harness.wait_until(fired_since_restart, 30, what="the first fire after restart")
            now = {}
            for k, x in made.items():
                now[k] = sched.PauseSchedule(Q.PauseScheduleRequest(schedule_id=x.id),
                                             timeout=T).schedule
            tasks = tasks_api.ListTasks(S.ListTasksRequest(task_name="noop", page_size=1000),
                                        timeout=T).tasks
        finally:
            ch.close()
        self.assertTrue(srv.alive(), srv.log())
        for k, x in made.items():
            g = now[k]
            prefix = "schedule:%s:" % x.id
            mine = sorted((int(t.idempotency_key[len(prefix):]), t.created_at_ms)
                          for t in tasks if t.idempotency_key.startswith(prefix))
            # Due times: created + k*step for intervals, whole seconds for "* * * * * *".
            anchor = x.created_at_ms % step if x.interval_ms else 0
            grid = list(range(x.created_at_ms - (x.created_at_ms - anchor) % step + step,
                              g.last_fire_at_ms + 1, step))
            dues = [d for d, _ in mine]
            self.assertEqual(len(dues), len(set(dues)), (k, mine))  # one submit per due time
            self.assertTrue(set(dues) <= set(grid), (k, mine, grid))
            # Every due time handled so far is either submitted or counted skipped.
            self.assertEqual(g.submitted, len(dues), (k, g))
            self.assertEqual(g.submitted + g.skipped, len(grid), (k, g, mine))
            before = [d for d, c in mine if c < down]
            self.assertTrue(before, (k, mine))  # it fired before the stop
            # Missed for certain: due before the restart by more than `misfire`.
            surely = [d for d in grid if before[-1] < d < up - misfire]
            self.assertGreaterEqual(len(surely), 3, (k, mine, up))
            if k == "skip":
                self.assertFalse(set(surely) & set(dues), (k, mine, up))
                self.assertTrue(all(c - d <= misfire for d, c in mine), (k, mine))
                self.assertGreaterEqual(g.skipped, len(surely), (k, g))
                continue
            # The other policies submit at every fire, so the fires after the
            # restart are the distinct created_at_ms of their tasks. Each
            # handles the due times since the previous one; of those, the
            # ones more than `misfire` before it were missed.
            take = 2 if k == "all2" else 1
            prev, skipped = before[-1], 0
            for c in sorted({c for _, c in mine if c > down}):
                handled = [d for d in grid if prev < d <= c]
                missed = [d for d in handled if c - d > misfire]
                want = missed[-take:] + [d for d in handled if c - d <= misfire]
                self.assertEqual([d for d, cc in mine if cc == c], want,
                                 (k, c, mine, missed))
                skipped += len(missed) - len(missed[-take:])
                prev = handled[-1]
            self.assertEqual(g.skipped, skipped, (k, g, mine))


if __name__ == "__main__":
    unittest.main()
