"""Tests of codegen/taasgen.py and codegen/new_task.py.

Run: /usr/bin/python3 -m unittest -v test_taasgen   (from codegen/tests)
"""
import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import new_task  # noqa: E402
import taasgen  # noqa: E402

GOOD = """\
name: {name}
version: 1.0.0
description: d
inputs:
  type: object
  properties:
    a: {{type: string}}
outputs:
  type: object
  properties:
    b: {{type: integer}}
"""


def run_gen(specs, out, *extra):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = taasgen.main(["--specs", specs, "--out", out] + list(extra))
    return rc, err.getvalue()


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="taasgen-test-")
        self.specs = os.path.join(self.dir, "task-specs")
        self.out = os.path.join(self.dir, "generated")
        os.makedirs(os.path.join(self.specs, "schemas"))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, rel, text):
        p = os.path.join(self.specs, rel)
        with open(p, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        return p

    def snapshot(self):
        out = {}
        if os.path.isdir(self.out):
            for fn in sorted(os.listdir(self.out)):
                with open(os.path.join(self.out, fn), "rb") as f:
                    out[fn] = f.read()
        return out


class ExpectedPatterns(unittest.TestCase):
    """Patterns that must / must not appear in the output for specs/ (nanopb style)."""

    def test_kitchen_sink(self):
        out = tempfile.mkdtemp(prefix="taasgen-expected-")
        try:
            cwd = os.getcwd()
            os.chdir(HERE)
            try:
                rc, err = run_gen("specs", out)
            finally:
                os.chdir(cwd)
            self.assertEqual(rc, 0, err)
            with open(os.path.join(HERE, "kitchen_sink.expected"), encoding="utf-8") as f:
                lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
            self.assertGreater(len(lines), 20)
            for ln in lines:
                neg = ln.startswith("! ")
                fn, pat = (ln[2:] if neg else ln).split(": ", 1)
                with open(os.path.join(out, fn), encoding="utf-8") as f:
                    text = f.read()
                found = re.search(pat, text, re.M) is not None
                self.assertEqual(found, not neg, "%s pattern %r in %s" %
                                 ("forbidden" if neg else "missing", pat, fn))
        finally:
            shutil.rmtree(out)


class Determinism(Tmp):
    def test_two_runs_identical(self):
        shutil.rmtree(self.specs)
        shutil.copytree(os.path.join(HERE, "specs"), self.specs)
        rc, err = run_gen(self.specs, self.out)
        self.assertEqual(rc, 0, err)
        first = self.snapshot()
        shutil.rmtree(self.out)
        rc, err = run_gen(self.specs, self.out)
        self.assertEqual(rc, 0, err)
        self.assertEqual(first, self.snapshot())
        self.assertIn("kitchen_sink.c", first)

    def test_unchanged_files_are_not_rewritten_and_stale_ones_go(self):
        self.write("one.yaml", GOOD.format(name="one"))
        self.write("two.yaml", GOOD.format(name="two"))
        self.assertEqual(run_gen(self.specs, self.out)[0], 0)
        p = os.path.join(self.out, "one.c")
        os.utime(p, (1, 1))
        with open(os.path.join(self.out, "handwritten.c"), "w") as f:
            f.write("/* not generated */\n")
        os.remove(os.path.join(self.specs, "two.yaml"))
        self.assertEqual(run_gen(self.specs, self.out)[0], 0)
        self.assertEqual(os.stat(p).st_mtime, 1)
        files = sorted(os.listdir(self.out))
        self.assertEqual(files, ["examples.c", "handwritten.c", "one.c", "one.h", "registry.c"])

    def test_empty_specs_give_an_empty_registry(self):
        self.assertEqual(run_gen(self.specs, self.out)[0], 0)
        with open(os.path.join(self.out, "registry.c")) as f:
            text = f.read()
        self.assertIn("const size_t taas_registry_count = 0;", text)

    def test_registry_sorted(self):
        for n in ("zeta", "alpha", "mid"):
            self.write(n + ".yaml", GOOD.format(name=n))
        self.assertEqual(run_gen(self.specs, self.out)[0], 0)
        with open(os.path.join(self.out, "registry.c")) as f:
            text = f.read()
        self.assertRegex(text, r"&taas_task_alpha,\n    &taas_task_mid,\n    &taas_task_zeta,")


# (file name, content, expected stderr line). Lines are 1-based.
BASE = "version: 1.0.0\ndescription: d\n"
OBJ_OUT = "outputs: {type: object}\n"
REFUSALS = [
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT + "colour: red\n",
     "task-specs/bad.yaml:6: unknown spec key 'colour'"),
    ("bad.yaml", "name: bad\n" + BASE + OBJ_OUT,
     "task-specs/bad.yaml:1: missing required key 'inputs'"),
    ("bad.yaml", "name: bad\nname: bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:2: duplicate key 'name'"),
    ("bad.yaml", "name: Bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:1: name must match [a-z][a-z0-9_]*"),
    ("int.yaml", "name: int\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT,
     "task-specs/int.yaml:1: name 'int' is a C keyword"),
    ("bad.yaml", "name: other\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:1: name 'other' does not match the file name 'bad'"),
    ("bad.yaml", "name: bad\nversion: 1.0\ndescription: d\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:2: version must be a semantic version (MAJOR.MINOR.PATCH)"),
    ("bad.yaml", "name: bad\nversion: 01.0.0\ndescription: d\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:2: version must be a semantic version (MAJOR.MINOR.PATCH)"),
    ("bad.yaml", "name: bad\n" + BASE + "retries: -1\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: retries must be an integer from 0 to 1000"),
    ("bad.yaml", "name: bad\n" + BASE + "timeout_s: 0\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: timeout_s must be an integer > 0"),
    ("bad.yaml", "name: bad\n" + BASE + "idempotent: maybe\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: idempotent must be true or false"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: array}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: the root schema must have type: object"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string, format: email}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: unsupported keyword 'format'"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  $id: x\n" + OBJ_OUT,
     "task-specs/bad.yaml:6: unsupported keyword '$id'"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: strin}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: unknown type 'strin'"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string, minLength: -1}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: minLength must be a non-negative integer"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string, pattern: \"(\"}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: invalid regular expression \"(\": missing ), unterminated "
     "subpattern at position 0"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {$ref: \"#/$defs/nope\"}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: $ref \"#/$defs/nope\" does not resolve"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {$ref: \"other.json#/x\"}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: $ref \"other.json#/x\": only local references (#/json/pointer) "
     "are supported"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string, enum: [x-y, x_y]}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: enum values \"x-y\" and \"x_y\" both become the C constant "
     "BAD_INPUT_A_X_Y"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    my-field: {type: string}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: property name 'my-field' is not usable as a C field name"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string}\n    has_a: {type: bool}\n" + OBJ_OUT,
     "task-specs/bad.yaml:8: unknown type 'bool'"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  properties:\n"
     "    a: {type: string}\n    has_a: {type: boolean}\n" + OBJ_OUT,
     "task-specs/bad.yaml:8: C field name has_a is used twice in bad_input"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  $schema: "
     "http://json-schema.org/draft-07/schema#\n" + OBJ_OUT,
     "task-specs/bad.yaml:6: $schema must be https://json-schema.org/draft/2020-12/schema"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT +
     "examples:\n  - inputs: {}\n", "task-specs/bad.yaml:7: an example must have exactly the "
     "keys inputs and outputs"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, required: a}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: required must be an array of strings"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object}\noutputs: [1]\n",
     "task-specs/bad.yaml:5: outputs must be a schema with type: object"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, x: !!binary aGVsbG8=}\n"
     + OBJ_OUT, "task-specs/bad.yaml:4: value of YAML type binary is not JSON"),
    ("bad.yaml", "name: bad\nx: {a: 1\ny: 2\n", "task-specs/bad.yaml:3: invalid YAML: "
     "expected ',' or '}', but got ':'"),
    ("bad.json", '{\n  "name": "bad",\n  "name": "bad"\n}\n',
     "task-specs/bad.json:3: duplicate key 'name'"),
    ("bad.json", '{\n  "name": "bad",\n  "version": 1.0.0\n}\n',
     "task-specs/bad.json:3: invalid JSON: Expecting ',' delimiter"),
    ("schemas/Cfg.yaml", "type: object\n",
     "task-specs/schemas/Cfg.yaml:1: schema file name 'Cfg' must match [a-z][a-z0-9_]*"),
    ("schemas/cfg.yaml", "type: object\nproperties:\n  a: {unevaluatedProperties: false}\n",
     "task-specs/schemas/cfg.yaml:3: unsupported keyword 'unevaluatedProperties'"),
    ("schemas/cfg.yaml", "type: object\nproperties:\n  a: {$dynamicRef: \"#x\"}\n",
     "task-specs/schemas/cfg.yaml:3: unsupported keyword '$dynamicRef'"),
    ("schemas/cfg.yaml", "type: object\nallOf: []\n",
     "task-specs/schemas/cfg.yaml:2: allOf must be a non-empty array of schemas"),
    ("schemas/cfg.yaml", "const: \"a\\0b\"\n",
     "task-specs/schemas/cfg.yaml:1: strings containing U+0000 are not supported"),
]


