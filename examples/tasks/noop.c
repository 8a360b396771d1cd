/*
 * examples/tasks/noop.c - the cheapest body: no work, one boolean out.
 * Its inputs are kept as raw JSON (an object with no declared properties)
 * and never looked at.
 */
#include "noop.h"

int noop_execute(taas_ctx *ctx, const noop_input *in, noop_output *out)
{
    (void)ctx;
    (void)in;
    out->ok = true;
    return 0;
}
