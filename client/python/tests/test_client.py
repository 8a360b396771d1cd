"""taas_client against a real taas-server: every method, every error type."""

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone

import grpc
import pytest

import taas_client
from taas_client import (AlreadyExists, Client, DeadlineExceeded, InvalidArgument, InvalidInputs,
                         TaasClient, TaskNotFound, TaskState, TaskTypeNotFound, Unavailable)

from conftest import ROOT


def run(coro):
    return asyncio.run(coro)


def client(server, **kw):
    return TaasClient(server.address, **kw)


GUIDE_SNIPPET = textwrap.dedent('''\
    import asyncio
    from taas_client.client import TaasClient

    async def test_task():
        async with TaasClient() as client:
            result = await client.submit_task(
                task_name="my_custom_task",
                inputs={"param1": "test", "param2": 42}
            )
            print(f"Task ID: {result['task_id']}")

    asyncio.run(test_task())
    ''')


def py_env(server):
    env = dict(os.environ)
    env["TAAS_SERVER"] = server.address
    env["PYTHONPATH"] = os.path.join(ROOT, "client", "python")
    return env


def test_guide_snippet_verbatim(server, tmp_path):
    script = tmp_path / "guide.py"
    script.write_text(GUIDE_SNIPPET)
    r = subprocess.run([sys.executable, str(script)], env=py_env(server), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("Task ID: "), r.stdout
    task_id = line[len("Task ID: "):]
    task = run(_wait(server, task_id))
    assert task.output == {"result": "Processed test with 42"}


async def _wait(server, task_id):
    async with client(server) as c:
        return await c.wait(task_id, timeout=30)


def test_example_simple_task(server):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "simple_task.py")],
                       env=py_env(server), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Task ID: " in r.stdout
    assert "Processed test with 42" in r.stdout


def test_submit_wait_get(server):
    async def go():
        async with client(server) as c:
            before = datetime.now(timezone.utc) - timedelta(seconds=5)
            r = await c.submit_task(task_name="my_custom_task",
                                    inputs={"param1": "test", "param2": 42})
            assert set(r) >= {"task_id", "state", "duplicate"}
            assert r["duplicate"] is False
            assert r["state"] in (TaskState.PENDING, TaskState.RUNNING)
            assert isinstance(r["state"], TaskState)
            task = await c.wait(r["task_id"], timeout=30)
            assert task.state is TaskState.SUCCEEDED and str(task.state) == "SUCCEEDED"
            assert task.output == {"result": "Processed test with 42"}
            assert task["output"] == task.output
            assert task.inputs == {"param1": "test", "param2": 42}
            assert isinstance(task.created_at, datetime) and task.created_at > before
            assert task.finished_at >= task.created_at
            got = await c.get_task(r["task_id"])
            assert got.id == r["task_id"] and got.output == task.output
            assert got.attempt == 1 and got.max_attempts >= 1
            done = await c.submit_task("my_custom_task", {"param1": "w"}, wait=True,
                                       wait_timeout=30)
            assert done.state is TaskState.SUCCEEDED
            assert done.output == {"result": "Processed w with 0"}
    run(go())


def test_submit_options(server):
    async def go():
        async with client(server) as c:
            later = datetime.now(timezone.utc) + timedelta(hours=1)
            r = await c.submit_task("my_custom_task", {"param1": "later"}, priority=7,
                                    run_after=later, timeout=12, idempotency_key="opt-1")
            t = await c.get_task(r["task_id"])
            assert t.priority == 7
            assert t.state is TaskState.PENDING
            assert abs((t.run_after - later).total_seconds()) < 0.01
            assert t.idempotency_key == "opt-1"
            r2 = await c.submit_task("my_custom_task", {"param1": "later"}, priority=7,
                                     run_after=later, idempotency_key="opt-1")
            assert r2["duplicate"] is True and r2["task_id"] == r["task_id"]
            with pytest.raises(AlreadyExists) as ei:
                await c.submit_task("my_custom_task", {"param1": "other"}, idempotency_key="opt-1")
            assert ei.value.code == grpc.StatusCode.ALREADY_EXISTS
            assert await c.cancel_task(r["task_id"]) is TaskState.CANCELLED
            t = await c.get_task(r["task_id"])
            assert t.state is TaskState.CANCELLED and t.finished
    run(go())


