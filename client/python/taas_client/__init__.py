"""taas_client: Python client of a TaaS server.

    import asyncio
    from taas_client import TaasClient

    async def main():
        async with TaasClient() as client:
            task = await client.submit_task("my_custom_task", {"param1": "x"}, wait=True)
            print(task.state, task.output)

    asyncio.run(main())

TaasClient is asyncio (grpc.aio); Client is the same API, blocking.
"""

from taas_client.client import DEFAULT_SERVER, SubmitResult, TaasClient
from taas_client.errors import (AlreadyExists, Cancelled, DeadlineExceeded, FieldViolation,
                                InvalidArgument, InvalidInputs, NotFound, PermissionDenied,
                                ResourceExhausted, TaasError, TaskFailed, TaskNotFound,
                                TaskTypeNotFound, Unauthenticated, Unavailable)
from taas_client.sync import Client
from taas_client.types import Attempt, Task, TaskEvent, TaskState, TaskType

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists", "Attempt", "Cancelled", "Client", "DEFAULT_SERVER", "DeadlineExceeded",
    "FieldViolation", "InvalidArgument", "InvalidInputs", "NotFound", "PermissionDenied",
    "ResourceExhausted", "SubmitResult", "TaasClient", "TaasError", "Task", "TaskEvent",
    "TaskFailed", "TaskNotFound", "TaskState", "TaskType", "TaskTypeNotFound",
    "Unauthenticated", "Unavailable",
]
