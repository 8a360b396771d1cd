/*
 * runtime/http/http_server.c - the HTTP side port over libmicrohttpd.
 *
 * Why libmicrohttpd: it is in Debian (libmicrohttpd-dev, maintained by GNU),
 * written in C for embedding, does HTTP/1.1 with chunked streaming, TLS
 * through GnuTLS, and lets a request be suspended and resumed from another
 * thread - which is how an answer that comes later from the store's writer
 * thread, or an event of a watched task, reaches a connection without a
 * thread per connection. (CivetWeb is not packaged for C embedding in
 * Debian 12; libevent's evhttp has no TLS of its own; writing HTTP by hand
 * is not a place to save a dependency.)
 *
 * Threads. MHD runs THREADS polling threads (epoll, suspend/resume
 * allowed); no thread is bound to a connection, so 1,000 open event streams
 * cost 1,000 sockets and small buffers, not 1,000 threads. The access
 * handler creates a call (struct hcall, a taas_call of this transport, see
 * call.h) and runs it through the middleware chain; when the answer is not
 * there at once, the connection is suspended, and the thread that answers
 * (any thread) resumes it. A connection is suspended and resumed only
 * under the call's mutex, so a resume can never run ahead of its suspend.
 *
 * Event streams. The SSE response is produced by a content reader: it
 * drains the call's output buffer; with nothing to send it suspends the
 * connection and the next event (or keepalive, or the end) resumes it. The
 * watch handler sends one event at a time and the next leaves only when the
 * reader has handed the previous one to the socket (on_sent), so a slow
 * reader holds at most one event here while newer progress coalesces in the
 * watch. A keepalive thread writes ": keepalive" to idle streams.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "http/assets.h"
#include "http/openapi.h"
#include "http/pbjson.h"
#include "internal/rpc_status.pb-c.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "taas/v1/taas.pb-c.h"
#include "util/log.h"
#include "util/util.h"

#define THREADS 2
#define DEFAULT_MAX_BODY ((size_t)4 << 20)
#define DEFAULT_MAX_CONN 4096
#define DEFAULT_KEEPALIVE_MS 15000
#define CONNECTION_TIMEOUT_S 120
#define SSE_SNDBUF 16384

enum route_kind {
    R_NONE = 0,
    R_SUBMIT, R_GET, R_LIST, R_CANCEL, R_EVENTS, R_TYPES, R_TYPE, /* mirror gRPC */
    R_METRICS, R_HISTORY,                                          /* HTTP-only calls */
    R_HEALTHZ, R_READYZ, R_OPENAPI, R_ASSET                        /* no call */
};

struct route {
    enum route_kind kind;
    const char *grpc;
    const ProtobufCMessageDescriptor *req, *resp;
};

static const struct route routes[] = {
    [R_SUBMIT] = {R_SUBMIT, "/taas.v1.TaskService/SubmitTask", &taas__v1__submit_task_request__descriptor,
                  &taas__v1__submit_task_response__descriptor},
    [R_GET] = {R_GET, "/taas.v1.TaskService/GetTask", &taas__v1__get_task_request__descriptor,
               &taas__v1__get_task_response__descriptor},
    [R_LIST] = {R_LIST, "/taas.v1.TaskService/ListTasks", &taas__v1__list_tasks_request__descriptor,
                &taas__v1__list_tasks_response__descriptor},
    [R_CANCEL] = {R_CANCEL, "/taas.v1.TaskService/CancelTask", &taas__v1__cancel_task_request__descriptor,
                  &taas__v1__cancel_task_response__descriptor},
    [R_EVENTS] = {R_EVENTS, "/taas.v1.TaskService/WatchTask", &taas__v1__watch_task_request__descriptor,
                  &taas__v1__task_event__descriptor},
    [R_TYPES] = {R_TYPES, "/taas.v1.RegistryService/ListTaskTypes",
                 &taas__v1__list_task_types_request__descriptor,
                 &taas__v1__list_task_types_response__descriptor},
    [R_TYPE] = {R_TYPE, "/taas.v1.RegistryService/GetTaskType",
                &taas__v1__get_task_type_request__descriptor,
                &taas__v1__get_task_type_response__descriptor},
    [R_METRICS] = {R_METRICS, "/taas.http/Metrics", NULL, NULL},
    [R_HISTORY] = {R_HISTORY, "/taas.http/MetricsHistory", NULL, NULL},
};

