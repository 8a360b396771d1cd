"""The scripted LLM server's own checks: requests that break each API
reference are reported, documented ones are not. Without this, a checker
that accepted everything would make the agent's tests pass for nothing."""

import json
import unittest
import urllib.error
import urllib.request

from scripted_llm import ScriptedLLM, Turn

KEYS = {"openai": "sk-o", "anthropic": "sk-a", "ollama": None}


def post(llm, path, body, headers):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (llm.port, path),
                                 data=json.dumps(body).encode(), method="POST",
                                 headers=dict({"Content-Type": "application/json"}, **headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Checks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = ScriptedLLM(KEYS)

    @classmethod
    def tearDownClass(cls):
        cls.llm.close()

    def violations(self, path, body, headers):
        self.llm.script(Turn(text="x"))
        post(self.llm, path, body, headers)
        return list(self.llm.violations)

    def test_openai(self):
        ok = {"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{}"}]}
        auth = {"Authorization": "Bearer sk-o"}
        self.assertEqual(self.violations("/v1/chat/completions", ok, auth), [])
        self.assertTrue(self.violations("/v1/chat/completions", ok, {"Authorization": "sk-o"}))
        bad = json.loads(json.dumps(ok))
        bad["messages"][2]["tool_call_id"] = "call_2"
        self.assertTrue(self.violations("/v1/chat/completions", bad, auth))
        bad = json.loads(json.dumps(ok))
        del bad["messages"][2]
        self.assertTrue(self.violations("/v1/chat/completions", bad, auth))
        bad = dict(ok, tools=[{"type": "function", "function": {"name": "bad name!",
                                                                "parameters": {}}}])
        self.assertTrue(self.violations("/v1/chat/completions", bad, auth))

    def test_anthropic(self):
        ok = {"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{}",
                 "is_error": False}]}]}
        h = {"x-api-key": "sk-a", "anthropic-version": "2023-06-01"}
        self.assertEqual(self.violations("/v1/messages", ok, h), [])
        self.assertTrue(self.violations("/v1/messages", ok, {"x-api-key": "sk-a"}))
        self.assertTrue(self.violations("/v1/messages", ok, dict(h, Authorization="Bearer x")))
        bad = json.loads(json.dumps(ok))
        bad["messages"][2]["content"].insert(0, {"type": "text", "text": "first"})
        self.assertTrue(self.violations("/v1/messages", bad, h))
        bad = json.loads(json.dumps(ok))
        del bad["max_tokens"]
        self.assertTrue(self.violations("/v1/messages", bad, h))
        bad = json.loads(json.dumps(ok))
        bad["messages"].insert(0, {"role": "system", "content": "s"})
        self.assertTrue(self.violations("/v1/messages", bad, h))

    def test_ollama(self):
        ok = {"model": "m", "stream": False, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "tool", "content": "{}", "tool_name": "f"}]}
        self.assertEqual(self.violations("/api/chat", ok, {}), [])
        self.assertTrue(self.violations("/api/chat", dict(ok, stream=True), {}))
        self.assertTrue(self.violations("/api/chat", {k: v for k, v in ok.items()
                                                      if k != "stream"}, {}))
        bad = json.loads(json.dumps(ok))
        bad["messages"][2]["tool_name"] = "g"
        self.assertTrue(self.violations("/api/chat", bad, {}))
        bad = json.loads(json.dumps(ok))
        bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{}"
        self.assertTrue(self.violations("/api/chat", bad, {}))


if __name__ == "__main__":
    unittest.main()
