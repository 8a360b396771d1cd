"""Every string field of every request, sent with invalid UTF-8 or a NUL.

protobuf `string` fields are UTF-8; conforming clients refuse a message that
holds anything else. The server must refuse such a request with
INVALID_ARGUMENT naming the field (it reads the wire bytes, so a NUL inside
a string is seen although protobuf-c hands the handler a C string), keep
serving, and store nothing from it: a task stored before stays readable by
grpcio through GetTask, ListTasks and WatchTask. Requests are built by hand
(a valid message, then the field once more with the bad bytes: for a
singular field the last occurrence wins) and sent as raw bytes, because
grpcio's own serializer refuses to build them.
"""

import json
import unittest

import grpc

import taas_harness
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402  (stubs on TAAS_PY_STUBS)
import health_pb2  # noqa: E402

S = taas_pb2
T = 10

BAD = [
    (b"\xff", "not valid UTF-8"),
    (b"ok\xc3", "not valid UTF-8"),                 # a character cut short
    (b"\xc0\xaf", "not valid UTF-8"),               # overlong '/'
    (b"\xed\xa0\x80", "not valid UTF-8"),           # a surrogate
    (b"\xf4\x90\x80\x80", "not valid UTF-8"),       # above U+10FFFF
    (b"noop\x00junk", "contains a NUL character"),
    (b'{"seconds":0}\x00{"evil":1}', "contains a NUL character"),
]

server = None  # the module's one server, started by setUpModule
taas_harness.one_server_per_module(globals())


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def with_field(base, number, raw):
    return base + varint(number << 3 | 2) + varint(len(raw)) + raw


def wire_fields(buf):
    """The (number, value) pairs of a protobuf message: ints for varints,
    bytes for length-delimited fields (all that google.rpc.Status uses)."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        if key & 7 == 0:
            v, i = read_varint(buf, i)
        elif key & 7 == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % (key & 7))
        out.append((key >> 3, v))
    return out


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def field_violations(err):
    """[(field, description)] of the google.rpc.BadRequest in an error's
    grpc-status-details-bin trailer (a google.rpc.Status), checking that
    the Status repeats the error's code and message."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return None
    st = wire_fields(raw)
    assert dict(st).get(1) == err.code().value[0], st
    assert dict(st).get(2, b"").decode() == err.details(), st
    out = []
    for num, any_ in st:
        if num != 3:
            continue
        a = dict(wire_fields(any_))
        assert a[1] == b"type.googleapis.com/google.rpc.BadRequest", a
        for fnum, fv in wire_fields(a[2]):
            if fnum == 1:
                d = dict(wire_fields(fv))
                out.append((d.get(1, b"").decode(), d.get(2, b"").decode()))
    return out


