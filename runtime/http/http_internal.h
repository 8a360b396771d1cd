/*
 * runtime/http/http_internal.h - the HTTP port's private types, shared by
 * http_server.c (the daemon, routing and requests) and http_call.c (the call
 * of this transport, answers, error JSON and the event streams).
 */
#ifndef TAAS_HTTP_INTERNAL_H
#define TAAS_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http.h"
#include "taas/v1/taas.pb-c.h"

#define THREADS 2
#define DEFAULT_MAX_BODY ((size_t)4 << 20)
#define DEFAULT_MAX_CONN 4096
#define DEFAULT_KEEPALIVE_MS 15000
#define CONNECTION_TIMEOUT_S 120
#define SSE_SNDBUF 16384

enum route_kind {
    R_NONE = 0,
    R_SUBMIT, R_GET, R_LIST, R_CANCEL, R_EVENTS, R_TYPES, R_TYPE, /* mirror gRPC */
    R_METRICS, R_HISTORY, R_MCP,                                   /* HTTP-only calls */
    R_HEALTHZ, R_READYZ, R_OPENAPI, R_ASSET                        /* no call */
};

struct route {
    enum route_kind kind;
    const char *grpc;
    const ProtobufCMessageDescriptor *req, *resp;
};


struct taas_http {
    taas_http_opts o;
    struct MHD_Daemon *d;
    char addr[300];
    char *cert, *key;
    atomic_bool accepting;
    taas_method own[3]; /* /taas.http/Metrics, /taas.http/MetricsHistory, /taas.http/Mcp */
    const taas_method *mirror[R_TYPE + 1];
    char *openapi;
    size_t openapi_len;

    pthread_mutex_t mu; /* streams list */
    struct hcall *streams;
    pthread_t ka_thr;
    pthread_cond_t ka_cv;
    bool ka_stop;
    bool ka_started;

    struct mcp_http *mcp; /* POST /mcp: sessions and the helper thread (mcp_http.c) */
};

struct hdr {
    char *key, *val;
    size_t vlen;
};

struct hcall {
    taas_call_head head; /* first: see call.h */
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

    /* POST /mcp (R_MCP), under mu where it changes after dispatch. */
    char verb[8];
    int http_code;     /* the answer's HTTP status when not derived from st; 0: derive */
    char *mcp_session; /* Mcp-Session-Id to send back, or NULL */
    struct hcall *snext, *sprev;
};

static const taas_call_ops hcall_ops;

extern const taas_call_ops http__hcall_ops;

void http__common_headers(struct MHD_Response *r);
char *http__error_json(taas_status st, const char *msg, const char *field, size_t *len);
char *http__error_json_details(taas_status st, const char *msg, const char *field,
                                const uint8_t *details, size_t dlen, size_t *len);
const char *http__hc_metadata(const taas_call *call, const char *key, size_t *len);
void http__hc_ref(taas_call *c);
void http__hc_reply(taas_call *call, taas_status st, const char *message, void *buf, size_t len);
void http__hc_unref(taas_call *call);
void *http__keepalive_thread(void *arg);
enum MHD_Result http__send_buf(struct MHD_Connection *conn, int code, const char *ctype,
                                void *buf, size_t len, bool free_it);
enum MHD_Result http__send_error(struct MHD_Connection *conn, taas_status st, const char *msg,
                                  const char *field, int http_code);
ssize_t http__sse_reader(void *cls, uint64_t pos, char *buf, size_t max);
void http__stream_link(taas_http *h, struct hcall *c);
void http__stream_unlink(taas_http *h, struct hcall *c);
void http__wake_locked(struct hcall *c);

/* POST /mcp (mcp_http.c). */
int http__mcp_init(taas_http *h);
void http__mcp_stop(taas_http *h);
void http__mcp_handler(taas_call *call, void *arg);
/* Whether an Origin header value may call /mcp (DNS rebinding, cross-site pages). */
bool http__mcp_origin_ok(const char *origin, const char *host);
/* Answer a /mcp call with `body` (malloc'd JSON text, owned from here; NULL
 * for none) and an explicit HTTP status; `st` is what the logs and metrics
 * count. */
void http__mcp_reply(struct hcall *c, taas_status st, int http_code, char *body, size_t len);
/* Append one JSON-RPC message to the call's event stream (starting it);
 * `last` ends the stream after it (json may then be NULL). Returns -1 when
 * the client has gone or the stream had ended. `max_pending`: when more
 * bytes than this wait unsent, the message is dropped (progress only: 0 =
 * never drop). */
int http__mcp_stream(struct hcall *c, const char *json, size_t len, bool last, size_t max_pending);

#endif
