/*
 * runtime/server/server.h - the gRPC server: one completion-queue thread,
 * the registered methods, and an orderly shutdown.
 *
 * The server knows nothing of the services or the middleware: for every
 * incoming call (registered or not) it calls `dispatch`, and once the call
 * has ended (status sent, or the client gone) it calls `done`. The program
 * (main.c) connects dispatch to the middleware chain.
 *
 * Shutdown is in two steps so that the layers above can drain in between:
 *   taas_server_stop_accepting()  no new calls; calls in progress go on
 *   ... the engine stops, answering what it still holds ...
 *   taas_server_shutdown()        cancel what is left, stop the thread, free
 */
#ifndef TAAS_SERVER_H
#define TAAS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "server/call.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct taas_server taas_server;

typedef struct taas_server_opts {
    const char *listen;            /* "host:port"; port 0 picks a free port */
    size_t max_message_bytes;      /* largest request message accepted; 0 = 4 MiB */

    /*
     * TLS. With tls_cert_pem and tls_key_pem set (PEM text, copied) the port
     * speaks TLS only. With tls_client_ca_pem also set, every client must
     * present a certificate signed by one of those CAs (mutual TLS); the
     * handshake fails otherwise. All NULL: plaintext.
     */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    const char *tls_client_ca_pem;

    /*
     * Transport limits, passed to gRPC as channel arguments; 0 = the default
     * given, -1 = leave gRPC's own default.
     */
    int max_concurrent_streams;    /* per connection; default 100 */
    int max_metadata_bytes;        /* request headers; default 16384 (GRPC_ARG_MAX_METADATA_SIZE) */
    int keepalive_time_ms;         /* server pings an idle connection; default 7200000 */
    int keepalive_timeout_ms;      /* ... and drops it without an answer; default 20000 */
    int max_connection_idle_ms;    /* close connections without calls; default 0 = never */
    int max_ping_strikes;          /* bad pings tolerated before GOAWAY; default 2 */
    int min_ping_interval_ms;      /* client pings closer than this are strikes; default 300000 */
    const taas_method *methods;    /* registered methods (borrowed; must outlive the server) */
    size_t n_methods;
    /* Every new call, on the server thread. Unknown methods arrive with
     * taas_call_method() == NULL; dispatch must answer them (UNIMPLEMENTED). */
    void (*dispatch)(void *arg, taas_call *call);
    /* Once per call, after its status was sent or the client left. */
    void (*done)(void *arg, taas_call *call, taas_status st, int64_t duration_us);
    void *arg;
} taas_server_opts;

/* The default transport limits above (also shown by taas-server --help). */
#define TAAS_SERVER_DEFAULT_MAX_STREAMS 100
#define TAAS_SERVER_DEFAULT_MAX_METADATA 16384
#define TAAS_SERVER_DEFAULT_KEEPALIVE_MS 7200000
#define TAAS_SERVER_DEFAULT_KEEPALIVE_TIMEOUT_MS 20000
#define TAAS_SERVER_DEFAULT_PING_STRIKES 2
#define TAAS_SERVER_DEFAULT_MIN_PING_MS 300000

/* grpc_init / grpc_shutdown. Call init after blocking SIGINT/SIGTERM, and
 * the final shutdown from the main thread once every server is freed. */
void taas_server_global_init(void);
void taas_server_global_shutdown(void);
/* The gRPC core version ("29.0.0" is 1.51). */
const char *taas_server_grpc_version(void);

/* Bind, register the methods and start the thread. NULL with err on failure. */
taas_server *taas_server_start(const taas_server_opts *opts, char *err, size_t errlen);
/* "host:port" actually bound (port resolved when 0 was asked for). */
const char *taas_server_address(const taas_server *s);
/* Refuse new calls; calls in progress continue. Idempotent. */
void taas_server_stop_accepting(taas_server *s);
/*
 * Cancel every remaining call, wait (at most timeout_ms) for gRPC to let go,
 * stop the thread and free the server. Returns 0, or -1 when gRPC did not
 * finish in time (the server is then leaked rather than freed unsafely).
 */
int taas_server_shutdown(taas_server *s, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_SERVER_H */
