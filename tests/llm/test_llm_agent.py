"""The llm_agent task on a real taas-server, against the scripted LLM server
speaking each provider's wire format (scripted_llm.py).

Every scripted conversation runs, where it makes sense, against all three
providers: test names are test_<provider>_<case>, and ctest runs one
provider per entry (llm_agent_openai, llm_agent_anthropic, llm_agent_ollama)
with `-k <provider>`.
"""

import json
import re
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import grpc  # noqa: E402
import taas_harness  # noqa: E402
from scripted_llm import Delay, Error, Raw, ScriptedLLM, Turn  # noqa: E402
from taas.v1 import taas_pb2, taas_pb2_grpc  # noqa: E402

S = taas_pb2
T = 10
KEYS = {"openai": "sk-test-openai-5f3a9c1e7b", "anthropic": "sk-ant-test-8d2e4f6a0c",
        "ollama": None}
PROVIDERS = ("openai", "anthropic", "ollama")

llm = None
server = None


def setUpModule():
    global llm, server
    llm = ScriptedLLM(KEYS)
    env = {
        "TAAS_LLM_PROVIDER": "openai",
        "TAAS_LLM_MAX_RETRIES": "1",
        "TAAS_LLM_TIMEOUT_MS": "1500",
        "TAAS_LLM_MAX_WAIT_MS": "10000",
        "TAAS_WORKERS": "4",
        "TEST_OPENAI_KEY": KEYS["openai"],
        "TEST_ANTHROPIC_KEY": KEYS["anthropic"],
    }
    for p in PROVIDERS:
        up = p.upper()
        env["TAAS_LLM_%s_BASE_URL" % up] = llm.url(p)
        env["TAAS_LLM_%s_MODEL" % up] = "scripted-%s-model" % p
    env["TAAS_LLM_OPENAI_API_KEY_ENV"] = "TEST_OPENAI_KEY"
    env["TAAS_LLM_ANTHROPIC_API_KEY_ENV"] = "TEST_ANTHROPIC_KEY"
    server = taas_harness.Server(env=env).start()


def tearDownModule():
    if server:
        server.cleanup()
    if llm:
        llm.close()


def result_of(view, index=0):
    """The index-th tool result the agent sent back, parsed when it is JSON."""
    r = view.last_results()[index]
    return r


