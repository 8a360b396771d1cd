#!/usr/bin/env python3
"""Write taas_client/_proto/ from the repository's .proto files.

Runs protoc (--python_out, --pyi_out) and the gRPC Python plugin, then
rewrites the output so that it lives entirely inside the package:

* every module is a flat ``taas_client._proto.<name>`` module: protoc would
  otherwise write ``grpc/health/v1/health_pb2.py``, a package named ``grpc``
  that shadows grpcio itself, and ``taas/v1/taas_pb2.py``, a top-level
  ``taas`` package that a user's own stubs may also define;
* the descriptors go into a private descriptor pool
  (``taas_client._proto.POOL``) instead of protobuf's default pool, so a
  process may also load other stubs of the same .proto files (an older copy,
  grpcio-health-checking's health.proto) without a "duplicate file" or
  "duplicate symbol" error.

The files are committed, so ``pip install ./client/python`` needs no
compiler; the build regenerates them and CI fails if they differ.

usage: gen_stubs.py PROTO_DIR OUT_DIR [--protoc P] [--plugin GRPC_PYTHON_PLUGIN]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# .proto path (relative to PROTO_DIR) -> flat module name
PROTOS = {
    "taas/v1/taas.proto": "taas",
    "grpc/health/v1/health.proto": "health",
    "internal/rpc_status.proto": "rpc_status",
}

# Generated code is not ours to type-check (and google.protobuf may come
# without type information).
HEADER = ("# Written by client/python/gen_stubs.py from proto/%s; do not edit.\n"
          "# mypy: ignore-errors\n")


def rewrite(text, proto, name):
    dotted_dir = os.path.dirname(proto).replace("/", ".")
    # pb2: the default pool -> the package's private pool; the module name
    # protoc bakes in -> the real one.
    text = text.replace("_descriptor_pool.Default().AddSerializedFile",
                        "_POOL.AddSerializedFile")
    text = text.replace("from google.protobuf import descriptor_pool as _descriptor_pool\n",
                        "from taas_client._proto import POOL as _POOL\n")
    text = text.replace("'%s.%s_pb2'" % (dotted_dir, name), "'taas_client._proto.%s_pb2'" % name)
    # pb2_grpc: the import of its pb2 module.
    text = re.sub(r"^from %s import %s_pb2 as " % (re.escape(dotted_dir), name),
                  "from taas_client._proto import %s_pb2 as " % name, text, flags=re.M)
    return HEADER % proto + text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--plugin", default=shutil.which("grpc_python_plugin") or "grpc_python_plugin")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        for proto, name in PROTOS.items():
            args = [a.protoc, "-I", a.proto_dir, "--python_out=" + tmp, "--pyi_out=" + tmp]
            if name != "rpc_status":
                args += ["--grpc_out=" + tmp, "--plugin=protoc-gen-grpc=" + a.plugin]
            subprocess.run(args + [proto], check=True)
            base = os.path.join(tmp, os.path.dirname(proto), name)
            for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
                src = base + suffix
                if not os.path.exists(src):
                    continue
                with open(src) as f:
                    text = rewrite(f.read(), proto, name)
                dst = os.path.join(a.out_dir, name + suffix)
                old = None
                if os.path.exists(dst):
                    with open(dst) as f:
                        old = f.read()
                if old != text:  # unchanged files keep their time stamps
                    with open(dst, "w") as f:
                        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
