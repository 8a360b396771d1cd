"""mypy on code that uses the typed task stubs: good.py passes (strict),
bad.py fails on exactly the lines marked "# error"."""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(os.path.dirname(HERE))  # client/python


def mypy(*args):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, MYPYPATH=PKG)
        r = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                            os.path.join(PKG, "pyproject.toml"), "--cache-dir", cache,
                            "--no-error-summary", *args],
                           cwd=PKG, env=env, capture_output=True, text=True, timeout=240)
    return r.returncode, r.stdout + r.stderr


def test_good_passes_strict():
    rc, out = mypy("--strict", os.path.join(HERE, "good.py"), os.path.join(PKG, "taas_client"))
    assert rc == 0, out


def test_bad_fails_where_marked():
    bad = os.path.join(HERE, "bad.py")
    with open(bad) as f:
        want = {i for i, line in enumerate(f, 1) if "# error" in line}
    rc, out = mypy(bad)
    assert rc == 1, out
    got = {int(m.group(1)) for m in re.finditer(r"bad\.py:(\d+): error:", out)}
    assert got == want, out
    assert re.search(r'bad\.py:11: error: Argument "param2" .* "str"', out), out
