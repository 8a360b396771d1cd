/*
 * runtime/http/http_call.c - the call of the HTTP port (struct hcall, a
 * taas_call of this transport, see call.h): status mapping and error JSON,
 * plain answers, and the event streams (SSE output buffer, the content
 * reader, the keepalive thread). Threads and locking: see http_server.c;
 * a call's answer and stream state are under its own mutex `mu`, the
 * streams list under the server's `mu`.
 */
#include "http/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "http/pbjson.h"
#include "internal/rpc_status.pb-c.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* Status mapping */

int taas_http_status_of(taas_status st)
{
    switch (st) {
    case TAAS_ST_OK: return 200;
    case TAAS_ST_CANCELLED: return 499;
    case TAAS_ST_INVALID_ARGUMENT: return 400;
    case TAAS_ST_FAILED_PRECONDITION: return 400;
    case TAAS_ST_OUT_OF_RANGE: return 400;
    case TAAS_ST_DEADLINE_EXCEEDED: return 504;
    case TAAS_ST_NOT_FOUND: return 404;
    case TAAS_ST_ALREADY_EXISTS: return 409;
    case TAAS_ST_ABORTED: return 409;
    case TAAS_ST_PERMISSION_DENIED: return 403;
    case TAAS_ST_UNAUTHENTICATED: return 401;
    case TAAS_ST_RESOURCE_EXHAUSTED: return 429;
    case TAAS_ST_UNIMPLEMENTED: return 501;
    case TAAS_ST_UNAVAILABLE: return 503;
    default: return 500;
    }
}

/*
 * The error body: {"error": {"code", "status", "message", "details"}} with
 * a google.rpc.BadRequest detail naming the field for INVALID_ARGUMENT,
 * derived from the message the handler wrote ("invalid inputs for t:
 * /param2: expected number..." -> field "inputs/param2").
 */
/* The field violations of a packed google.rpc.Status holding a BadRequest
 * (what a gRPC client reads from grpc-status-details-bin), as JSON. */
static bool write_violations(taas_jw *w, const uint8_t *details, size_t dlen)
{
    Taas__Internal__Rpc__Status *st = taas__internal__rpc__status__unpack(NULL, dlen, details);
    if (!st)
        return false;
    bool any = false;
    for (size_t i = 0; i < st->n_details; i++) {
        const Taas__Internal__Rpc__Any *a = st->details[i];
        if (strcmp(a->type_url, "type.googleapis.com/google.rpc.BadRequest") != 0)
            continue;
        Taas__Internal__Rpc__BadRequest *br =
            taas__internal__rpc__bad_request__unpack(NULL, a->value.len, a->value.data);
        if (!br)
            continue;
        taas_jw_obj_begin(w);
        taas_jw_key(w, "@type");
        taas_jw_str(w, a->type_url);
        taas_jw_key(w, "field_violations");
        taas_jw_arr_begin(w);
        for (size_t k = 0; k < br->n_field_violations; k++) {
            taas_jw_obj_begin(w);
            taas_jw_key(w, "field");
            taas_jw_str(w, br->field_violations[k]->field);
            taas_jw_key(w, "description");
            taas_jw_str(w, br->field_violations[k]->description);
            taas_jw_obj_end(w);
        }
        taas_jw_arr_end(w);
        taas_jw_obj_end(w);
        taas__internal__rpc__bad_request__free_unpacked(br, NULL);
        any = true;
    }
    taas__internal__rpc__status__free_unpacked(st, NULL);
    return any;
}

char *http__error_json_details(taas_status st, const char *msg, const char *field,
                                const uint8_t *details, size_t dlen, size_t *len);

char *http__error_json(taas_status st, const char *msg, const char *field, size_t *len)
{
    return http__error_json_details(st, msg, field, NULL, 0, len);
}

