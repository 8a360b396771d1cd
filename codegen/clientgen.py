#!/usr/bin/env python3
"""Typed client stubs from TaaS task specs: Python and TypeScript.

What codegen/taasgen.py does for C (a struct per task's inputs and outputs),
this does for the clients:

* Python (--python FILE): per task, TypedDicts of its inputs and output
  (docstrings from the spec's descriptions) and a method of `Tasks`, so that
  `await client.tasks.my_custom_task(param1="test", param2=42)` submits the
  task, waits for it and returns its output typed; mypy flags a wrong
  argument.
* TypeScript (--typescript DIR): DIR/tasks.d.ts (interfaces of inputs and
  outputs, the `Tasks` interface) and DIR/tasks.js (the matching methods).

Only the standard library and PyYAML (through taasgen's loader). Files are
rewritten only when their bytes change.

usage: clientgen.py --specs task-specs [--python F] [--typescript DIR] [--check]
"""

import argparse
import keyword
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taasgen  # noqa: E402

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TS_RESERVED = {"break", "case", "catch", "class", "const", "continue", "debugger", "default",
               "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for",
               "function", "if", "import", "in", "instanceof", "new", "null", "return", "super",
               "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with"}


def wrap(text, indent, first="", hang=""):
    """Lines of `text` at most 99 columns, the first prefixed by `first`."""
    import textwrap
    return textwrap.wrap(text, 99, initial_indent=indent + first,
                         subsequent_indent=indent + hang, break_on_hyphens=False) or [indent + first]


def camel(name):
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def one_line(text):
    return " ".join(str(text).split())


def load_tasks(specs_dir):
    tasks = []
    for p in taasgen.list_specs(specs_dir):
        fn = os.path.basename(p)
        stem = fn.rsplit(".", 1)[0]
        doc = taasgen.load_doc(p, "%s/%s" % (os.path.basename(specs_dir.rstrip("/")), fn))
        taasgen.check_spec(doc, stem)
        tasks.append(doc)
    return sorted(tasks, key=lambda d: d.value["name"])


class Resolver:
    """Follows local "$ref": "#/..." pointers inside one spec."""

    def __init__(self, root):
        self.root = root

    def __call__(self, schema, depth=0):
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 32:
            ref = schema["$ref"]
            if not ref.startswith("#"):
                return {}
            node = self.root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return {}
            schema, depth = node, depth + 1
        return schema if isinstance(schema, dict) else {}


# ---------------------------------------------------------------------------
# Python