struct taas_http {
    taas_http_opts o;
    struct MHD_Daemon *d;
    char addr[300];
    char *cert, *key;
    atomic_bool accepting;
    taas_method own[2]; /* /taas.http/Metrics, /taas.http/MetricsHistory */
    const taas_method *mirror[R_TYPE + 1];
    char *openapi;
    size_t openapi_len;

    pthread_mutex_t mu; /* streams list */
    struct hcall *streams;
    pthread_t ka_thr;
    pthread_cond_t ka_cv;
    bool ka_stop;
    bool ka_started;
};

struct hdr {
    char *key, *val;
    size_t vlen;
};

struct hcall {
    const taas_call_ops *ops; /* first: see call.h */
    atomic_int refs;
    pthread_mutex_t mu;
    taas_http *h;
    struct MHD_Connection *conn;
    const struct route *route;
    const taas_method *method;
    int64_t start_us;
    char peer[96];
    struct hdr *hdrs;
    size_t n_hdrs;

    char *body; /* the upload */
    size_t body_len, body_cap;
    bool body_too_big;
    bool dispatched;
    uint8_t *req; /* protobuf request */
    size_t req_len;

    char *principal;
    unsigned scopes;
    void *data;
    void (*destroy)(void *);
    taas_call_hook_fn on_cancel, on_sent;
    void *on_cancel_arg, *on_sent_arg;
    atomic_bool cancelled;

    /* Answer, under mu. */
    bool replied;
    taas_status st;
    char *msg;
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *details; /* packed google.rpc.Status of an error, or NULL */
    size_t details_len;
    bool suspended;
    bool gone; /* MHD completed the request */
    taas_status final_status;
    bool done_told;

    /* Event stream, under mu. */
    bool stream_started; /* first event or the end arrived */
    bool stream_queued;  /* the 200 response is queued */
    char *out;
    size_t out_len, out_off, out_cap;
    bool msg_pending; /* an event is in out (or skipped): on_sent once drained */
    bool stream_end;  /* no more data after out */
    int64_t last_event_id;
    bool linked;
    struct hcall *snext, *sprev;
};

static const taas_call_ops hcall_ops;

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

static char *error_json_details(taas_status st, const char *msg, const char *field,
                                const uint8_t *details, size_t dlen, size_t *len);

static char *error_json(taas_status st, const char *msg, const char *field, size_t *len)
{
    return error_json_details(st, msg, field, NULL, 0, len);
}

