#!/usr/bin/python3
"""taasgen: task specs -> C descriptor tables, structs and registry.

Usage:
    taasgen.py --specs task-specs --out generated
    taasgen.py --check --specs task-specs            (validate only, write nothing)
    taasgen.py --schema NAME FILE --out DIR          (one schema, schema-only mode)

Every spec (task-specs/<name>.yaml|json) and every shared schema
(task-specs/schemas/<name>.yaml|json) is read, checked and lowered to static
tables (runtime/schema/schema.h) before anything is written. A spec that
breaks a rule stops the run with `file:line: message` and exit status 1;
nothing in the output folder changes then. Output is deterministic: same
specs, same bytes.
"""

import argparse
import json
import keyword as _pykw  # noqa: F401  (kept out of the C keyword list on purpose)
import math
import os
import re
import sys
import urllib.parse

import yaml

SCHEMA_ABI = 1
TASK_TYPE_VERSION = 1
SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"

C_KEYWORDS = set("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic
_Imaginary _Noreturn _Static_assert _Thread_local bool true false NULL alignas alignof
static_assert thread_local asm typeof
""".split())

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")

SPEC_KEYS = {"name", "version", "description", "idempotent", "retries", "timeout_s",
             "inputs", "outputs", "examples"}
SPEC_REQUIRED = ["name", "version", "description", "inputs", "outputs"]

# Keywords that only annotate: accepted, no effect on validation.
ANNOTATIONS = {"title", "description", "$comment", "default", "examples", "deprecated",
               "readOnly", "writeOnly"}
SUPPORTED = ANNOTATIONS | {
    "type", "properties", "required", "additionalProperties", "enum", "const", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "allOf", "anyOf", "oneOf", "not", "$ref", "$defs", "$schema",
    "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "if", "then",
    "else", "contains", "minContains", "maxContains"}
TYPES = ["null", "boolean", "object", "array", "number", "string", "integer"]
TYPE_BITS = {t: 1 << i for i, t in enumerate(TYPES)}

HERE = os.path.dirname(os.path.abspath(__file__))


class SpecError(Exception):
    def __init__(self, file, line, msg):
        super().__init__("%s:%d: %s" % (file, line, msg))
        self.file, self.line, self.msg = file, line, msg


# --------------------------------------------------------------------------
# Loading: values plus the line of every JSON Pointer path.

class Doc:
    """A loaded file: `value` (plain JSON data) and `lines[path] -> line`."""

    def __init__(self, file, value, lines):
        self.file, self.value, self.lines = file, value, lines

    def line(self, path):
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path, msg):
        return SpecError(self.file, self.line(path), msg)


def _yaml_to_value(file, node, path, lines):
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
                raise SpecError(file, knode.start_mark.line + 1, "mapping keys must be strings")
            key = knode.value
            if key in out:
                raise SpecError(file, knode.start_mark.line + 1, "duplicate key '%s'" % key)
            out[key] = _yaml_to_value(file, vnode, path + (key,), lines)
            lines[path + (key,)] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_yaml_to_value(file, v, path + (i,), lines) for i, v in enumerate(node.value)]
    tag = node.tag
    loader = yaml.SafeLoader("")
    if tag == "tag:yaml.org,2002:str":
        return node.value
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
               "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"):
        v = loader.construct_object(node)
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(file, node.start_mark.line + 1, "numbers must be finite")
        return v
    raise SpecError(file, node.start_mark.line + 1,
                    "value of YAML type %s is not JSON" % tag.rsplit(":", 1)[-1])


def load_doc(path, display):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(display, 1, "file is not UTF-8")
    value = None
    if path.endswith(".json"):
        dup = []

        def pairs(kv):
            d = {}
            for k, v in kv:
                if k in d:
                    dup.append(k)
                d[k] = v
            return d
        try:
            value = json.loads(text, object_pairs_hook=pairs,
                               parse_constant=lambda c: (_ for _ in ()).throw(
                                   ValueError("%s is not JSON" % c)))
        except json.JSONDecodeError as e:
            raise SpecError(display, e.lineno, "invalid JSON: %s" % e.msg)
        except ValueError as e:
            raise SpecError(display, 1, "invalid JSON: %s" % e)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(display, line, "invalid %s: %s" %
                        ("JSON" if path.endswith(".json") else "YAML", problem))
    if node is None:
        raise SpecError(display, 1, "file is empty")
    lines = {}
    yvalue = _yaml_to_value(display, node, (), lines)
    if value is None:
        value = yvalue
    return Doc(display, value, lines)


# --------------------------------------------------------------------------
# Canonical JSON and C literals

def canon_num(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 63:
        return str(int(v))
    return json.dumps(v)


def canon(v):
    if v is None or isinstance(v, bool) or isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (int, float)):
        return canon_num(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k])
                          for k in sorted(v)) + "}"


def c_str(s, width=96):
    """A C string literal (split in pieces for long text); UTF-8 kept, '?' escaped."""
    b = s.encode("utf-8")
    pieces, cur = [], []
    n = 0
    for ch in b:
        if ch in (0x22, 0x5C):
            e = "\\" + chr(ch)
        elif ch == 0x3F:
            e = "\\?"
        elif ch == 0x0A:
            e = "\\n"
        elif ch < 0x20 or ch == 0x7F:
            e = "\\%03o" % ch
        else:
            e = None
        if e is None:
            cur.append(ch)
            n += 1
        else:
            cur.extend(e.encode())
            n += len(e)
        if n >= width and (ch < 0x80 or ch >= 0xC0):
            pieces.append(bytes(cur).decode("utf-8", "surrogateescape"))
            cur, n = [], 0
    pieces.append(bytes(cur).decode("utf-8", "surrogateescape"))
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    return " ".join('"%s"' % p for p in pieces) if pieces else '""'


def c_comment(text):
    text = " ".join(str(text).split()).replace("*/", "* /")
    return text


def c_double(v):
    if isinstance(v, bool):
        v = int(v)
    f = float(v)
    if math.isinf(f):
        return "HUGE_VAL" if f > 0 else "-HUGE_VAL"
    r = repr(f)
    if "e" not in r and "." not in r and "inf" not in r:
        r += ".0"
    return r


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    return is_num(v) and (isinstance(v, int) or v.is_integer())


# --------------------------------------------------------------------------
# Lowering one schema document into node tables

class Node:
    __slots__ = ("idx", "path", "schema", "f")

    def __init__(self, idx, path, schema):
        self.idx, self.path, self.schema = idx, path, schema
        self.f = {}


class Lowerer:
    """Lowers the JSON Schema at `root_path` of `doc` into tables."""

    def __init__(self, doc, root_path, cname):
        self.doc, self.root_path, self.cname = doc, tuple(root_path), cname
        self.nodes = []
        self.by_path = {}
        self.props, self.strs, self.lists, self.pprops, self.deps = [], [], [], [], []
        self.consts, self.const_idx = [], {}
        self.regexes, self.regex_idx = [], {}
        self.root_schema = self.get(self.root_path)
        self.root = self.lower(self.root_path)

    def get(self, path):
        v = self.doc.value
        for p in path:
            v = v[p]
        return v

    def err(self, path, msg):
        return self.doc.error(path, msg)

    def add_const(self, value, path):
        _check_no_nul(self, value, path)
        text = canon(value)
        if text not in self.const_idx:
            self.const_idx[text] = len(self.consts)
            self.consts.append(text)
        return self.const_idx[text]

    def add_regex(self, pat, path):
        if "\x00" in pat:
            raise self.err(path, "pattern must not contain U+0000")
        try:
            re.compile(pat)
        except re.error as e:
            raise self.err(path, "invalid regular expression %s: %s" % (json.dumps(pat), e))
        pat = ecma_whitespace(pat, lambda m: self.err(path, m))
        if pat not in self.regex_idx:
            self.regex_idx[pat] = len(self.regexes)
            self.regexes.append(pat)
        return self.regex_idx[pat]

    def add_list(self, idxs):
        first = len(self.lists)
        self.lists.extend(idxs)
        return (first, len(idxs))

    def resolve_ref(self, ref, path):
        if not isinstance(ref, str):
            raise self.err(path, "$ref must be a string")
        if not ref.startswith("#"):
            raise self.err(path, "$ref %s: only local references (#/json/pointer) are supported"
                           % json.dumps(ref))
        frag = urllib.parse.unquote(ref[1:])
        if frag and not frag.startswith("/"):
            raise self.err(path, "$ref %s: anchors are not supported, use a JSON Pointer"
                           % json.dumps(ref))
        target = list(self.root_path)
        v = self.root_schema
        if frag:
            for tok in frag[1:].split("/"):
                tok = tok.replace("~1", "/").replace("~0", "~")
                if isinstance(v, dict) and tok in v:
                    v = v[tok]
                    target.append(tok)
                elif isinstance(v, list) and re.fullmatch(r"0|[1-9][0-9]*", tok) \
                        and int(tok) < len(v):
                    v = v[int(tok)]
                    target.append(int(tok))
                else:
                    raise self.err(path, "$ref %s does not resolve" % json.dumps(ref))
        if not isinstance(v, (dict, bool)):
            raise self.err(path, "$ref %s does not point at a schema" % json.dumps(ref))
        return tuple(target)

    def lower(self, path):
        path = tuple(path)
        if path in self.by_path:
            return self.by_path[path]
        schema = self.get(path)
        node = Node(len(self.nodes), path, schema)
        self.nodes.append(node)
        self.by_path[path] = node.idx
        f = node.f
        if isinstance(schema, bool):
            f["false"] = not schema
            return node.idx
        if not isinstance(schema, dict):
            raise self.err(path, "a schema must be an object or a boolean")
        for k in sorted(schema, key=lambda k: self.doc.line(path + (k,))):
            if k not in SUPPORTED:
                raise self.err(path + (k,), "unsupported keyword '%s'" % k)
        s = schema
        P = lambda k: path + (k,)  # noqa: E731

        if "$schema" in s:
            if path != self.root_path:
                raise self.err(P("$schema"), "$schema is only allowed at the root of a schema")
            if s["$schema"] != SCHEMA_URI:
                raise self.err(P("$schema"), "$schema must be %s" % SCHEMA_URI)
        for k in ("title", "description", "$comment"):
            if k in s and not isinstance(s[k], str):
                raise self.err(P(k), "%s must be a string" % k)
        for k in ("deprecated", "readOnly", "writeOnly"):
            if k in s and not isinstance(s[k], bool):
                raise self.err(P(k), "%s must be a boolean" % k)
        if "examples" in s and not isinstance(s["examples"], list):
            raise self.err(P("examples"), "examples must be an array")
        if "$defs" in s:
            if not isinstance(s["$defs"], dict):
                raise self.err(P("$defs"), "$defs must be an object")
        if "type" in s:
            t = s["type"]
            ts = t if isinstance(t, list) else [t]
            if not ts or not all(isinstance(x, str) for x in ts):
                raise self.err(P("type"), "type must be a string or a non-empty array of strings")
            bits = 0
            for x in ts:
                if x not in TYPE_BITS:
                    raise self.err(P("type"), "unknown type '%s'" % x)
                if bits & TYPE_BITS[x]:
                    raise self.err(P("type"), "type '%s' is listed twice" % x)
                bits |= TYPE_BITS[x]
            f["types"] = bits
        for k, key in (("minimum", "minimum"), ("maximum", "maximum"),
                       ("exclusiveMinimum", "ex_minimum"), ("exclusiveMaximum", "ex_maximum")):
            if k in s:
                if not is_num(s[k]):
                    raise self.err(P(k), "%s must be a number" % k)
                f[key] = s[k]
        if "multipleOf" in s:
            if not is_num(s["multipleOf"]) or s["multipleOf"] <= 0:
                raise self.err(P("multipleOf"), "multipleOf must be a number > 0")
            f["multiple_of"] = s["multipleOf"]
        for k, key in (("minLength", "min_length"), ("maxLength", "max_length"),
                       ("minItems", "min_items"), ("maxItems", "max_items"),
                       ("minProperties", "min_props"), ("maxProperties", "max_props"),
                       ("minContains", "min_contains"), ("maxContains", "max_contains")):
            if k in s:
                if not is_int(s[k]) or s[k] < 0 or s[k] >= 2 ** 63:
                    raise self.err(P(k), "%s must be a non-negative integer" % k)
                f[key] = int(s[k])
        if "uniqueItems" in s:
            if not isinstance(s["uniqueItems"], bool):
                raise self.err(P("uniqueItems"), "uniqueItems must be a boolean")
            f["unique"] = s["uniqueItems"]
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise self.err(P("pattern"), "pattern must be a string")
            f["pattern"] = self.add_regex(s["pattern"], P("pattern"))
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise self.err(P("enum"), "enum must be an array")
            idxs = [self.add_const(v, P("enum") + (i,)) for i, v in enumerate(s["enum"])]
            first = len(self.lists)
            self.lists.extend(idxs)
            f["enum"] = (first, len(idxs))
        if "const" in s:
            f["const"] = self.add_const(s["const"], P("const"))
        if "default" in s:
            _check_no_nul(self, s["default"], P("default"))
        if "required" in s:
            r = s["required"]
            if not isinstance(r, list) or not all(isinstance(x, str) for x in r):
                raise self.err(P("required"), "required must be an array of strings")
            if len(set(r)) != len(r):
                raise self.err(P("required"), "required lists a property twice")
            for i, x in enumerate(r):
                _check_no_nul(self, x, P("required") + (i,))
            f["required"] = (len(self.strs), len(r))
            self.strs.extend(r)
        # subschemas: lowered after this node's own keywords are checked
        if "$ref" in s:
            f["ref"] = self.lower(self.resolve_ref(s["$ref"], P("$ref")))
        if "$defs" in s:
            for k in s["$defs"]:
                self.lower(P("$defs") + (k,))
        if "properties" in s:
            if not isinstance(s["properties"], dict):
                raise self.err(P("properties"), "properties must be an object")
            f["props"] = []
            for k in s["properties"]:
                _check_no_nul(self, k, P("properties") + (k,))
                f["props"].append((k, self.lower(P("properties") + (k,))))
        if "patternProperties" in s:
            pp = s["patternProperties"]
            if not isinstance(pp, dict):
                raise self.err(P("patternProperties"), "patternProperties must be an object")
            f["pprops"] = [(self.add_regex(k, P("patternProperties") + (k,)),
                            self.lower(P("patternProperties") + (k,))) for k in pp]
        for k, key in (("additionalProperties", "additional"), ("propertyNames", "property_names"),
                       ("items", "items"), ("contains", "contains"), ("not", "not"),
                       ("if", "if"), ("then", "then"), ("else", "else")):
            if k in s:
                f[key] = self.lower(P(k))
        for k, key in (("allOf", "all_of"), ("anyOf", "any_of"), ("oneOf", "one_of"),
                       ("prefixItems", "prefix")):
            if k in s:
                if not isinstance(s[k], list) or not s[k]:
                    raise self.err(P(k), "%s must be a non-empty array of schemas" % k)
                f[key] = [self.lower(P(k) + (i,)) for i in range(len(s[k]))]
        if "dependentRequired" in s:
            d = s["dependentRequired"]
            if not isinstance(d, dict):
                raise self.err(P("dependentRequired"), "dependentRequired must be an object")
            f["dep_required"] = []
            for k, names in d.items():
                if not isinstance(names, list) or not all(isinstance(x, str) for x in names) \
                        or len(set(names)) != len(names):
                    raise self.err(P("dependentRequired") + (k,),
                                   "dependentRequired values must be arrays of unique strings")
                _check_no_nul(self, k, P("dependentRequired") + (k,))
                for i, x in enumerate(names):
                    _check_no_nul(self, x, P("dependentRequired") + (k, i))
                f["dep_required"].append((k, len(self.strs), len(names)))
                self.strs.extend(names)
        if "dependentSchemas" in s:
            d = s["dependentSchemas"]
            if not isinstance(d, dict):
                raise self.err(P("dependentSchemas"), "dependentSchemas must be an object")
            f["dep_schemas"] = []
            for k in d:
                _check_no_nul(self, k, P("dependentSchemas") + (k,))
                f["dep_schemas"].append((k, self.lower(P("dependentSchemas") + (k,))))
        return node.idx


# ECMA-262 \s is Unicode whitespace; PCRE2 without PCRE2_UCP has only the ASCII
# set. Spell the rest out so patterns keep their JSON Schema meaning.
ECMA_SPACE = "\\s\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}" \
    "\\x{3000}\\x{feff}"


def ecma_whitespace(pat, err):
    """Rewrite \\s and \\S for PCRE2 (see docs/spec-format.md, regex dialect)."""
    out, i, in_class = [], 0, False
    while i < len(pat):
        c = pat[i]
        if c == "\\" and i + 1 < len(pat):
            e = pat[i + 1]
            if e == "s":
                out.append(ECMA_SPACE if in_class else "[" + ECMA_SPACE + "]")
            elif e == "S":
                if in_class:
                    raise err("\\S inside a character class is not supported; "
                              "use a negated class")
                out.append("[^" + ECMA_SPACE + "]")
            else:
                out.append(pat[i:i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            if pat.startswith("]", i + 1) or pat.startswith("^]", i + 1):
                # ECMA: [] never matches, [^] matches anything; PCRE2 reads ']' as a literal.
                raise err("the empty character classes [] and [^] are not supported")
            in_class = True
            out.append(c)
            i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def _check_no_nul(lw, value, path):
    if isinstance(value, str):
        if "\x00" in value:
            raise lw.err(path, "strings containing U+0000 are not supported")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_no_nul(lw, v, path + (i,))
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_no_nul(lw, k, path + (k,))
            _check_no_nul(lw, v, path + (k,))


# --------------------------------------------------------------------------
# C types for bound schemas (task inputs and outputs)

class CType:
    """kind: string, int64, double, bool, enum, struct, array, json."""

    def __init__(self, kind, name=None, item=None, node=None):
        self.kind, self.name, self.item, self.node = kind, name, item, node

    def decl(self, field):
        if self.kind == "string":
            return "const char *%s" % field
        if self.kind == "int64":
            return "int64_t %s" % field
        if self.kind == "double":
            return "double %s" % field
        if self.kind == "bool":
            return "bool %s" % field
        if self.kind == "json":
            return "taas_json %s" % field
        if self.kind in ("enum", "struct"):
            return "%s %s" % (self.name, field)
        return "struct {\n        size_t len;\n        %s;\n    } %s" % (
            self.item.decl("*items").replace("\n", "\n    "), field)

    def size(self):
        if self.kind == "string":
            return "sizeof(const char *)"
        if self.kind == "int64":
            return "sizeof(int64_t)"
        if self.kind == "double":
            return "sizeof(double)"
        if self.kind == "bool":
            return "sizeof(bool)"
        if self.kind == "json":
            return "sizeof(taas_json)"
        if self.kind in ("enum", "struct"):
            return "sizeof(%s)" % self.name
        return "sizeof(struct { size_t len; void *items; })"


BIND = {"string": "TAAS_BIND_STRING", "int64": "TAAS_BIND_INT64", "double": "TAAS_BIND_DOUBLE",
        "bool": "TAAS_BIND_BOOL", "enum": "TAAS_BIND_ENUM", "struct": "TAAS_BIND_STRUCT",
        "array": "TAAS_BIND_ARRAY", "json": "TAAS_BIND_JSON"}


class Binder:
    """Chooses a C type for every node reached from the root; names the structs."""

    def __init__(self, lw, type_prefix):
        self.lw, self.prefix = lw, type_prefix
        self.types = {}      # node idx -> CType
        self.binder = {}     # node idx -> bind kind constant for the node itself
        self.order = []      # named types (enum/struct), children first
        self.names = {}
        self.fields = {}     # struct node idx -> [(prop, field, ctype, has, default_idx)]
        self.cyclic = self._cycles()
        root = lw.nodes[lw.root]
        if root.f.get("types") != TYPE_BITS["object"] or "ref" in root.f:
            raise lw.err(lw.root_path + (("type",) if "type" in root.schema else ()),
                         "the root schema must have type: object")
        self.root_type = self.ctype(lw.root, force_struct=True)

    def _deps(self, idx):
        n = self.lw.nodes[idx]
        if self._pure_ref(n):
            return [n.f["ref"]]
        out = []
        for _, c in n.f.get("props", []):
            out.append(c)
        if "items" in n.f:
            out.append(n.f["items"])
        return out

    def _cycles(self):
        cyc = set()
        for start in range(len(self.lw.nodes)):
            seen, stack = set(), list(self._deps(start))
            while stack:
                x = stack.pop()
                if x == start:
                    cyc.add(start)
                    break
                if x in seen:
                    continue
                seen.add(x)
                stack.extend(self._deps(x))
        return cyc

    @staticmethod
    def _pure_ref(n):
        return isinstance(n.schema, dict) and "ref" in n.f and \
            all(k in ANNOTATIONS or k in ("$ref", "$defs") for k in n.schema)

    def type_name(self, path):
        rel = path[len(self.lw.root_path):]
        parts, i = [], 0
        while i < len(rel):
            seg = rel[i]
            if seg in ("properties", "$defs") and i + 1 < len(rel):
                parts.append(str(rel[i + 1]))
                i += 2
            elif seg == "items":
                parts.append("item")
                i += 1
            else:
                parts.append(str(seg))
                i += 1
        name = "_".join([self.prefix] + parts)
        if not IDENT_RE.match(name):
            raise self.lw.err(path, "cannot name a C type for this schema: '%s' is not a C identifier"
                              % name)
        if name in self.names:
            raise self.lw.err(path, "C type name %s is already used by the schema at line %d"
                              % (name, self.lw.doc.line(self.names[name])))
        self.names[name] = path
        return name

    def ctype(self, idx, force_struct=False):
        if idx in self.types:
            return self.types[idx]
        n = self.lw.nodes[idx]
        f, s = n.f, n.schema
        if idx in self.cyclic and not force_struct:
            t = CType("json")
        elif self._pure_ref(n):
            t = self.ctype(f["ref"])
            self.types[idx] = t
            self.binder[idx] = None  # the target binds
            return t
        elif isinstance(s, bool) or "ref" in f:
            t = CType("json")
        else:
            ty = f.get("types")
            consts = [json.loads(self.lw.consts[self.lw.lists[i]])
                      for i in range(f["enum"][0], f["enum"][0] + f["enum"][1])] \
                if "enum" in f else None
            if ty == TYPE_BITS["string"] or (ty is None and consts
                                              and all(isinstance(c, str) for c in consts)):
                if consts is not None and all(isinstance(c, str) for c in consts) and consts:
                    t = CType("enum", node=idx)
                    t.name = self.type_name(n.path)
                    self._enum_values(t, consts, n)
                    self.order.append(t)
                else:
                    t = CType("string")
            elif ty == TYPE_BITS["integer"]:
                t = CType("int64")
            elif ty == TYPE_BITS["number"]:
                t = CType("double")
            elif ty == TYPE_BITS["boolean"]:
                t = CType("bool")
            elif ty == TYPE_BITS["object"] and (f.get("props") or force_struct):
                t = CType("struct", node=idx)
                t.name = self.type_name(n.path)
                self.types[idx] = t
                self._struct_fields(t, n)
                self.order.append(t)
            elif ty == TYPE_BITS["array"] and "prefix" not in f:
                item = self.ctype(f["items"]) if "items" in f else CType("json")
                t = CType("array", item=item)
                if "items" not in f:
                    t.item_node = None
            else:
                t = CType("json")
        self.types[idx] = t
        self.binder[idx] = BIND[t.kind]
        return t

    def _enum_values(self, t, consts, n):
        vals, seen = [], {}
        for c in consts:
            ident = re.sub(r"[^A-Za-z0-9]", "_", c).upper()
            full = "%s_%s" % (t.name.upper(), ident)
            if not c or not re.search(r"[A-Za-z0-9]", c):
                raise self.lw.err(n.path + ("enum",), "enum value %s has no letters or digits "
                                  "to name a C constant" % json.dumps(c))
            if full in seen:
                raise self.lw.err(n.path + ("enum",), "enum values %s and %s both become the C "
                                  "constant %s" % (json.dumps(seen[full]), json.dumps(c), full))
            seen[full] = c
            vals.append((full, c))
        t.values = vals

    def _struct_fields(self, t, n):
        fields = []
        required = set()
        if "required" in n.f:
            a, c = n.f["required"]
            required = set(self.lw.strs[a:a + c])
        used = set()
        for prop, child in n.f.get("props", []):
            ppath = n.path + ("properties", prop)
            if not IDENT_RE.match(prop) or prop in C_KEYWORDS:
                raise self.lw.err(ppath, "property name '%s' is not usable as a C field name"
                                  % prop)
            ct = self.ctype(child)
            cs = self.lw.nodes[child].schema
            default = None
            if isinstance(cs, dict) and "default" in cs and prop not in required:
                default = self.lw.add_const(cs["default"], ppath + ("default",))
            has = prop not in required and default is None
            for fname in [prop] + (["has_" + prop] if has else []):
                if fname in used:
                    raise self.lw.err(ppath, "C field name %s is used twice in %s"
                                      % (fname, t.name))
                used.add(fname)
            fields.append((prop, ct, has, default, child))
        t.fields = fields


# --------------------------------------------------------------------------
# Emitting tables

def emit_tables(lw, sym, binder=None):
    """C text defining `static const taas_schema <sym>`'s tables and the schema itself."""
    o = []
    nodes = lw.nodes
    prop_rows = []
    node_props = {}
    for n in nodes:
        if "props" in n.f:
            first = len(prop_rows)
            st = binder.types.get(n.idx) if binder else None
            bound = st is not None and st.kind == "struct" and st.node == n.idx
            fmap = {p: (has, d) for p, _, has, d, _ in st.fields} if bound else {}
            for prop, child in n.f["props"]:
                if bound:
                    has, d = fmap[prop]
                    prop_rows.append((prop, child, "(int32_t)offsetof(%s, %s)" % (st.name, prop),
                                      "(int32_t)offsetof(%s, has_%s)" % (st.name, prop)
                                      if has else "-1", -1 if d is None else d))
                else:
                    prop_rows.append((prop, child, "-1", "-1", -1))
            node_props[n.idx] = (first, len(n.f["props"]))
    dep_rows = []
    node_deps = {}
    for n in nodes:
        for key in ("dep_required", "dep_schemas"):
            if key in n.f:
                first = len(dep_rows)
                for item in n.f[key]:
                    if key == "dep_required":
                        dep_rows.append((item[0], item[1], item[2], -1))
                    else:
                        dep_rows.append((item[0], 0, 0, item[1]))
                node_deps[(n.idx, key)] = (first, len(n.f[key]))
    pp_rows = []
    node_pp = {}
    for n in nodes:
        if "pprops" in n.f:
            node_pp[n.idx] = (len(pp_rows), len(n.f["pprops"]))
            pp_rows.extend(n.f["pprops"])
    lists = list(lw.lists)
    node_lists = {}
    for n in nodes:
        for key in ("prefix", "all_of", "any_of", "one_of"):
            if key in n.f:
                node_lists[(n.idx, key)] = (len(lists), len(n.f[key]))
                lists.extend(n.f[key])

    def strrow(s):
        return "{%s, %d}" % (c_str(s), len(s.encode("utf-8")))

    if prop_rows:
        o.append("static const taas_schema_prop %s_props[] = {" % sym)
        for name, child, off, hoff, d in prop_rows:
            o.append("    {%s, %d, %s, %s, %d}," % (strrow(name), child, off, hoff, d))
        o.append("};")
    if lw.strs:
        o.append("static const taas_schema_str %s_strs[] = {" % sym)
        o.extend("    %s," % strrow(s) for s in lw.strs)
        o.append("};")
    if lists:
        o.append("static const int32_t %s_lists[] = {" % sym)
        for i in range(0, len(lists), 16):
            o.append("    " + " ".join("%d," % x for x in lists[i:i + 16]))
        o.append("};")
    if pp_rows:
        o.append("static const taas_schema_pprop %s_pprops[] = {" % sym)
        o.extend("    {%d, %d}," % r for r in pp_rows)
        o.append("};")
    if dep_rows:
        o.append("static const taas_schema_dep %s_deps[] = {" % sym)
        o.extend("    {%s, %d, %d, %d}," % (strrow(a), b, c, d) for a, b, c, d in dep_rows)
        o.append("};")
    if lw.consts:
        o.append("static const taas_schema_str %s_consts[] = {" % sym)
        o.extend("    %s," % strrow(s) for s in lw.consts)
        o.append("};")
    if lw.regexes:
        o.append("static const taas_schema_str %s_regexes[] = {" % sym)
        o.extend("    %s," % strrow(s) for s in lw.regexes)
        o.append("};")

    o.append("static const taas_schema_node %s_nodes[] = {" % sym)
    for n in nodes:
        f = n.f
        flags = []
        if f.get("false"):
            flags.append("TAAS_SF_FALSE")
        for k, fl in (("minimum", "MINIMUM"), ("maximum", "MAXIMUM"), ("ex_minimum", "EXMINIMUM"),
                      ("ex_maximum", "EXMAXIMUM"), ("multiple_of", "MULTIPLEOF")):
            if k in f:
                flags.append("TAAS_SF_" + fl)
        if f.get("unique"):
            flags.append("TAAS_SF_UNIQUE")
        if "enum" in f:
            flags.append("TAAS_SF_ENUM")
        if "const" in f:
            flags.append("TAAS_SF_CONST")
        types = [("TAAS_SCHEMA_T_" + t.upper()) for t in TYPES if f.get("types", 0) & TYPE_BITS[t]]
        bind = "TAAS_BIND_NONE"
        size = "0"
        if binder and n.idx in binder.binder and binder.binder[n.idx]:
            bind = binder.binder[n.idx]
            size = binder.types[n.idx].size()

        def rng(r):
            return "{%d, %d}" % r if r else "{0, 0}"

        def idx(k):
            return str(f.get(k, -1))

        def num(k):
            return c_double(f[k]) if k in f else "0"

        def i64(k):
            return str(f[k]) if k in f else "-1"
        o.append("    [%d] = { /* %s */" % (n.idx, c_comment(_ptr(n.path, lw.root_path))))
        o.append("        .flags = %s, .types = %s, .bind = %s, .ref = %s," % (
            " | ".join(flags) or "0", " | ".join(types) or "0", bind, idx("ref")))
        o.append("        .minimum = %s, .maximum = %s, .ex_minimum = %s, .ex_maximum = %s,"
                 " .multiple_of = %s," % (num("minimum"), num("maximum"), num("ex_minimum"),
                                          num("ex_maximum"), num("multiple_of")))
        o.append("        .min_length = %s, .max_length = %s, .min_items = %s, .max_items = %s,"
                 % (i64("min_length"), i64("max_length"), i64("min_items"), i64("max_items")))
        o.append("        .min_props = %s, .max_props = %s, .min_contains = %s,"
                 " .max_contains = %s," % (i64("min_props"), i64("max_props"),
                                           i64("min_contains"), i64("max_contains")))
        o.append("        .pattern = %s, .enum_ = %s, .const_ = %s," % (
            idx("pattern"), rng(f.get("enum")), idx("const")))
        o.append("        .props = %s, .required = %s, .pprops = %s, .additional = %s,"
                 " .property_names = %s," % (rng(node_props.get(n.idx)), rng(f.get("required")),
                                             rng(node_pp.get(n.idx)), idx("additional"),
                                             idx("property_names")))
        o.append("        .dep_required = %s, .dep_schemas = %s," % (
            rng(node_deps.get((n.idx, "dep_required"))),
            rng(node_deps.get((n.idx, "dep_schemas")))))
        o.append("        .prefix = %s, .items = %s, .contains = %s," % (
            rng(node_lists.get((n.idx, "prefix"))), idx("items"), idx("contains")))
        o.append("        .all_of = %s, .any_of = %s, .one_of = %s," % (
            rng(node_lists.get((n.idx, "all_of"))), rng(node_lists.get((n.idx, "any_of"))),
            rng(node_lists.get((n.idx, "one_of")))))
        o.append("        .not_ = %s, .if_ = %s, .then_ = %s, .else_ = %s, .size = %s}," % (
            idx("not"), idx("if"), idx("then"), idx("else"), size))
    o.append("};")
    o.append("static taas_schema_rt %s_rt;" % sym)
    return o, {
        "props": prop_rows, "strs": lw.strs, "lists": lists, "pprops": pp_rows,
        "deps": dep_rows, "consts": lw.consts, "regexes": lw.regexes}


def emit_schema_struct(sym, name, lw, present, storage=""):
    def tab(k, suffix):
        return "%s_%s" % (sym, suffix) if present[k] else "NULL"
    return [
        "%sconst taas_schema %s = {" % (storage, sym),
        "    .abi = TAAS_SCHEMA_ABI,",
        "    .name = %s," % c_str(name),
        "    .root = %d," % lw.root,
        "    .nodes = %s_nodes," % sym,
        "    .node_count = %d," % len(lw.nodes),
        "    .props = %s," % tab("props", "props"),
        "    .strs = %s," % tab("strs", "strs"),
        "    .lists = %s," % tab("lists", "lists"),
        "    .pprops = %s," % tab("pprops", "pprops"),
        "    .deps = %s," % tab("deps", "deps"),
        "    .consts = %s," % tab("consts", "consts"),
        "    .const_count = %d," % len(lw.consts),
        "    .regexes = %s," % tab("regexes", "regexes"),
        "    .regex_count = %d," % len(lw.regexes),
        "    .rt = &%s_rt," % sym,
        "};",
    ]


def _ptr(path, root):
    rel = path[len(root):]
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in rel)


