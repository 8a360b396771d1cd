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
#include "http/http_internal.h"

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
    [R_MCP] = {R_MCP, "/taas.http/Mcp", NULL, NULL},
};

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
    if (strcmp(url, "/mcp") == 0) {
        /* No GET: this server sends nothing unasked, so it offers no
         * standalone event stream (the transport allows a 405 for it). */
        *allow = "POST, DELETE";
        return post || strcmp(verb, "DELETE") == 0 ? R_MCP : R_NONE;
    }
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

/* POST /mcp's answer: a JSON-RPC message, nothing (202 for a notification),
 * or a refusal of the chain (401 asks for a bearer token). */
static enum MHD_Result answer_mcp(struct hcall *c)
{
    int code = c->http_code;
    void *body = c->rbuf;
    size_t len = c->rlen;
    c->rbuf = NULL;
    if (!code && c->st != TAAS_ST_OK) {
        code = taas_http_status_of(c->st);
        body = http__error_json_details(c->st, c->msg, NULL, c->details, c->details_len, &len);
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE
                                                                  : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (len)
        MHD_add_response_header(r, "Content-Type", "application/json");
    if (c->mcp_session)
        MHD_add_response_header(r, "Mcp-Session-Id", c->mcp_session);
    if (code == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"taas\"");
    http__common_headers(r);
    enum MHD_Result rc = MHD_queue_response(c->conn, (unsigned)(code ? code : 200), r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_ready_call(struct hcall *c)
{
    /* c->mu held by the caller? No: called with it released. */
    struct MHD_Connection *conn = c->conn;
    if (c->route->kind == R_MCP)
        return answer_mcp(c);
    if (c->st != TAAS_ST_OK) {
        size_t len = 0;
        char *j = http__error_json_details(c->st, c->msg, NULL, c->details, c->details_len, &len);
        if (!j)
            return MHD_NO;
        return http__send_buf(conn, taas_http_status_of(c->st), "application/json", j, len, true);
    }
    if (c->route->kind == R_METRICS) {
        void *b = c->rbuf;
        c->rbuf = NULL;
        return http__send_buf(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b ? b : strdup(""),
                        b ? c->rlen : 0, true);
    }
    if (c->route->kind == R_HISTORY) {
        void *b = c->rbuf;
        c->rbuf = NULL;
        return http__send_buf(conn, 200, "application/json", b ? b : strdup("{}"), b ? c->rlen : 2, true);
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(c->route->resp, NULL, c->rlen,
                                                    c->rbuf ? c->rbuf : (const uint8_t *)"");
    if (!m)
        return http__send_error(conn, TAAS_ST_INTERNAL, "the handler's answer did not unpack", NULL, 0);
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_pbjson_write(&w, m);
    protobuf_c_message_free_unpacked(m, NULL);
    size_t len = 0;
    char *j = taas_jw_take(&w, &len);
    taas_jw_free(&w);
    if (!j)
        return http__send_error(conn, TAAS_ST_INTERNAL, "the answer is not valid JSON text", NULL, 0);
    return http__send_buf(conn, 200, "application/json", j, len, true);
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
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, http__sse_reader, c, NULL);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    http__common_headers(r);
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    if (c->mcp_session)
        MHD_add_response_header(r, "Mcp-Session-Id", c->mcp_session);
    enum MHD_Result rc = MHD_queue_response(c->conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* The request's call, after dispatch: answer, start the stream, or wait. */
static enum MHD_Result progress_call(struct hcall *c)
{
    pthread_mutex_lock(&c->mu);
    if ((c->route->kind == R_EVENTS || c->route->kind == R_MCP) && c->stream_started) {
        if (c->stream_queued) {
            pthread_mutex_unlock(&c->mu);
            return MHD_YES;
        }
        c->stream_queued = true;
        pthread_mutex_unlock(&c->mu);
        http__stream_link(c->h, c);
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
        atomic_init(&c->refs, 1); /* MHD's, dropped in on_completed */
        pthread_mutex_init(&c->mu, NULL);
        taas_call_head_init(&c->head, &http__hcall_ops, &c->mu);
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
        return http__send_error(conn, TAAS_ST_PERMISSION_DENIED,
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
            char *j = http__error_json(TAAS_ST_UNIMPLEMENTED, msg, NULL, &len);
            struct MHD_Response *r = MHD_create_response_from_buffer(len, j, MHD_RESPMEM_MUST_FREE);
            if (!r)
                return MHD_NO;
            MHD_add_response_header(r, "Content-Type", "application/json");
            MHD_add_response_header(r, "Allow", allow);
            http__common_headers(r);
            enum MHD_Result rc = MHD_queue_response(conn, 405, r);
            MHD_destroy_response(r);
            return rc;
        }
        return http__send_error(conn, TAAS_ST_NOT_FOUND, "no such path; see /openapi.json", NULL, 0);
    }
    c->dispatched = true;
    if (k == R_HEALTHZ)
        return http__send_buf(conn, 200, "text/plain; charset=utf-8", (void *)"ok\n", 3, false);
    if (k == R_READYZ) {
        char msg[256] = "";
        if (!atomic_load(&h->accepting))
            return http__send_buf(conn, 503, "text/plain; charset=utf-8",
                            (void *)"not ready: shutting down\n", 25, false);
        if (h->o.ready && h->o.ready(h->o.ready_arg, msg, sizeof msg) != 0) {
            char *t = malloc(strlen(msg) + 16);
            if (!t)
                return MHD_NO;
            int n = sprintf(t, "not ready: %s\n", msg);
            return http__send_buf(conn, 503, "text/plain; charset=utf-8", t, (size_t)n, true);
        }
        return http__send_buf(conn, 200, "text/plain; charset=utf-8", (void *)"ready\n", 6, false);
    }
    if (k == R_OPENAPI)
        return http__send_buf(conn, 200, "application/json", h->openapi, h->openapi_len, false);
    if (k == R_ASSET) {
        const struct taas_http_asset_file *a = taas_http_asset(url);
        return http__send_buf(conn, 200, a->ctype, (void *)a->data, a->len, false);
    }

    /* A call through the chain. */
    c->route = &routes[k];
    c->method = k == R_METRICS   ? &h->own[0]
                : k == R_HISTORY ? &h->own[1]
                : k == R_MCP     ? &h->own[2]
                                 : h->mirror[k];
    snprintf(c->verb, sizeof c->verb, "%s", verb);
    peer_of(conn, c->peer, sizeof c->peer);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, c);
    if (!atomic_load(&h->accepting)) {
        http__hc_reply((taas_call *)c, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
        return http__send_error(conn, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
    }
    if (k == R_MCP) {
        /* A page of another site (or one reached by DNS rebinding) names
         * its own origin; only local pages and the operator's list may
         * call tools. Clients that are not browsers send no Origin. */
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
        if (origin && !http__mcp_origin_ok(origin, host)) {
            const char *m = "Origin not allowed for /mcp (TAAS_MCP_ALLOWED_ORIGINS lists more)";
            http__hc_reply((taas_call *)c, TAAS_ST_PERMISSION_DENIED, m, NULL, 0);
            return http__send_error(conn, TAAS_ST_PERMISSION_DENIED, m, NULL, 403);
        }
    }
    if (k == R_SUBMIT || k == R_CANCEL || (k == R_MCP && strcmp(verb, "POST") == 0)) {
        /* A cross-site form can POST text/plain or form data without the
         * page's consent, but not application/json: asking for it keeps a
         * browser on another site from submitting or cancelling here even
         * when authentication is off (a fetch with it needs a CORS preflight,
         * which this server never grants). */
        size_t n;
        const char *ct = http__hc_metadata((taas_call *)c, "content-type", &n);
        if (!ct || n < 16 || strncasecmp(ct, "application/json", 16) != 0 ||
            (n > 16 && ct[16] != ';' && ct[16] != ' ')) {
            const char *m = "Content-Type must be application/json";
            http__hc_reply((taas_call *)c, TAAS_ST_INVALID_ARGUMENT, m, NULL, 0);
            return http__send_error(conn, TAAS_ST_INVALID_ARGUMENT, m, NULL, 415);
        }
    }
    if (c->body_too_big) {
        http__hc_reply((taas_call *)c, TAAS_ST_RESOURCE_EXHAUSTED, "request body over the limit", NULL, 0);
        char msg[160];
        snprintf(msg, sizeof msg, "request body over the limit of %zu bytes", max_body);
        return http__send_error(conn, TAAS_ST_RESOURCE_EXHAUSTED, msg, NULL, 413);
    }
    if (k == R_EVENTS) {
        size_t n;
        const char *lei = http__hc_metadata((taas_call *)c, "last-event-id", &n);
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
        http__hc_reply((taas_call *)c, TAAS_ST_INVALID_ARGUMENT, err, NULL, 0);
        return http__send_error(conn, TAAS_ST_INVALID_ARGUMENT, err, field, 0);
    }
    http__hc_ref((taas_call *)c); /* the chain borrows; handlers take their own */
    h->o.dispatch(h->o.arg, (taas_call *)c);
    http__hc_unref((taas_call *)c);
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
    if (!c->replied ||
        (c->route && c->route->kind == R_EVENTS && !c->stream_end) ||
        (c->route && c->route->kind == R_MCP && c->stream_started && !c->stream_end)) {
        fn = taas_call_head_cancel_locked(&c->head, &arg);
    }
    pthread_mutex_unlock(&c->mu);
    if (fn)
        fn((taas_call *)c, arg);
    if (!was_replied)
        http__hc_reply((taas_call *)c, TAAS_ST_CANCELLED, "the client went away", NULL, 0);
    http__stream_unlink(h, c);
    if (c->route && c->route->grpc && h->o.done)
        h->o.done(h->o.arg, (taas_call *)c, c->final_status, taas_mono_us() - c->start_us);
    http__hc_unref((taas_call *)c);
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
    h->own[2] = (taas_method){"/taas.http/Mcp", TAAS_CALL_UNARY, http__mcp_handler, h};
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
    if (http__mcp_init(h) != 0) {
        snprintf(err, errlen, "out of memory (or no thread) for /mcp");
        goto fail;
    }
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
    if (pthread_create(&h->ka_thr, NULL, http__keepalive_thread, h) == 0)
        h->ka_started = true;
    taas_metrics_history_start();
    return h;
fail:
    http__mcp_stop(h);
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
        http__wake_locked(c);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->d);
    http__mcp_stop(h);
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
