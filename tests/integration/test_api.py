"""The TaaS gRPC API from Python grpcio, against a real taas-server."""

import json
import time
import unittest
import uuid

import grpc

import taas_harness
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402  (stubs on TAAS_PY_STUBS)
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402

S = taas_pb2
T = 10  # seconds: deadline of every unary call

server = None  # the module's one server, started by setUpModule
taas_harness.one_server_per_module(globals())


def now_ms():
    return int(time.time() * 1000)


class Api(unittest.TestCase):
    def setUp(self):
        self.channel = grpc.insecure_channel(server.address)
        self.tasks = taas_pb2_grpc.TaskServiceStub(self.channel)
        self.registry = taas_pb2_grpc.RegistryServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def tearDown(self):
        self.channel.close()
        self.assertTrue(server.alive(), "the server died:\n" + server.log())

    def submit(self, name, inputs, **kw):
        return self.tasks.SubmitTask(
            S.SubmitTaskRequest(task_name=name, inputs_json=json.dumps(inputs), **kw), timeout=T)

    def watch(self, task_id, timeout=30):
        return list(self.tasks.WatchTask(S.WatchTaskRequest(task_id=task_id), timeout=timeout))

    def assertCode(self, ctx, code):
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())

    def wait_state(self, task_id, state, timeout_s=15):
        return taas_harness.wait_until(
            lambda: self.tasks.GetTask(S.GetTaskRequest(task_id=task_id), timeout=T).task.state
            == state, timeout_s, what="state %s" % S.TaskState.Name(state))

    # -- submit, watch, result -------------------------------------------------

    def test_submit_watch_result(self):
        r = self.submit("my_custom_task", {"param1": "test", "param2": 42},
                        run_after_ms=now_ms() + 1000)
        self.assertEqual(len(r.task_id), 36)
        self.assertFalse(r.duplicate)
        self.assertEqual(r.state, S.TASK_STATE_PENDING)
        events = self.watch(r.task_id)
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(events[0].state, S.TASK_STATE_PENDING)
        self.assertTrue(any(abs(e.progress - 0.5) < 1e-9 and e.progress_message == "Processing..."
                            for e in events),
                        [(S.TaskState.Name(e.state), e.progress, e.progress_message)
                         for e in events])
        last = events[-1]
        self.assertEqual(last.state, S.TASK_STATE_SUCCEEDED)
        self.assertTrue(all(e.task_id == r.task_id for e in events))
        self.assertEqual(last.task.id, r.task_id)
        self.assertEqual(json.loads(last.task.output_json), {"result": "Processed test with 42"})
        got = self.tasks.GetTask(S.GetTaskRequest(task_id=r.task_id), timeout=T).task
        self.assertEqual(got.state, S.TASK_STATE_SUCCEEDED)
        self.assertEqual(json.loads(got.output_json), {"result": "Processed test with 42"})
        self.assertEqual(json.loads(got.inputs_json), {"param1": "test", "param2": 42})
        self.assertEqual(got.attempt, 1)
        self.assertGreaterEqual(got.finished_at_ms, got.started_at_ms)
        self.assertGreaterEqual(got.started_at_ms, got.created_at_ms)

    def test_default_applied(self):
        r = self.submit("my_custom_task", {"param1": "test"})
        last = self.watch(r.task_id)[-1]
        self.assertEqual(json.loads(last.task.output_json), {"result": "Processed test with 0"})

    def test_watch_finished_task(self):
        r = self.submit("my_custom_task", {"param1": "done", "param2": 1})
        self.watch(r.task_id)
        events = self.watch(r.task_id)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0].seq, 1)
        self.assertEqual(events[0].state, S.TASK_STATE_SUCCEEDED)
        self.assertEqual(events[0].task.id, r.task_id)

    # -- list --------------------------------------------------------------------

    def test_list_pagination(self):
        tag = uuid.uuid4().hex
        ids = [self.submit("my_custom_task", {"param1": "%s-%d" % (tag, i)}).task_id
               for i in range(37)]
        for page_size in (1, 7, 50):
            seen, token, pages = [], "", 0
            while True:
                resp = self.tasks.ListTasks(S.ListTasksRequest(
                    task_name="my_custom_task", page_size=page_size, page_token=token), timeout=T)
                self.assertLessEqual(len(resp.tasks), page_size)
                seen.extend(t.id for t in resp.tasks)
                for t in resp.tasks:
                    self.assertEqual(t.task_name, "my_custom_task")
                    self.assertEqual(t.inputs_json, "")  # summaries
                token = resp.next_page_token
                pages += 1
                self.assertLess(pages, 5000)
                if not token:
                    break
            self.assertEqual(len(seen), len(set(seen)), "duplicates with page size %d" % page_size)
            for i in ids:
                self.assertIn(i, seen, "gap with page size %d" % page_size)
            # Newest first: our ids (UUIDv7, submitted in order) appear in reverse order.
            positions = [seen.index(i) for i in ids]
            self.assertEqual(positions, sorted(positions, reverse=True))

    def test_list_filters(self):
        pending = self.submit("my_custom_task", {"param1": "later"},
                              run_after_ms=now_ms() + 600000).task_id
        done = self.submit("my_custom_task", {"param1": "now"}).task_id
        self.watch(done)
        cd = self.submit("countdown", {"seconds": 0}).task_id
        self.watch(cd)

        def ids(**kw):
            resp = self.tasks.ListTasks(S.ListTasksRequest(page_size=1000, **kw), timeout=T)
            return resp.tasks

        p = ids(state=S.TASK_STATE_PENDING)
        self.assertIn(pending, [t.id for t in p])
        self.assertTrue(all(t.state == S.TASK_STATE_PENDING for t in p))
        s = ids(state=S.TASK_STATE_SUCCEEDED)
        self.assertIn(done, [t.id for t in s])
        self.assertNotIn(pending, [t.id for t in s])
        self.assertTrue(all(t.state == S.TASK_STATE_SUCCEEDED for t in s))
        c = ids(task_name="countdown")
        self.assertIn(cd, [t.id for t in c])
        self.assertTrue(all(t.task_name == "countdown" for t in c))
        both = ids(task_name="countdown", state=S.TASK_STATE_SUCCEEDED)
        self.assertIn(cd, [t.id for t in both])
        self.assertNotIn(done, [t.id for t in both])
        self.assertEqual(len(ids(task_name="no_such_task")), 0)
        self.tasks.CancelTask(S.CancelTaskRequest(task_id=pending), timeout=T)

    def test_list_bad_token(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.tasks.ListTasks(S.ListTasksRequest(page_token="not-a-token!"), timeout=T)
        self.assertCode(ctx, grpc.StatusCode.INVALID_ARGUMENT)

    # -- cancel ------------------------------------------------------------------

    def test_cancel_pending(self):
        r = self.submit("my_custom_task", {"param1": "x"}, run_after_ms=now_ms() + 600000)
        c = self.tasks.CancelTask(S.CancelTaskRequest(task_id=r.task_id), timeout=T)
        self.assertEqual(c.state, S.TASK_STATE_CANCELLED)
        events = self.watch(r.task_id)
        self.assertEqual(events[-1].state, S.TASK_STATE_CANCELLED)
        # Cancelling a finished task changes nothing.
        c = self.tasks.CancelTask(S.CancelTaskRequest(task_id=r.task_id), timeout=T)
        self.assertEqual(c.state, S.TASK_STATE_CANCELLED)

    def test_cancel_running(self):
        r = self.submit("countdown", {"seconds": 60, "step_ms": 100})
        self.wait_state(r.task_id, S.TASK_STATE_RUNNING)
        stream = self.tasks.WatchTask(S.WatchTaskRequest(task_id=r.task_id), timeout=30)
        first = next(stream)
        self.assertEqual(first.state, S.TASK_STATE_RUNNING)
        t0 = time.monotonic()
        c = self.tasks.CancelTask(S.CancelTaskRequest(task_id=r.task_id), timeout=T)
        self.assertIn(c.state, (S.TASK_STATE_RUNNING, S.TASK_STATE_CANCELLED))
        rest = list(stream)
        self.assertEqual(rest[-1].state, S.TASK_STATE_CANCELLED)
        self.assertLess(time.monotonic() - t0, 5)
        got = self.tasks.GetTask(S.GetTaskRequest(task_id=r.task_id), timeout=T).task
        self.assertEqual(got.state, S.TASK_STATE_CANCELLED)

    # -- discovery ---------------------------------------------------------------

    def test_discovery_matches_specs(self):
        specs = taas_harness.load_specs()
        self.assertIn("my_custom_task", specs)
        types = self.registry.ListTaskTypes(S.ListTaskTypesRequest(), timeout=T).task_types
        names = [t.name for t in types]
        self.assertEqual(names, sorted(names))
        self.assertEqual(set(names), set(specs))
        for t in types:
            spec = specs[t.name]
            with self.subTest(task=t.name):
                self.assertEqual(json.loads(t.input_schema_json), spec["inputs"])
                self.assertEqual(json.loads(t.output_schema_json), spec["outputs"])
                self.assertEqual(t.version, spec["version"])
                self.assertEqual(t.description, spec["description"])
                self.assertEqual(t.idempotent, spec.get("idempotent", False))
                self.assertEqual(t.retries, spec.get("retries", 0))
                self.assertEqual(t.timeout_s, spec.get("timeout_s", 0))
                one = self.registry.GetTaskType(S.GetTaskTypeRequest(name=t.name), timeout=T)
                self.assertEqual(one.task_type, t)

    def test_get_task_type_unknown(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.registry.GetTaskType(S.GetTaskTypeRequest(name="my_custom_tsk"), timeout=T)
        self.assertCode(ctx, grpc.StatusCode.NOT_FOUND)
        self.assertIn("my_custom_task", ctx.exception.details())

    # -- health ------------------------------------------------------------------

    def test_health_check(self):
        for svc in ("", "taas.v1.TaskService", "taas.v1.RegistryService"):
            r = self.health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=T)
            self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING, svc)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.health.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=T)
        self.assertCode(ctx, grpc.StatusCode.NOT_FOUND)

    def test_health_watch(self):
        stream = self.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=T)
        self.assertEqual(next(stream).status, health_pb2.HealthCheckResponse.SERVING)
        stream.cancel()
        stream = self.health.Watch(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=T)
        self.assertEqual(next(stream).status, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        stream.cancel()

    # -- errors ------------------------------------------------------------------

    def test_unknown_task_name(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.submit("my_custom_tsk", {"param1": "x"})
        self.assertCode(ctx, grpc.StatusCode.NOT_FOUND)
        self.assertIn("my_custom_task", ctx.exception.details())

    def test_invalid_inputs(self):
        cases = [
            ({"param1": "x", "param2": "str"}, "/param2: expected number"),
            ({"param2": 1}, "param1"),
        ]
        for inputs, where in cases:
            with self.subTest(inputs=inputs):
                with self.assertRaises(grpc.RpcError) as ctx:
                    self.submit("my_custom_task", inputs)
                self.assertCode(ctx, grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn(where, ctx.exception.details())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.submit("countdown", {"seconds": 5000})
        self.assertCode(ctx, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("/seconds: ", ctx.exception.details())

    def test_malformed_json(self):
        for text in ('{"param1": ', "not json", "[1, 2]"):
            with self.subTest(text=text):
                with self.assertRaises(grpc.RpcError) as ctx:
                    self.tasks.SubmitTask(S.SubmitTaskRequest(
                        task_name="my_custom_task", inputs_json=text), timeout=T)
                self.assertCode(ctx, grpc.StatusCode.INVALID_ARGUMENT)

    def test_unknown_id(self):
        unknown = "00000000-0000-7000-8000-000000000000"
        for call in (lambda: self.tasks.GetTask(S.GetTaskRequest(task_id=unknown), timeout=T),
                     lambda: self.tasks.CancelTask(S.CancelTaskRequest(task_id=unknown), timeout=T),
                     lambda: self.watch(unknown)):
            with self.assertRaises(grpc.RpcError) as ctx:
                call()
            self.assertCode(ctx, grpc.StatusCode.NOT_FOUND)

    def test_message_over_cap(self):
        big = "x" * (5 << 20)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.submit("my_custom_task", {"param1": big})
        self.assertCode(ctx, grpc.StatusCode.RESOURCE_EXHAUSTED)
        # The server is still there.
        self.health.Check(health_pb2.HealthCheckRequest(), timeout=T)

    def test_unknown_method(self):
        for method in ("/taas.v1.TaskService/NoSuchMethod", "/no.such.Service/Call"):
            call = self.channel.unary_unary(method, request_serializer=lambda b: b,
                                            response_deserializer=lambda b: b)
            with self.assertRaises(grpc.RpcError) as ctx:
                call(b"", timeout=T)
            self.assertCode(ctx, grpc.StatusCode.UNIMPLEMENTED)

    def test_idempotency_key(self):
        key = uuid.uuid4().hex
        a = self.submit("my_custom_task", {"param1": "k"}, idempotency_key=key)
        b = self.submit("my_custom_task", {"param1": "k"}, idempotency_key=key)
        self.assertFalse(a.duplicate)
        self.assertTrue(b.duplicate)
        self.assertEqual(a.task_id, b.task_id)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.submit("my_custom_task", {"param1": "other"}, idempotency_key=key)
        self.assertCode(ctx, grpc.StatusCode.ALREADY_EXISTS)
        got = self.tasks.GetTask(S.GetTaskRequest(task_id=a.task_id), timeout=T).task
        self.assertEqual(got.idempotency_key, key)

    # -- clients that go away ----------------------------------------------------

    def test_disconnect_mid_watch(self):
        r = self.submit("countdown", {"seconds": 30, "step_ms": 100})
        for _ in range(5):
            ch = grpc.insecure_channel(server.address)
            stream = taas_pb2_grpc.TaskServiceStub(ch).WatchTask(
                S.WatchTaskRequest(task_id=r.task_id), timeout=30)
            next(stream)
            ch.close()  # the connection goes away under the open stream
        stream = self.tasks.WatchTask(S.WatchTaskRequest(task_id=r.task_id), timeout=30)
        next(stream)
        stream.cancel()
        self.health.Check(health_pb2.HealthCheckRequest(), timeout=T)
        self.tasks.CancelTask(S.CancelTaskRequest(task_id=r.task_id), timeout=T)
        self.assertEqual(self.watch(r.task_id)[-1].state, S.TASK_STATE_CANCELLED)

    def test_deadline_expires(self):
        r = self.submit("countdown", {"seconds": 30, "step_ms": 100})
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as ctx:
            self.watch(r.task_id, timeout=0.5)
        self.assertCode(ctx, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 5)
        self.health.Check(health_pb2.HealthCheckRequest(), timeout=T)
        self.tasks.CancelTask(S.CancelTaskRequest(task_id=r.task_id), timeout=T)
        self.assertEqual(self.watch(r.task_id)[-1].state, S.TASK_STATE_CANCELLED)


if __name__ == "__main__":
    unittest.main()
