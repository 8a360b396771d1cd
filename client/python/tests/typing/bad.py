"""Type-checks: wrong arguments to the typed stubs (mypy must flag each line
marked "error")."""

import asyncio

from taas_client import TaasClient


async def main() -> None:
    async with TaasClient() as client:
        await client.tasks.my_custom_task(param1="test", param2="42")  # error: str for number
        await client.tasks.my_custom_task(param2=42)  # error: param1 missing
        await client.tasks.create_config(app_name="x", environment="prod")  # error: not in enum
        out = await client.tasks.my_custom_task(param1="test")
        n: int = out["result"]  # error: the result is a str
        print(n)


asyncio.run(main())
