/*
 * taas/registry.h - what the generator emits for every task, and how the
 * runtime finds it.
 *
 * For a task `foo`, generated/foo.c defines `const taas_task_type
 * taas_task_foo`, and generated/registry.c lists every task in
 * `taas_registry[]`, sorted by name. Nothing here is written by hand.
 */
#ifndef TAAS_REGISTRY_H
#define TAAS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "taas/taas.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TAAS_TASK_TYPE_VERSION 1

/*
 * An error found while reading inputs or checking outputs: `path` is the
 * JSON Pointer of the offending value ("" for the root), `message` the reason
 * ("expected number, got string"). taas_error_format() joins them as
 * "/param2: expected number, got string".
 */
typedef struct taas_error {
    char path[256];
    char message[512];
} taas_error;

/* "<path>: <message>" (or just the message when path is empty) into buf. */
const char *taas_error_format(const taas_error *e, char *buf, size_t cap);

typedef struct taas_task_type {
    int abi_version;           /* TAAS_TASK_TYPE_VERSION */
    const char *name;          /* [a-z][a-z0-9_]* */
    const char *version;       /* semver */
    const char *description;
    const char *input_schema;  /* the spec's inputs schema, as canonical JSON text */
    const char *output_schema; /* the spec's outputs schema, as canonical JSON text */
    bool idempotent;
    int retries;               /* further attempts after a retryable failure */
    int timeout_s;             /* 0 = the server's default */
    size_t input_size;         /* sizeof(foo_input) */
    size_t output_size;        /* sizeof(foo_output) */

    /*
     * Parse and validate JSON text into *in (zeroed by the caller, input_size
     * bytes). Strings and arrays are allocated from ctx's arena. Returns 0,
     * or -1 with *err filled (nothing to free beyond the arena).
     */
    int (*parse_input)(taas_ctx *ctx, const char *json, size_t len, void *in, taas_error *err);

    /* The author's body: foo_execute. */
    int (*execute)(taas_ctx *ctx, const void *in, void *out);

    /*
     * Serialize *out to JSON and check it against the output schema. On
     * success returns 0 and sets *json (malloc'd, NUL-terminated; the caller
     * frees) and *len. On failure returns -1 with *err filled.
     */
    int (*serialize_output)(taas_ctx *ctx, const void *out, char **json, size_t *len,
                            taas_error *err);

    /*
     * Every violation of the input schema in json[0..len), in document
     * order; up to `max` go to out[]. Returns how many were found (0 for
     * valid inputs). The server calls it only for inputs parse_input
     * refused, to list them all in the error details. NULL in types
     * generated before it existed (the details then name the first only).
     */
    size_t (*input_violations)(const char *json, size_t len, taas_error *out, size_t max);
} taas_task_type;

extern const taas_task_type *const taas_registry[];
extern const size_t taas_registry_count;

/* The task type named `name`, or NULL. Binary search over taas_registry. */
const taas_task_type *taas_registry_find(const char *name);

/*
 * Up to `max` registered names closest to `name` (edit distance), for
 * "unknown task 'my_custm_task'; did you mean my_custom_task?". Returns the
 * number written to out[].
 */
size_t taas_registry_suggest(const char *name, const char **out, size_t max);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_REGISTRY_H */