static char *error_json_details(taas_status st, const char *msg, const char *field,
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

static void common_headers(struct MHD_Response *r)
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

static enum MHD_Result send_buf(struct MHD_Connection *conn, int code, const char *ctype,
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
    common_headers(r);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, taas_status st, const char *msg,
                                  const char *field, int http_code)
{
    size_t len = 0;
    char *j = error_json(st, msg, field, &len);
    if (!j)
        return MHD_NO;
    return send_buf(conn, http_code ? http_code : taas_http_status_of(st), "application/json", j,
                     len, true);
}

/* ------------------------------------------------------------------------ */
/* The call (taas_call of this transport) */

static void hc_ref(taas_call *c)
{
    atomic_fetch_add_explicit(&((struct hcall *)c)->refs, 1, memory_order_relaxed);
}

static void hc_free(struct hcall *c)
{
    if (c->destroy)
        c->destroy(c->data);
    for (size_t i = 0; i < c->n_hdrs; i++) {
        free(c->hdrs[i].key);
        free(c->hdrs[i].val);
    }
    free(c->hdrs);
    free(c->body);
    free(c->req);
    free(c->principal);
    free(c->msg);
    free(c->rbuf);
    free(c->details);
    free(c->out);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void hc_unref(taas_call *call)
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

static const char *hc_metadata(const taas_call *call, const char *key, size_t *len)
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

static bool hc_cancelled(const taas_call *call)
{
    return atomic_load(&((struct hcall *)call)->cancelled);
}

static void hc_set_principal(taas_call *call, const char *principal, unsigned scopes)
{
    struct hcall *c = (struct hcall *)call;
    free(c->principal);
    c->principal = principal ? strdup(principal) : NULL;
    c->scopes = c->principal ? scopes : 0;
}

static const char *hc_principal(const taas_call *call)
{
    return ((const struct hcall *)call)->principal;
}

static unsigned hc_scopes(const taas_call *call)
{
    return ((const struct hcall *)call)->scopes;
}

static taas_status hc_final_status(const taas_call *call)
{
    return ((const struct hcall *)call)->final_status;
}

static void hc_set_data(taas_call *call, void *data, void (*destroy)(void *))
{
    struct hcall *c = (struct hcall *)call;
    c->data = data;
    c->destroy = destroy;
}

static void *hc_data(const taas_call *call)
{
    return ((const struct hcall *)call)->data;
}

static void hc_on_cancel(taas_call *call, taas_call_hook_fn fn, void *arg)
{
    struct hcall *c = (struct hcall *)call;
    pthread_mutex_lock(&c->mu);
    bool fire = atomic_load(&c->cancelled);
    if (!fire) {
        c->on_cancel = fn;
        c->on_cancel_arg = arg;
    }
    pthread_mutex_unlock(&c->mu);
    if (fire && fn)
        fn(call, arg);
}

static void hc_on_sent(taas_call *call, taas_call_hook_fn fn, void *arg)
{
    struct hcall *c = (struct hcall *)call;
    pthread_mutex_lock(&c->mu);
    c->on_sent = fn;
    c->on_sent_arg = arg;
    pthread_mutex_unlock(&c->mu);
}

/* Resume a suspended connection. c->mu held. */
static void wake_locked(struct hcall *c)
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
    char *j = error_json(st, msg, NULL, &len);
    if (!j)
        return;
    out_append_locked(c, "event: error\ndata: ", 19);
    out_append_locked(c, j, len);
    out_append_locked(c, "\n\n", 2);
    free(j);
}

static void hc_reply(taas_call *call, taas_status st, const char *message, void *buf, size_t len)
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
    wake_locked(c);
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
    hc_reply(call, st, message, NULL, 0);
}

/* TaskEvent (protobuf) -> one SSE event. */
static int hc_send(taas_call *call, void *buf, size_t len, unsigned flags)
{
    (void)flags;
    struct hcall *c = (struct hcall *)call;
    Taas__V1__TaskEvent *ev = taas__v1__task_event__unpack(NULL, len, buf);
    free(buf);
    pthread_mutex_lock(&c->mu);
    if (c->replied || c->gone || atomic_load(&c->cancelled) || !ev) {
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
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
    taas__v1__task_event__free_unpacked(ev, NULL);
    return 0;
}

static const taas_call_ops hcall_ops = {
    .transport = "http",
    .method_name = hc_method_name,
    .method = hc_method,
    .request = hc_request,
    .has_request = hc_has_request,
    .peer = hc_peer,
    .metadata = hc_metadata,
    .deadline_left_ms = hc_deadline,
    .start_us = hc_start_us,
    .ref = hc_ref,
    .unref = hc_unref,
    .reply = hc_reply,
    .reply_details = hc_reply_details,
    .send = hc_send,
    .cancelled = hc_cancelled,
    .on_cancel = hc_on_cancel,
    .on_sent = hc_on_sent,
    .set_data = hc_set_data,
    .data = hc_data,
    .set_principal = hc_set_principal,
    .principal = hc_principal,
    .scopes = hc_scopes,
    .final_status = hc_final_status,
};

/* ------------------------------------------------------------------------ */
/* Streams list (keepalives) */

static void stream_link(taas_http *h, struct hcall *c)
{
    pthread_mutex_lock(&h->mu);
    hc_ref((taas_call *)c);
    c->snext = h->streams;
    if (c->snext)
        c->snext->sprev = c;
    c->sprev = NULL;
    h->streams = c;
    c->linked = true;
    pthread_mutex_unlock(&h->mu);
}

static void stream_unlink(taas_http *h, struct hcall *c)
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
        hc_unref((taas_call *)c);
}

