/*
 * runtime/schema/violations.c - every violation of a schema, for error
 * details.
 *
 * Tasks validate their inputs in "first" mode (the walk stops at the first
 * failure, which keeps the submit path short). When a submit is refused,
 * the server also tells the client every other bad value: this runs the
 * "all" mode walk on the refused document, on the error path only.
 */
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

size_t taas_schema_violations(const taas_schema *s, const char *json, size_t len, taas_error *out,
                              size_t max)
{
    /* About 24 KiB: from the heap, not the calling thread's stack. */
    taas_schema_errors *errs = malloc(sizeof *errs);
    if (!errs)
        return 0;
    size_t found = 0;
    if (taas_schema_validate(s, json, len, errs) != TAAS_SCHEMA_VALID) {
        size_t n = errs->count < max ? errs->count : max;
        memcpy(out, errs->items, n * sizeof *out);
        found = errs->count + (errs->truncated ? 1 : 0);
    }
    free(errs);
    return found;
}