def test_list_tasks_pages_and_filters(server):
    async def go():
        async with client(server) as c:
            name = "lst-" + uuid.uuid4().hex[:8]
            ids = []
            for i in range(5):
                r = await c.submit_task("my_custom_task", {"param1": name, "param2": i})
                ids.append(r["task_id"])
            for i in ids:
                await c.wait(i, timeout=30)
            seen = [t.id async for t in c.list_tasks(task_name="my_custom_task", page_size=2)]
            assert set(ids) <= set(seen)
            assert len(seen) == len(set(seen))
            newest = [t.id async for t in c.list_tasks(page_size=2, limit=3)]
            assert len(newest) == 3
            ok = [t async for t in c.list_tasks(state=TaskState.SUCCEEDED, page_size=3)]
            assert ok and all(t.state is TaskState.SUCCEEDED for t in ok)
            none = [t async for t in c.list_tasks(task_name="noop", state=TaskState.RUNNING)]
            assert none == []
    run(go())


def test_list_tasks_by_parent(server):
    async def go():
        async with client(server) as c:
            r = await c.submit_task("fan_out", {"words": ["p", "q"]})
            parent = await c.wait(r["task_id"], timeout=60)
            assert parent.state is TaskState.SUCCEEDED and parent.parent_id == ""
            kids = [t async for t in c.list_tasks(parent_id=r["task_id"])]
            assert len(kids) == 2
            assert all(k.parent_id == r["task_id"] for k in kids)
            assert {k.id for k in kids} == set(parent.output["children"])
            assert (await c.get_task(kids[0].id)).parent_id == r["task_id"]
            assert [t async for t in c.list_tasks(parent_id=kids[0].id)] == []
    run(go())


def test_watch_task_progress(server):
    async def go():
        async with client(server) as c:
            r = await c.submit_task("countdown", {"seconds": 1, "step_ms": 200})
            events = [e async for e in c.watch_task(r["task_id"])]
            assert events[-1].state is TaskState.SUCCEEDED
            assert events[-1].task is not None and events[-1].task.output is not None
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert any(e.progress_message for e in events)
            assert all(isinstance(e.at, datetime) for e in events)
    run(go())


def test_cancel_running(server):
    async def go():
        async with client(server) as c:
            r = await c.submit_task("countdown", {"seconds": 60, "step_ms": 50})
            async for e in c.watch_task(r["task_id"]):
                if e.state is TaskState.RUNNING:
                    break
            st = await c.cancel_task(r["task_id"])
            assert st in (TaskState.RUNNING, TaskState.CANCELLED)
            t = await c.wait(r["task_id"], timeout=30)
            assert t.state is TaskState.CANCELLED
    run(go())


def test_registry_and_health(server):
    async def go():
        async with client(server) as c:
            types = await c.list_task_types()
            names = [t.name for t in types]
            assert names == sorted(names) and "my_custom_task" in names
            t = await c.get_task_type("my_custom_task")
            assert t.input_schema["properties"]["param2"]["type"] == "number"
            assert t.output_schema["required"] == ["result"]
            assert t.version == "1.0.0" and t.idempotent is True
            assert await c.health() == "SERVING"
    run(go())