static void *keepalive_thread(void *arg)
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
                wake_locked(c);
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* The SSE body. MHD calls it when the socket can take more. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
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
            taas_call_hook_fn fn = c->on_sent;
            void *arg = c->on_sent_arg;
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

/* ------------------------------------------------------------------------ */
/* Requests */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct hcall *c = cls;
    if (!key || !value || c->n_hdrs >= 64)
        return MHD_YES;
    struct hdr *nh = realloc(c->hdrs, (c->n_hdrs + 1) * sizeof *nh);
    if (!nh)
        return MHD_NO;
    c->hdrs = nh;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return MHD_NO;
    }
    for (char *p = k; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    c->hdrs[c->n_hdrs++] = (struct hdr){k, v, strlen(v)};
    return MHD_YES;
}

static void peer_of(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (!ci || !ci->client_addr)
        return;
    char ip[INET6_ADDRSTRLEN];
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "ipv4:%s:%u", ip, ntohs(a->sin_port));
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "ipv6:[%s]:%u", ip, ntohs(a->sin6_port));
    }
}

/*
 * Host check when authentication is off: a page of another site that
 * re-points its own domain name to this address (DNS rebinding) sends its
 * domain as Host; an IP literal or "localhost" cannot be such a name.
 */
static bool host_ok(struct MHD_Connection *conn)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (!host)
        return true; /* HTTP/1.0 without Host: not a browser */
    char h[300];
    snprintf(h, sizeof h, "%s", host);
    char *end = h[0] == '[' ? strchr(h, ']') : strrchr(h, ':');
    if (h[0] == '[') {
        if (!end)
            return false;
        *end = 0;
        memmove(h, h + 1, strlen(h + 1) + 1);
    } else if (end) {
        *end = 0;
    }
    unsigned char buf[16];
    return strcasecmp(h, "localhost") == 0 || inet_pton(AF_INET, h, buf) == 1 ||
           inet_pton(AF_INET6, h, buf) == 1;
}

/* "/v1/tasks/<id>/events" -> kind and the id into `arg`. */
static enum route_kind match(const char *url, const char *verb, char *arg, size_t cap,
                             const char **allow)
{
    bool get = strcmp(verb, "GET") == 0 || strcmp(verb, "HEAD") == 0;
    bool post = strcmp(verb, "POST") == 0;
    arg[0] = 0;
    *allow = "GET";
    if (strcmp(url, "/healthz") == 0)
        return get ? R_HEALTHZ : R_NONE;
    if (strcmp(url, "/readyz") == 0)
        return get ? R_READYZ : R_NONE;
    if (strcmp(url, "/metrics") == 0)
        return get ? R_METRICS : R_NONE;
    if (strcmp(url, "/openapi.json") == 0)
        return get ? R_OPENAPI : R_NONE;
    if (strcmp(url, "/v1/metrics/history") == 0)
        return get ? R_HISTORY : R_NONE;
    if (strcmp(url, "/v1/task-types") == 0)
        return get ? R_TYPES : R_NONE;
    if (strncmp(url, "/v1/task-types/", 15) == 0 && url[15] && !strchr(url + 15, '/')) {
        snprintf(arg, cap, "%s", url + 15);
        return get ? R_TYPE : R_NONE;
    }
    if (strcmp(url, "/v1/tasks") == 0) {
        *allow = "GET, POST";
        return get ? R_LIST : post ? R_SUBMIT : R_NONE;
    }
    if (strncmp(url, "/v1/tasks/", 10) == 0 && url[10]) {
        const char *id = url + 10;
        const char *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        if (n == 0 || n >= cap)
            return R_NONE;
        memcpy(arg, id, n);
        arg[n] = 0;
        if (!slash)
            return get ? R_GET : R_NONE;
        if (strcmp(slash, "/cancel") == 0) {
            *allow = "POST";
            return post ? R_CANCEL : R_NONE;
        }
        if (strcmp(slash, "/events") == 0)
            return get ? R_EVENTS : R_NONE;
        arg[0] = 0;
        return R_NONE;
    }
    if (get && taas_http_asset(url))
        return R_ASSET;
    return R_NONE;
}

