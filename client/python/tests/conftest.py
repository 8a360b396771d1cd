"""Fixtures: a real taas-server (tests/integration/taas_harness.py) per module."""

import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import taas_harness  # noqa: E402


@pytest.fixture(scope="module")
def server():
    s = taas_harness.Server().start()
    yield s
    s.cleanup()


@pytest.fixture(autouse=True)
def _no_taas_env(monkeypatch):
    # The caller's own TAAS_* settings must not leak into a test.
    for k in list(os.environ):
        if k.startswith("TAAS_") and k not in ("TAAS_SERVER_BIN", "TAAS_CLI_BIN",
                                               "TAAS_SPECS_DIR", "TAAS_PY_STUBS",
                                               "TAAS_IT_PG_URL_FILE"):
            monkeypatch.delenv(k)
