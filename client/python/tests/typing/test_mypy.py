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


WEIRD_SPEC = """\
name: weird_keys
version: 1.0.0
description: Keys that are not Python names, nested objects, enums and $defs.
inputs:
  type: object
  $defs:
    point: {type: object, properties: {x: {type: number}, y: {type: number}}, required: [x, y]}
  properties:
    content-type: {type: string, enum: [a, b], description: Not a Python name}
    class: {type: integer, description: A Python keyword}
    where: {$ref: "#/$defs/point"}
    path: {type: array, items: {$ref: "#/$defs/point"}}
    either: {type: [string, integer]}
  required: [class]
outputs:
  type: object
  properties:
    2fast: {type: boolean}
"""


def test_generator_edge_cases_type_check(tmp_path):
    # clientgen on the codegen tests' kitchen-sink spec and on awkward keys:
    # the module it writes passes mypy --strict inside the package.
    import shutil
    root = os.path.dirname(os.path.dirname(PKG))
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(root, "codegen", "tests", "specs"), specs)
    (specs / "weird_keys.yaml").write_text(WEIRD_SPEC)
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(PKG, "taas_client"), pkg / "taas_client")
    r = subprocess.run([sys.executable, os.path.join(root, "codegen", "clientgen.py"), "--specs",
                        str(specs), "--python", str(pkg / "taas_client" / "tasks.py"),
                        "--typescript", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (pkg / "taas_client" / "tasks.py").read_text()
    assert "async def weird_keys(" in text and "class_: int" in text
    assert "'content-type': Literal['a', 'b']" in text
    ts = (tmp_path / "tasks.d.ts").read_text()
    assert '"content-type"?: "a" | "b";' in ts and "class: number;" not in ts
    with tempfile.TemporaryDirectory() as cache:
        r = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                            os.path.join(PKG, "pyproject.toml"), "--cache-dir", cache, "--strict",
                            str(pkg / "taas_client")], cwd=str(pkg), capture_output=True, text=True,
                           timeout=240, env=dict(os.environ, MYPYPATH=str(pkg)))
    assert r.returncode == 0, r.stdout + r.stderr
