/*
 * runtime/metrics/metrics_mw.c - the middleware that counts every call by
 * transport, method and status (taas_calls_total). It only has a `done`:
 * counting happens once the call has ended, with its final status.
 */
#include <stdlib.h>

#include "metrics/metrics.h"
#include "middleware/middleware.h"

static void mw_call(taas_middleware *self, taas_call *call)
{
    taas_middleware_next(self, call);
}

static void mw_done(taas_middleware *self, taas_call *call, taas_status st, int64_t duration_us)
{
    (void)self;
    taas_metrics_call(taas_call_transport(call), taas_call_method_name(call), st, duration_us);
}

static void mw_free(taas_middleware *self)
{
    free(self);
}

taas_middleware *taas_metrics_middleware_new(void)
{
    taas_middleware *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->version = TAAS_MIDDLEWARE_VERSION;
    m->name = "metrics";
    m->call = mw_call;
    m->done = mw_done;
    m->free = mw_free;
    return m;
}
