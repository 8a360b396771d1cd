"""An LLM agent whose tools are TaaS tasks, against any OpenAI-compatible
endpoint: a local Ollama, vLLM, llama.cpp's server, LM Studio, or OpenAI.

The endpoint is the server's configuration, never the client's (a client
cannot send the server's API key elsewhere). For a local Ollama:

    ollama pull llama3.2
    TAAS_LLM_PROVIDER=openai \
    TAAS_LLM_BASE_URL=http://127.0.0.1:11434/v1 \
    TAAS_LLM_MODEL=llama3.2 \
        make run                                          # first terminal
    PYTHONPATH=client/python python3 examples/llm_agent.py \
        "Process the word test with the number 42"        # second

For OpenAI itself: TAAS_LLM_BASE_URL=https://api.openai.com/v1,
TAAS_LLM_MODEL=gpt-4o-mini and OPENAI_API_KEY=sk-... in the server's
environment (or TAAS_LLM_API_KEY_ENV naming another variable). Ollama's
native API works too: TAAS_LLM_PROVIDER=ollama, TAAS_LLM_BASE_URL=
http://127.0.0.1:11434. docs/llm-agent.md has every setting.

The server address comes from TAAS_SERVER (default 127.0.0.1:50051). The
tools the model may call are my_custom_task and countdown unless
AGENT_TOOLS names others (comma-separated, or "*" for all).
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client",
                                "python"))

from taas_client.client import TaasClient  # noqa: E402


async def main():
    prompt = " ".join(sys.argv[1:]) or "Process the word test with the number 42."
    tools = os.environ.get("AGENT_TOOLS", "my_custom_task,countdown").split(",")
    async with TaasClient() as client:
        submitted = await client.submit_task(
            task_name="llm_agent",
            inputs={"prompt": prompt, "tools": tools, "max_steps": 6,
                    "system": "Use the tools when they help; answer briefly."})
        print(f"Task ID: {submitted['task_id']}")
        task = await client.wait(submitted["task_id"], timeout=600)
        print(f"State: {task.state}")
        if task.output is None:
            print(f"Error: {task.error}")
            sys.exit(1)
        out = task.output
        for step in out["steps"]:
            result = step.get("output") or "error: " + step.get("error", "")
            print(f"Step {step['turn']}: {step['tool']}({step['inputs']}) -> {result}")
        print(f"Usage: {json.dumps(out['usage'])}")
        print(f"Answer: {out['answer']}")


asyncio.run(main())
