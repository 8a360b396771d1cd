"""examples/llm_agent.py end to end: the example's documented server
settings (TAAS_LLM_PROVIDER=openai, TAAS_LLM_BASE_URL=<endpoint>/v1,
TAAS_LLM_MODEL, no key - a local Ollama's /v1) pointed at the scripted
OpenAI-compatible server, the example run as a user runs it."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import taas_harness  # noqa: E402
from scripted_llm import ScriptedLLM, Turn  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class Example(unittest.TestCase):
    def test_example_against_openai_compatible_endpoint(self):
        llm = ScriptedLLM({"openai": None})
        self.addCleanup(llm.close)
        server = taas_harness.Server(env={
            "TAAS_LLM_PROVIDER": "openai",
            "TAAS_LLM_BASE_URL": llm.url("openai"),
            "TAAS_LLM_MODEL": "llama3.2",
            "OPENAI_API_KEY": "",
        }).start()
        self.addCleanup(server.cleanup)

        def offered(v):
            assert v.model == "llama3.2", v.model
            assert sorted(v.tool_names()) == ["countdown", "my_custom_task"], v.tool_names()
        llm.script(Turn(calls=[("my_custom_task", {"param1": "test", "param2": 42})],
                        check=offered),
                   Turn(text="The task says: Processed test with 42",
                        check=lambda v: self.assertEqual(
                            json.loads(v.last_results()[0]["text"]),
                            {"result": "Processed test with 42"})))
        env = dict(os.environ, TAAS_SERVER=server.address,
                   PYTHONPATH=os.path.join(ROOT, "client", "python"))
        p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "llm_agent.py"),
                            "Process the word test with the number 42"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("State: SUCCEEDED", p.stdout)
        self.assertIn('Step 1: my_custom_task({"param1": "test", "param2": 42}) -> '
                      '{"result":"Processed test with 42"}', p.stdout)
        self.assertIn("Answer: The task says: Processed test with 42", p.stdout)
        llm.assert_clean(self)


if __name__ == "__main__":
    unittest.main()
