/* Bodies of the engine's test tasks (tests/engine/specs). */
#include <time.h>

#include "flaky.h"
#include "stubborn.h"

int stubborn_execute(taas_ctx *ctx, const stubborn_input *in, stubborn_output *out)
{
    struct timespec ts = {(time_t)(in->ms / 1000), (long)(in->ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    (void)ctx;
    out->slept = in->ms;
    return 0;
}

int flaky_execute(taas_ctx *ctx, const flaky_input *in, flaky_output *out)
{
    if (in->permanent)
        return taas_fail(ctx, TAAS_PERMANENT, "permanent failure on attempt %d", taas_attempt(ctx));
    if (taas_attempt(ctx) < in->succeed_on)
        return taas_fail(ctx, TAAS_RETRYABLE, "transient failure on attempt %d", taas_attempt(ctx));
    out->attempt = taas_attempt(ctx);
    return 0;
}