def _props(text):
    return "inputs:\n  type: object\n  properties:\n" + text


# Every other refusal path of the generator, one case each.
REFUSALS += [
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, 1: x}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: mapping keys must be strings"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: number, maximum: .inf}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: numbers must be finite"),
    ("bad.yaml", b"name: bad\n\xff\n", "task-specs/bad.yaml:1: file is not UTF-8"),
    ("bad.yaml", "# nothing\n", "task-specs/bad.yaml:1: file is empty"),
    ("bad.yaml", "[1]\n", "task-specs/bad.yaml:1: a spec must be a mapping"),
    ("bad.json", '{"name": "bad", "x": NaN}\n', "task-specs/bad.json:1: invalid JSON: NaN is not JSON"),
    ("bad.json", '{"name": "bad", "version": "1.0.0", "description": "d",\n'
     ' "outputs": {"type": "object"},\n "inputs": {"type": "object", "pattern": "a\\u0000"}}\n',
     "task-specs/bad.json:3: pattern must not contain U+0000"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {$ref: 5}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: $ref must be a string"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {$ref: \"#foo\"}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: $ref \"#foo\": anchors are not supported, use a JSON Pointer"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {$ref: \"#/properties/a/type\", type: string}\n")
     + OBJ_OUT, "task-specs/bad.yaml:7: $ref \"#/properties/a/type\" does not point at a schema"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: 5\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: a schema must be an object or a boolean"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {$schema: \"https://json-schema.org/draft/2020-12/"
                                                "schema\"}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: $schema is only allowed at the root of a schema"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {title: 5}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: title must be a string"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {deprecated: 1}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: deprecated must be a boolean"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {examples: 1}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: examples must be an array"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, $defs: []}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: $defs must be an object"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: []}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: type must be a string or a non-empty array of strings"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: [string, string]}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: type 'string' is listed twice"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {minimum: \"1\"}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: minimum must be a number"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {multipleOf: 0}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: multipleOf must be a number > 0"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {uniqueItems: 1}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: uniqueItems must be a boolean"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {pattern: 5}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: pattern must be a string"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {enum: a}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: enum must be an array"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, required: [a, a]}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: required lists a property twice"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, properties: [a]}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: properties must be an object"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, patternProperties: [a]}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: patternProperties must be an object"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, dependentRequired: [a]}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: dependentRequired must be an object"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  dependentRequired:\n    a: b\n"
     + OBJ_OUT, "task-specs/bad.yaml:7: dependentRequired values must be arrays of unique strings"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object, dependentSchemas: 1}\n" + OBJ_OUT,
     "task-specs/bad.yaml:4: dependentSchemas must be an object"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: string, pattern: \"[\\\\S]\"}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: \\S inside a character class is not supported; use a negated class"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: string, pattern: \"a[]]\"}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: the empty character classes [] and [^] are not supported"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs:\n  type: object\n  $defs:\n    my-def: {type: object, "
     "properties: {x: {type: string}}}\n  properties:\n    a: {$ref: \"#/$defs/my-def\"}\n" + OBJ_OUT,
     "task-specs/bad.yaml:7: cannot name a C type for this schema: 'bad_input_my-def' is not a "
     "C identifier"),
    ("bad.yaml", "name: bad\n" + BASE + _props(
        "    a_b: {type: object, properties: {x: {type: string}}}\n"
        "    a: {type: object, properties: {b: {type: object, properties: {y: {type: string}}}}}\n")
     + OBJ_OUT, "task-specs/bad.yaml:8: C type name bad_input_a_b is already used by the schema "
     "at line 7"),
    ("bad.yaml", "name: bad\n" + BASE + _props("    a: {type: string, enum: [\"-\"]}\n") + OBJ_OUT,
     "task-specs/bad.yaml:7: enum value \"-\" has no letters or digits to name a C constant"),
    ("bad.yaml", "name: bad\nversion: 1.0.0\ndescription: 5\ninputs: {type: object}\n" + OBJ_OUT,
     "task-specs/bad.yaml:3: description must be a string"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT + "examples: {}\n",
     "task-specs/bad.yaml:6: examples must be a list of {inputs, outputs}"),
    ("bad.yaml", "name: bad\n" + BASE + "inputs: {type: object}\n" + OBJ_OUT +
     "examples:\n  - {inputs: [], outputs: {}}\n", "task-specs/bad.yaml:7: example inputs must be "
     "an object"),
]