class Strings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(server.address)
        cls.tasks = taas_pb2_grpc.TaskServiceStub(cls.channel)
        # A task stored before the attack, with text outside ASCII: it
        # must stay readable whatever comes next.
        r = cls.tasks.SubmitTask(S.SubmitTaskRequest(
            task_name="noop", inputs_json=json.dumps({"note": "d\u00e9j\u00e0 \U0001F600"}),
            idempotency_key="cl\u00e9-\u00e9t\u00e9"), timeout=T)
        cls.good_id = r.task_id

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def raw_unary(self, method, body):
        call = self.channel.unary_unary(method, request_serializer=None,
                                        response_deserializer=None)
        return call(body, timeout=T)

    def raw_stream(self, method, body):
        call = self.channel.unary_stream(method, request_serializer=None,
                                         response_deserializer=None)
        return list(call(body, timeout=T))

    def cases(self):
        """(method, streaming, message class, valid base message)."""
        return [
            ("/taas.v1.TaskService/SubmitTask", False, S.SubmitTaskRequest,
             S.SubmitTaskRequest(task_name="noop", inputs_json="{}", idempotency_key="k1")),
            ("/taas.v1.TaskService/GetTask", False, S.GetTaskRequest,
             S.GetTaskRequest(task_id=self.good_id)),
            ("/taas.v1.TaskService/ListTasks", False, S.ListTasksRequest,
             S.ListTasksRequest(task_name="noop")),
            ("/taas.v1.TaskService/CancelTask", False, S.CancelTaskRequest,
             S.CancelTaskRequest(task_id=self.good_id)),
            ("/taas.v1.TaskService/WatchTask", True, S.WatchTaskRequest,
             S.WatchTaskRequest(task_id=self.good_id)),
            ("/taas.v1.RegistryService/GetTaskType", False, S.GetTaskTypeRequest,
             S.GetTaskTypeRequest(name="noop")),
            ("/taas.v1.RegistryService/ListTaskTypes", False, S.ListTaskTypesRequest,
             S.ListTaskTypesRequest()),
            ("/grpc.health.v1.Health/Check", False, health_pb2.HealthCheckRequest,
             health_pb2.HealthCheckRequest(service="")),
            ("/grpc.health.v1.Health/Watch", True, health_pb2.HealthCheckRequest,
             health_pb2.HealthCheckRequest(service="")),
        ]

    def count_tasks(self):
        n, token = 0, ""
        while True:
            page = self.tasks.ListTasks(S.ListTasksRequest(page_size=100, page_token=token),
                                        timeout=T)
            n += len(page.tasks)  # grpcio decodes every string of every task
            token = page.next_page_token
            if not token:
                return n

    def test_every_string_field(self):
        before = self.count_tasks()
        sent = 0
        for method, streaming, cls, base in self.cases():
            fields = [f for f in cls.DESCRIPTOR.fields if f.type == f.TYPE_STRING]
            # Every service's request is covered: only ListTaskTypes has no string.
            if cls is not S.ListTaskTypesRequest:
                self.assertTrue(fields, method)
            for f in fields:
                for raw, why in BAD:
                    body = with_field(base.SerializeToString(), f.number, raw)
                    with self.subTest(method=method, field=f.name, raw=raw):
                        with self.assertRaises(grpc.RpcError) as ctx:
                            if streaming:
                                self.raw_stream(method, body)
                            else:
                                self.raw_unary(method, body)
                        err = ctx.exception
                        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT,
                                         err.details())
                        self.assertIn(f.name + ": " + why, err.details())
                        # The rich details name the field, as for any other
                        # INVALID_ARGUMENT.
                        fv = field_violations(err)
                        self.assertIsNotNone(fv, "no grpc-status-details-bin")
                        self.assertEqual(len(fv), 1, fv)
                        self.assertEqual(fv[0][0], f.name)
                        self.assertIn(why + " at byte ", fv[0][1])
                        sent += 1
        self.assertGreaterEqual(sent, 8 * len(BAD))
        self.assertTrue(server.alive(), server.log())
        # Nothing was stored, and what was stored before reads back whole.
        self.assertEqual(self.count_tasks(), before)
        t = self.tasks.GetTask(S.GetTaskRequest(task_id=self.good_id), timeout=T).task
        self.assertEqual(json.loads(t.inputs_json)["note"], "d\u00e9j\u00e0 \U0001F600")
        self.assertEqual(t.idempotency_key, "cl\u00e9-\u00e9t\u00e9")
        events = list(self.tasks.WatchTask(S.WatchTaskRequest(task_id=self.good_id), timeout=T))
        self.assertTrue(events and events[-1].task_id == self.good_id)

    def test_valid_text_outside_ascii_is_accepted(self):
        for raw in ["\u00e9", "\u65e5\u672c", "\U0001F600"]:
            r = self.tasks.SubmitTask(S.SubmitTaskRequest(
                task_name="noop", inputs_json="{}", idempotency_key="k-" + raw), timeout=T)
            t = self.tasks.GetTask(S.GetTaskRequest(task_id=r.task_id), timeout=T).task
            self.assertEqual(t.idempotency_key, "k-" + raw)

    def test_messages_are_cut_between_characters(self):
        # Names and ids are quoted in errors up to a byte count; a cut
        # inside a character would make grpcio fail to decode the status.
        for n in range(60, 70):
            name = "\u00e9" * n
            with self.assertRaises(grpc.RpcError) as ctx:
                self.tasks.SubmitTask(S.SubmitTaskRequest(task_name=name, inputs_json="{}"),
                                      timeout=T)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
            self.assertIn("unknown task", ctx.exception.details())
            for call in (lambda: self.tasks.GetTask(S.GetTaskRequest(task_id=name), timeout=T),
                         lambda: self.tasks.CancelTask(S.CancelTaskRequest(task_id=name),
                                                       timeout=T)):
                with self.assertRaises(grpc.RpcError) as ctx:
                    call()
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
                self.assertIn("\u00e9\u00e9", ctx.exception.details())
                self.assertNotIn("\ufffd", ctx.exception.details())


if __name__ == "__main__":
    unittest.main()