/* Whether `url` names something served, under another verb. */
static bool known_path(const char *url)
{
    char arg[128];
    const char *allow;
    return match(url, "GET", arg, sizeof arg, &allow) != R_NONE ||
           match(url, "POST", arg, sizeof arg, &allow) != R_NONE;
}

struct qctx {
    taas_jw *w;
    const char *bad;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct qctx *q = cls;
    if (!key)
        return MHD_YES;
    taas_jw_key(q->w, key);
    taas_jw_str(q->w, value ? value : "");
    return MHD_YES;
}

/*
 * Build the protobuf request of the call: the JSON body (submit) or the
 * path argument and query parameters as a JSON object (everything else).
 * Answers 400 itself and returns -1 on a bad request.
 */
static int build_request(struct hcall *c, const char *arg, char *field, size_t fcap, char *err,
                         size_t ecap)
{
    const ProtobufCMessageDescriptor *d = c->route->req;
    if (!d) {
        c->req = malloc(1);
        c->req_len = 0;
        return c->req ? 0 : -1;
    }
    char *text = NULL;
    size_t tlen = 0;
    bool lenient = true;
    if (c->route->kind == R_SUBMIT) {
        lenient = false;
        text = c->body;
        tlen = c->body_len;
        if (!text || !tlen) {
            snprintf(err, ecap, "the request body must be a JSON object (SubmitTaskRequest)");
            field[0] = 0;
            return -1;
        }
    } else {
        taas_jw w;
        taas_jw_init(&w, 1 << 16);
        taas_jw_obj_begin(&w);
        if (arg[0]) {
            taas_jw_key(&w, c->route->kind == R_TYPE ? "name" : "task_id");
            taas_jw_str(&w, arg);
        }
        struct qctx q = {&w, NULL};
        MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
        taas_jw_obj_end(&w);
        text = taas_jw_take(&w, &tlen);
        taas_jw_free(&w);
        if (!text) {
            snprintf(err, ecap, "query parameters must be valid UTF-8 and unique");
            field[0] = 0;
            return -1;
        }
    }
    taas_jdoc doc;
    taas_json_limits lim = {.max_bytes = c->h->o.max_body_bytes ? c->h->o.max_body_bytes
                                                                : DEFAULT_MAX_BODY};
    char perr[256];
    int rc = -1;
    if (taas_json_parse(&doc, text, tlen, &lim, perr, sizeof perr) != 0) {
        if (c->route->kind == R_SUBMIT)
            snprintf(err, ecap, "malformed JSON: %s", perr);
        else
            snprintf(err, ecap, "bad query parameters: %s", perr);
        field[0] = 0;
    } else {
        rc = taas_pbjson_encode(d, &doc, 0, lenient, &c->req, &c->req_len, field, fcap, err, ecap);
        taas_json_free(&doc);
    }
    if (text != c->body)
        free(text);
    return rc;
}