char *http__error_json_details(taas_status st, const char *msg, const char *field,
                                const uint8_t *details, size_t dlen, size_t *len)
{
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "error");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "code");
    taas_jw_int64(&w, st);
    taas_jw_key(&w, "status");
    taas_jw_str(&w, taas_status_name(st));
    taas_jw_key(&w, "message");
    taas_jw_str(&w, msg ? msg : taas_status_name(st));
    char fbuf[300] = "";
    const char *desc = NULL;
    if (field && field[0]) {
        snprintf(fbuf, sizeof fbuf, "%s", field);
        desc = msg;
        const char *colon = msg ? strstr(msg, ": ") : NULL;
        if (colon)
            desc = colon + 2;
    } else if (st == TAAS_ST_INVALID_ARGUMENT && msg) {
        const char *p = strstr(msg, "invalid inputs for ");
        if (p == msg) {
            const char *c1 = strstr(msg, ": ");
            const char *rest = c1 ? c1 + 2 : "";
            const char *c2 = rest[0] == '/' ? strstr(rest, ": ") : NULL;
            /* As gRPC's BadRequest names it: the JSON Pointer into the inputs. */
            if (c2) {
                snprintf(fbuf, sizeof fbuf, "%.*s", (int)(c2 - rest), rest);
                desc = c2 + 2;
            } else {
                snprintf(fbuf, sizeof fbuf, "/");
                desc = rest;
            }
        } else {
            size_t k = strspn(msg, "abcdefghijklmnopqrstuvwxyz_");
            if (k && strncmp(msg + k, ": ", 2) == 0) {
                snprintf(fbuf, sizeof fbuf, "%.*s", (int)k, msg);
                desc = msg + k + 2;
            }
        }
    }
    taas_jw_key(&w, "details");
    taas_jw_arr_begin(&w);
    if (details && dlen && write_violations(&w, details, dlen)) {
        /* The handler's own details: exactly what a gRPC client gets. */
    } else if (fbuf[0]) {
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "@type");
        taas_jw_str(&w, "type.googleapis.com/google.rpc.BadRequest");
        taas_jw_key(&w, "field_violations");
        taas_jw_arr_begin(&w);
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "field");
        taas_jw_str(&w, fbuf);
        taas_jw_key(&w, "description");
        taas_jw_str(&w, desc ? desc : "");
        taas_jw_obj_end(&w);
        taas_jw_arr_end(&w);
        taas_jw_obj_end(&w);
    }
    taas_jw_arr_end(&w);
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    char *out = taas_jw_take(&w, len);
    if (!out) {
        /* A message that is not valid UTF-8 cannot go in JSON: say so. */
        taas_jw_free(&w);
        char tmp[128];
        int n = snprintf(tmp, sizeof tmp,
                         "{\"error\":{\"code\":%d,\"status\":\"%s\",\"message\":\"%s\",\"details\":[]}}",
                         (int)st, taas_status_name(st), taas_status_name(st));
        out = strdup(tmp);
        *len = out ? (size_t)n : 0;
    }
    return out;
}

/* ------------------------------------------------------------------------ */
/* Responses */