class PyEmitter:
    """TypedDicts for one spec; nested objects get their own, named after the path."""

    def __init__(self, resolve):
        self.resolve = resolve
        self.classes = []  # emitted in dependency order
        self.names = set()
        self.by_id = {}  # id(schema) -> class name, for $ref reuse and recursion

    def type_of(self, schema, name):
        s = self.resolve(schema)
        if not s:
            return "Any"
        if "const" in s:
            return self.literal([s["const"]]) or "Any"
        if "enum" in s:
            return self.literal(s["enum"]) or "Any"
        t = s.get("type")
        if isinstance(t, list):
            parts = [self.type_of(dict(s, type=x), name) for x in t]
            parts = list(dict.fromkeys(parts))
            return parts[0] if len(parts) == 1 else "Union[%s]" % ", ".join(parts)
        if t == "string":
            return "str"
        if t == "integer":
            return "int"
        if t == "number":
            return "float"
        if t == "boolean":
            return "bool"
        if t == "null":
            return "None"
        if t == "array":
            items = s.get("items")
            return "List[%s]" % (self.type_of(items, name + "Item") if isinstance(items, dict)
                                 else "Any")
        if t == "object" or "properties" in s:
            if not s.get("properties"):
                return "Dict[str, Any]"
            return self.typed_dict(s, name)
        return "Any"

    @staticmethod
    def literal(values):
        if all(isinstance(v, (str, bool, int)) and v is not None for v in values):
            return "Literal[%s]" % ", ".join(repr(v) for v in values)
        return None

    def typed_dict(self, s, name):
        if id(s) in self.by_id:
            return '"%s"' % self.by_id[id(s)]
        while name in self.names:
            name += "_"
        self.names.add(name)
        self.by_id[id(s)] = name
        props = s.get("properties") or {}
        required = set(s.get("required") or [])
        fields = []
        for key, sub in props.items():
            fields.append((key, self.type_of(sub, name + camel(key)), key in required,
                           one_line(self.resolve(sub).get("description", ""))))
        doc = [one_line(s.get("description", "")) or name]
        for key, _, req, desc in fields:
            doc.append("%s%s: %s" % (key, "" if req else " (optional)", desc or "-"))
        self.classes.append((name, fields, doc))
        return name

    def render_class(self, name, fields, doc):
        out = []
        simple = all(IDENT.match(k) and not keyword.iskeyword(k) for k, *_ in fields)
        req = [f for f in fields if f[2]]
        opt = [f for f in fields if not f[2]]
        docstring = wrap(doc[0], "    ", '"""')
        if len(doc) > 1:
            docstring.append("")
            for d in doc[1:]:
                docstring += wrap(d, "    ", "", "    ")
            docstring.append('    """')
        else:
            docstring[-1] += '"""'
        if simple:
            base = "TypedDict"
            if req and opt:
                out += ["class _%sRequired(TypedDict):" % name]
                out += ["    %s: %s" % (k, t) for k, t, *_ in req] + ["", ""]
                base = "_%sRequired" % name
            total = "" if not opt else ", total=False"
            out.append("class %s(%s%s):" % (name, base, total))
            out += [line.rstrip() for line in docstring]
            body = opt if (req and opt) else fields
            out += ["    %s: %s" % (k, t) for k, t, *_ in body]
        else:
            # Keys that are not Python names need the functional form, which
            # cannot mix required and optional keys without a base class:
            # every key is optional here (the server still checks).
            out.append("# %s" % doc[0])
            out.append("%s = TypedDict(%r, {%s}, total=False)" % (
                name, name, ", ".join("%r: %s" % (k, t) for k, t, *_ in fields)))
        return out


def py_param(key):
    p = re.sub(r"[^A-Za-z0-9_]", "_", key)
    if not p or p[0].isdigit():
        p = "_" + p
    if keyword.iskeyword(p) or p in ("self",):
        p += "_"
    return p


