"""TaasClient: the asyncio client of a TaaS server (grpc.aio).

    async with TaasClient() as client:
        result = await client.submit_task(task_name="my_custom_task",
                                          inputs={"param1": "test", "param2": 42})
        task = await client.wait(result["task_id"])
        print(task.output)

The server address, TLS and token come from the arguments, else from the
same environment variables as the `taas` CLI (TAAS_SERVER, TAAS_TLS,
TAAS_TLS_CA, TAAS_TLS_CLIENT_CERT, TAAS_TLS_CLIENT_KEY, TAAS_TOKEN,
TAAS_TOKEN_FILE), else plaintext to 127.0.0.1:50051.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import datetime, timedelta
from typing import (TYPE_CHECKING, Any, AsyncIterator, List, Literal, Mapping, Optional,
                    Tuple, TypedDict, Union, overload)

import grpc
import grpc.aio

from taas_client._proto import health_pb2, health_pb2_grpc, taas_pb2, taas_pb2_grpc
from taas_client.errors import DeadlineExceeded, TaasError, Unavailable, from_rpc_error
from taas_client.types import Task, TaskEvent, TaskState, TaskType

if TYPE_CHECKING:
    from taas_client.tasks import Tasks

DEFAULT_SERVER = "127.0.0.1:50051"
DEFAULT_RPC_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4
_RETRY_FIRST_DELAY_S = 0.1
_RETRY_MAX_DELAY_S = 2.0

RunAfter = Union[datetime, timedelta, float, int, None]


class SubmitResult(TypedDict):
    """What submit_task returns without wait=True."""

    task_id: str
    state: TaskState
    duplicate: bool
    idempotency_key: str


def _env(name: str) -> Optional[str]:
    v = os.environ.get(name)
    return v if v else None


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _token_from_file(path: str) -> str:
    token = _read(path).decode("utf-8").rstrip("\r\n ")
    if not token or "\n" in token or "\r" in token:
        raise ValueError("%s: expected one token on one line" % path)
    return token


def _run_after_ms(run_after: RunAfter) -> int:
    if run_after is None:
        return 0
    if isinstance(run_after, timedelta):
        return int((time.time() + run_after.total_seconds()) * 1000)
    if isinstance(run_after, datetime):
        if run_after.tzinfo is None:  # naive: local time, as datetime.now() gives
            run_after = run_after.astimezone()
        return int(run_after.timestamp() * 1000)
    return int(float(run_after) * 1000)  # Unix epoch seconds


def _timeout_s(timeout: Union[timedelta, float, int, None]) -> int:
    if timeout is None:
        return 0
    s = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if s <= 0:
        raise ValueError("timeout must be positive")
    return max(1, int(round(s)))


class TaasClient:
    """An asyncio client; use it as `async with TaasClient() as client:`.

    server       host:port; default $TAAS_SERVER, else 127.0.0.1:50051.
    tls          True for TLS with the system's CA roots ($TAAS_TLS=1); implied
                 by ca_file or cert_file.
    ca_file      PEM file of the CAs to trust ($TAAS_TLS_CA).
    cert_file, key_file  client certificate and key for mutual TLS
                 ($TAAS_TLS_CLIENT_CERT, $TAAS_TLS_CLIENT_KEY).
    token        bearer token sent on every call ($TAAS_TOKEN); or token_file
                 ($TAAS_TOKEN_FILE), one line.
    rpc_timeout  deadline of each unary call, seconds.
    retries      how often a call that failed with UNAVAILABLE is tried again
                 (exponential back-off from 0.1 s). Submits are retried with
                 one idempotency key, so a retry never makes a second task.
    """

    def __init__(self, server: Optional[str] = None, *, tls: Optional[bool] = None,
                 ca_file: Optional[str] = None, cert_file: Optional[str] = None,
                 key_file: Optional[str] = None, token: Optional[str] = None,
                 token_file: Optional[str] = None, rpc_timeout: float = DEFAULT_RPC_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES,
                 options: Optional[List[Tuple[str, Any]]] = None) -> None:
        self.server = server or _env("TAAS_SERVER") or DEFAULT_SERVER
        ca_file = ca_file or _env("TAAS_TLS_CA")
        cert_file = cert_file or _env("TAAS_TLS_CLIENT_CERT")
        key_file = key_file or _env("TAAS_TLS_CLIENT_KEY")
        if bool(cert_file) != bool(key_file):
            raise ValueError("a client certificate and its key go together "
                             "(cert_file/key_file, TAAS_TLS_CLIENT_CERT/TAAS_TLS_CLIENT_KEY)")
        if tls is None:
            tls = (_env("TAAS_TLS") or "") in ("1", "true") or bool(ca_file or cert_file)
        if token is None and token_file is None:
            token = _env("TAAS_TOKEN")
            if token is None:
                token_file = _env("TAAS_TOKEN_FILE")
        if token is None and token_file is not None:
            token = _token_from_file(token_file)
        self.tls = bool(tls)
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", "Bearer " + token),) if token else ())
        self.rpc_timeout = rpc_timeout
        self.retries = max(0, retries)
        opts = list(options or [])
        if self.tls:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file) if ca_file else None,
                private_key=_read(key_file) if key_file else None,
                certificate_chain=_read(cert_file) if cert_file else None)
            self._channel = grpc.aio.secure_channel(self.server, creds, options=opts)
        else:
            self._channel = grpc.aio.insecure_channel(self.server, options=opts)
        # The generated stubs are untyped: hold them as Any.
        grpc_stubs: Any = taas_pb2_grpc
        health_stubs: Any = health_pb2_grpc
        self._tasks: Any = grpc_stubs.TaskServiceStub(self._channel)
        self._registry: Any = grpc_stubs.RegistryServiceStub(self._channel)
        self._health: Any = health_stubs.HealthStub(self._channel)
        self._typed: Optional["Tasks"] = None

    # -- lifetime ---------------------------------------------------------

    async def __aenter__(self) -> "TaasClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    @property
    def tasks(self) -> "Tasks":
        """One typed method per task type of this repository's task-specs/,
        e.g. `await client.tasks.my_custom_task(param1="test", param2=42)`."""
        if self._typed is None:
            from taas_client.tasks import Tasks
            self._typed = Tasks(self)
        return self._typed

    # -- plumbing ---------------------------------------------------------

    async def _call(self, rpc: Any, request: Any, method: str, subject: str = "",
                    timeout: Optional[float] = None) -> Any:
        """One unary call, tried again on UNAVAILABLE; errors are typed."""
        delay = _RETRY_FIRST_DELAY_S
        for attempt in range(self.retries + 1):
            try:
                return await rpc(request, timeout=timeout or self.rpc_timeout,
                                 metadata=self._metadata)
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_DELAY_S)
                    continue
                raise from_rpc_error(e, method, subject) from None
        raise AssertionError("unreachable")

    # -- tasks ------------------------------------------------------------

    @overload
    async def submit_task(self, task_name: str, inputs: Optional[Mapping[str, Any]] = ..., *,
                          idempotency_key: Optional[str] = ..., priority: int = ...,
                          run_after: RunAfter = ...,
                          timeout: Union[timedelta, float, int, None] = ...,
                          wait: Literal[False] = ...,
                          wait_timeout: Optional[float] = ...) -> SubmitResult: ...

    @overload
    async def submit_task(self, task_name: str, inputs: Optional[Mapping[str, Any]] = ..., *,
                          idempotency_key: Optional[str] = ..., priority: int = ...,
                          run_after: RunAfter = ...,
                          timeout: Union[timedelta, float, int, None] = ...,
                          wait: Literal[True],
                          wait_timeout: Optional[float] = ...) -> Task: ...

    async def submit_task(self, task_name: str, inputs: Optional[Mapping[str, Any]] = None, *,
                          idempotency_key: Optional[str] = None, priority: int = 0,
                          run_after: RunAfter = None,
                          timeout: Union[timedelta, float, int, None] = None,
                          wait: bool = False,
                          wait_timeout: Optional[float] = None) -> Union[SubmitResult, Task]:
        """Submit a task; returns {"task_id", "state", "duplicate",
        "idempotency_key"}, or with wait=True the finished Task.

        inputs           a JSON-serializable mapping (absent properties take
                         the schema's defaults).
        idempotency_key  a repeated submit with this key and the same inputs
                         returns the first task (duplicate=True). Without one,
                         the client makes a random key when it may retry, so
                         its own retries never make a second task.
        priority         higher runs first.
        run_after        not before: a datetime, a timedelta from now, or Unix
                         epoch seconds.
        timeout          the task's execution deadline (seconds or timedelta),
                         instead of its type's.
        wait_timeout     with wait=True, give up after this many seconds
                         (DeadlineExceeded); the task keeps running.
        """
        if idempotency_key is None and self.retries > 0:
            idempotency_key = "taas-client-" + str(uuid.uuid4())
        req = taas_pb2.SubmitTaskRequest(
            task_name=task_name,
            inputs_json=json.dumps(dict(inputs or {}), separators=(",", ":"), allow_nan=False),
            idempotency_key=idempotency_key or "", priority=priority,
            run_after_ms=_run_after_ms(run_after), timeout_s=_timeout_s(timeout))
        resp = await self._call(self._tasks.SubmitTask, req, "SubmitTask", "task_type")
        if wait:
            return await self.wait(resp.task_id, timeout=wait_timeout)
        return SubmitResult(task_id=resp.task_id, state=TaskState(resp.state),
                            duplicate=resp.duplicate, idempotency_key=idempotency_key or "")

    async def get_task(self, task_id: str) -> Task:
        """The task with its inputs, output, error and attempts."""
        resp = await self._call(self._tasks.GetTask, taas_pb2.GetTaskRequest(task_id=task_id),
                                "GetTask", "task")
        return Task.from_proto(resp.task)

    async def list_tasks(self, *, state: Optional[TaskState] = None,
                         task_name: Optional[str] = None, page_size: int = 100,
                         limit: Optional[int] = None,
                         parent_id: Optional[str] = None) -> AsyncIterator[Task]:
        """Every task (newest first), page by page, optionally only those in
        `state`, of `task_name` or submitted by the task `parent_id` (its
        children); at most `limit`. Summaries: inputs, output
        and attempts are not filled in (get_task has them)."""
        token = ""
        n = 0
        while True:
            req = taas_pb2.ListTasksRequest(state=int(state or 0),  # type: ignore[arg-type]
                                            task_name=task_name or "",
                                            parent_id=parent_id or "",
                                            page_size=page_size, page_token=token)
            resp = await self._call(self._tasks.ListTasks, req, "ListTasks")
            for t in resp.tasks:
                if limit is not None and n >= limit:
                    return
                n += 1
                yield Task.from_proto(t)
            token = resp.next_page_token
            if not token:
                return

    async def cancel_task(self, task_id: str) -> TaskState:
        """Cancel a pending task, or ask a running one to stop. Returns
        CANCELLED, RUNNING (asked to stop: wait for it), or the final state of
        a task that had already finished."""
        resp = await self._call(self._tasks.CancelTask,
                                taas_pb2.CancelTaskRequest(task_id=task_id), "CancelTask", "task")
        return TaskState(resp.state)

    async def watch_task(self, task_id: str) -> AsyncIterator[TaskEvent]:
        """The task's current state, then every change, ending after the event
        with a finished state (whose `task` holds the output or error)."""
        call = self._tasks.WatchTask(taas_pb2.WatchTaskRequest(task_id=task_id),
                                     metadata=self._metadata)
        try:
            async for ev in call:
                yield TaskEvent.from_proto(ev)
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e, "WatchTask", "task") from None
        finally:
            call.cancel()

    async def wait(self, task_id: str, timeout: Optional[float] = None) -> Task:
        """Wait until the task has finished and return it (output decoded).
        Raises DeadlineExceeded after `timeout` seconds (the task goes on).
        A broken stream (UNAVAILABLE) is watched again, within `retries`."""
        async def follow() -> Task:
            failures = 0
            delay = _RETRY_FIRST_DELAY_S
            while True:
                try:
                    async for ev in self.watch_task(task_id):
                        if ev.state.finished:
                            return ev.task if ev.task is not None else await self.get_task(task_id)
                except Unavailable:
                    failures += 1
                    if failures > self.retries:
                        raise
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_DELAY_S)
                    continue
                # The stream ended without a finished state (should not
                # happen): read the task itself.
                task = await self.get_task(task_id)
                if task.finished:
                    return task

        try:
            return await asyncio.wait_for(follow(), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded("task %s did not finish within %s s" % (task_id, timeout),
                                   method="WatchTask") from None

    # -- registry and health ------------------------------------------------

    async def list_task_types(self) -> List[TaskType]:
        """Every task type the server runs, sorted by name."""
        resp = await self._call(self._registry.ListTaskTypes, taas_pb2.ListTaskTypesRequest(),
                                "ListTaskTypes")
        return [TaskType.from_proto(t) for t in resp.task_types]

    async def get_task_type(self, name: str) -> TaskType:
        """One task type with its input and output JSON Schemas as dicts."""
        resp = await self._call(self._registry.GetTaskType,
                                taas_pb2.GetTaskTypeRequest(name=name), "GetTaskType", "task_type")
        return TaskType.from_proto(resp.task_type)

    async def health(self, service: str = "") -> str:
        """The standard gRPC health check: "SERVING", "NOT_SERVING", ..."""
        resp = await self._call(self._health.Check,
                                health_pb2.HealthCheckRequest(service=service), "Check")
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


__all__ = ["TaasClient", "SubmitResult", "TaasError", "DEFAULT_SERVER"]
