/*
 * runtime/schema/schema.h - JSON Schema descriptor tables and the one generic
 * validator/binder that walks them.
 *
 * Method. codegen/taasgen.py lowers every JSON Schema of a spec into static,
 * read-only tables: an array of taas_schema_node, where every subschema is a
 * node and refers to other nodes by index (so "$ref" recursion is just an
 * index), plus side tables for properties, names, node lists, constants and
 * regular expressions. Nothing in the generated code branches on the data;
 * the logic lives here, once, and is tested by the JSON-Schema-Test-Suite.
 *
 * Binding. A node may also describe a C value (bind != TAAS_BIND_NONE). When
 * the validator is given a destination, a bound node stores the value it has
 * just accepted there: strings and arrays are allocated from the task's arena
 * (taas_alloc), nested objects fill nested structs at the offsets the
 * generator took with offsetof. Validation and binding are one pass.
 *
 * Errors. In "first" mode (task inputs and outputs) the walk stops at the
 * first failure; in "all" mode (shared schemas, taas_schema_validate) it
 * collects up to TAAS_SCHEMA_MAX_ERRORS, each a JSON Pointer plus a reason.
 * Failures inside anyOf/oneOf/not/if/contains branches are not reported one
 * by one: the applicator reports one error at the instance's path.
 *
 * Threads. Tables are const. Each schema has one mutable taas_schema_rt that
 * holds its compiled regular expressions and parsed constants; it is filled
 * once, lazily, under a lock, and is read-only afterwards.
 */
#ifndef TAAS_SCHEMA_H
#define TAAS_SCHEMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "taas/registry.h"
#include "taas/schema.h"
#include "taas/taas.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The layout of the tables below. Generated files check it and refuse to
 * compile against another runtime:
 *     #if TAAS_SCHEMA_ABI != 1
 *     #error Regenerate ... with codegen/taasgen.py
 */
#define TAAS_SCHEMA_ABI 1

/* ------------------------------------------------------------------------ */
/* Validating shared schemas: the API task bodies call, in taas/schema.h    */

/* The same on an already parsed value (token `tok` of `doc`). */
int taas_schema_validate_doc(const taas_schema *s, const taas_jdoc *doc, int tok,
                             taas_schema_errors *errs);

/*
 * Every violation of `s` in json[0..len), in document order: up to `max` are
 * copied to out[]. Returns how many were found (more than `max` when some
 * were left out; 0 when the document is valid). For the details of a
 * refused submit (generated foo.c's input_violations); thread-safe.
 */
size_t taas_schema_violations(const taas_schema *s, const char *json, size_t len, taas_error *out,
                              size_t max);

/* ------------------------------------------------------------------------ */
/* Task inputs and outputs (what generated foo.c calls)                     */

/*
 * Parse JSON text, validate it against `s` and fill the bound struct *dst
 * (zeroed by the caller) in the same pass; strings and arrays come from
 * ctx's arena. Returns 0, or -1 with the first error in *err.
 */
int taas_schema_parse(const taas_schema *s, taas_ctx *ctx, const char *json, size_t len,
                      void *dst, taas_error *err);

/*
 * Write the bound struct *src as JSON, then check that JSON against `s`.
 * Returns 0 with *json (malloc'd, NUL-terminated, the caller frees) and *len,
 * or -1 with the first error in *err and nothing to free.
 */
int taas_schema_serialize(const taas_schema *s, taas_ctx *ctx, const void *src, char **json,
                          size_t *len, taas_error *err);

/* ------------------------------------------------------------------------ */
/* The tables (written by the generator, read by the validator)             */

/* Instance types, as bits of taas_schema_node.types (0 = no "type" keyword). */
enum {
    TAAS_SCHEMA_T_NULL = 1 << 0,
    TAAS_SCHEMA_T_BOOLEAN = 1 << 1,
    TAAS_SCHEMA_T_OBJECT = 1 << 2,
    TAAS_SCHEMA_T_ARRAY = 1 << 3,
    TAAS_SCHEMA_T_NUMBER = 1 << 4,
    TAAS_SCHEMA_T_STRING = 1 << 5,
    TAAS_SCHEMA_T_INTEGER = 1 << 6
};

/* Which optional keywords a node has (taas_schema_node.flags). */
enum {
    TAAS_SF_FALSE = 1 << 0,        /* the boolean schema `false` */
    TAAS_SF_MINIMUM = 1 << 1,
    TAAS_SF_MAXIMUM = 1 << 2,
    TAAS_SF_EXMINIMUM = 1 << 3,
    TAAS_SF_EXMAXIMUM = 1 << 4,
    TAAS_SF_MULTIPLEOF = 1 << 5,
    TAAS_SF_UNIQUE = 1 << 6,       /* uniqueItems: true */
    TAAS_SF_ENUM = 1 << 7,
    TAAS_SF_CONST = 1 << 8
};