class Refusals(Tmp):
    def test_every_refusal(self):
        for fn, text, want in REFUSALS:
            with self.subTest(want=want):
                # A valid spec and an existing output must survive a failed run.
                for f in os.listdir(self.specs):
                    p = os.path.join(self.specs, f)
                    if os.path.isfile(p):
                        os.remove(p)
                for f in os.listdir(os.path.join(self.specs, "schemas")):
                    os.remove(os.path.join(self.specs, "schemas", f))
                self.write("aaa.yaml", GOOD.format(name="aaa"))
                if os.path.isdir(self.out):
                    shutil.rmtree(self.out)
                self.assertEqual(run_gen(self.specs, self.out)[0], 0)
                before = self.snapshot()
                self.write(fn, text)
                rc, err = run_gen(self.specs, self.out)
                self.assertEqual(rc, 1)
                self.assertEqual(err, want + "\n")
                self.assertEqual(self.snapshot(), before, "output changed after a refusal")

    def test_duplicate_task_names(self):
        self.write("dup.yaml", GOOD.format(name="dup"))
        self.write("dup.json", '{"name": "dup", "version": "1.0.0", "description": "d",\n'
                   ' "inputs": {"type": "object"}, "outputs": {"type": "object"}}\n')
        rc, err = run_gen(self.specs, self.out)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "task-specs/dup.yaml:1: duplicate task name 'dup' (also in "
                         "task-specs/dup.json)\n")
        self.assertFalse(os.path.exists(self.out))

    def test_duplicate_schema_names(self):
        self.write("schemas/cfg.yaml", "type: object\n")
        self.write("schemas/cfg.json", '{"type": "object"}\n')
        rc, err = run_gen(self.specs, self.out)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "task-specs/schemas/cfg.yaml:1: duplicate schema name 'cfg' (also in "
                         "task-specs/schemas/cfg.json)\n")

    def test_schema_only_mode(self):
        p = self.write("schemas/one.yaml", "type: array\nitems: {type: integer}\n")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(taasgen.main(["--schema", "Bad", p, "--out", self.out]), 1)
        self.assertEqual(err.getvalue(), p + ":1: schema name must match [a-z][a-z0-9_]*\n")
        self.assertEqual(taasgen.main(["--schema", "one", p, "--out", self.out]), 0)
        self.assertEqual(sorted(os.listdir(self.out)), ["schema_one.c", "schema_one.h"])

    def test_check_mode_writes_nothing(self):
        self.write("one.yaml", GOOD.format(name="one"))
        self.assertEqual(run_gen(self.specs, self.out, "--check")[0], 0)
        self.assertFalse(os.path.exists(self.out))


