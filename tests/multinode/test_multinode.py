"""Three taas-server processes on one PostgreSQL database, on loopback.

Each test starts its own throwaway cluster (scripts/pg-test-cluster.sh) and
three servers on it with distinct ports and node ids (TAAS_NODE_ID) and a
short lease (TAAS_LEASE_MS=2000), drives them through grpcio, and reads the
tasks table with psql where the API does not say which node holds a lease.
Every wait is bounded; servers and the cluster are always stopped.

  Spread        submits spread across the nodes all finish, every node sees
                every task; a watcher on one node follows a body on another
                to its end; a cancel sent to one node stops a body on another.
  Kill          a node is killed with SIGKILL mid-body: the others recover
                its leases, every task ends final, no task ran twice.
  Fencing       a node frozen (SIGSTOP) past its lease loses the task to
                recovery; woken again, its late completion is refused.
  DatabaseDown  PostgreSQL stops for a few seconds: calls fail with
                UNAVAILABLE meanwhile, and everything works again afterwards
                without restarting the servers.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.environ["TAAS_IT_DIR"])
import taas_harness  # noqa: E402
import grpc  # noqa: E402
from taas.v1 import taas_pb2 as S, taas_pb2_grpc  # noqa: E402

T = 10  # seconds: deadline of every unary call
LEASE_MS = 2000
CLUSTER = os.environ["TAAS_PG_CLUSTER"]
FINAL = (S.TASK_STATE_SUCCEEDED, S.TASK_STATE_FAILED, S.TASK_STATE_CANCELLED)


def cluster(cmd, d):
    p = subprocess.run(["sh", CLUSTER, cmd, d], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError("pg-test-cluster.sh %s failed: %s" % (cmd, p.stderr.decode()))
    return p.stdout.decode().strip()


class Node:
    def __init__(self, name, url, workdir, extra_args=(), env=None):
        e = {"TAAS_NODE_ID": name, "TAAS_LEASE_MS": str(LEASE_MS), "TAAS_LOG_LEVEL": "debug"}
        e.update(env or {})
        self.name = name
        self.server = taas_harness.Server(workdir=os.path.join(workdir, name),
                                          extra_args=list(extra_args), env=e,
                                          database_url=url)
        os.makedirs(self.server.workdir, exist_ok=True)
        self.channel = None
        self.stub = None

    def start(self):
        self.server.start()
        self.channel = grpc.insecure_channel(self.server.address)
        self.stub = taas_pb2_grpc.TaskServiceStub(self.channel)
        return self

    def submit(self, name, inputs, **kw):
        return self.stub.SubmitTask(S.SubmitTaskRequest(task_name=name,
                                                        inputs_json=json.dumps(inputs), **kw),
                                    timeout=T)

    def get(self, task_id):
        return self.stub.GetTask(S.GetTaskRequest(task_id=task_id), timeout=T).task

    def log(self):
        """The whole log (Server.log() keeps only its tail)."""
        if not self.server.log_path or not os.path.exists(self.server.log_path):
            return ""
        with open(self.server.log_path, "r", errors="replace") as f:
            return f.read()

    def close(self):
        if self.channel:
            self.channel.close()
            self.channel = None
        self.server.kill()


class MultiNode(unittest.TestCase):
    """A cluster and three nodes per test; subclasses say how they start."""

    roles = {"node-a": (), "node-b": (), "node-c": ()}
    node_env = {"TAAS_PREFETCH": "-1"}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="taas-mn-")
        # Its own directory under /tmp: as root the cluster runs as the
        # postgres user, who cannot enter the private directory above.
        self.pgdir = tempfile.mkdtemp(prefix="taas-mn-pg-")
        self.nodes = {}
        self.url = None
        try:  # unittest skips tearDown when setUp fails: clean up here then
            self.url = cluster("start", self.pgdir)
            for name, args in self.roles.items():
                self.nodes[name] = Node(name, self.url, self.tmp,
                                        ["--workers", "2"] + list(args), self.node_env).start()
        except Exception:
            self.tearDown()
            raise

    def tearDown(self):
        for n in self.nodes.values():
            n.close()
        try:
            if self.url:
                cluster("stop", self.pgdir)
        finally:
            subprocess.run(["rm", "-rf", self.tmp, self.pgdir], timeout=60)

    @property
    def a(self):
        return self.nodes["node-a"]

    @property
    def b(self):
        return self.nodes["node-b"]

    @property
    def c(self):
        return self.nodes["node-c"]

    def sql(self, query):
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url, "-c", query],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("psql: " + p.stderr.decode())
        return [line.split("|") for line in p.stdout.decode().splitlines() if line]

    def running_on(self, node, name="countdown"):
        # Started, not only held: a task claimed in its insert is RUNNING in
        # the store under the node's lease before its body starts; the start
        # mark (started_ms) is written once the body has run START_MARK_MS.
        return [r[0] for r in self.sql(
            "SELECT id FROM tasks WHERE state = 2 AND started_ms > 0 AND name = '%s'"
            " AND lease_owner = '%s'" % (name, node))]

    def wait_final(self, node, ids, timeout_s):
        def all_final():
            tasks = {i: node.get(i) for i in ids}
            return tasks if all(t.state in FINAL for t in tasks.values()) else None
        return taas_harness.wait_until(all_final, timeout_s, 0.2, "tasks to end")


class Spread(MultiNode):
    # Bodies run on node-b only, so a watcher on node-a follows a remote body.
    roles = {"node-a": ("--role", "api"), "node-b": (), "node-c": ("--role", "api")}

    def test_submits_watch_and_cancel_across_nodes(self):
        nodes = list(self.nodes.values())
        ids = []
        for i in range(30):
            n = nodes[i % 3]
            ids.append(n.submit("my_custom_task", {"param1": "s%d" % i, "param2": i}).task_id)
        done = self.wait_final(self.c, ids, 30)
        for i, task_id in enumerate(ids):
            self.assertEqual(done[task_id].state, S.TASK_STATE_SUCCEEDED)
            self.assertEqual(json.loads(done[task_id].output_json),
                             {"result": "Processed s%d with %d" % (i, i)})
            self.assertEqual(done[task_id].attempt, 1)
        for n in nodes:  # one database: every node lists every task
            listed = n.stub.ListTasks(S.ListTasksRequest(page_size=1000), timeout=T).tasks
            self.assertEqual(sorted(t.id for t in listed), sorted(ids))

        # A watcher on node-a follows a countdown that runs on node-b.
        tid = self.c.submit("countdown", {"seconds": 2, "step_ms": 100}).task_id
        events = list(self.a.stub.WatchTask(S.WatchTaskRequest(task_id=tid), timeout=30))
        self.assertEqual(events[-1].state, S.TASK_STATE_SUCCEEDED, events[-1])
        progress = sorted({round(e.progress, 3) for e in events
                           if e.state == S.TASK_STATE_RUNNING and 0 < e.progress < 1})
        self.assertGreaterEqual(len(progress), 3,
                                "the watcher on node-a saw too little progress: %s" % events)
        self.assertEqual(json.loads(events[-1].task.output_json)["counted"], 2)
        self.assertEqual(self.sql("SELECT attempts_json FROM tasks WHERE id = '%s'" % tid)[0][0],
                         "[]")

        # A cancel sent to node-c stops the body on node-b promptly.
        tid = self.a.submit("countdown", {"seconds": 60, "step_ms": 50}).task_id
        taas_harness.wait_until(lambda: self.running_on("node-b") == [tid], 15, 0.1,
                                "the countdown to run on node-b")
        t0 = time.monotonic()
        self.c.stub.CancelTask(S.CancelTaskRequest(task_id=tid), timeout=T)
        t = self.wait_final(self.a, [tid], 10)[tid]
        self.assertEqual(t.state, S.TASK_STATE_CANCELLED)
        self.assertLess(time.monotonic() - t0, 5.0, "the remote body stopped too late")


class Kill(MultiNode):
    def test_sigkill_mid_body(self):
        nodes = list(self.nodes.values())
        # Six countdowns fill the six worker slots (no prefetch): two on each node.
        long_ids = [nodes[i % 3].submit("countdown", {"seconds": 8, "step_ms": 100}).task_id
                    for i in range(6)]
        taas_harness.wait_until(lambda: len(self.running_on("node-b")) == 2, 20, 0.1,
                                "two countdowns running on node-b")
        short_ids = [nodes[i % 3].submit("my_custom_task", {"param1": "k%d" % i}).task_id
                     for i in range(30)]
        self.b.server.proc.send_signal(signal.SIGKILL)
        self.b.server.proc.wait(10)
        t_kill = time.monotonic()
        # What node-b ran when it died (its leases outlive it by up to 2 s);
        # a task it only held goes back to PENDING, its attempt given back.
        victims = [r[0] for r in self.sql(
            "SELECT id FROM tasks WHERE state = 2 AND started_ms > 0 AND lease_owner = 'node-b'")]
        self.assertEqual(len(victims), 2, victims)
        self.assertTrue(set(victims) <= set(long_ids))
        # The survivors keep serving while node-b's leases run out.
        more = [nodes[i % 2 * 2].submit("my_custom_task", {"param1": "m%d" % i}).task_id
                for i in range(10)]
        ids = long_ids + short_ids + more
        done = self.wait_final(self.a, ids, 40)
        recovered_after = time.monotonic() - t_kill
        rows = {r[0]: r for r in self.sql(
            "SELECT id, state, attempt, error, lease_owner IS NULL FROM tasks")}
        for i in ids:
            t = done[i]
            with self.subTest(task=i):
                self.assertIn(i, rows)
                self.assertEqual(rows[i][4], "t", "a final task still holds a lease")
                # An interruption uses no attempt: every task ends as attempt 1.
                self.assertEqual(t.attempt, 1, t)
                if i in victims:
                    # countdown is idempotent: recovery by the survivors runs
                    # it again (retries: 0 notwithstanding), the interrupted
                    # run recorded.
                    self.assertEqual(t.state, S.TASK_STATE_SUCCEEDED, t)
                    self.assertEqual([a.error for a in t.attempts], ["interrupted"])
                else:
                    self.assertEqual(t.state, S.TASK_STATE_SUCCEEDED, t)
        # Every accepted completion was logged once, by the node that ran it.
        logs = "".join(n.log() for n in nodes)
        for i in ids:
            if done[i].state == S.TASK_STATE_SUCCEEDED:
                self.assertEqual(logs.count("task.complete id=%s " % i), 1, i)
        self.assertTrue("engine.recovered" in self.a.log() + self.c.log(),
                        "no survivor logged engine.recovered")
        self.assertLess(recovered_after, 30)


class Fencing(MultiNode):
    def test_frozen_node_is_fenced(self):
        tid = None
        # Keep submitting until one countdown lands on node-b.
        deadline = time.monotonic() + 30
        while tid is None and time.monotonic() < deadline:
            x = self.b.submit("countdown", {"seconds": 3, "step_ms": 100}).task_id
            try:
                taas_harness.wait_until(lambda: self.running_on("node-b") == [x], 2, 0.05)
                tid = x
            except AssertionError:
                pass
        self.assertIsNotNone(tid, "no countdown ran on node-b")
        self.b.server.proc.send_signal(signal.SIGSTOP)
        try:
            # Recovered by a survivor and, idempotent, run again there.
            t = self.wait_final(self.a, [tid], 30)[tid]
            self.assertEqual(t.state, S.TASK_STATE_SUCCEEDED)
            self.assertEqual([a.error for a in t.attempts], ["interrupted"])
        finally:
            self.b.server.proc.send_signal(signal.SIGCONT)
        # node-b's body ends a moment later; its completion carries a stale token.
        taas_harness.wait_until(lambda: "task.fenced id=%s" % tid in self.b.log(), 15, 0.1,
                                "node-b's completion to be refused")
        t = self.a.get(tid)
        self.assertEqual(t.state, S.TASK_STATE_SUCCEEDED)
        self.assertEqual(t.attempt, 1)
        self.assertEqual([a.error for a in t.attempts], ["interrupted"])
        # The rerun's claim (token 2) completed it; node-b's (token 1) was refused.
        self.assertEqual(self.sql("SELECT lease_token FROM tasks WHERE id = '%s'" % tid)[0][0],
                         "2")
        # node-b is fine and takes work again.
        ok = self.b.submit("my_custom_task", {"param1": "after"}).task_id
        self.assertEqual(self.wait_final(self.b, [ok], 20)[ok].state, S.TASK_STATE_SUCCEEDED)


class DatabaseDown(MultiNode):
    def test_postgresql_stops_and_returns(self):
        before = [n.submit("my_custom_task", {"param1": "b%d" % i}).task_id
                  for i, n in enumerate(self.nodes.values())]
        self.wait_final(self.a, before, 20)
        cluster("down", self.pgdir)
        t_down = time.monotonic()
        try:
            for n in self.nodes.values():
                with self.assertRaises(grpc.RpcError) as ctx:
                    n.submit("my_custom_task", {"param1": "during"})
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE,
                                 ctx.exception.details())
                self.assertIn("unreachable", ctx.exception.details())
                with self.assertRaises(grpc.RpcError) as ctx:
                    n.get(before[0])
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE,
                                 ctx.exception.details())
            time.sleep(max(0.0, 4.0 - (time.monotonic() - t_down)))
        finally:
            cluster("up", self.pgdir)

        # Back without a restart: every node submits, runs, reads and watches.
        def submit_all():
            try:
                return [n.submit("my_custom_task", {"param1": "a%d" % i}).task_id
                        for i, n in enumerate(self.nodes.values())]
            except grpc.RpcError:
                return None
        after = taas_harness.wait_until(submit_all, 20, 0.2, "submits to work again")
        done = self.wait_final(self.b, after, 20)
        for i in after:
            self.assertEqual(done[i].state, S.TASK_STATE_SUCCEEDED)
        tid = self.b.submit("countdown", {"seconds": 1, "step_ms": 100}).task_id
        events = list(self.c.stub.WatchTask(S.WatchTaskRequest(task_id=tid), timeout=30))
        self.assertEqual(events[-1].state, S.TASK_STATE_SUCCEEDED)
        for n in self.nodes.values():
            self.assertTrue(n.server.alive(), n.name + " died:\n" + n.log())
            self.assertEqual(n.get(before[0]).state, S.TASK_STATE_SUCCEEDED)


if __name__ == "__main__":
    unittest.main()
