"""The `taas` command-line client: output, --json, exit codes, --server placement."""

import json
import os
import pty
import re
import select
import subprocess
import time
import unittest

import taas_harness

CLI = os.environ.get("TAAS_CLI_BIN", "taas")
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"
INPUT = '{"param1":"test","param2":42}'

server = None  # the module's one server, started by setUpModule
taas_harness.one_server_per_module(globals())


def taas(*args, env=None, server_arg=True, stdin=None):
    """Runs the CLI; returns (exit status, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("TAAS_SERVER", None)
    if env:
        e.update(env)
    argv = [CLI] + (["--server", server.address] if server_arg else []) + list(args)
    p = subprocess.run(argv, env=e, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, text=True)
    return p.returncode, p.stdout, p.stderr


class CliCase(unittest.TestCase):
    """What every CLI test case shares: the server must outlive each test,
    and --json answers are parsed."""

    def tearDown(self):
        self.assertTrue(server.alive(), "the server died:\n" + server.log())

    def json_of(self, *args):
        rc, out, err = taas(*args, "--json")
        self.assertEqual(rc, 0, err)
        return json.loads(out)


class Cli(CliCase):

    def test_submit_watch(self):
        rc, out, err = taas("submit", "my_custom_task", "--input", INPUT, "--watch")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^[0-9a-f-]{36}$")
        self.assertEqual(lines[-2], "SUCCEEDED")
        self.assertEqual(lines[-1], '{"result":"Processed test with 42"}')
        self.assertEqual(err, "")

    def test_submit_wait_and_get(self):
        rc, out, err = taas("submit", "my_custom_task", "--input", INPUT, "--wait")
        self.assertEqual(rc, 0, err)
        task_id, state, result = out.splitlines()
        self.assertEqual((state, result), ("SUCCEEDED", '{"result":"Processed test with 42"}'))
        rc, out, err = taas("get", task_id)
        self.assertEqual(rc, 0, err)
        self.assertIn("state:       SUCCEEDED", out)
        self.assertIn('output:      {"result":"Processed test with 42"}', out)

    def test_input_from_file_and_stdin(self):
        path = os.path.join(server.workdir, "inputs.json")
        with open(path, "w") as f:
            f.write(INPUT)
        rc, out, err = taas("submit", "my_custom_task", "--input", "@" + path, "--wait")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith('{"result":"Processed test with 42"}\n'), out)
        rc, out, err = taas("submit", "my_custom_task", "--input", "@-", "--wait", stdin=INPUT)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith('{"result":"Processed test with 42"}\n'), out)
        rc, out, err = taas("submit", "my_custom_task", "--input", "@/nonexistent/x.json")
        self.assertEqual(rc, 2)

    def test_watch_lines_when_piped(self):
        run_after = "4000"  # the watch attaches before the body runs, even under ASan
        rc, out, err = taas("submit", "my_custom_task", "--input", INPUT, "--run-after", run_after)
        self.assertEqual(rc, 0, err)
        task_id = out.strip()
        rc, out, err = taas("watch", task_id)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "PENDING 0%")
        self.assertIn("RUNNING 50% Processing...", lines)
        self.assertEqual(lines[-2:], ["SUCCEEDED", '{"result":"Processed test with 42"}'])
        self.assertNotIn("\r", out)

    def test_watch_progress_bar_on_terminal(self):
        # Two seconds, so the watch below starts well before the end even on
        # a loaded machine or under sanitizers.
        rc, out, err = taas("submit", "countdown", "--input", '{"seconds":2,"step_ms":250}')
        self.assertEqual(rc, 0, err)
        task_id = out.strip()
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(CLI, [CLI, "--server", server.address, "watch", task_id])
        data = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = data.decode(errors="replace")
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertIn("\r\x1b[K[", text)          # redrawn in place
        self.assertRegex(text, r"\[#{30}\] 100% SUCCEEDED")
        self.assertIn('{"counted":2,"steps":8}', text.replace(" ", ""))

    def test_exit_codes(self):
        # 1: the task FAILED (load_config of a missing file fails permanently)
        rc, out, err = taas("submit", "load_config", "--input", '{"path":"missing.json"}', "--wait")
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out.splitlines()[-1], r"^FAILED: .+")
        # 2: usage
        for args in ([], ["bogus"], ["get"], ["get", "a", "b"], ["list", "--limit", "0"],
                     ["get", UNKNOWN_ID, "--wait"], ["submit", "x", "--priority", "high"],
                     ["list", "--state", "DONE"], ["submit", "x", "--wait", "--watch"],
                     ["--frobnicate", "health"]):
            with self.subTest(args=args):
                rc, out, err = taas(*args)
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, "")
                self.assertTrue(err)
        # 3: CANCELLED
        rc, out, err = taas("submit", "my_custom_task", "--input", INPUT, "--run-after", "600000")
        task_id = out.strip()
        rc, out, err = taas("cancel", task_id)
        self.assertEqual((rc, out), (0, "CANCELLED\n"), err)
        rc, out, err = taas("watch", task_id)
        self.assertEqual(rc, 3, out + err)
        # 4: not found
        for args in (["get", UNKNOWN_ID], ["watch", UNKNOWN_ID], ["cancel", UNKNOWN_ID],
                     ["describe", "my_custom_tsk"], ["submit", "my_custom_tsk", "--input", "{}"]):
            with self.subTest(args=args):
                rc, out, err = taas(*args)
                self.assertEqual(rc, 4, err)
                self.assertIn("NOT_FOUND", err)
        rc, out, err = taas("submit", "my_custom_tsk")
        self.assertIn("my_custom_task", err)  # the suggestion
        # 5: invalid argument
        rc, out, err = taas("submit", "my_custom_task", "--input", '{"param2":"x"}')
        self.assertEqual(rc, 5, err)
        rc, out, err = taas("submit", "my_custom_task", "--input", "{")
        self.assertEqual(rc, 5, err)
        # 6: unavailable
        rc, out, err = taas("health", server_arg=False, env={"TAAS_SERVER": "127.0.0.1:1"})
        self.assertEqual(rc, 6, err)
        self.assertIn("UNAVAILABLE", err)
        self.assertNotIn("file_line", err)

    def test_every_violation(self):
        # The server lists every bad value (status details); the CLI shows
        # them under the message, which names the first.
        bad = '{"seconds":-1,"step_ms":"x","bogus":1}'
        rc, out, err = taas("submit", "countdown", "--input", bad)
        self.assertEqual(rc, 5, err)
        lines = err.splitlines()
        self.assertTrue(lines[0].startswith("taas: INVALID_ARGUMENT: invalid inputs for countdown: "),
                        err)
        self.assertEqual(sorted(l.split(":")[1].strip() for l in lines[1:]),
                         ["/bogus", "/seconds", "/step_ms"], err)
        rc, out, err = taas("submit", "countdown", "--input", bad, "--json")
        self.assertEqual(rc, 5, err)
        e = json.loads(err)["error"]
        self.assertEqual(e["code"], "INVALID_ARGUMENT")
        self.assertEqual(sorted(v["field"] for v in e["violations"]),
                         ["/bogus", "/seconds", "/step_ms"])
        # A later failure without details does not show the earlier ones.
        rc, out, err = taas("get", UNKNOWN_ID, "--json")
        self.assertNotIn("violations", err)

    def test_server_placement(self):
        e = {"TAAS_SERVER": ""}
        for argv in (["--server", server.address, "health"],
                     ["health", "--server", server.address],
                     ["health", "--server=" + server.address]):
            with self.subTest(argv=argv):
                rc, out, err = taas(*argv, server_arg=False, env=e)
                self.assertEqual((rc, out), (0, "SERVING\n"), err)
        rc, out, err = taas("health", server_arg=False, env={"TAAS_SERVER": server.address})
        self.assertEqual((rc, out), (0, "SERVING\n"), err)
        # --server wins over TAAS_SERVER.
        rc, out, err = taas("health", "--server", server.address, server_arg=False,
                            env={"TAAS_SERVER": "127.0.0.1:1"})
        self.assertEqual(rc, 0, err)

    def test_get_json_is_json_whatever_is_stored(self):
        # The server refuses text that is not UTF-8 today, but a database
        # written by an older version may hold some: `--json` must still
        # print JSON (invalid bytes become U+FFFD), never pass them through.
        if not server.database_url.startswith("sqlite:"):
            self.skipTest("edits the SQLite file directly")
        import sqlite3
        rc, out, err = taas("submit", "my_custom_task", "--input", INPUT, "--wait")
        self.assertEqual(rc, 0, err)
        task_id = out.splitlines()[0]
        db = sqlite3.connect(server.db_path, timeout=10)
        with db:
            db.execute("UPDATE tasks SET progress_message = CAST(X'6f6bff2dc3' AS TEXT),"
                       " output = CAST(X'7b2278223a2261ff227d' AS TEXT) WHERE id = ?",
                       (task_id,))
        db.close()
        p = subprocess.run([CLI, "--server", server.address, "get", task_id, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = json.loads(p.stdout.decode("utf-8"))  # strict: both must hold
        self.assertEqual(d["progress_message"], "ok\ufffd-\ufffd")
        self.assertEqual(d["output"], '{"x":"a\ufffd"}')

    def test_json_outputs(self):
        d = self.json_of("tasks")
        self.assertIn("my_custom_task", [t["name"] for t in d["task_types"]])
        d = self.json_of("describe", "my_custom_task")
        self.assertEqual(d["input_schema"]["required"], ["param1"])
        d = self.json_of("submit", "my_custom_task", "--input", INPUT)
        self.assertEqual(set(d), {"task_id", "duplicate", "state"})
        d = self.json_of("submit", "my_custom_task", "--input", INPUT, "--wait")
        self.assertEqual(d["task"]["output"], {"result": "Processed test with 42"})
        self.assertEqual(d["task"]["state"], "SUCCEEDED")
        d = self.json_of("submit", "my_custom_task", "--input", INPUT, "--watch")
        self.assertEqual(d["events"][-1]["state"], "SUCCEEDED")
        self.assertEqual(d["task"]["inputs"], json.loads(INPUT))
        task_id = d["task_id"]
        d = self.json_of("get", task_id)
        self.assertEqual((d["id"], d["state"]), (task_id, "SUCCEEDED"))
        d = self.json_of("watch", task_id)
        self.assertEqual(d["task"]["output"], {"result": "Processed test with 42"})
        d = self.json_of("list", "--limit", "2")
        self.assertEqual(len(d["tasks"]), 2)
        self.assertTrue(d["next_page_token"])
        d = self.json_of("cancel", task_id)
        self.assertEqual(d, {"task_id": task_id, "state": "SUCCEEDED"})
        d = self.json_of("health")
        self.assertEqual(d, {"service": "", "status": "SERVING"})
        rc, out, err = taas("get", UNKNOWN_ID, "--json")
        self.assertEqual(rc, 4)
        self.assertEqual(out, "")
        self.assertEqual(json.loads(err)["error"]["code"], "NOT_FOUND")
        rc, out, err = taas("submit", "load_config", "--input", '{"path":"missing.json"}',
                            "--wait", "--json")
        self.assertEqual(rc, 1)
        d = json.loads(out)
        self.assertEqual(d["task"]["state"], "FAILED")
        self.assertTrue(d["task"]["error"])

    def test_list_pages(self):
        tag = "pages-%d" % time.time_ns()
        made = set()
        for i in range(7):
            d = self.json_of("submit", "my_custom_task", "--input",
                             json.dumps({"param1": "%s-%d" % (tag, i)}))
            made.add(d["task_id"])
        seen, token = [], None
        for _ in range(1000):
            args = ["list", "--name", "my_custom_task", "--limit", "3"]
            if token:
                args += ["--page-token", token]
            d = self.json_of(*args)
            seen += [t["id"] for t in d["tasks"]]
            token = d["next_page_token"]
            if not token:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(made <= set(seen))
        rc, out, err = taas("list", "--name", "my_custom_task", "--limit", "3")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("ID "))
        self.assertRegex(out.splitlines()[-1], r"^more: taas list --page-token \S+$")
        d = self.json_of("list", "--state", "succeeded", "--limit", "1000")
        self.assertTrue(all(t["state"] == "SUCCEEDED" for t in d["tasks"]))

    def test_parent_get_and_list(self):
        d = self.json_of("submit", "fan_out", "--input", json.dumps({"words": ["p", "q"]}),
                         "--wait")
        pid = d["task_id"] if "task_id" in d else d["id"]
        kids = self.json_of("list", "--parent", pid)["tasks"]
        self.assertEqual(len(kids), 2)
        self.assertTrue(all(k["parent_id"] == pid for k in kids))
        self.assertEqual(self.json_of("get", kids[0]["id"])["parent_id"], pid)
        self.assertEqual(self.json_of("get", pid)["parent_id"], "")
        rc, out, err = taas("get", kids[0]["id"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^parent:\s+%s$" % pid)
        rc, out, err = taas("get", pid)
        self.assertNotIn("parent:", out)
        self.assertEqual(self.json_of("list", "--parent", kids[0]["id"])["tasks"], [])

    def test_human_outputs(self):
        rc, out, err = taas("tasks")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^my_custom_task\s+1\.0\.0\s+Formats its two parameters")
        rc, out, err = taas("describe", "countdown")
        self.assertEqual(rc, 0, err)
        self.assertIn("idempotent:  yes", out)
        self.assertIn('"seconds": {', out)

    def test_duplicate_submit(self):
        key = "dup-%d" % time.time_ns()
        rc, first, err = taas("submit", "my_custom_task", "--input", INPUT, "--key", key)
        self.assertEqual(rc, 0, err)
        rc, second, err = taas("submit", "my_custom_task", "--input", INPUT, "--key", key)
        self.assertEqual(rc, 0, err)
        self.assertEqual(first, second)
        self.assertIn("duplicate", err)

    def test_help(self):
        for args in (["--help"], ["-h"], ["help"], ["help", "submit"], ["submit", "--help"],
                     ["watch", "-h"], ["list", "--help"]):
            with self.subTest(args=args):
                rc, out, err = taas(*args, server_arg=False)
                self.assertEqual(rc, 0, err)
                self.assertIn("usage: taas", out)
        rc, out, _ = taas("--help", server_arg=False)
        self.assertRegex(out, r"(?m)^  4  not found")



class ScheduleCli(CliCase):
    """`taas schedule ...` against the real ScheduleService."""

    def test_lifecycle(self):
        before = int(time.time() * 1000)
        rc, out, err = taas("schedule", "create", "my_custom_task", "--every", "1s",
                            "--input", INPUT, "--name", "cli-every", "--catch-up", "all",
                            "--max-catch-up", "3", "--overlap", "skip", "--priority", "4")
        self.assertEqual(rc, 0, err)
        sid = out.strip()
        self.assertRegex(sid, r"^[0-9a-f-]{36}$")
        s = self.json_of("schedule", "get", sid)
        self.assertEqual((s["interval_ms"], s["task_name"], s["inputs"], s["name"]),
                         (1000, "my_custom_task", json.loads(INPUT), "cli-every"))
        self.assertEqual((s["catch_up"], s["max_catch_up"], s["overlap"], s["priority"]),
                         ("RUN_ALL", 3, "SKIP", 4))
        self.assertFalse(s["paused"])
        self.assertGreater(s["next_fire_at_ms"], before)
        up = s["upcoming_at_ms"]
        self.assertGreaterEqual(len(up), 2)
        self.assertEqual([b - a for a, b in zip(up, up[1:])], [1000] * (len(up) - 1))

        rc, out, err = taas("schedule", "list")
        self.assertEqual(rc, 0, err)
        row = [line for line in out.splitlines() if line.startswith(sid)]
        self.assertEqual(len(row), 1, out)
        self.assertRegex(row[0], r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z\s+every 1000ms\s+cli-every")
        listed = self.json_of("schedule", "list")["schedules"]
        self.assertIn(sid, [x["id"] for x in listed])

        # It really submits: wait for a fire, then the task it names exists.
        deadline = time.time() + 15
        while time.time() < deadline:
            s = self.json_of("schedule", "get", sid)
            if s["submitted"] >= 1 and s["last_task_id"]:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(s["submitted"], 1, s)
        task = self.json_of("get", s["last_task_id"])
        self.assertEqual(task["task_name"], "my_custom_task")

        p = self.json_of("schedule", "pause", sid)
        self.assertTrue(p["paused"])
        rc, out, err = taas("schedule", "list")
        row = [line for line in out.splitlines() if line.startswith(sid)]
        self.assertIn("paused", row[0])
        rc, out, err = taas("schedule", "get", sid)
        self.assertIn("next fires: - (paused)", out)
        r = self.json_of("schedule", "resume", sid)
        self.assertFalse(r["paused"])
        self.assertGreater(r["next_fire_at_ms"], 0)

        rc, out, err = taas("schedule", "delete", sid)
        self.assertEqual((rc, out), (0, "deleted\n"), err)
        rc, out, err = taas("schedule", "get", sid)
        self.assertEqual(rc, 4, err)
        self.assertIn("NOT_FOUND", err)

    def test_cron_with_time_zone(self):
        s = self.json_of("schedule", "create", "my_custom_task", "--cron", "0 3 * * *",
                         "--tz", "Europe/Paris", "--input", INPUT, "--paused")
        self.assertEqual((s["cron"], s["time_zone"], s["paused"]),
                         ("0 3 * * *", "Europe/Paris", True))
        self.assertEqual(self.json_of("schedule", "resume", s["id"])["paused"], False)
        nxt = self.json_of("schedule", "get", s["id"])["next_fire_at_ms"]
        # 03:00 in Paris is 01:00 or 02:00 UTC depending on DST.
        self.assertIn(time.gmtime(nxt / 1000).tm_hour, (1, 2))
        self.assertEqual(nxt % 3600000, 0)
        self.assertEqual(taas("schedule", "delete", s["id"])[0], 0)

    def test_errors(self):
        rc, out, err = taas("schedule", "create", "my_custom_task", "--cron", "61 * * * *",
                            "--input", INPUT)
        self.assertEqual(rc, 5)
        self.assertIn("61 is out of range 0-59", err)
        rc, out, err = taas("--json", "schedule", "create", "my_custom_task", "--cron",
                            "0 3 * * *", "--tz", "Mars/Olympus", "--input", INPUT)
        self.assertEqual(rc, 5)
        self.assertEqual(json.loads(err)["error"]["code"], "INVALID_ARGUMENT")
        rc, out, err = taas("schedule", "create", "my_custom_task", "--every", "1s",
                            "--input", '{"param2":1}')
        self.assertEqual(rc, 5, err)
        self.assertIn("param1", err)
        rc, out, err = taas("schedule", "create", "no_such_task", "--every", "1s")
        self.assertEqual(rc, 4, err)
        for args in (["create", "my_custom_task"],
                     ["create", "my_custom_task", "--cron", "* * * * *", "--every", "1s"],
                     ["create", "my_custom_task", "--every", "soon"],
                     ["create", "my_custom_task", "--every", "1s", "--tz", "UTC"],
                     ["create", "my_custom_task", "--every", "1s", "--catch-up", "maybe"],
                     ["frobnicate", "x"], ["get"], ["list", "extra"]):
            rc, out, err = taas("schedule", *args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertTrue(err.startswith("taas: "), err)
        self.assertEqual(taas("schedule", "get", UNKNOWN_ID)[0], 4)
        self.assertEqual(taas("schedule", "delete", UNKNOWN_ID)[0], 4)

if __name__ == "__main__":
    unittest.main()