def test_errors(server):
    async def go():
        async with client(server) as c:
            with pytest.raises(TaskNotFound) as ei:
                await c.get_task(str(uuid.uuid4()))
            assert ei.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(TaskNotFound):
                await c.cancel_task(str(uuid.uuid4()))
            with pytest.raises(TaskNotFound):
                [e async for e in c.watch_task(str(uuid.uuid4()))]
            with pytest.raises(TaskTypeNotFound) as ei:
                await c.submit_task("my_custom_tsak", {"param1": "x"})
            assert "my_custom_task" in ei.value.message  # the closest name
            with pytest.raises(TaskTypeNotFound):
                await c.get_task_type("nope")
            with pytest.raises(InvalidInputs) as ei:
                await c.submit_task("my_custom_task", {"param1": "test", "param2": "x"})
            e = ei.value
            assert isinstance(e, InvalidArgument) and e.code == grpc.StatusCode.INVALID_ARGUMENT
            assert e.message.startswith("invalid inputs for my_custom_task: /param2: ")
            assert [v.field for v in e.violations] == ["/param2"]
            with pytest.raises(InvalidArgument) as ei:
                [t async for t in c.list_tasks(page_size=5000)]
            assert not isinstance(ei.value, InvalidInputs)
            assert "page_size" in ei.value.message
            r = await c.submit_task("countdown", {"seconds": 30, "step_ms": 100})
            t0 = time.monotonic()
            with pytest.raises(DeadlineExceeded) as ei:
                await c.wait(r["task_id"], timeout=0.5)
            assert isinstance(ei.value, TimeoutError)
            assert time.monotonic() - t0 < 10
            await c.cancel_task(r["task_id"])
    run(go())


def test_unavailable_after_retries():
    async def go():
        # A port nobody listens on: every attempt fails, then Unavailable.
        async with TaasClient("127.0.0.1:1", retries=2, rpc_timeout=5) as c:
            t0 = time.monotonic()
            with pytest.raises(Unavailable) as ei:
                await c.health()
            assert ei.value.code == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - t0 >= 0.3  # two back-offs: 0.1 + 0.2 s
    run(go())


def test_environment_defaults(monkeypatch, server):
    c = Client()
    try:
        assert c.server == "127.0.0.1:50051"
    finally:
        c.close()
    monkeypatch.setenv("TAAS_SERVER", server.address)
    with Client() as c:
        assert c.server == server.address
        assert c.health() == "SERVING"


def test_blocking_client(server):
    with Client(server.address) as c:
        r = c.submit_task("my_custom_task", {"param1": "sync", "param2": 1})
        t = c.wait(r["task_id"], timeout=30)
        assert t.output == {"result": "Processed sync with 1"}
        assert c.get_task(r["task_id"]).state is TaskState.SUCCEEDED
        assert any(x.id == r["task_id"] for x in c.list_tasks(task_name="my_custom_task"))
        assert list(c.watch_task(r["task_id"]))[-1].state is TaskState.SUCCEEDED
        assert c.cancel_task(r["task_id"]) is TaskState.SUCCEEDED
        assert "noop" in [t.name for t in c.list_task_types()]
        assert c.get_task_type("noop").name == "noop"
        with pytest.raises(TaskNotFound):
            c.get_task(str(uuid.uuid4()))
        assert c.submit_task("noop", {}, wait=True).state is TaskState.SUCCEEDED


def test_blocking_client_inside_running_loop(server):
    # Notebooks call blocking code while an event loop runs in the thread.
    async def go():
        with Client(server.address) as c:
            return c.health()
    assert run(go()) == "SERVING"


def test_states_match_protocol():
    from taas_client._proto import taas_pb2
    assert {s.value: "TASK_STATE_" + s.name for s in TaskState} == {
        v: taas_pb2.TaskState.Name(v) for v in taas_pb2.TaskState.values()}


