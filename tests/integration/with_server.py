"""Run a command against a fresh taas-server.

    with_server.py [--expect-stdout REGEX] [--timeout S] -- COMMAND [ARGS...]

Starts a server (see taas_harness.py), runs COMMAND with TAAS_SERVER set to
its address (and "{addr}" in ARGS replaced by it), stops the server, and
exits with COMMAND's status; 1 if the output does not match REGEX, if the
command outlives its timeout, or if the server died while it ran.
"""

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taas_harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect-stdout")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command and a.command[0] == "--" else a.command
    if not cmd:
        ap.error("no command")
    server = taas_harness.Server()
    try:
        server.start()
        env = dict(os.environ, TAAS_SERVER=server.address)
        env.setdefault("GRPC_DNS_RESOLVER", "native")
        argv = [x.replace("{addr}", server.address) for x in cmd]
        try:
            p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, timeout=a.timeout)
        except subprocess.TimeoutExpired as e:
            sys.stdout.write((e.stdout or b"").decode(errors="replace"))
            print("with_server: %s did not finish within %ss" % (argv[0], a.timeout))
            return 1
        out = p.stdout.decode(errors="replace")
        sys.stdout.write(out)
        rc = p.returncode
        if not server.alive():
            print("with_server: the server died while the test ran:\n" + server.log())
            return 1
        if rc == 0 and a.expect_stdout and not re.search(a.expect_stdout, out):
            print("with_server: output does not match %r" % a.expect_stdout)
            return 1
        if rc != 0:
            print("with_server: exit status %d; server log tail:\n%s" % (rc, server.log()[-4000:]))
        return rc
    finally:
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