def lower_schema_c(doc, root_path, sym, name, storage=""):
    """Schema-only mode: C text for one unbound schema (raises SpecError)."""
    lw = Lowerer(doc, root_path, sym)
    body, tables = emit_tables(lw, sym)
    present = {k: bool(v) for k, v in tables.items()}
    return body + emit_schema_struct(sym, name, lw, present, storage)


# --------------------------------------------------------------------------
# Specs

GUARD = ["#if TAAS_SCHEMA_ABI != %d" % SCHEMA_ABI,
         "#error \"generated/ was written for another schema runtime: "
         "regenerate it with codegen/taasgen.py\"",
         "#endif"]


def stamp(src):
    return "/* Generated by codegen/taasgen.py from %s. Do not edit. */" % src


class Task:
    pass


def check_spec(doc, stem):
    v = doc.value
    if not isinstance(v, dict):
        raise doc.error((), "a spec must be a mapping")
    for k in v:
        if k not in SPEC_KEYS:
            raise doc.error((k,), "unknown spec key '%s'" % k)
    for k in SPEC_REQUIRED:
        if k not in v:
            raise doc.error((), "missing required key '%s'" % k)
    name = v["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise doc.error(("name",), "name must match [a-z][a-z0-9_]*")
    if name in C_KEYWORDS:
        raise doc.error(("name",), "name '%s' is a C keyword" % name)
    if name != stem:
        raise doc.error(("name",), "name '%s' does not match the file name '%s'" % (name, stem))
    if not isinstance(v["version"], str) or not SEMVER_RE.match(v["version"]):
        raise doc.error(("version",), "version must be a semantic version (MAJOR.MINOR.PATCH)")
    if not isinstance(v["description"], str):
        raise doc.error(("description",), "description must be a string")
    if "idempotent" in v and not isinstance(v["idempotent"], bool):
        raise doc.error(("idempotent",), "idempotent must be true or false")
    if "retries" in v and (not isinstance(v["retries"], int) or isinstance(v["retries"], bool)
                           or not 0 <= v["retries"] <= 1000):
        raise doc.error(("retries",), "retries must be an integer from 0 to 1000")
    if "timeout_s" in v and (not isinstance(v["timeout_s"], int)
                             or isinstance(v["timeout_s"], bool)
                             or not 0 < v["timeout_s"] <= 2 ** 31 - 1):
        raise doc.error(("timeout_s",), "timeout_s must be an integer > 0")
    for k in ("inputs", "outputs"):
        if not isinstance(v[k], dict):
            raise doc.error((k,), "%s must be a schema with type: object" % k)
    if "examples" in v:
        ex = v["examples"]
        if not isinstance(ex, list):
            raise doc.error(("examples",), "examples must be a list of {inputs, outputs}")
        for i, e in enumerate(ex):
            if not isinstance(e, dict) or set(e) != {"inputs", "outputs"}:
                raise doc.error(("examples", i), "an example must have exactly the keys "
                                "inputs and outputs")
            for k in ("inputs", "outputs"):
                if not isinstance(e[k], dict):
                    raise doc.error(("examples", i, k), "example %s must be an object" % k)
            _check_no_nul_doc(doc, e, ("examples", i))


def _check_no_nul_doc(doc, value, path):
    class L:
        def err(self, p, m):
            return doc.error(p, m)
    _check_no_nul(L(), value, path)


def build_task(doc, src):
    t = Task()
    v = doc.value
    t.name, t.src, t.doc = v["name"], src, doc
    t.lw_in = Lowerer(doc, ("inputs",), t.name + "_input")
    t.b_in = Binder(t.lw_in, t.name + "_input")
    t.lw_out = Lowerer(doc, ("outputs",), t.name + "_output")
    t.b_out = Binder(t.lw_out, t.name + "_output")
    return t


def header_for_task(t):
    N = t.name
    o = [stamp(t.src), "#ifndef TAAS_GENERATED_%s_H" % N.upper(),
         "#define TAAS_GENERATED_%s_H" % N.upper(), "",
         "#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>", "",
         '#include "taas/registry.h"', '#include "taas/taas.h"', "",
         "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    desc = t.doc.value.get("description", "")
    o.append("/* %s %s: %s */" % (N, t.doc.value["version"], c_comment(desc)))
    o.append("")
    for b in (t.b_in, t.b_out):
        for ct in b.order:
            o.extend(emit_type(b, ct))
    o += [
        "/* The body, written by hand in any .c file. Returns 0, or taas_fail(...). */",
        "int %s_execute(taas_ctx *ctx, const %s_input *in, %s_output *out);" % (N, N, N),
        "",
        "/* Parse and validate JSON inputs into *in (zeroed by the caller); arena-allocated. */",
        "int %s_parse_input(taas_ctx *ctx, const char *json, size_t len, %s_input *in,"
        " taas_error *err);" % (N, N),
        "",
        "/* Serialize *out and check it against the output schema; *json is malloc'd. */",
        "int %s_serialize_output(taas_ctx *ctx, const %s_output *out, char **json, size_t *len,"
        " taas_error *err);" % (N, N),
        "",
        "extern const taas_task_type taas_task_%s;" % N, "",
        "#ifdef __cplusplus", "}", "#endif",
        "#endif /* TAAS_GENERATED_%s_H */" % N.upper()]
    return "\n".join(o) + "\n"


def _doc_comment(schema, indent=""):
    if not isinstance(schema, dict):
        return []
    parts = [schema[k] for k in ("title", "description") if isinstance(schema.get(k), str)]
    if not parts:
        return []
    return ["%s/* %s */" % (indent, c_comment(". ".join(p.rstrip(". ") for p in parts)))]


def emit_type(b, ct):
    lw = b.lw
    n = lw.nodes[ct.node]
    o = _doc_comment(n.schema)
    if ct.kind == "enum":
        o.append("typedef enum %s {" % ct.name)
        for i, (ident, val) in enumerate(ct.values):
            o.append("    %s = %d, /* %s */" % (ident, i, c_comment(json.dumps(val))))
        o.append("} %s;" % ct.name)
        o.append("_Static_assert(sizeof(%s) == sizeof(int), \"enum %s must be int-sized\");"
                 % (ct.name, ct.name))
    else:
        o.append("typedef struct %s {" % ct.name)
        if not ct.fields:
            o.append("    char unused; /* no declared properties */")
        for prop, ft, has, d, child in ct.fields:
            o.extend(_doc_comment(lw.nodes[child].schema, "    "))
            o.append("    %s;" % ft.decl(prop))
            if has:
                o.append("    bool has_%s; /* false when absent */" % prop)
        o.append("} %s;" % ct.name)
    o.append("")
    return o


def source_for_task(t):
    N, v = t.name, t.doc.value
    o = [stamp(t.src), "#include <math.h>", "#include <stddef.h>", "",
         '#include "%s.h"' % N, '#include "schema/schema.h"', ""] + GUARD + [
        "_Static_assert(TAAS_TASK_TYPE_VERSION == %d, \"regenerate generated/ with "
        "codegen/taasgen.py\");" % TASK_TYPE_VERSION, ""]
    for lw, b, sym in ((t.lw_in, t.b_in, N + "_input_schema"),
                       (t.lw_out, t.b_out, N + "_output_schema")):
        body, tables = emit_tables(lw, sym, b)
        o += body
        o += emit_schema_struct(sym, sym, lw, {k: bool(x) for k, x in tables.items()}, "static ")
        o.append("")
    o += [
        "int %s_parse_input(taas_ctx *ctx, const char *json, size_t len, %s_input *in,"
        " taas_error *err)" % (N, N), "{",
        "    return taas_schema_parse(&%s_input_schema, ctx, json, len, in, err);" % N, "}", "",
        "int %s_serialize_output(taas_ctx *ctx, const %s_output *out, char **json, size_t *len,"
        " taas_error *err)" % (N, N), "{",
        "    return taas_schema_serialize(&%s_output_schema, ctx, out, json, len, err);" % N,
        "}", "",
        "static int %s_parse_input_any(taas_ctx *ctx, const char *json, size_t len, void *in,"
        " taas_error *err)" % N, "{",
        "    return %s_parse_input(ctx, json, len, in, err);" % N, "}", "",
        "static int %s_execute_any(taas_ctx *ctx, const void *in, void *out)" % N, "{",
        "    return %s_execute(ctx, in, out);" % N, "}", "",
        "static int %s_serialize_output_any(taas_ctx *ctx, const void *out, char **json,"
        " size_t *len, taas_error *err)" % N, "{",
        "    return %s_serialize_output(ctx, out, json, len, err);" % N, "}", "",
        "static size_t %s_input_violations(const char *json, size_t len, taas_error *out,"
        " size_t max)" % N, "{",
        "    return taas_schema_violations(&%s_input_schema, json, len, out, max);" % N, "}", "",
        "const taas_task_type taas_task_%s = {" % N,
        "    .abi_version = TAAS_TASK_TYPE_VERSION,",
        "    .name = %s," % c_str(N),
        "    .version = %s," % c_str(v["version"]),
        "    .description = %s," % c_str(" ".join(v["description"].split())),
        "    .input_schema = %s," % c_str(canon(v["inputs"])),
        "    .output_schema = %s," % c_str(canon(v["outputs"])),
        "    .idempotent = %s," % ("true" if v.get("idempotent", False) else "false"),
        "    .retries = %d," % v.get("retries", 0),
        "    .timeout_s = %d," % v.get("timeout_s", 0),
        "    .input_size = sizeof(%s_input)," % N,
        "    .output_size = sizeof(%s_output)," % N,
        "    .parse_input = %s_parse_input_any," % N,
        "    .execute = %s_execute_any," % N,
        "    .serialize_output = %s_serialize_output_any," % N,
        "    .input_violations = %s_input_violations," % N,
        "};"]
    return "\n".join(o) + "\n"


def registry_source(tasks):
    o = [stamp("every spec in task-specs"), "#include <stddef.h>", "", '#include "taas/registry.h"', ""]
    for t in tasks:
        o.append('#include "%s.h"' % t.name)
    o.append("")
    o.append("/* Every task, sorted by name (taas_registry_find searches it). */")
    o.append("const taas_task_type *const taas_registry[] = {")
    for t in tasks:
        o.append("    &taas_task_%s," % t.name)
    if not tasks:
        o.append("    NULL, /* C has no empty arrays; taas_registry_count is 0 */")
    o.append("};")
    o.append("const size_t taas_registry_count = %d;" % len(tasks))
    return "\n".join(o) + "\n"


def examples_source(tasks):
    """Inputs and expected outputs of every spec's examples, for the smoke test."""
    o = [stamp("every spec in task-specs"), "#include <stddef.h>", "", '#include "taas/registry.h"', ""]
    for t in tasks:
        o.append('#include "%s.h"' % t.name)
    o += ["", "typedef struct taas_example {", "    const taas_task_type *type;",
          "    const char *inputs;", "    const char *outputs;", "} taas_example;", "",
          "const taas_example taas_examples[] = {"]
    count = 0
    for t in tasks:
        for e in t.doc.value.get("examples", []):
            o.append("    {&taas_task_%s, %s, %s}," % (t.name, c_str(canon(e["inputs"])),
                                                      c_str(canon(e["outputs"]))))
            count += 1
    if not count:
        o.append("    {NULL, NULL, NULL},")
    o.append("};")
    o.append("const size_t taas_examples_count = %d;" % count)
    return "\n".join(o) + "\n"


def shared_header(name, src):
    return "\n".join([
        stamp(src), "#ifndef TAAS_GENERATED_SCHEMA_%s_H" % name.upper(),
        "#define TAAS_GENERATED_SCHEMA_%s_H" % name.upper(), "",
        '#include "taas/schema.h"', "",
        "/* The shared schema %s: validate raw JSON, collecting every error. */" % name,
        "extern const taas_schema taas_schema_%s;" % name, "",
        "static inline int schema_%s_validate(const char *json, size_t len,"
        " taas_schema_errors *errs)" % name,
        "{",
        "    return taas_schema_validate(&taas_schema_%s, json, len, errs);" % name,
        "}", "", "#endif /* TAAS_GENERATED_SCHEMA_%s_H */" % name.upper()]) + "\n"


def shared_source(doc, name, src):
    o = [stamp(src), "#include <math.h>", "#include <stddef.h>", "",
         '#include "schema_%s.h"' % name, '#include "schema/schema.h"', ""] + GUARD + [""]
    o += lower_schema_c(doc, (), "taas_schema_" + name, name)
    return "\n".join(o) + "\n"


def list_specs(specs_dir):
    out = []
    if os.path.isdir(specs_dir):
        for fn in sorted(os.listdir(specs_dir)):
            p = os.path.join(specs_dir, fn)
            if os.path.isfile(p) and (fn.endswith(".yaml") or fn.endswith(".json")):
                out.append(p)
    return out


def generate(specs_dir, rel_prefix="task-specs"):
    """All output files as {filename: text}; raises SpecError on the first problem."""
    files = {}
    tasks = {}
    for p in list_specs(specs_dir):
        fn = os.path.basename(p)
        src = "%s/%s" % (rel_prefix, fn)
        stem = fn.rsplit(".", 1)[0]
        doc = load_doc(p, src)
        check_spec(doc, stem)
        if stem in tasks:
            raise doc.error(("name",), "duplicate task name '%s' (also in %s)"
                            % (stem, tasks[stem].src))
        t = build_task(doc, src)
        tasks[stem] = t
        files[stem + ".h"] = header_for_task(t)
        files[stem + ".c"] = source_for_task(t)
    shared = {}
    sdir = os.path.join(specs_dir, "schemas")
    for p in list_specs(sdir):
        fn = os.path.basename(p)
        src = "%s/schemas/%s" % (rel_prefix, fn)
        stem = fn.rsplit(".", 1)[0]
        if not NAME_RE.match(stem):
            raise SpecError(src, 1, "schema file name '%s' must match [a-z][a-z0-9_]*" % stem)
        if stem in shared:
            raise SpecError(src, 1, "duplicate schema name '%s' (also in %s)" % (stem, shared[stem]))
        shared[stem] = src
        doc = load_doc(p, src)
        files["schema_%s.h" % stem] = shared_header(stem, src)
        files["schema_%s.c" % stem] = shared_source(doc, stem, src)
    ordered = [tasks[k] for k in sorted(tasks)]
    files["registry.c"] = registry_source(ordered)
    files["examples.c"] = examples_source(ordered)
    return files


def is_generated(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "Generated by codegen/taasgen.py" in f.readline()
    except OSError:
        return False


def write_outputs(files, out_dir):
    """Write changed files only; delete stale generated files of removed specs."""
    os.makedirs(out_dir, exist_ok=True)
    for fn in sorted(files):
        p = os.path.join(out_dir, fn)
        data = files[fn].encode("utf-8")
        try:
            with open(p, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        # Several build trees may regenerate at once: never share a temp file.
        tmp = "%s.%d.tmp" % (p, os.getpid())
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    for fn in sorted(os.listdir(out_dir)):
        p = os.path.join(out_dir, fn)
        if fn not in files and (fn.endswith(".c") or fn.endswith(".h")) and is_generated(p):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate C tables from TaaS task specs.")
    ap.add_argument("--specs", default="task-specs", help="folder of task specs")
    ap.add_argument("--out", default="generated", help="output folder")
    ap.add_argument("--check", action="store_true", help="validate only; write nothing")
    ap.add_argument("--stamp", help="touch this file after a successful run (for make)")
    ap.add_argument("--schema", nargs=2, metavar=("NAME", "FILE"),
                    help="schema-only mode: one schema file to schema_NAME.{h,c}")
    a = ap.parse_args(argv)
    try:
        if a.schema:
            name, path = a.schema
            if not NAME_RE.match(name):
                raise SpecError(path, 1, "schema name must match [a-z][a-z0-9_]*")
            doc = load_doc(path, path)
            files = {"schema_%s.h" % name: shared_header(name, path),
                     "schema_%s.c" % name: shared_source(doc, name, path)}
            if not a.check:
                os.makedirs(a.out, exist_ok=True)
                for fn, text in sorted(files.items()):
                    with open(os.path.join(a.out, fn), "w", encoding="utf-8") as f:
                        f.write(text)
            return 0
        specs = a.specs.rstrip("/")
        files = generate(specs, os.path.basename(specs) or specs)
        if not a.check:
            write_outputs(files, a.out)
            if a.stamp:
                with open(a.stamp, "w") as f:
                    f.write("%d files\n" % len(files))
    except SpecError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print("taasgen: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
