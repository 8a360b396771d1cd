"""taas_client.Client: the blocking face of TaasClient, for scripts and notebooks.

It runs a TaasClient on an event loop of its own in a background thread, so
it also works where an event loop is already running (Jupyter).

    with Client() as c:
        task = c.submit_task("my_custom_task", {"param1": "x"}, wait=True)
        print(task.output)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Coroutine, Iterator, List, Optional, TypeVar

from taas_client.client import TaasClient
from taas_client.types import Task, TaskEvent, TaskState, TaskType

T = TypeVar("T")


class Client:
    """Same arguments and methods as TaasClient, blocking. list_tasks and
    watch_task are plain iterators."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="taas-client",
                                        daemon=True)
        self._thread.start()

        async def make() -> TaasClient:
            return TaasClient(*args, **kwargs)  # the channel belongs to this loop

        try:
            self._client = self._run(make())
        except BaseException:
            self._stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _iterate(self, agen: Any) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield self._run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(agen.aclose())

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def server(self) -> str:
        return self._client.server

    def submit_task(self, task_name: str, inputs: Any = None, **kwargs: Any) -> Any:
        """See TaasClient.submit_task (a dict, or with wait=True a Task)."""
        aw: Awaitable[Any] = self._client.submit_task(task_name, inputs, **kwargs)
        return self._run(aw)  # type: ignore[arg-type]

    def wait(self, task_id: str, timeout: Optional[float] = None) -> Task:
        return self._run(self._client.wait(task_id, timeout))

    def get_task(self, task_id: str) -> Task:
        return self._run(self._client.get_task(task_id))

    def list_tasks(self, **kwargs: Any) -> Iterator[Task]:
        return self._iterate(self._client.list_tasks(**kwargs))

    def watch_task(self, task_id: str) -> Iterator[TaskEvent]:
        return self._iterate(self._client.watch_task(task_id))

    def cancel_task(self, task_id: str) -> TaskState:
        return self._run(self._client.cancel_task(task_id))

    def list_task_types(self) -> List[TaskType]:
        return self._run(self._client.list_task_types())

    def get_task_type(self, name: str) -> TaskType:
        return self._run(self._client.get_task_type(name))

    def health(self, service: str = "") -> str:
        return self._run(self._client.health(service))
