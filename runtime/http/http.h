/*
 * runtime/http/http.h - the HTTP side port: a JSON API over the same
 * middleware chain and handlers as gRPC, Server-Sent Events for a task's
 * events, /metrics, /healthz, /readyz, the OpenAPI document and the
 * dashboard. docs/http-api.md describes what it serves.
 *
 * One set of rules, two transports. Every API request becomes a taas_call
 * (server/call.h) of the gRPC method it mirrors, with the JSON body turned
 * into that method's protobuf request; it goes through the chain
 * (access log, authentication and scopes, rate limit, size limit) to the very
 * handler a gRPC client reaches, and the protobuf answer is turned back into
 * JSON. So authentication, per-principal isolation, validation messages and
 * status codes cannot drift apart between the two transports.
 *
 * This module is the only code that includes libmicrohttpd.
 */
#ifndef TAAS_HTTP_H
#define TAAS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/call.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct taas_http taas_http;

typedef struct taas_http_opts {
    const char *listen;          /* "host:port"; port 0 picks a free port */
    const char *tls_cert_pem;    /* both set: HTTPS only (PEM text, copied) */
    const char *tls_key_pem;
    size_t max_body_bytes;       /* larger bodies get 413 RESOURCE_EXHAUSTED; 0 = 4 MiB */
    unsigned max_connections;    /* 0 = 4096 */
    /* No tokens: only requests whose Host is an IP address or "localhost"
     * are served (a DNS-rebinding page names its own domain). */
    bool auth_off;
    int keepalive_ms;            /* SSE comment line interval; 0 = 15000 */
    const char *version;         /* for /metrics build info */
    /* The methods of the services (borrowed), to find the ones the API mirrors. */
    const taas_method *methods;
    size_t n_methods;
    /* The middleware chain, as for the gRPC server. */
    void (*dispatch)(void *arg, taas_call *call);
    void (*done)(void *arg, taas_call *call, taas_status st, int64_t duration_us);
    void *arg;
    /* Readiness for /readyz: 0 when ready, else -1 with a reason in msg. */
    int (*ready)(void *ready_arg, char *msg, size_t cap);
    void *ready_arg;
} taas_http_opts;

/* Bind and start serving. NULL with err on failure. */
taas_http *taas_http_start(const taas_http_opts *opts, char *err, size_t errlen);
/* "host:port" actually bound. */
const char *taas_http_address(const taas_http *h);
/* New requests get 503 UNAVAILABLE from here on; requests in progress go on. */
void taas_http_stop_accepting(taas_http *h);
/* Close every connection, stop the threads, free. Calls still referenced by
 * a handler are freed when their last reference goes. */
void taas_http_stop(taas_http *h);

/* gRPC status -> HTTP status, as docs/http-api.md lists. */
int taas_http_status_of(taas_status st);

#ifdef __cplusplus
}
#endif
#endif
