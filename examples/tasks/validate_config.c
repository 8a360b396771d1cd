/*
 * examples/tasks/validate_config.c - check a configuration against the
 * shared app_config schema.
 *
 * The generated validator (generated/schema_app_config.h) collects every
 * error with its JSON Pointer; the body only copies them into the output.
 * An invalid configuration is the answer to the question asked, so it is a
 * successful run with valid: false, never a task failure.
 */
#include <stdlib.h>

#include "schema_app_config.h"
#include "validate_config.h"

int validate_config_execute(taas_ctx *ctx, const validate_config_input *in,
                            validate_config_output *out)
{
    /* About 24 KiB: too big for a worker thread's stack to take lightly. */
    taas_schema_errors *errs = taas_alloc(ctx, sizeof *errs);
    if (!errs)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");

    int rc = schema_app_config_validate(in->config.text, in->config.len, errs);
    out->valid = (rc == TAAS_SCHEMA_VALID);

    size_t n = errs->count + (errs->truncated ? 1 : 0);
    out->errors.len = 0;
    out->errors.items = taas_alloc(ctx, (n ? n : 1) * sizeof *out->errors.items);
    if (!out->errors.items)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    for (size_t i = 0; i < errs->count; i++) {
        validate_config_output_errors_item *e = &out->errors.items[i];
        e->path = taas_strdup(ctx, errs->items[i].path);
        e->message = taas_strdup(ctx, errs->items[i].message);
        if (!e->path || !e->message)
            return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    }
    out->errors.len = errs->count;
    if (errs->truncated) {
        validate_config_output_errors_item *e = &out->errors.items[out->errors.len++];
        e->path = "";
        e->message = taas_printf(ctx, "more than %d errors; the rest are not listed",
                                 TAAS_SCHEMA_MAX_ERRORS);
        if (!e->message)
            return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    }
    if (rc != TAAS_SCHEMA_VALID && rc != TAAS_SCHEMA_INVALID && errs->count == 0)
        return taas_fail(ctx, TAAS_PERMANENT, "the configuration could not be checked");
    return 0;
}
