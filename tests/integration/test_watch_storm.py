"""A storm of unread WatchTask streams must not stop anyone else.

4,000 streams that never read, over 40 connections, watch 4 countdown
tasks reporting progress every millisecond, while health checks run on
their own connection; the health check's 99th percentile stays under 50 ms.
The body's reports only update the task's latest progress; the server's
watch thread sends it to each watcher at most once per interval, and to all
watchers together at most --watch-rate a second, so the gRPC thread (which
does every socket write) stays free for other calls. Each watcher holds at
most one message in flight and the latest progress waiting (coalescing), so
the storm costs memory bounded by the number of watchers. The caps on
streams per connection and per principal refuse the next watch with
RESOURCE_EXHAUSTED and a message naming the limit.

TAAS_STORM_P99_BOUND_S overrides the bound: `make test-asan` sets it, as
sanitizers make every call 2-3x slower.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
import unittest

import grpc

import taas_harness
from taas.v1 import taas_pb2 as S, taas_pb2_grpc  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402

CONNS = 40
TASKS = 4
CHECKS = 300
# The bound on the health check's 99th percentile during the storm (measured
# 4-5 ms on a loaded 2-core machine; 0.5 s before progress was paced, with
# 400 watchers, and health checks timed out after 10 s with 4,000).
P99_BOUND_S = float(os.environ.get("TAAS_STORM_P99_BOUND_S", "0.05"))

# The storm's assertions run in a child process (see run_storm).
check = unittest.TestCase()


class WatchStorm(unittest.TestCase):
    def setUp(self):
        self.server = None

    def start(self, per_conn):
        # The principal cap is the number of watchers: the next one is refused.
        self.server = taas_harness.Server(extra_args=[
            "--max-concurrent-streams", str(per_conn * 2),
            "--max-watches-per-connection", str(per_conn),
            "--max-watches-per-principal", str(per_conn * CONNS)]).start()

    def tearDown(self):
        if not self.server:
            return
        alive = self.server.alive()
        log = self.server.log()
        self.server.cleanup()
        self.assertTrue(alive, "the server died:\n" + log)

    def test_storm_4000(self):
        """The storm as an attacker made it: 4,000 streams."""
        self.start(100)
        self.run_storm(100)

    def test_storm_400(self):
        """Fewer streams hurt more before progress was paced: the client
        keeps taking their messages, so every one of them is a socket write
        on the server's gRPC thread (p99 0.5 s then)."""
        self.start(10)
        self.run_storm(10)

    def run_storm(self, per_conn):
        """The client side runs in a process of its own: after a failure
        midway, grpc.aio can hang tearing down the calls it left (at the
        loop's close or at interpreter exit), and a second event loop in the
        same process finds its poller bound to the first. The child prints
        what it measured, and a failure's traceback, and exits at once."""
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--storm",
                                self.server.address, str(per_conn)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=180)
        except subprocess.TimeoutExpired as e:
            self.fail("the storm's client did not finish within 180 s:\n%s\nserver log:\n%s"
                      % (e.output, self.server.log(6000)))
        print(p.stdout, end="", flush=True)
        if p.returncode != 0:
            self.fail("the storm's client failed (exit %d):\n%s\nserver log:\n%s"
                      % (p.returncode, p.stdout, self.server.log(6000)))


async def refusal(stub, task_id, extras):
    """Opens one more watch, which the caps must refuse: its status code
    and details (fails, naming what came, if it was served)."""
    call = stub.WatchTask(S.WatchTaskRequest(task_id=task_id), timeout=30)
    extras.append(call)
    try:
        ev = await call.read()
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    if ev is grpc.aio.EOF:
        return await call.code(), await call.details() or ""
    check.fail("a watch past the caps was served: %s" % (ev,))