class Agent(unittest.TestCase):
    def setUp(self):
        self.channel = grpc.insecure_channel(server.address)
        self.tasks = taas_pb2_grpc.TaskServiceStub(self.channel)

    def tearDown(self):
        self.channel.close()
        self.assertTrue(server.alive(), "the server died:\n" + server.log())
        log = server.log()
        for k in KEYS.values():
            if k:
                self.assertNotIn(k, log, "an API key reached the server's log")

    # -- helpers -------------------------------------------------------------

    def submit(self, provider, prompt="What is the capital of France?", **inputs):
        inputs = dict(inputs, prompt=prompt, provider=provider)
        r = self.tasks.SubmitTask(S.SubmitTaskRequest(task_name="llm_agent",
                                                      inputs_json=json.dumps(inputs)), timeout=T)
        return r.task_id

    def run_agent(self, provider, timeout=40, **inputs):
        tid = self.submit(provider, **inputs)
        events = list(self.tasks.WatchTask(S.WatchTaskRequest(task_id=tid), timeout=timeout))
        task = self.tasks.GetTask(S.GetTaskRequest(task_id=tid), timeout=T).task
        self.assertNotIn(KEYS["openai"], task.error)
        self.assertNotIn(KEYS["anthropic"], task.error)
        return task, events

    def succeeded(self, provider, **inputs):
        task, events = self.run_agent(provider, **inputs)
        self.assertEqual(S.TaskState.Name(task.state), "TASK_STATE_SUCCEEDED", task.error)
        return json.loads(task.output_json), events

    def failed(self, provider, **inputs):
        task, events = self.run_agent(provider, **inputs)
        self.assertEqual(S.TaskState.Name(task.state), "TASK_STATE_FAILED", task.output_json)
        return task.error

    def check_tools_offered(self, view, names):
        self.assertEqual(sorted(view.tool_names()), sorted(names))

    # -- the cases -------------------------------------------------------------

    def case_plain_answer(self, p):
        def check(v):
            assert v.system == "Answer in one word.", v.system
            assert v.messages == [{"role": "user", "text": "What is the capital of France?"}], \
                v.messages
            assert v.tools == [], v.tools
            assert v.model == "scripted-%s-model" % p, v.model
        llm.script(Turn(text="Paris", check=check, usage=(21, 3)))
        out, events = self.succeeded(p, system="Answer in one word.")
        self.assertEqual(out["answer"], "Paris")
        self.assertEqual(out["stop_reason"], "answer")
        self.assertEqual(out["steps"], [])
        self.assertEqual(out["usage"], {"input_tokens": 21, "output_tokens": 3,
                                        "model_calls": 1, "http_requests": 1})
        self.assertEqual(out["provider"], p)
        self.assertEqual(out["model"], "scripted-%s-model" % p)
        llm.assert_clean(self)

    def case_one_tool_call(self, p):
        def first(v):
            self.check_tools_offered(v, ["my_custom_task"])
            tool = v.tools[0]
            assert tool[2]["properties"]["param1"]["type"] == "string", tool
            assert "Processed" in tool[1], tool

        def second(v):
            rs = v.last_results()
            assert len(rs) == 1, rs
            assert json.loads(rs[0]["text"]) == {"result": "Processed test with 42"}, rs
            assert rs[0]["is_error"] in (None, False), rs
            if p == "ollama":
                assert rs[0]["name"] == "my_custom_task", rs
            else:
                assert rs[0]["call_id"] == llm.call_ids[0], (rs, llm.call_ids)
        llm.script(Turn(calls=[("my_custom_task", {"param1": "test", "param2": 42})],
                        check=first),
                   Turn(text="It says: Processed test with 42", check=second))
        out, events = self.succeeded(p, prompt="Process test with 42", tools=["my_custom_task"])
        self.assertEqual(out["answer"], "It says: Processed test with 42")
        self.assertEqual(len(out["steps"]), 1)
        s = out["steps"][0]
        self.assertEqual((s["turn"], s["tool"]), (1, "my_custom_task"))
        self.assertEqual(json.loads(s["inputs"]), {"param1": "test", "param2": 42})
        self.assertEqual(json.loads(s["output"]), {"result": "Processed test with 42"})
        self.assertNotIn("error", s)
        # The call ran as a child task of the agent.
        child = self.tasks.GetTask(S.GetTaskRequest(task_id=s["child_task_id"]), timeout=T).task
        self.assertEqual(child.task_name, "my_custom_task")
        self.assertEqual(json.loads(child.inputs_json), {"param1": "test", "param2": 42})
        self.assertEqual(S.TaskState.Name(child.state), "TASK_STATE_SUCCEEDED")
        self.assertTrue(child.parent_id)
        kids = self.tasks.ListTasks(S.ListTasksRequest(parent_id=child.parent_id),
                                    timeout=T).tasks
        self.assertEqual([k.id for k in kids], [s["child_task_id"]])
        self.assertEqual(out["usage"]["model_calls"], 2)
        self.assertEqual(out["usage"]["input_tokens"], 22)
        llm.assert_clean(self)

    def case_several_in_one_turn(self, p):
        def second(v):
            rs = v.last_results()
            assert [json.loads(r["text"])["result"] for r in rs] == \
                ["Processed a with 1", "Processed b with 2", "Processed c with 3"], rs
            if p != "ollama":
                assert [r["call_id"] for r in rs] == llm.call_ids[:3], (rs, llm.call_ids)
        llm.script(Turn(calls=[("my_custom_task", {"param1": "a", "param2": 1}),
                               ("my_custom_task", {"param1": "b", "param2": 2}),
                               ("my_custom_task", {"param1": "c", "param2": 3})]),
                   Turn(text="done three", check=second))
        out, _ = self.succeeded(p, tools=["*"])
        self.assertEqual([json.loads(s["output"])["result"] for s in out["steps"]],
                         ["Processed a with 1", "Processed b with 2", "Processed c with 3"])
        self.assertEqual({s["turn"] for s in out["steps"]}, {1})
        llm.assert_clean(self)

    def case_chain(self, p):
        def use_earlier(v):
            earlier = json.loads(v.last_results()[0]["text"])["result"]
            return [("my_custom_task", {"param1": earlier, "param2": 2})]
        llm.script(Turn(calls=[("my_custom_task", {"param1": "x", "param2": 1})]),
                   Turn(calls=use_earlier),
                   Turn(text="final", check=lambda v: self.assertEqual(
                       json.loads(v.last_results()[0]["text"]),
                       {"result": "Processed Processed x with 1 with 2"})))
        out, _ = self.succeeded(p, tools=["my_custom_task"])
        self.assertEqual([s["turn"] for s in out["steps"]], [1, 2])
        self.assertEqual(json.loads(out["steps"][1]["inputs"])["param1"], "Processed x with 1")
        self.assertEqual(json.loads(out["steps"][1]["output"]),
                         {"result": "Processed Processed x with 1 with 2"})
        llm.assert_clean(self)

    def case_invalid_then_corrected(self, p):
        def saw_error(v):
            r = v.last_results()[0]
            assert "invalid inputs" in r["text"] and "/param2" in r["text"], r
            if p == "anthropic":
                assert r["is_error"] is True, r
        llm.script(Turn(calls=[("my_custom_task", {"param1": "test", "param2": "forty-two"})]),
                   Turn(calls=[("my_custom_task", {"param1": "test", "param2": 42})],
                        check=saw_error),
                   Turn(text="fixed"))
        out, _ = self.succeeded(p, tools=["my_custom_task"])
        self.assertEqual(len(out["steps"]), 2)
        self.assertIn("/param2", out["steps"][0]["error"])
        self.assertNotIn("output", out["steps"][0])
        # Refused at submit: no child task was made for it.
        self.assertNotIn("child_task_id", out["steps"][0])
        self.assertIn("child_task_id", out["steps"][1])
        self.assertEqual(json.loads(out["steps"][1]["output"]),
                         {"result": "Processed test with 42"})
        llm.assert_clean(self)

    def case_unknown_tool(self, p):
        def saw_error(v):
            r = v.last_results()[0]
            assert 'unknown tool "rm_rf"' in r["text"] and "my_custom_task" in r["text"], r
        llm.script(Turn(calls=[("rm_rf", {"path": "/"})]),
                   Turn(text="sorry", check=saw_error))
        out, _ = self.succeeded(p, tools=["my_custom_task"])
        self.assertEqual(out["answer"], "sorry")
        self.assertEqual(out["steps"][0]["tool"], "rm_rf")
        self.assertNotIn("child_task_id", out["steps"][0])
        self.assertIn("unknown tool", out["steps"][0]["error"])
        llm.assert_clean(self)

    def case_malformed_arguments(self, p):
        # Only OpenAI's wire format can carry broken JSON: its `arguments`
        # is a string the model wrote; the others send objects.
        def saw_error(v):
            r = v.last_results()[0]
            assert "not valid JSON" in r["text"], r
        llm.script(Turn(calls=[("my_custom_task", '{"param1": "test", "param2": 42')]),
                   Turn(calls=[("my_custom_task", "[1, 2]")], check=saw_error),
                   Turn(calls=[("my_custom_task", '{"param1": "test", "param2": 42}')],
                        check=lambda v: self.assertIn("must be a JSON object",
                                                      v.last_results()[0]["text"])),
                   Turn(text="ok"))
        out, _ = self.succeeded(p, tools=["my_custom_task"])
        self.assertEqual(len(out["steps"]), 3)
        self.assertEqual(out["steps"][0]["inputs"], '{"param1": "test", "param2": 42')
        self.assertIn("not valid JSON", out["steps"][0]["error"])
        self.assertEqual(json.loads(out["steps"][2]["output"]),
                         {"result": "Processed test with 42"})
        llm.assert_clean(self)

    def case_429_then_success(self, p):
        if p == "openai":
            # retry-after-ms is the more precise and wins over retry-after.
            first = Error(429, retry_after=30, retry_after_ms=1200)
            low = 1.1
        else:
            first = Error(429, retry_after=1)
            low = 0.9
        llm.script(first, Turn(text="after the wait"))
        out, _ = self.succeeded(p)
        self.assertEqual(out["answer"], "after the wait")
        self.assertEqual(out["usage"]["http_requests"], 2)
        self.assertEqual(out["usage"]["model_calls"], 1)
        gap = llm.views[1].at - llm.views[0].at
        self.assertGreaterEqual(gap, low)
        self.assertLess(gap, 10)
        llm.assert_clean(self)

    def case_500(self, p):
        # Once: retried after a backoff and answered.
        llm.script(Error(500), Turn(text="second time lucky"))
        out, _ = self.succeeded(p)
        self.assertEqual(out["usage"]["http_requests"], 2)
        llm.assert_clean(self)
        # Every time: fails once the retries (1 here) are spent, with the
        # API's own message and the status.
        llm.script(Error(500, message="upstream exploded"),
                   Error(500, message="upstream exploded"))
        err = self.failed(p)
        self.assertIn("HTTP 500", err)
        self.assertIn("upstream exploded", err)
        self.assertIn("after 2 attempts", err)
        llm.assert_clean(self)

    def case_timeout(self, p):
        llm.script(Delay(3, Turn(text="too late")), Delay(3, Turn(text="too late")))
        t0 = time.monotonic()
        err = self.failed(p)
        self.assertIn("no answer from", err)
        self.assertIn("within 1500 ms", err)
        self.assertIn("after 2 attempts", err)
        self.assertLess(time.monotonic() - t0, 15)
        llm.assert_clean(self)

    def case_not_json(self, p):
        llm.script(Raw(200, "<html><body>502 Bad Gateway</body></html>"))
        err = self.failed(p)
        self.assertIn("not a valid reply", err)
        self.assertIn("not JSON", err)
        self.assertIn("502 Bad Gateway", err)
        self.assertEqual(len(llm.views), 1, "a body that is not JSON is not retried")
        llm.assert_clean(self)

    def case_step_limit(self, p):
        call = Turn(calls=[("my_custom_task", {"param1": "again", "param2": 1})])
        llm.script(call, call, call)
        out, _ = self.succeeded(p, tools=["my_custom_task"], max_steps=3)
        self.assertEqual(out["stop_reason"], "max_steps")
        self.assertEqual(out["answer"], "")
        self.assertEqual(out["usage"]["model_calls"], 3)
        # The third turn's call could not be answered within the limit: not run.
        self.assertEqual([s["turn"] for s in out["steps"]], [1, 2])
        llm.assert_clean(self)

    def case_token_limit(self, p):
        call = Turn(calls=[("my_custom_task", {"param1": "t", "param2": 1})], usage=(30, 10))
        llm.script(call, call)
        out, _ = self.succeeded(p, tools=["my_custom_task"], max_tokens=60)
        self.assertEqual(out["stop_reason"], "max_tokens")
        self.assertEqual(out["usage"]["input_tokens"] + out["usage"]["output_tokens"], 80)
        self.assertEqual(len(out["steps"]), 2)
        llm.assert_clean(self)

    def case_cancel_mid_step(self, p):
        llm.script(Turn(calls=[("countdown", {"seconds": 60, "step_ms": 100})]))
        tid = self.submit(p, tools=["countdown", "my_custom_task"])
        stream = self.tasks.WatchTask(S.WatchTaskRequest(task_id=tid), timeout=60)
        # The step names the child task that runs the call (first as it
        # starts, then with the child's own progress; a watch may coalesce
        # the first into the second).
        for e in stream:
            m = re.match(r"step 1/8: countdown (?:running as task )?([0-9a-f-]{36})",
                         e.progress_message)
            if m:
                child = m.group(1)
                break
        taas_harness.wait_until(
            lambda: self.tasks.GetTask(S.GetTaskRequest(task_id=child), timeout=T).task.state
            == S.TASK_STATE_RUNNING, 15, what="the countdown child running")
        t0 = time.monotonic()
        self.tasks.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T)
        last = None
        for e in stream:
            last = e
        self.assertEqual(S.TaskState.Name(last.state), "TASK_STATE_CANCELLED")
        self.assertLess(time.monotonic() - t0, 5)
        # The child running the tool was cancelled with the agent.
        taas_harness.wait_until(
            lambda: self.tasks.GetTask(S.GetTaskRequest(task_id=child), timeout=T).task.state
            == S.TASK_STATE_CANCELLED, 10, what="the countdown child cancelled")
        self.assertEqual(self.tasks.GetTask(S.GetTaskRequest(task_id=child),
                                            timeout=T).task.parent_id, tid)
        time.sleep(0.3)
        self.assertEqual(len(llm.views), 1, "no model call after the cancellation")
        llm.assert_clean(self)

    def case_child_progress(self, p):
        # While a step's child runs, its progress is the agent's: "step k/n:
        # tool id: the child's message", the fraction inside step k's share.
        llm.script(Turn(calls=[("countdown", {"seconds": 1, "step_ms": 150})]),
                   Turn(text="counted"))
        out, events = self.succeeded(p, tools=["countdown"], max_steps=4)
        self.assertEqual(out["answer"], "counted")
        child = out["steps"][0]["child_task_id"]
        mine = [e for e in events
                if e.progress_message.startswith("step 1/4: countdown %s: " % child)]
        self.assertTrue(any(e.progress_message.endswith("second left") for e in mine),
                        [e.progress_message for e in events])
        for e in mine:
            self.assertGreaterEqual(e.progress, 0.0)
            self.assertLessEqual(e.progress, 0.25 + 1e-9)
        self.assertTrue(any(0 < e.progress < 0.25 for e in mine), [e.progress for e in mine])
        llm.assert_clean(self)

    def case_quota_not_retried(self, p):
        llm.script(Error(429, kind="insufficient_quota",
                         message="You exceeded your current quota, please check your plan "
                                 "and billing details."))
        err = self.failed(p)
        self.assertIn("insufficient_quota", err)
        self.assertEqual(len(llm.views), 1)
        llm.assert_clean(self)

    def case_key_never_echoed(self, p):
        key = KEYS[p]
        llm.script(Error(401, message="Incorrect API key provided: %s. You can find your "
                                      "API key at https://platform.openai.com" % key))
        err = self.failed(p)
        self.assertIn("HTTP 401", err)
        self.assertNotIn(key, err)
        self.assertIn("***", err)
        self.assertEqual(len(llm.views), 1, "a 401 is not retried")
        llm.assert_clean(self)

    def case_retry_after_too_long(self, p):
        llm.script(Error(429, retry_after=3600))
        t0 = time.monotonic()
        err = self.failed(p)
        self.assertIn("asks to retry after 3600000 ms", err)
        self.assertLess(time.monotonic() - t0, 5)
        llm.assert_clean(self)

    def case_overloaded_529(self, p):
        llm.script(Error(529, message="Overloaded"), Turn(text="capacity back"))
        out, _ = self.succeeded(p)
        self.assertEqual(out["answer"], "capacity back")
        llm.assert_clean(self)

    def case_bad_tool_name_in_inputs(self, p):
        llm.script()
        err = self.failed(p, tools=["no_such_task"])
        self.assertIn('no task type named "no_such_task"', err)
        llm.assert_clean(self)


CASES = {
    "plain_answer": PROVIDERS,
    "one_tool_call": PROVIDERS,
    "several_in_one_turn": PROVIDERS,
    "chain": PROVIDERS,
    "invalid_then_corrected": PROVIDERS,
    "unknown_tool": PROVIDERS,
    "malformed_arguments": ("openai",),
    "429_then_success": PROVIDERS,
    "500": PROVIDERS,
    "timeout": PROVIDERS,
    "not_json": PROVIDERS,
    "step_limit": PROVIDERS,
    "token_limit": ("anthropic",),
    "cancel_mid_step": PROVIDERS,
    "child_progress": PROVIDERS,
    "quota_not_retried": ("openai",),
    "key_never_echoed": ("openai", "anthropic"),
    "retry_after_too_long": ("openai",),
    "overloaded_529": ("anthropic",),
    "bad_tool_name_in_inputs": ("ollama",),
}


def _make(case, provider):
    return lambda self: getattr(self, "case_" + case)(provider)


for _case, _providers in CASES.items():
    for _p in _providers:
        setattr(Agent, "test_%s_%s" % (_p, _case), _make(_case, _p))

if __name__ == "__main__":
    unittest.main()
