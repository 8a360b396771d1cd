#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, made from the public test suites.

    seeds.py --data DIR --out DIR [--specs task-specs]

Reads JSONTestSuite and JSON-Schema-Test-Suite under --data (the project's
TAAS_DATA_DIR, ../shared/data by default) and writes, under --out, one
directory per fuzz target whose inputs start from them:

  json/          every JSONTestSuite file and every JSON-Schema-Test-Suite
                 file, unchanged
  validators/    a selector byte (which validator; see fuzz_validators.c)
                 followed by a document: the JSONTestSuite y_ files under
                 every selector, each JSON-Schema-Test-Suite schema and test
                 datum under one selector in turn
  request_path/  one-step programs submitting each short y_ document as
                 the inputs of one task, the tasks in turn (see fuzz_request_path.c)

The suites are read at run time and never copied into the repository. A
missing --data directory is not an error: no seeds are written. --out is
emptied first, so the seeds always match the suites.
"""
import argparse
import json
import os
import shutil
import sys

# Validator selectors: one per task spec plus the shared schema (the target
# takes the byte modulo taas_registry_count + 1).
SELECTORS = 8


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--specs", help="task-specs/: one selector per spec, plus one")
    a = ap.parse_args()
    global SELECTORS
    if a.specs and os.path.isdir(a.specs):
        SELECTORS = 1 + sum(1 for n in os.listdir(a.specs) if n.endswith((".yaml", ".json")))

    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    counts = {}

    def add(target, name, data):
        write(a.out, target, name, data)
        counts[target] = counts.get(target, 0) + 1

    suite = os.path.join(a.data, "JSONTestSuite")
    for sub in ("test_parsing", "test_transform"):
        d = os.path.join(suite, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            add("json", f"{sub}-{name}", data)
            if sub == "test_parsing" and name.startswith("y_"):
                for sel in range(SELECTORS):
                    add("validators", f"{name}-{sel}", bytes([sel]) + data)
                if len(data) < 256:
                    # submit (op 0), task sel, inputs, flags 0, priority 0
                    sel = counts.get("request_path", 0) % SELECTORS
                    prog = bytes([0, sel, len(data)]) + data + bytes([0, 0])
                    add("request_path", f"{name}-{sel}", prog)

    schema_tests = os.path.join(a.data, "JSON-Schema-Test-Suite", "tests", "draft2020-12")
    if os.path.isdir(schema_tests):
        i = 0
        for name in sorted(os.listdir(schema_tests)):
            path = os.path.join(schema_tests, name)
            if not name.endswith(".json") or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                raw = f.read()
            add("json", f"schema-{name}", raw)
            try:
                groups = json.loads(raw)
            except ValueError:
                continue
            for g, group in enumerate(groups):
                docs = [group.get("schema")] + [t.get("data") for t in group.get("tests", [])]
                for k, doc in enumerate(docs):
                    text = json.dumps(doc, ensure_ascii=False).encode("utf-8")
                    add("validators", f"{name[:-5]}-{g}-{k}", bytes([i % SELECTORS]) + text)
                    i += 1

    for t in sorted(counts):
        print(f"fuzz seeds: {counts[t]} for {t}")
    if not counts:
        print(f"fuzz seeds: no suites under {a.data}; none written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