/* How a node's value is stored in C (taas_schema_node.bind). */
typedef enum taas_bind_kind {
    TAAS_BIND_NONE = 0,
    TAAS_BIND_STRING,  /* const char * */
    TAAS_BIND_INT64,   /* int64_t */
    TAAS_BIND_DOUBLE,  /* double */
    TAAS_BIND_BOOL,    /* bool */
    TAAS_BIND_ENUM,    /* a C enum (int): index into the node's enum list */
    TAAS_BIND_STRUCT,  /* struct: the node's properties carry offsets */
    TAAS_BIND_ARRAY,   /* struct { size_t len; T *items; }: T bound by `items` */
    TAAS_BIND_JSON     /* taas_json: the raw text of the value */
} taas_bind_kind;

/* A counted string (may contain any byte but NUL is never produced). */
typedef struct taas_schema_str {
    const char *s;
    size_t n;
} taas_schema_str;

/* One entry of "properties". */
typedef struct taas_schema_prop {
    taas_schema_str name;
    int32_t node;
    int32_t offset;           /* field offset in the bound struct; -1 unbound */
    int32_t has_offset;       /* offset of `bool has_<field>`; -1 none */
    int32_t default_const;    /* index into consts of "default"; -1 none */
} taas_schema_prop;

/* One entry of "patternProperties": a regex index and its schema. */
typedef struct taas_schema_pprop {
    int32_t regex;
    int32_t node;
} taas_schema_pprop;

/*
 * One entry of "dependentRequired" (names: strs[first .. first+count)) or of
 * "dependentSchemas" (node).
 */
typedef struct taas_schema_dep {
    taas_schema_str name;
    int32_t first;
    int32_t count;
    int32_t node;
} taas_schema_dep;

/* A range of a side table; count 0 means the keyword is absent. */
typedef struct taas_schema_range {
    int32_t first;
    int32_t count;
} taas_schema_range;

/* One subschema. Index fields are -1 when the keyword is absent. */
typedef struct taas_schema_node {
    uint32_t flags;       /* TAAS_SF_* */
    uint16_t types;       /* TAAS_SCHEMA_T_* bits; 0 = any */
    uint8_t bind;         /* taas_bind_kind */
    int32_t ref;          /* "$ref" target node */
    /* numbers */
    double minimum, maximum, ex_minimum, ex_maximum, multiple_of;
    /* sizes; -1 = absent */
    int64_t min_length, max_length;
    int64_t min_items, max_items;
    int64_t min_props, max_props;
    int64_t min_contains, max_contains;
    int32_t pattern;      /* regex index */
    taas_schema_range enum_; /* consts */
    int32_t const_;       /* consts index */
    /* objects */
    taas_schema_range props;     /* props table */
    taas_schema_range required;  /* strs table */
    taas_schema_range pprops;    /* pprops table */
    int32_t additional;          /* additionalProperties */
    int32_t property_names;
    taas_schema_range dep_required; /* deps table */
    taas_schema_range dep_schemas;  /* deps table */
    /* arrays */
    taas_schema_range prefix;    /* lists table */
    int32_t items;
    int32_t contains;
    /* applicators */
    taas_schema_range all_of, any_of, one_of; /* lists table */
    int32_t not_, if_, then_, else_;
    /* binding */
    uint32_t size;        /* sizeof the bound C type (array element size) */
} taas_schema_node;

/* The lazily built, per-schema mutable state. Zero-initialize; never touch. */
typedef struct taas_schema_rt {
    atomic_int ready;
    void **regex;         /* pcre2_code * per regexes[] entry (NULL: failed) */
    char **regex_err;     /* compile error per regex, or NULL */
    taas_jdoc *consts;    /* parsed consts[] */
} taas_schema_rt;

/* One whole schema document. */
struct taas_schema {
    int abi;                        /* TAAS_SCHEMA_ABI */
    const char *name;
    int32_t root;
    const taas_schema_node *nodes;
    size_t node_count;
    const taas_schema_prop *props;
    const taas_schema_str *strs;
    const int32_t *lists;
    const taas_schema_pprop *pprops;
    const taas_schema_dep *deps;
    const taas_schema_str *consts;  /* canonical JSON text of enum/const/default values */
    size_t const_count;
    const taas_schema_str *regexes; /* pattern sources, UTF-8 */
    size_t regex_count;
    taas_schema_rt *rt;
};

#ifdef __cplusplus
}
#endif
#endif /* TAAS_SCHEMA_H */
