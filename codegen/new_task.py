#!/usr/bin/python3
"""Scaffold a new task: task-specs/NAME.yaml and tasks/NAME.c.

Usage: new_task.py NAME [--root DIR]

The spec has one input, one output and an `examples` entry that the
scaffolded body satisfies, so the new task builds and passes the generated
smoke test (ctest -R tasks_examples) before it is edited. Refuses an invalid
name and never overwrites an existing spec or body.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taasgen  # noqa: E402

SPEC = """\
# {name}: describe what the task does, for whom, and what it returns.
name: {name}
version: 0.1.0
description: >-
  Greets `who` (a placeholder: replace with what {name} really does).
idempotent: true
retries: 0
inputs:
  type: object
  properties:
    who:
      type: string
      description: Who to greet
      minLength: 1
  required: [who]
  additionalProperties: false
outputs:
  type: object
  properties:
    message:
      type: string
      description: The greeting
  required: [message]
  additionalProperties: false
examples:
  - inputs: {{who: world}}
    outputs: {{message: "Hello, world"}}
"""

BODY = """\
/*
 * tasks/{name}.c - the body of the {name} task (spec: task-specs/{name}.yaml).
 *
 * generated/{name}.h declares {name}_input, {name}_output and this function.
 * Allocate with taas_alloc/taas_strdup/taas_printf (freed after the output is
 * stored), report progress with taas_progress, fail with taas_fail.
 */
#include "{name}.h"

int {name}_execute(taas_ctx *ctx, const {name}_input *in, {name}_output *out)
{{
    taas_progress(ctx, 0.0, "starting");
    out->message = taas_printf(ctx, "Hello, %s", in->who);
    if (!out->message)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    taas_progress(ctx, 1.0, "done");
    return 0;
}}
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description="Scaffold a TaaS task (spec + body).")
    ap.add_argument("name")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="project root (default: this checkout)")
    a = ap.parse_args(argv)
    name = a.name
    if not taasgen.NAME_RE.match(name):
        print("new_task: invalid name '%s': use [a-z][a-z0-9_]*" % name, file=sys.stderr)
        return 2
    if name in taasgen.C_KEYWORDS:
        print("new_task: invalid name '%s': it is a C keyword" % name, file=sys.stderr)
        return 2
    specs = os.path.join(a.root, "task-specs")
    spec_path = os.path.join(specs, name + ".yaml")
    body_path = os.path.join(a.root, "tasks", name + ".c")
    for p in (spec_path, os.path.join(specs, name + ".json"), body_path,
              os.path.join(a.root, "examples", "tasks", name + ".c")):
        if os.path.exists(p):
            print("new_task: %s already exists; not overwriting" % os.path.relpath(p, a.root),
                  file=sys.stderr)
            return 1
    os.makedirs(specs, exist_ok=True)
    os.makedirs(os.path.dirname(body_path), exist_ok=True)
    with open(spec_path, "x", encoding="utf-8") as f:
        f.write(SPEC.format(name=name))
    with open(body_path, "x", encoding="utf-8") as f:
        f.write(BODY.format(name=name))
    print("created task-specs/%s.yaml  (the spec: inputs, outputs, examples)" % name)
    print("created tasks/%s.c         (the body: %s_execute)" % (name, name))
    print("next:")
    print("  1. edit task-specs/%s.yaml: description, inputs, outputs and examples" % name)
    print("  2. edit tasks/%s.c to compute the outputs (fields are in generated/%s.h)"
          % (name, name))
    print("  3. make test   (regenerates generated/, runs the examples: ctest -R tasks_examples)")
    print("  4. commit task-specs/%s.yaml, tasks/%s.c and generated/" % (name, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