async def storm(addr, per_conn):
    WATCHERS = per_conn * CONNS
    # A local subchannel pool: channels with equal arguments otherwise
    # share one connection, and the per-connection cap would bite.
    chans = [grpc.aio.insecure_channel(
        addr, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(CONNS + 1)]
    hchan = grpc.aio.insecure_channel(addr)
    calls = []
    extras = []
    try:
        # Every connection is up before the storm: a call on a channel
        # still connecting (or reconnecting after a connect that a loaded
        # machine refused or timed out) fails at once without
        # wait_for_ready, and that is not what this test is about.
        await asyncio.wait_for(
            asyncio.gather(*(c.channel_ready() for c in chans + [hchan])), 60)
        stubs = [taas_pb2_grpc.TaskServiceStub(c) for c in chans]
        ids = []
        for i in range(TASKS):
            r = await stubs[0].SubmitTask(S.SubmitTaskRequest(
                task_name="countdown",
                inputs_json=json.dumps({"seconds": 30, "step_ms": 1})), timeout=10)
            ids.append(r.task_id)
        # Open the watches and never read them; wait for each stream's
        # headers so the server has registered it.
        for n in range(WATCHERS):
            calls.append(stubs[n % CONNS].WatchTask(
                S.WatchTaskRequest(task_id=ids[n % TASKS]), timeout=200))
        await asyncio.gather(*(c.initial_metadata() for c in calls))
        await asyncio.sleep(0.5)
        refused = [c for c in calls if c.done()]
        if refused:
            why = [(await c.code(), await c.details()) for c in refused[:5]]
            check.fail("%d of %d watches ended before the storm began: %s"
                       % (len(refused), WATCHERS, why))

        # One more on a full connection: refused, naming the connection cap.
        code, details = await refusal(stubs[0], ids[0], extras)
        check.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        check.assertIn("this connection", details)
        check.assertIn("max-watches-per-connection", details)
        # One more on a fresh connection: refused by the principal cap.
        code, details = await refusal(stubs[CONNS], ids[0], extras)
        check.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        check.assertIn("max-watches-per-principal", details)

        # Health checks while the storm goes on.
        health = health_pb2_grpc.HealthStub(hchan)
        lat = []
        for _ in range(CHECKS):
            t0 = time.monotonic()
            r = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            lat.append(time.monotonic() - t0)
            check.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)
            await asyncio.sleep(0.005)
        lat.sort()
        p50 = statistics.median(lat)
        p99 = lat[int(len(lat) * 0.99) - 1]
        print(f"storm: {WATCHERS} unread watchers on {TASKS} countdown tasks "
              f"(step_ms 1): health p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {lat[-1] * 1000:.1f} ms", flush=True)
        check.assertLess(p99, P99_BOUND_S, "health latencies (s), slowest last: %s"
                        % ([round(x, 4) for x in lat[-10:]],))

        # Every stream is still open, none failed: the storm was served.
        check.assertFalse(any(c.done() for c in calls))
        # A watcher that reads at last is served at once.
        first = []
        async for ev in calls[0]:
            first.append(ev)
            if len(first) == 3:
                break
        check.assertTrue(all(ev.task_id == ids[0] for ev in first))

        # Closing the watches frees the principal's quota.
        for c in calls:
            c.cancel()
        calls = []
        await asyncio.sleep(1)
        again = stubs[CONNS].WatchTask(S.WatchTaskRequest(task_id=ids[1]), timeout=30)
        ev = await again.read()
        check.assertEqual(ev.task_id, ids[1])
        again.cancel()
        for i in ids:
            await stubs[0].CancelTask(S.CancelTaskRequest(task_id=i), timeout=10)
    finally:
        # Cancel what is open and let each call end before its channel
        # closes.
        for c in calls + extras:
            c.cancel()
        await asyncio.wait_for(asyncio.gather(*(c.code() for c in calls + extras),
                                              return_exceptions=True), 30)
        for c in chans + [hchan]:
            await c.close()


def storm_main(addr, per_conn):
    rc = 0
    try:
        asyncio.run(asyncio.wait_for(storm(addr, per_conn), 120))
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing is left to tidy, and grpc.aio's teardown after a failure can hang.
    os._exit(rc)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--storm":
        storm_main(sys.argv[2], int(sys.argv[3]))
    unittest.main()