static enum MHD_Result answer_ready_call(struct hcall *c)
{
    /* c->mu held by the caller? No: called with it released. */
    struct MHD_Connection *conn = c->conn;
    if (c->st != TAAS_ST_OK) {
        size_t len = 0;
        char *j = error_json_details(c->st, c->msg, NULL, c->details, c->details_len, &len);
        if (!j)
            return MHD_NO;
        return send_buf(conn, taas_http_status_of(c->st), "application/json", j, len, true);
    }
    if (c->route->kind == R_METRICS) {
        void *b = c->rbuf;
        c->rbuf = NULL;
        return send_buf(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b ? b : strdup(""),
                        b ? c->rlen : 0, true);
    }
    if (c->route->kind == R_HISTORY) {
        void *b = c->rbuf;
        c->rbuf = NULL;
        return send_buf(conn, 200, "application/json", b ? b : strdup("{}"), b ? c->rlen : 2, true);
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(c->route->resp, NULL, c->rlen,
                                                    c->rbuf ? c->rbuf : (const uint8_t *)"");
    if (!m)
        return send_error(conn, TAAS_ST_INTERNAL, "the handler's answer did not unpack", NULL, 0);
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_pbjson_write(&w, m);
    protobuf_c_message_free_unpacked(m, NULL);
    size_t len = 0;
    char *j = taas_jw_take(&w, &len);
    taas_jw_free(&w);
    if (!j)
        return send_error(conn, TAAS_ST_INTERNAL, "the answer is not valid JSON text", NULL, 0);
    return send_buf(conn, 200, "application/json", j, len, true);
}

static enum MHD_Result queue_stream(struct hcall *c)
{
    /* A small send buffer: a reader that lags then holds the events back in
     * the watch, where progress coalesces, instead of in megabytes of
     * kernel buffer per stream (1,000 streams x autotuned loopback buffers). */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int sz = SSE_SNDBUF;
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, c, NULL);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    common_headers(r);
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* The request's call, after dispatch: answer, start the stream, or wait. */
static enum MHD_Result progress_call(struct hcall *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->route->kind == R_EVENTS && c->stream_started) {
        if (c->stream_queued) {
            pthread_mutex_unlock(&c->mu);
            return MHD_YES;
        }
        c->stream_queued = true;
        pthread_mutex_unlock(&c->mu);
        stream_link(c->h, c);
        return queue_stream(c);
    }
    if (c->replied) {
        pthread_mutex_unlock(&c->mu);
        return answer_ready_call(c);
    }
    c->suspended = true;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->mu);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *verb, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    taas_http *h = cls;
    struct hcall *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return MHD_NO;
        c->ops = &hcall_ops;
        atomic_init(&c->refs, 1); /* MHD's, dropped in on_completed */
        atomic_init(&c->cancelled, false);
        pthread_mutex_init(&c->mu, NULL);
        c->h = h;
        c->conn = conn;
        c->start_us = taas_mono_us();
        c->last_event_id = -1;
        c->final_status = TAAS_ST_UNKNOWN;
        *con_cls = c;
        return MHD_YES;
    }
    size_t max_body = h->o.max_body_bytes ? h->o.max_body_bytes : DEFAULT_MAX_BODY;
    if (*upload_size) {
        if (!c->body_too_big && c->body_len + *upload_size <= max_body) {
            if (c->body_len + *upload_size + 1 > c->body_cap) {
                size_t nc = (c->body_len + *upload_size + 1) * 2;
                if (nc > max_body + 1)
                    nc = max_body + 1;
                char *nb = realloc(c->body, nc);
                if (!nb)
                    return MHD_NO;
                c->body = nb;
                c->body_cap = nc;
            }
            memcpy(c->body + c->body_len, upload, *upload_size);
            c->body_len += *upload_size;
        } else {
            c->body_too_big = true; /* read and dropped: answered once it is all in */
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->dispatched)
        return progress_call(c);

    char arg[200];
    const char *allow = "GET";
    if (h->o.auth_off && !host_ok(conn)) {
        c->dispatched = true;
        return send_error(conn, TAAS_ST_PERMISSION_DENIED,
                          "without tokens this server answers only requests to an IP address or "
                          "localhost (Host header)", NULL, 0);
    }
    enum route_kind k = match(url, verb, arg, sizeof arg, &allow);
    if (k == R_NONE) {
        c->dispatched = true;
        if (known_path(url)) {
            size_t len;
            char msg[160];
            snprintf(msg, sizeof msg, "method %s is not allowed here; allowed: %s", verb, allow);
            char *j = error_json(TAAS_ST_UNIMPLEMENTED, msg, NULL, &len);
            struct MHD_Response *r = MHD_create_response_from_buffer(len, j, MHD_RESPMEM_MUST_FREE);
            if (!r)
                return MHD_NO;
            MHD_add_response_header(r, "Content-Type", "application/json");
            MHD_add_response_header(r, "Allow", allow);
            common_headers(r);
            enum MHD_Result rc = MHD_queue_response(conn, 405, r);
            MHD_destroy_response(r);
            return rc;
        }
        return send_error(conn, TAAS_ST_NOT_FOUND, "no such path; see /openapi.json", NULL, 0);
    }
    c->dispatched = true;
    if (k == R_HEALTHZ)
        return send_buf(conn, 200, "text/plain; charset=utf-8", (void *)"ok\n", 3, false);
    if (k == R_READYZ) {
        char msg[256] = "";
        if (!atomic_load(&h->accepting))
            return send_buf(conn, 503, "text/plain; charset=utf-8",
                            (void *)"not ready: shutting down\n", 25, false);
        if (h->o.ready && h->o.ready(h->o.ready_arg, msg, sizeof msg) != 0) {
            char *t = malloc(strlen(msg) + 16);
            if (!t)
                return MHD_NO;
            int n = sprintf(t, "not ready: %s\n", msg);
            return send_buf(conn, 503, "text/plain; charset=utf-8", t, (size_t)n, true);
        }
        return send_buf(conn, 200, "text/plain; charset=utf-8", (void *)"ready\n", 6, false);
    }
    if (k == R_OPENAPI)
        return send_buf(conn, 200, "application/json", h->openapi, h->openapi_len, false);
    if (k == R_ASSET) {
        const struct taas_http_asset_file *a = taas_http_asset(url);
        return send_buf(conn, 200, a->ctype, (void *)a->data, a->len, false);
    }

    /* A call through the chain. */
    c->route = &routes[k];
    c->method = k == R_METRICS ? &h->own[0] : k == R_HISTORY ? &h->own[1] : h->mirror[k];
    peer_of(conn, c->peer, sizeof c->peer);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, c);
    if (!atomic_load(&h->accepting)) {
        hc_reply((taas_call *)c, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
        return send_error(conn, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
    }
    if (k == R_SUBMIT || k == R_CANCEL) {
        /* A cross-site form can POST text/plain or form data without the
         * page's consent, but not application/json: asking for it keeps a
         * browser on another site from submitting or cancelling here even
         * when authentication is off (a fetch with it needs a CORS preflight,
         * which this server never grants). */
        size_t n;
        const char *ct = hc_metadata((taas_call *)c, "content-type", &n);
        if (!ct || n < 16 || strncasecmp(ct, "application/json", 16) != 0 ||
            (n > 16 && ct[16] != ';' && ct[16] != ' ')) {
            const char *m = "Content-Type must be application/json";
            hc_reply((taas_call *)c, TAAS_ST_INVALID_ARGUMENT, m, NULL, 0);
            return send_error(conn, TAAS_ST_INVALID_ARGUMENT, m, NULL, 415);
        }
    }
    if (c->body_too_big) {
        hc_reply((taas_call *)c, TAAS_ST_RESOURCE_EXHAUSTED, "request body over the limit", NULL, 0);
        char msg[160];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", max_body);
        return send_error(conn, TAAS_ST_RESOURCE_EXHAUSTED, msg, NULL, 413);
    }
    if (k == R_EVENTS) {
        size_t n;
        const char *lei = hc_metadata((taas_call *)c, "last-event-id", &n);
        if (lei && n > 0 && n < 20) {
            char tmp[24];
            memcpy(tmp, lei, n);
            tmp[n] = 0;
            char *end;
            long long v = strtoll(tmp, &end, 10);
            if (*end == 0 && v >= 0)
                c->last_event_id = v;
        }
    }
    char field[128] = "", err[512] = "";
    if (build_request(c, arg, field, sizeof field, err, sizeof err) != 0) {
        /* Refused before the chain: still one access-log line and one count. */
        hc_reply((taas_call *)c, TAAS_ST_INVALID_ARGUMENT, err, NULL, 0);
        return send_error(conn, TAAS_ST_INVALID_ARGUMENT, err, field, 0);
    }
    hc_ref((taas_call *)c); /* the chain borrows; handlers take their own */
    h->o.dispatch(h->o.arg, (taas_call *)c);
    hc_unref((taas_call *)c);
    return progress_call(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    taas_http *h = cls;
    struct hcall *c = *con_cls;
    if (!c)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&c->mu);
    c->gone = true;
    c->suspended = false;
    bool was_replied = c->replied;
    taas_call_hook_fn fn = NULL;
    void *arg = NULL;
    if (!c->replied || (c->route && c->route->kind == R_EVENTS && !c->stream_end)) {
        atomic_store(&c->cancelled, true);
        fn = c->on_cancel;
        arg = c->on_cancel_arg;
        c->on_cancel = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (fn)
        fn((taas_call *)c, arg);
    if (!was_replied)
        hc_reply((taas_call *)c, TAAS_ST_CANCELLED, "the client went away", NULL, 0);
    stream_unlink(h, c);
    if (c->route && c->route->grpc && h->o.done)
        h->o.done(h->o.arg, (taas_call *)c, c->final_status, taas_mono_us() - c->start_us);
    hc_unref((taas_call *)c);
}

/* ------------------------------------------------------------------------ */
/* HTTP-only methods */

static void metrics_handler(taas_call *call, void *arg)
{
    taas_http *h = arg;
    size_t len = 0;
    char *text = taas_metrics_render(h->o.version, &len);
    if (!text) {
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    taas_call_reply(call, TAAS_ST_OK, NULL, text, len);
}

static void history_handler(taas_call *call, void *arg)
{
    (void)arg;
    size_t len = 0;
    char *text = taas_metrics_history_json(&len);
    if (!text) {
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    taas_call_reply(call, TAAS_ST_OK, NULL, text, len);
}

/* ------------------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl,
                        char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errlen, "--http: expected HOST:PORT, got '%s'", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) {
        snprintf(err, errlen, "--http: bad port in '%s'", listen);
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = 0;
        memmove(host, host + 1, strlen(host));
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *a6;
    } else {
        snprintf(err, errlen, "--http: '%s' is not an IP address", host);
        return -1;
    }
    return 0;
}

taas_http *taas_http_start(const taas_http_opts *opts, char *err, size_t errlen)
{
    taas_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *opts;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->ka_cv, NULL);
    atomic_init(&h->accepting, true);
    h->own[0] = (taas_method){"/taas.http/Metrics", TAAS_CALL_UNARY, metrics_handler, h};
    h->own[1] = (taas_method){"/taas.http/MetricsHistory", TAAS_CALL_UNARY, history_handler, h};
    for (int k = R_SUBMIT; k <= R_TYPE; k++)
        for (size_t i = 0; i < opts->n_methods; i++)
            if (strcmp(opts->methods[i].name, routes[k].grpc) == 0)
                h->mirror[k] = &opts->methods[i];
    h->openapi = taas_http_openapi(opts->version, &h->openapi_len);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (!h->openapi) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (parse_listen(opts->listen, &ss, &sl, err, errlen))
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    bool tls = opts->tls_cert_pem && opts->tls_key_pem;
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "--http with TLS: this libmicrohttpd has no TLS support");
            goto fail;
        }
        flags |= MHD_USE_TLS;
        h->cert = strdup(opts->tls_cert_pem);
        h->key = strdup(opts->tls_key_pem);
        if (!h->cert || !h->key) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    unsigned maxc = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONN;
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->cert},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->key},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
                            MHD_OPTION_CONNECTION_LIMIT, maxc,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_ARRAY, tls_opts,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot serve HTTP on %s (address in use, or not ours?)",
                 opts->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    const char *colon = strrchr(opts->listen, ':');
    snprintf(h->addr, sizeof h->addr, "%.*s:%u", (int)(colon - opts->listen), opts->listen, port);
    if (pthread_create(&h->ka_thr, NULL, keepalive_thread, h) == 0)
        h->ka_started = true;
    taas_metrics_history_start();
    return h;
fail:
    free(h->openapi);
    free(h->cert);
    free(h->key);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->ka_cv);
    free(h);
    return NULL;
}

const char *taas_http_address(const taas_http *h)
{
    return h->addr;
}

void taas_http_stop_accepting(taas_http *h)
{
    atomic_store(&h->accepting, false);
}

void taas_http_stop(taas_http *h)
{
    if (!h)
        return;
    atomic_store(&h->accepting, false);
    pthread_mutex_lock(&h->mu);
    h->ka_stop = true;
    pthread_cond_broadcast(&h->ka_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->ka_started)
        pthread_join(h->ka_thr, NULL);
    /* Suspended connections must be resumed before MHD can close them. */
    pthread_mutex_lock(&h->mu);
    for (struct hcall *c = h->streams; c; c = c->snext) {
        pthread_mutex_lock(&c->mu);
        c->stream_end = true;
        wake_locked(c);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->d);
    taas_metrics_history_stop();
    free(h->openapi);
    if (h->key)
        memset(h->key, 0, strlen(h->key));
    free(h->cert);
    free(h->key);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->ka_cv);
    free(h);
}
