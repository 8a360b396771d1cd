/*
 * runtime/middleware/request_log.c - one structured line per call, written
 * when the call has ended so that it carries the status and the duration:
 *
 *   INFO  rpc method=/taas.v1.TaskService/GetTask peer=ipv4:127.0.0.1:4242 status=NOT_FOUND duration_us=85
 *
 * (with " transport=http" before duration_us for a call of the HTTP port)
 *
 * Only the method, the peer, the authenticated principal (a name from the
 * tokens file), the status and timing are logged: never
 * metadata values (authorization tokens) nor message contents.
 *
 * The INFO line may wait in memory for up to the log's batching interval
 * (util/log.h: lost in a SIGKILL); a WARN line (INTERNAL, UNKNOWN,
 * DATA_LOSS) is written at once.
 */
#include "middleware/middleware.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static void log_call(taas_middleware *self, taas_call *call)
{
    taas_middleware_next(self, call);
}

/* The message, built with memcpy: it is logged for every call, and
 * vsnprintf was most of a line's cost. */
struct msgbuf {
    char b[2048]; /* taas_log_msg keeps 2047 bytes, as a formatted message */
    size_t n;
};

static void add(struct msgbuf *m, const char *s)
{
    size_t len = strlen(s);
    if (len > sizeof m->b - m->n)
        len = sizeof m->b - m->n;
    memcpy(m->b + m->n, s, len);
    m->n += len;
}

static void add_int(struct msgbuf *m, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    *--p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    add(m, p);
}

static void log_done(taas_middleware *self, taas_call *call, taas_status st, int64_t duration_us)
{
    taas_log_level lvl = TAAS_LOG_INFO;
    if (st == TAAS_ST_INTERNAL || st == TAAS_ST_UNKNOWN || st == TAAS_ST_DATA_LOSS)
        lvl = TAAS_LOG_WARN;
    if (!taas_log_enabled(lvl))
        return;
    /* method=%s peer=%s[ principal=%s] status=%s duration_us=%lld */
    struct msgbuf m;
    m.n = 0;
    add(&m, "method=");
    add(&m, taas_call_method_name(call));
    add(&m, " peer=");
    add(&m, taas_call_peer(call));
    const char *who = taas_call_principal(call);
    if (who) {
        add(&m, " principal=");
        add(&m, who);
    }
    add(&m, " status=");
    add(&m, taas_status_name(st));
    /* Calls of the HTTP port carry the gRPC method they mirror: say so. */
    if (taas_call_ops_of(call)) {
        add(&m, " transport=");
        add(&m, taas_call_transport(call));
    }
    add(&m, " duration_us=");
    add_int(&m, (long long)duration_us);
    /* Batched: one write(2) per call was most of the rest. */
    taas_log_msg(lvl, TAAS_LOG_BATCH, "rpc", m.b, m.n);
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
