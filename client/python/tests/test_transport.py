"""taas_client over TLS, mutual TLS and bearer tokens; and retries after a
lost answer that must not make a second task."""

import asyncio
import hashlib
import os
import subprocess
import uuid

import pytest

import taas_harness
from taas_client import (Client, PermissionDenied, TaasClient, TaskState, Unauthenticated,
                         Unavailable)

TOKENS = {
    "alice": ("tok-alice-2b1f0e9c7d", "submit,read,cancel"),
    "reader": ("tok-reader-51aa3c0d9e", "read"),
}


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], check=True, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=" + name)


def make_cert(d, name, ca, usage):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n" % usage)
    openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "server", "ca", "serverAuth")
    make_cert(d, "client", "ca", "clientAuth")
    tokens = os.path.join(d, "tokens")
    with open(tokens, "w") as f:
        for who, (tok, scopes) in TOKENS.items():
            f.write("sha256:%s %s %s\n" % (hashlib.sha256(tok.encode()).hexdigest(), who, scopes))
    p = lambda n: os.path.join(d, n)  # noqa: E731
    s = taas_harness.Server(extra_args=["--tls-cert", p("server.pem"), "--tls-key", p("server.key"),
                                        "--tls-client-ca", p("ca.pem"), "--tokens-file", tokens])
    s.start()
    s.pki = p
    yield s
    s.cleanup()


def test_mtls_and_token(secure):
    p = secure.pki

    async def go():
        async with TaasClient(secure.address, ca_file=p("ca.pem"), cert_file=p("client.pem"),
                              key_file=p("client.key"), token=TOKENS["alice"][0]) as c:
            assert c.tls
            t = await c.submit_task("my_custom_task", {"param1": "tls", "param2": 1}, wait=True,
                                    wait_timeout=30)
            assert t.output == {"result": "Processed tls with 1"}
        async with TaasClient(secure.address, ca_file=p("ca.pem"), cert_file=p("client.pem"),
                              key_file=p("client.key"), retries=0) as c:
            with pytest.raises(Unauthenticated):
                await c.list_task_types()
        async with TaasClient(secure.address, ca_file=p("ca.pem"), cert_file=p("client.pem"),
                              key_file=p("client.key"), token=TOKENS["reader"][0]) as c:
            assert await c.list_task_types()
            with pytest.raises(PermissionDenied):
                await c.submit_task("noop", {})
        # A CA that did not sign the server's certificate: no connection.
        async with TaasClient(secure.address, ca_file=p("otherca.pem"), cert_file=p("client.pem"),
                              key_file=p("client.key"), token=TOKENS["alice"][0], retries=1,
                              rpc_timeout=10) as c:
            with pytest.raises(Unavailable):
                await c.health()
    asyncio.run(go())


def test_environment_like_the_cli(secure, monkeypatch, tmp_path):
    p = secure.pki
    tok = tmp_path / "token"
    tok.write_text(TOKENS["alice"][0] + "\n")
    monkeypatch.setenv("TAAS_SERVER", secure.address)
    monkeypatch.setenv("TAAS_TLS_CA", p("ca.pem"))
    monkeypatch.setenv("TAAS_TLS_CLIENT_CERT", p("client.pem"))
    monkeypatch.setenv("TAAS_TLS_CLIENT_KEY", p("client.key"))
    monkeypatch.setenv("TAAS_TOKEN_FILE", str(tok))
    with Client() as c:
        assert c.submit_task("noop", {}, wait=True).state is TaskState.SUCCEEDED
    monkeypatch.setenv("TAAS_TOKEN", TOKENS["reader"][0])  # wins over the file
    with Client() as c:
        with pytest.raises(PermissionDenied):
            c.submit_task("noop", {})
    monkeypatch.delenv("TAAS_TLS_CLIENT_KEY")
    with pytest.raises(ValueError):
        Client()


class DroppingProxy:
    """A TCP proxy to the server that can swallow the server's answers and
    then cut every connection: the request arrives, its answer never does."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.swallow = False
        self.swallowed = 0
        self.writers = []

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, r, w, from_server):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if from_server and self.swallow:
                    self.swallowed += len(data)
                    continue
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _handle(self, cr, cw):
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.writers += [cw, uw]
        await asyncio.gather(self._pipe(cr, uw, False), self._pipe(ur, cw, True))

    def cut(self):
        for w in self.writers:
            w.transport.abort()
        self.writers = []

    async def close(self):
        self.cut()
        self.server.close()
        await self.server.wait_closed()


def test_retried_submit_makes_one_task(server):
    async def count(c, name):
        return len([t async for t in c.list_tasks(task_name=name)])

    async def go():
        proxy = DroppingProxy(server.port)
        await proxy.start()
        async with TaasClient(server.address) as direct, \
                TaasClient("127.0.0.1:%d" % proxy.port, retries=5) as c:
            assert await c.health() == "SERVING"
            before = await count(direct, "countdown")
            proxy.swallow = True
            submit = asyncio.ensure_future(c.submit_task("countdown", {"seconds": 0},
                                                         priority=3, run_after=None))
            # The server stores the task and answers; the answer is swallowed.
            for _ in range(200):
                if await count(direct, "countdown") > before:
                    break
                await asyncio.sleep(0.05)
            assert await count(direct, "countdown") == before + 1, "the submit never arrived"
            assert not submit.done()
            proxy.swallow = False
            proxy.cut()  # the client sees UNAVAILABLE and submits again, same key
            r = await asyncio.wait_for(submit, 60)
            assert r["duplicate"] is True, r
            assert r["idempotency_key"].startswith("taas-client-")
            assert await count(direct, "countdown") == before + 1
            t = await direct.get_task(r["task_id"])
            assert t.idempotency_key == r["idempotency_key"]
        await proxy.close()
    asyncio.run(go())