class Lowering(unittest.TestCase):
    def lower(self, schema):
        doc = taasgen.Doc("t.json", schema, {})
        return "\n".join(taasgen.lower_schema_c(doc, (), "s", "s"))

    def test_ref_pointer_escapes(self):
        c = self.lower({"$defs": {"a/b": {"type": "integer"}, "c~d": {"type": "string"},
                                  "e%f": {"type": "null"}},
                        "properties": {"x": {"$ref": "#/$defs/a~1b"},
                                       "y": {"$ref": "#/$defs/c~0d"},
                                       "z": {"$ref": "#/$defs/e%25f"}}})
        self.assertRegex(c, r"/\* #/properties/x \*/\n.*\.ref = 1,")
        self.assertRegex(c, r"/\* #/properties/y \*/\n.*\.ref = 2,")
        self.assertRegex(c, r"/\* #/properties/z \*/\n.*\.ref = 3,")

    def test_recursive_ref_is_an_index(self):
        c = self.lower({"properties": {"next": {"$ref": "#"}}})
        self.assertRegex(c, r"/\* #/properties/next \*/\n.*\.ref = 0,")

    def test_boolean_schema(self):
        self.assertIn(".flags = TAAS_SF_FALSE", self.lower(False))

    def test_c_strings_are_escaped(self):
        self.assertEqual(taasgen.c_str('a"b\\c??/\n\x01é'), '"a\\"b\\\\c\\?\\?/\\n\\001é"')


class NewTask(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="taas-newtask-")

    def tearDown(self):
        shutil.rmtree(self.root)

    def call(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = new_task.main(list(args) + ["--root", self.root])
        return rc, out.getvalue(), err.getvalue()

    def test_scaffold_generates(self):
        rc, out, _ = self.call("fresh_task")
        self.assertEqual(rc, 0)
        self.assertIn("created task-specs/fresh_task.yaml", out)
        self.assertIn("created tasks/fresh_task.c", out)
        with open(os.path.join(self.root, "tasks", "fresh_task.c")) as f:
            self.assertIn("int fresh_task_execute(taas_ctx *ctx, const fresh_task_input *in, "
                          "fresh_task_output *out)", f.read())
        files = taasgen.generate(os.path.join(self.root, "task-specs"))
        self.assertIn("fresh_task.h", files)
        self.assertIn('{&taas_task_fresh_task, "{\\"who\\":\\"world\\"}"', files["examples.c"])

    def test_refuses_existing_and_invalid(self):
        self.assertEqual(self.call("again")[0], 0)
        rc, _, err = self.call("again")
        self.assertEqual(rc, 1)
        self.assertIn("task-specs/again.yaml already exists", err)
        rc, _, err = self.call("Bad-Name")
        self.assertEqual(rc, 2)
        self.assertIn("invalid name", err)
        self.assertEqual(self.call("while")[0], 2)


if __name__ == "__main__":
    unittest.main()