def test_plain_stubs_in_the_same_process(server, tmp_path):
    # A user's own stubs of the same .proto files (default descriptor pool,
    # top-level packages `taas` and `grpc.health`-free flat names) load
    # beside taas_client's private ones.
    out = tmp_path / "stubs"
    out.mkdir()
    subprocess.run(["protoc", "-I", os.path.join(ROOT, "proto"), "--python_out", str(out),
                    "--grpc_out", str(out), "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    "taas/v1/taas.proto"], check=True)
    code = textwrap.dedent('''\
        import sys, grpc
        sys.path.insert(0, %r)
        import taas_client
        from taas.v1 import taas_pb2, taas_pb2_grpc
        with grpc.insecure_channel(%r) as ch:
            stub = taas_pb2_grpc.RegistryServiceStub(ch)
            r = stub.GetTaskType(taas_pb2.GetTaskTypeRequest(name="noop"), timeout=10)
        with taas_client.Client(%r) as c:
            t = c.get_task_type("noop")
        print(r.task_type.name, t.name)
        ''') % (str(out), server.address, server.address)
    r = subprocess.run([sys.executable, "-c", code], env=py_env(server), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["noop", "noop"]


def test_invalid_inputs_every_violation(server):
    async def go():
        async with client(server) as c:
            with pytest.raises(InvalidInputs) as ei:
                await c.submit_task("countdown", {"seconds": -1, "step_ms": "x", "bogus": 1})
            fields = sorted(v.field for v in ei.value.violations)
            assert fields == ["/bogus", "/seconds", "/step_ms"], ei.value.violations
            assert all(v.description for v in ei.value.violations)
            # The message still names the first, as before.
            assert ei.value.message.startswith("invalid inputs for countdown: /")
            # Not JSON at all is a violation of the whole document ("").
            with pytest.raises(InvalidInputs) as ei:
                await c._call(c._tasks.SubmitTask, taas_client._proto.taas_pb2.SubmitTaskRequest(
                    task_name="noop", inputs_json="{nope"), "SubmitTask")
            assert [v.field for v in ei.value.violations] == [""]
            # The list is capped; the call still works with 200 bad values.
            with pytest.raises(InvalidInputs) as ei:
                await c.submit_task("countdown", dict({"seconds": 1},
                                                      **{"x%03d" % i: i for i in range(200)}))
            assert 1 <= len(ei.value.violations) <= 16
    run(go())


def test_status_details_match_trailers(server):
    # What any grpcio client sees: the google.rpc.Status in
    # grpc-status-details-bin has the trailers' code and message.
    from taas_client._proto import rpc_status_pb2, taas_pb2, taas_pb2_grpc
    with grpc.insecure_channel(server.address) as ch:
        stub = taas_pb2_grpc.TaskServiceStub(ch)
        with pytest.raises(grpc.RpcError) as ei:
            stub.SubmitTask(taas_pb2.SubmitTaskRequest(
                task_name="my_custom_task", inputs_json='{"param2":"x"}'), timeout=10)
    e = ei.value
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    md = dict(e.trailing_metadata())
    st = rpc_status_pb2.Status.FromString(md["grpc-status-details-bin"])
    assert st.code == 3 and st.message == e.details()
    assert st.details[0].type_url == "type.googleapis.com/google.rpc.BadRequest"
    br = rpc_status_pb2.BadRequest.FromString(st.details[0].value)
    assert sorted(v.field for v in br.field_violations) == ["/param1", "/param2"], br


def test_typed_task_methods(server):
    from taas_client import TaskFailed

    async def go():
        async with client(server) as c:
            out = await c.tasks.my_custom_task(param1="test", param2=42)
            assert out == {"result": "Processed test with 42"}
            assert (await c.tasks.my_custom_task(param1="x"))["result"] == "Processed x with 0"
            cfg = await c.tasks.with_options(priority=2).create_config(app_name="demo",
                                                                       features=["b", "a", "b"])
            assert cfg["features"] == ["a", "b"] and cfg["app_name"] == "demo"
            assert (await c.tasks.noop(anything=1)) == {"ok": True}
            with pytest.raises(InvalidInputs) as ei:
                await c.tasks.my_custom_task(param1="test", param2="42")  # type: ignore
            assert [v.field for v in ei.value.violations] == ["/param2"]
            with pytest.raises(TaskFailed) as ei:
                await c.tasks.load_config(path="does/not/exist.json")
            assert ei.value.task.state is TaskState.FAILED
    run(go())
