/*
 * runtime/middleware/size_limit.c - refuse request messages over a cap.
 *
 * The server also sets gRPC's own receive limit to the same value, so an
 * oversized message is normally refused by the transport before it is
 * buffered whole; this check holds the line for any path that does not.
 */
#include "middleware/middleware.h"

#include <stdlib.h>

struct size_limit {
    taas_middleware parent;
    size_t max;
};

static void size_call(taas_middleware *self, taas_call *call)
{
    struct size_limit *m = (struct size_limit *)self;
    size_t len;
    taas_call_request(call, &len);
    if (len > m->max) {
        taas_middleware_reject(call, TAAS_ST_RESOURCE_EXHAUSTED,
                               "request message of %zu bytes is over the limit of %zu bytes", len,
                               m->max);
        return;
    }
    taas_middleware_next(self, call);
}

static void size_free(taas_middleware *self)
{
    free(self);
}

taas_middleware *taas_mw_size_limit_new(size_t max_bytes)
{
    struct size_limit *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->parent.version = TAAS_MIDDLEWARE_VERSION;
    m->parent.name = "size_limit";
    m->parent.call = size_call;
    m->parent.free = size_free;
    m->max = max_bytes;
    return &m->parent;
}
