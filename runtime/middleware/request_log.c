/*
 * runtime/middleware/request_log.c - one structured line per call, written
 * when the call has ended so that it carries the status and the duration:
 *
 *   INFO  rpc method=/taas.v1.TaskService/GetTask peer=ipv4:127.0.0.1:4242 status=NOT_FOUND duration_us=85
 *
 * Only the method, the peer, the authenticated principal (a name from the
 * tokens file), the status and timing are logged: never
 * metadata values (authorization tokens) nor message contents.
 */
#include "middleware/middleware.h"

#include <stdlib.h>

#include "util/log.h"

static void log_call(taas_middleware *self, taas_call *call)
{
    taas_middleware_next(self, call);
}

static void log_done(taas_middleware *self, taas_call *call, taas_status st, int64_t duration_us)
{
    taas_log_level lvl = TAAS_LOG_INFO;
    if (st == TAAS_ST_INTERNAL || st == TAAS_ST_UNKNOWN || st == TAAS_ST_DATA_LOSS)
        lvl = TAAS_LOG_WARN;
    if (!taas_log_enabled(lvl))
        return;
    const char *who = taas_call_principal(call);
    taas_log(lvl, "rpc", "method=%s peer=%s%s%s status=%s duration_us=%lld",
             taas_call_method_name(call), taas_call_peer(call), who ? " principal=" : "",
             who ? who : "", taas_status_name(st), (long long)duration_us);
}

static void log_free(taas_middleware *self)
{
    free(self);
}

taas_middleware *taas_mw_log_new(void)
{
    taas_middleware *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->version = TAAS_MIDDLEWARE_VERSION;
    m->name = "log";
    m->call = log_call;
    m->done = log_done;
    m->free = log_free;
    return m;
}
