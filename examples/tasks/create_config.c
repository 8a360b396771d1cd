/*
 * examples/tasks/create_config.c - a configuration from typed parameters.
 *
 * The generated parser has already applied every default and checked every
 * range, enum and pattern, so the body only copies fields across and turns
 * the feature list into a set (sorted, each name once). Its output schema
 * mirrors task-specs/schemas/app_config.yaml; the tests validate each
 * output against that shared schema.
 */
#include <stdlib.h>
#include <string.h>

#include "create_config.h"

/* Input and output enums come from the same lists in the spec. */
_Static_assert((int)CREATE_CONFIG_INPUT_ENVIRONMENT_PRODUCTION ==
                   (int)CREATE_CONFIG_OUTPUT_ENVIRONMENT_PRODUCTION,
               "environment enums differ between inputs and outputs");
_Static_assert((int)CREATE_CONFIG_INPUT_LOG_LEVEL_CRITICAL ==
                   (int)CREATE_CONFIG_OUTPUT_LOG_LEVEL_CRITICAL,
               "log_level enums differ between inputs and outputs");

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int create_config_execute(taas_ctx *ctx, const create_config_input *in,
                          create_config_output *out)
{
    out->app_name = in->app_name;
    out->environment = (create_config_output_environment)in->environment;
    out->debug = in->debug;
    out->port = in->port;
    out->log_level = (create_config_output_log_level)in->log_level;

    size_t n = in->features.len;
    const char **items = taas_alloc(ctx, (n ? n : 1) * sizeof *items);
    if (!items)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    if (n)
        memcpy(items, in->features.items, n * sizeof *items);
    qsort(items, n, sizeof *items, cmp_str);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept == 0 || strcmp(items[kept - 1], items[i]) != 0)
            items[kept++] = items[i];
    }
    out->features.items = items;
    out->features.len = kept;
    return 0;
}
