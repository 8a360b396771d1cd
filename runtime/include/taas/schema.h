/*
 * runtime/include/taas/schema.h - validating a document against a shared
 * schema (task-specs/schemas/x.yaml): the part of the schema runtime that
 * task bodies call (public: part of the author API). The generated
 * generated/schema_x.h declares `taas_schema_x` and schema_x_validate();
 * the tables and the validator itself are internal (runtime/schema/).
 */
#ifndef TAAS_PUBLIC_SCHEMA_H
#define TAAS_PUBLIC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "taas/registry.h" /* taas_error */

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many errors are kept by taas_schema_validate(). */
#define TAAS_SCHEMA_MAX_ERRORS 32

/*
 * Every error found in one document, in document order. `truncated` is set
 * when more than TAAS_SCHEMA_MAX_ERRORS were found (the rest are dropped).
 * Caller-allocated (about 24 KiB); nothing inside needs freeing.
 */
typedef struct taas_schema_errors {
    size_t count;
    bool truncated;
    taas_error items[TAAS_SCHEMA_MAX_ERRORS];
} taas_schema_errors;

/* Return values of taas_schema_validate(). */
enum {
    TAAS_SCHEMA_VALID = 0,
    TAAS_SCHEMA_INVALID = -1, /* the document does not conform; errs lists why */
    TAAS_SCHEMA_EJSON = -2    /* not JSON at all: one error, path "", the parse message */
};

typedef struct taas_schema taas_schema;

/*
 * Check `json[0..len)` against schema `s`, collecting every error (up to the
 * cap) into *errs (always reset first; may be NULL when only the verdict is
 * wanted). Returns TAAS_SCHEMA_VALID, TAAS_SCHEMA_INVALID or
 * TAAS_SCHEMA_EJSON. Thread-safe. For a shared schema task-specs/schemas/x.yaml
 * the generated generated/schema_x.h declares `taas_schema_x` and the
 * shorthand schema_x_validate(json, len, errs).
 */
int taas_schema_validate(const taas_schema *s, const char *json, size_t len,
                         taas_schema_errors *errs);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_PUBLIC_SCHEMA_H */