void http__common_headers(struct MHD_Response *r)
{
    /* The dashboard loads only its own files; nothing inline, no framing. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

enum MHD_Result http__send_buf(struct MHD_Connection *conn, int code, const char *ctype,
                                void *buf, size_t len, bool free_it)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, buf, free_it ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (free_it)
            free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    http__common_headers(r);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)code, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result http__send_error(struct MHD_Connection *conn, taas_status st, const char *msg,
                                  const char *field, int http_code)
{
    size_t len = 0;
    char *j = http__error_json(st, msg, field, &len);
    if (!j)
        return MHD_NO;
    return http__send_buf(conn, http_code ? http_code : taas_http_status_of(st), "application/json", j,
                     len, true);
}

/* ------------------------------------------------------------------------ */
/* The call (taas_call of this transport) */

void http__hc_ref(taas_call *c)
{
    atomic_fetch_add_explicit(&((struct hcall *)c)->refs, 1, memory_order_relaxed);
}

static void hc_free(struct hcall *c)
{
    taas_call_head_clear(&c->head);
    for (size_t i = 0; i < c->n_hdrs; i++) {
        free(c->hdrs[i].key);
        free(c->hdrs[i].val);
    }
    free(c->hdrs);
    free(c->body);
    free(c->req);
    free(c->msg);
    free(c->rbuf);
    free(c->details);
    free(c->out);
    free(c->mcp_session);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void http__hc_unref(taas_call *call)
{
    struct hcall *c = (struct hcall *)call;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        hc_free(c);
}

static const char *hc_method_name(const taas_call *call)
{
    const struct hcall *c = (const struct hcall *)call;
    return c->route && c->route->grpc ? c->route->grpc : "";
}

static const taas_method *hc_method(const taas_call *call)
{
    return ((const struct hcall *)call)->method;
}

static const uint8_t *hc_request(const taas_call *call, size_t *len)
{
    const struct hcall *c = (const struct hcall *)call;
    *len = c->req_len;
    return c->req ? c->req : (const uint8_t *)"";
}

static bool hc_has_request(const taas_call *call)
{
    return ((const struct hcall *)call)->req != NULL;
}

static const char *hc_peer(const taas_call *call)
{
    return ((const struct hcall *)call)->peer;
}

const char *http__hc_metadata(const taas_call *call, const char *key, size_t *len)
{
    const struct hcall *c = (const struct hcall *)call;
    for (size_t i = 0; i < c->n_hdrs; i++) {
        if (strcasecmp(c->hdrs[i].key, key) == 0) {
            *len = c->hdrs[i].vlen;
            return c->hdrs[i].val;
        }
    }
    *len = 0;
    return NULL;
}

static int64_t hc_deadline(const taas_call *call)
{
    (void)call;
    return -1;
}

static int64_t hc_start_us(const taas_call *call)
{
    return ((const struct hcall *)call)->start_us;
}

static taas_status hc_final_status(const taas_call *call)
{
    return ((const struct hcall *)call)->final_status;
}

/* Resume a suspended connection. c->mu held. */
void http__wake_locked(struct hcall *c)
{
    if (c->suspended && !c->gone) {
        c->suspended = false;
        MHD_resume_connection(c->conn);
    }
}

static void out_append_locked(struct hcall *c, const char *s, size_t n)
{
    if (c->out_off && c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    if (c->out_len + n + 1 > c->out_cap) {
        size_t nc = (c->out_len + n + 1) * 2;
        char *np = realloc(c->out, nc);
        if (!np)
            return; /* the event is lost; the stream goes on */
        c->out = np;
        c->out_cap = nc;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void sse_error_locked(struct hcall *c, taas_status st, const char *msg)
{
    size_t len = 0;
    char *j = http__error_json(st, msg, NULL, &len);
    if (!j)
        return;
    out_append_locked(c, "event: error\ndata: ", 19);
    out_append_locked(c, j, len);
    out_append_locked(c, "\n\n", 2);
    free(j);
}

void http__hc_reply(taas_call *call, taas_status st, const char *message, void *buf, size_t len)
{
    struct hcall *c = (struct hcall *)call;
    pthread_mutex_lock(&c->mu);
    if (c->replied) {
        pthread_mutex_unlock(&c->mu);
        free(buf);
        return;
    }
    c->replied = true;
    c->st = st;
    c->final_status = st;
    c->msg = message ? strdup(message) : NULL;
    if (st == TAAS_ST_OK && buf) {
        c->rbuf = buf;
        c->rlen = len;
    } else {
        free(buf);
    }
    if (c->route && c->route->kind == R_EVENTS && c->stream_started) {
        if (st != TAAS_ST_OK)
            sse_error_locked(c, st, message);
        c->stream_end = true;
    }
    if (c->route && c->route->kind == R_MCP && c->stream_started)
        c->stream_end = true;
    http__wake_locked(c);
    pthread_mutex_unlock(&c->mu);
}

static void hc_reply_details(taas_call *call, taas_status st, const char *message, void *details,
                             size_t len)
{
    struct hcall *c = (struct hcall *)call;
    pthread_mutex_lock(&c->mu);
    bool first = !c->replied && st != TAAS_ST_OK && details && len;
    if (first) {
        c->details = details;
        c->details_len = len;
    }
    pthread_mutex_unlock(&c->mu);
    if (!first)
        free(details);
    http__hc_reply(call, st, message, NULL, 0);
}

/* TaskEvent (protobuf) -> one SSE event. */
static int hc_send(taas_call *call, void *buf, size_t len, unsigned flags)
{
    (void)flags;
    struct hcall *c = (struct hcall *)call;
    Taas__V1__TaskEvent *ev = taas__v1__task_event__unpack(NULL, len, buf);
    free(buf);
    pthread_mutex_lock(&c->mu);
    if (c->replied || c->gone || atomic_load(&c->head.cancelled) || !ev) {
        pthread_mutex_unlock(&c->mu);
        if (ev)
            taas__v1__task_event__free_unpacked(ev, NULL);
        return -1;
    }
    c->stream_started = true;
    bool final = ev->task != NULL;
    /* Resume after Last-Event-ID: the id is the event's time; what the
     * client has seen is not repeated, the final event always comes. */
    if (final || c->last_event_id < 0 || ev->at_ms > c->last_event_id) {
        taas_jw w;
        taas_jw_init(&w, 0);
        taas_pbjson_write(&w, &ev->base);
        size_t jl = 0;
        char *j = taas_jw_take(&w, &jl);
        taas_jw_free(&w);
        if (j) {
            char head[96];
            const char *sn = taas_pbjson_enum_name(&taas__v1__task_state__descriptor, ev->state);
            int hn = snprintf(head, sizeof head, "id: %lld\nevent: %s\ndata: ",
                              (long long)ev->at_ms, final ? "final" : "task");
            (void)sn;
            out_append_locked(c, head, (size_t)hn);
            out_append_locked(c, j, jl);
            out_append_locked(c, "\n\n", 2);
            free(j);
        }
    }
    c->msg_pending = true;
    http__wake_locked(c);
    pthread_mutex_unlock(&c->mu);
    taas__v1__task_event__free_unpacked(ev, NULL);
    return 0;
}

void http__mcp_reply(struct hcall *c, taas_status st, int http_code, char *body, size_t len)
{
    /* The body rides in rbuf whatever st is: answer_ready_call sends it. */
    pthread_mutex_lock(&c->mu);
    bool first = !c->replied;
    if (first) {
        c->http_code = http_code;
        free(c->rbuf);
        c->rbuf = (uint8_t *)body;
        c->rlen = body ? len : 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (!first) {
        free(body);
        return;
    }
    http__hc_reply((taas_call *)c, st, st == TAAS_ST_OK ? NULL : taas_status_name(st), NULL, 0);
}

int http__mcp_stream(struct hcall *c, const char *json, size_t len, bool last, size_t max_pending)
{
    pthread_mutex_lock(&c->mu);
    if (c->replied || c->gone || atomic_load(&c->head.cancelled)) {
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    c->stream_started = true;
    if (json && (!max_pending || c->out_len - c->out_off <= max_pending)) {
        /* One JSON-RPC message per event (the default type, "message"). */
        out_append_locked(c, "data: ", 6);
        out_append_locked(c, json, len);
        out_append_locked(c, "\n\n", 2);
    }
    if (last) {
        c->replied = true;
        c->st = c->final_status = TAAS_ST_OK;
        c->stream_end = true;
    }
    http__wake_locked(c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

const taas_call_ops http__hcall_ops = {
    .transport = "http",
    .method_name = hc_method_name,
    .method = hc_method,
    .request = hc_request,
    .has_request = hc_has_request,
    .peer = hc_peer,
    .metadata = http__hc_metadata,
    .deadline_left_ms = hc_deadline,
    .start_us = hc_start_us,
    .ref = http__hc_ref,
    .unref = http__hc_unref,
    .reply = http__hc_reply,
    .reply_details = hc_reply_details,
    .send = hc_send,
    .final_status = hc_final_status,
};

/* ------------------------------------------------------------------------ */
/* Streams list (keepalives) */

void http__stream_link(taas_http *h, struct hcall *c)
{
    pthread_mutex_lock(&h->mu);
    http__hc_ref((taas_call *)c);
    c->snext = h->streams;
    if (c->snext)
        c->snext->sprev = c;
    c->sprev = NULL;
    h->streams = c;
    c->linked = true;
    pthread_mutex_unlock(&h->mu);
}

void http__stream_unlink(taas_http *h, struct hcall *c)
{
    pthread_mutex_lock(&h->mu);
    bool was = c->linked;
    if (was) {
        if (c->sprev)
            c->sprev->snext = c->snext;
        else
            h->streams = c->snext;
        if (c->snext)
            c->snext->sprev = c->sprev;
        c->linked = false;
    }
    pthread_mutex_unlock(&h->mu);
    if (was)
        http__hc_unref((taas_call *)c);
}

void *http__keepalive_thread(void *arg)
{
    taas_http *h = arg;
    int ms = h->o.keepalive_ms > 0 ? h->o.keepalive_ms : DEFAULT_KEEPALIVE_MS;
    /* TAAS_HTTP_KEEPALIVE_MS: for tests and proxies with short idle timeouts. */
    const char *env = getenv("TAAS_HTTP_KEEPALIVE_MS");
    if (h->o.keepalive_ms <= 0 && env && atoi(env) >= 10 && atoi(env) <= 3600000)
        ms = atoi(env);
    pthread_mutex_lock(&h->mu);
    while (!h->ka_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!h->ka_stop && pthread_cond_timedwait(&h->ka_cv, &h->mu, &ts) == 0) {
        }
        if (h->ka_stop)
            break;
        /* h->mu then c->mu: the only place both are held, in this order. */
        for (struct hcall *c = h->streams; c; c = c->snext) {
            pthread_mutex_lock(&c->mu);
            if (c->stream_queued && !c->stream_end && c->out_off == c->out_len) {
                out_append_locked(c, ": keepalive\n\n", 13);
                http__wake_locked(c);
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* The SSE body. MHD calls it when the socket can take more. */
ssize_t http__sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct hcall *c = cls;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (c->out_off < c->out_len) {
            size_t n = c->out_len - c->out_off;
            if (n > max)
                n = max;
            memcpy(buf, c->out + c->out_off, n);
            c->out_off += n;
            pthread_mutex_unlock(&c->mu);
            return (ssize_t)n;
        }
        if (c->msg_pending) {
            /* The event left: let the handler send the next one. */
            c->msg_pending = false;
            taas_call_hook_fn fn = c->head.on_sent;
            void *arg = c->head.on_sent_arg;
            pthread_mutex_unlock(&c->mu);
            if (fn)
                fn((taas_call *)c, arg);
            continue;
        }
        if (c->stream_end || c->gone) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        c->suspended = true;
        MHD_suspend_connection(c->conn);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
}
