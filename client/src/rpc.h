/*
 * client/src/rpc.h - the client's only contact with the gRPC C core.
 *
 * Two call shapes, both synchronous: a unary call (one request, one
 * response) and a server stream (one request, messages read one at a time).
 * Messages cross this boundary as serialized bytes; rpc.c knows nothing of
 * protobuf and client.c nothing of gRPC. Every wait is bounded: a call that
 * outlives its deadline, or is interrupted, is cancelled, and a call whose
 * completion never arrives after that is abandoned rather than waited for.
 */
#ifndef TAAS_CLIENT_RPC_H
#define TAAS_CLIENT_RPC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "taas/client.h"

typedef struct rpc_channel rpc_channel;
typedef struct rpc_stream rpc_stream;

typedef struct rpc_config {
    const char *target;
    bool use_tls;
    const char *tls_ca_pem;       /* NULL = system roots */
    const char *tls_cert_pem;     /* mutual TLS: client certificate chain, or NULL */
    const char *tls_key_pem;      /* ... and its private key */
    const char *bearer_token;     /* NULL = no authorization metadata */
    int32_t max_receive_bytes;
    /* Set (non-zero) to end every call in progress with CANCELLED. */
    const atomic_int *interrupt;
} rpc_config;

/* Starts gRPC (refcounted) and creates the channel; strings are copied. */
int rpc_channel_create(rpc_channel **out, const rpc_config *cfg, taas_client_error *err);
void rpc_channel_destroy(rpc_channel *ch);

/*
 * One unary call. `method` is a static "/pkg.Service/Method" string.
 * timeout_ms < 0 = no deadline. On success *resp is a malloc'd copy of the
 * response (free it; NULL with *resp_len 0 for an empty message).
 */
int rpc_unary(rpc_channel *ch, const char *method, const void *req, size_t req_len,
              int64_t timeout_ms, void **resp, size_t *resp_len, taas_client_error *err);

/* Starts a server-streaming call with one request message. */
int rpc_stream_open(rpc_stream **out, rpc_channel *ch, const char *method, const void *req,
                    size_t req_len, int64_t timeout_ms, taas_client_error *err);
/*
 * Reads the next message: returns 0 with *msg malloc'd (free it), 0 with
 * *msg NULL at the end of a stream the server closed with OK, or the
 * non-zero status code that ended the stream.
 */
int rpc_stream_read(rpc_stream *s, void **msg, size_t *len, taas_client_error *err);
/* Cancels the call if it has not ended, waits (bounded) for it, frees it. */
void rpc_stream_close(rpc_stream *s);

/*
 * The grpc-status-details-bin bytes (a packed google.rpc.Status) of the last
 * call that failed on this thread, or NULL. Valid until the next call ends
 * on this thread.
 */
const void *rpc_last_status_details(size_t *len);

#endif