def python_module(docs):
    o = ['"""Typed task methods for TaasClient, one per task spec of this repository.',
         "",
         "Written by codegen/clientgen.py from task-specs/; do not edit. Use them as",
         "",
         '    output = await client.tasks.my_custom_task(param1="test", param2=42)',
         "",
         "which submits the task, waits for it and returns its output (a TypedDict),",
         "or raises TaskFailed. Options of the submit go through with_options():",
         "`client.tasks.with_options(priority=5, wait_timeout=60).noop()`.",
         '"""',
         "",
         "from __future__ import annotations",
         "",
         "from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, TypedDict, Union, cast",
         "",
         "from taas_client.errors import TaskFailed",
         "from taas_client.types import TaskState",
         "",
         "if TYPE_CHECKING:",
         "    from taas_client.client import TaasClient",
         "",
         "__all__ = [\"Tasks\"]"]
    methods = []
    for d in docs:
        v = d.value
        name = v["name"]
        # "$ref": "#/..." points into the inputs (or outputs) schema itself.
        em = PyEmitter(Resolver(v["outputs"]))
        base = camel(name)
        out_t = em.type_of(v["outputs"], base + "Output")
        em.resolve = Resolver(v["inputs"])
        in_t = em.type_of(v["inputs"], base + "Input")
        for cname, fields, doc in em.classes:
            if doc[0] == cname:  # no description in the spec
                doc[0] = {in_t: "The inputs of %s." % name,
                          out_t: "The output of %s." % name}.get(cname, cname)
            o += ["", ""] + em.render_class(cname, fields, doc)
        ins = em.resolve(v["inputs"])
        props = ins.get("properties") or {}
        required = set(ins.get("required") or [])
        params, assigns = [], []
        for key, sub in props.items():
            # The TypedDict field types, by name (the classes exist already).
            t = next(f[1] for c in em.classes if c[0] == in_t for f in c[1] if f[0] == key)
            p = py_param(key)
            if key in required:
                params.append("%s: %s" % (p, t))
                assigns.append("        inputs[%r] = %s" % (key, p))
            else:
                params.append("%s: Optional[%s] = None" % (p, t))
                assigns.append("        if %s is not None:" % p)
                assigns.append("            inputs[%r] = %s" % (key, p))
        params.sort(key=lambda x: "=" in x)
        extra = not props
        args = (["*"] + params) if params else []
        if extra:
            args.append("**inputs_: Any")
        head = "    async def %s(" % name
        one = head + ", ".join(["self"] + args) + ") -> %s:" % out_t
        if len(one) <= 99:
            m = ["", one]
        else:
            m = ["", head] + ["            %s," % a for a in ["self"] + args] + \
                ["    ) -> %s:" % out_t]
        doc = wrap(one_line(v["description"]), "        ", '"""')
        if props:
            doc.append("")
            for key, sub in props.items():
                s = em.resolve(sub)
                desc = one_line(s.get("description", "")) or "-"
                if "default" in s:
                    desc += " (default %s)" % taasgen.canon(s["default"])
                doc += wrap("%s: %s" % (py_param(key), desc), "        ", "", "    ")
        doc.append('        """')
        m += doc
        m.append("        inputs: Dict[str, Any] = %s" % ("dict(inputs_)" if extra else "{}"))
        m += assigns
        m.append("        return cast(%s, await self._run(%r, inputs))" % (out_t, name))
        methods += m
    o += ["", "",
          "class Tasks:",
          '    """One method per task type: submit, wait, return the output."""',
          "",
          "    def __init__(self, client: \"TaasClient\", **options: Any) -> None:",
          "        self._client = client",
          "        self._options = options",
          "",
          "    def with_options(self, **options: Any) -> \"Tasks\":",
          '        """The same methods with submit options: priority, run_after, timeout,',
          '        idempotency_key, wait_timeout (see TaasClient.submit_task)."""',
          "        return Tasks(self._client, **dict(self._options, **options))",
          "",
          "    async def _run(self, name: str, inputs: Dict[str, Any]) -> Any:",
          "        task = await self._client.submit_task(name, inputs, wait=True, **self._options)",
          "        if task.state is not TaskState.SUCCEEDED:",
          "            raise TaskFailed(\"task %s (%s) ended %s: %s\"",
          "                             % (task.id, name, task.state, task.error), task)",
          "        return task.output"]
    o += methods
    return "\n".join(o) + "\n"


# ---------------------------------------------------------------------------
# TypeScript

