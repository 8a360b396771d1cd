"""The product guide's first test of a task, then its result.

    make run                                         # first terminal
    PYTHONPATH=client/python python3 examples/simple_task.py   # second

The server address comes from TAAS_SERVER (default 127.0.0.1:50051); TLS and
tokens from the same variables as the `taas` CLI (docs/clients.md).
"""

import asyncio
import os
import sys

# Run from a checkout without installing the package: use client/python.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client",
                                "python"))

from taas_client.client import TaasClient  # noqa: E402


async def test_task():
    async with TaasClient() as client:
        result = await client.submit_task(
            task_name="my_custom_task",
            inputs={"param1": "test", "param2": 42}
        )
        print(f"Task ID: {result['task_id']}")

        # Then follow it to its result.
        task = await client.wait(result["task_id"], timeout=60)
        print(f"State: {task.state}")
        if task.output is not None:
            print(f"Result: {task.output['result']}")
        else:
            print(f"Error: {task.error}")
            sys.exit(1)


asyncio.run(test_task())
