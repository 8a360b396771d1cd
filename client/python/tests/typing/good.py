"""Type-checks: the typed stubs used as intended (mypy must pass)."""

import asyncio
from typing import List

from taas_client import TaasClient
from taas_client.tasks import CreateConfigOutput, MyCustomTaskOutput


async def main() -> None:
    async with TaasClient() as client:
        out: MyCustomTaskOutput = await client.tasks.my_custom_task(param1="test", param2=42)
        result: str = out["result"]
        half = await client.tasks.my_custom_task(param1="half", param2=2.5)
        cfg: CreateConfigOutput = await client.tasks.with_options(priority=3).create_config(
            app_name="demo", environment="staging", port=8081)
        features: List[str] = cfg["features"]
        print(result, half["result"], features)


asyncio.run(main())