class TsEmitter:
    def __init__(self, resolve):
        self.resolve = resolve
        self.decls = []
        self.names = set()
        self.by_id = {}

    def type_of(self, schema, name):
        s = self.resolve(schema)
        if not s:
            return "unknown"
        if "const" in s:
            return self.literal([s["const"]]) or "unknown"
        if "enum" in s:
            return self.literal(s["enum"]) or "unknown"
        t = s.get("type")
        if isinstance(t, list):
            parts = list(dict.fromkeys(self.type_of(dict(s, type=x), name) for x in t))
            return " | ".join(parts)
        if t == "string":
            return "string"
        if t in ("integer", "number"):
            return "number"
        if t == "boolean":
            return "boolean"
        if t == "null":
            return "null"
        if t == "array":
            items = s.get("items")
            inner = self.type_of(items, name + "Item") if isinstance(items, dict) else "unknown"
            return "Array<%s>" % inner
        if t == "object" or "properties" in s:
            if not s.get("properties"):
                return "Record<string, unknown>"
            return self.interface(s, name)
        return "unknown"

    @staticmethod
    def literal(values):
        import json
        if all(isinstance(v, (str, bool, int, float)) and v is not None for v in values):
            return " | ".join(json.dumps(v) for v in values)
        return None

    def interface(self, s, name):
        import json
        if id(s) in self.by_id:
            return self.by_id[id(s)]
        while name in self.names:
            name += "_"
        self.names.add(name)
        self.by_id[id(s)] = name
        required = set(s.get("required") or [])
        lines = []
        desc = one_line(s.get("description", ""))
        if desc:
            lines.append("/** %s */" % desc.replace("*/", "*\\/"))
        lines.append("export interface %s {" % name)
        for key, sub in (s.get("properties") or {}).items():
            t = self.type_of(sub, name + camel(key))
            d = one_line(self.resolve(sub).get("description", ""))
            if d:
                lines.append("  /** %s */" % d.replace("*/", "*\\/"))
            k = key if IDENT.match(key) and key not in TS_RESERVED else json.dumps(key)
            lines.append("  %s%s: %s;" % (k, "" if key in required else "?", t))
        lines.append("}")
        self.decls.append(lines)
        return name


def typescript(docs):
    d_ts = ["// Written by codegen/clientgen.py from task-specs/; do not edit.",
            "// Typed task methods: `await client.tasks.my_custom_task({param1: 'test', param2: 42})`",
            "// submits the task, waits for it and resolves to its output (TaskFailedError",
            "// when it fails or is cancelled).",
            "",
            "import type { SubmitOptions } from './index.js';",
            ""]
    js = ["// Written by codegen/clientgen.py from task-specs/; do not edit.",
          "// The methods declared in tasks.d.ts.",
          "",
          "export const TASK_NAMES = Object.freeze([%s]);" % ", ".join(
              "'%s'" % d.value["name"] for d in docs),
          "",
          "export function makeTasks(run) {",
          "  return Object.freeze({"]
    methods = []
    for d in docs:
        v = d.value
        name = v["name"]
        em = TsEmitter(Resolver(v["inputs"]))
        base = camel(name)
        in_t = em.type_of(v["inputs"], base + "Input")
        em.resolve = Resolver(v["outputs"])
        out_t = em.type_of(v["outputs"], base + "Output")
        em.resolve = Resolver(v["inputs"])
        for lines in em.decls:
            d_ts += lines + [""]
        ins = em.resolve(v["inputs"])
        opt_arg = "?" if not (ins.get("required")) else ""
        methods += ["  /** %s */" % one_line(v["description"]).replace("*/", "*\\/"),
                    "  %s(inputs%s: %s, options?: SubmitOptions): Promise<%s>;"
                    % (name, opt_arg, in_t, out_t)]
        js.append("    %s: (inputs, options) => run('%s', inputs ?? {}, options)," % (name, name))
    d_ts += ["export interface Tasks {"] + methods + ["}", "",
             "export declare const TASK_NAMES: readonly string[];",
             "export declare function makeTasks(run: (name: string, inputs: object,"
             " options?: SubmitOptions) => Promise<unknown>): Tasks;", ""]
    js += ["  });", "}", ""]
    return "\n".join(d_ts), "\n".join(js)


def write(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Typed client stubs from TaaS task specs.")
    ap.add_argument("--specs", default="task-specs")
    ap.add_argument("--python", help="write the Python module here")
    ap.add_argument("--typescript", help="write tasks.d.ts and tasks.js into this folder")
    ap.add_argument("--stamp", help="touch this file after a successful run")
    a = ap.parse_args(argv)
    try:
        docs = load_tasks(a.specs)
        if a.python:
            write(a.python, python_module(docs))
        if a.typescript:
            d_ts, js = typescript(docs)
            write(os.path.join(a.typescript, "tasks.d.ts"), d_ts)
            write(os.path.join(a.typescript, "tasks.js"), js)
        if a.stamp:
            with open(a.stamp, "w") as f:
                f.write("%d specs\n" % len(docs))
    except taasgen.SpecError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
