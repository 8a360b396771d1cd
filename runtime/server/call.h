/*
 * runtime/server/call.h - one RPC as the rest of the runtime sees it.
 *
 * This is the whole surface the services and the middleware use; none of
 * them includes a gRPC header (runtime/server/grpc_server.c is the only file
 * that does). A call carries the request bytes, the peer, the request
 * metadata and the deadline, and is answered exactly once:
 *
 *   unary:  taas_call_reply(call, TAAS_ST_OK, NULL, buf, len)
 *   stream: taas_call_send(call, buf, len, 0) ... taas_call_finish(call, st, msg)
 *
 * Threads. Every function here may be called from any thread (a service
 * typically answers from the store's writer thread). The server serializes
 * the gRPC batches of one call with a per-call mutex; no lock is held while
 * another call's batch starts.
 *
 * Lifetime. A call is reference-counted. The server holds references while
 * it waits on gRPC; the handler that receives a call borrows it for the
 * duration of the handler, and takes its own reference (taas_call_ref) when
 * it answers later from another thread. The call is freed once the last
 * reference is gone and gRPC is done with it.
 *
 * Ownership of messages: taas_call_reply and taas_call_send take ownership of
 * a buffer allocated with malloc() (also on failure); the server frees it
 * once gRPC has written it, so a packed protobuf is never copied.
 */
#ifndef TAAS_SERVER_CALL_H
#define TAAS_SERVER_CALL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct taas_call taas_call;

typedef enum taas_call_kind {
    TAAS_CALL_UNARY = 0,         /* one request, one response */
    TAAS_CALL_SERVER_STREAM = 1  /* one request, a stream of responses */
} taas_call_kind;

typedef void (*taas_handler_fn)(taas_call *call, void *arg);

/* A method the server registers, e.g. "/taas.v1.TaskService/GetTask". */
typedef struct taas_method {
    const char *name;
    taas_call_kind kind;
    taas_handler_fn handler;
    void *arg;
} taas_method;

/* The method called, as the client sent it ("/pkg.Service/Method"). */
const char *taas_call_method_name(const taas_call *call);
/* The registered method, or NULL for a method the server does not know. */
const taas_method *taas_call_method(const taas_call *call);
/* The request message bytes (borrowed from the call; may be empty). */
const uint8_t *taas_call_request(const taas_call *call, size_t *len);
/* False when the client sent no request message at all. */
bool taas_call_has_request(const taas_call *call);
/* "ipv4:127.0.0.1:54321"; owned by the call. */
const char *taas_call_peer(const taas_call *call);
/*
 * The first value of request metadata `key` (lower case), or NULL. The
 * value is borrowed from the call and is not NUL-terminated: see *len.
 */
const char *taas_call_metadata(const taas_call *call, const char *key, size_t *len);
/* Milliseconds left before the client's deadline; -1 when there is none. */
int64_t taas_call_deadline_left_ms(const taas_call *call);
/* Monotonic microseconds when the call arrived. */
int64_t taas_call_start_us(const taas_call *call);

void taas_call_ref(taas_call *call);
void taas_call_unref(taas_call *call);

/*
 * Unary answer: the response message (buf, len; malloc'd, owned from here)
 * for TAAS_ST_OK, or a status and a message for a person (`message` is
 * copied; buf must be NULL). Only the first answer counts; later ones are
 * ignored (and their buffers freed). Also valid on a stream: sends buf, if
 * any, then finishes with the status.
 */
void taas_call_reply(taas_call *call, taas_status st, const char *message, void *buf, size_t len);

/*
 * An error answer with rich details: `details` (malloc'd, owned from here)
 * is a packed google.rpc.Status, sent as the grpc-status-details-bin trailer
 * beside the status and `message`. Its code and message must be `st` and
 * `message` (clients check). Like taas_call_reply, only the first answer
 * counts.
 */
void taas_call_reply_details(taas_call *call, taas_status st, const char *message, void *details,
                             size_t len);

/* Flags for taas_call_send. */
#define TAAS_SEND_COALESCE 1u  /* may be replaced by a later COALESCE message while still queued */

/*
 * Stream one message (buf, len; malloc'd, owned from here). Messages queue
 * inside the call because gRPC allows one send in flight; the queue keeps
 * order. Returns 0, or -1 when the stream has finished or the client has
 * gone (the buffer is freed).
 */
int taas_call_send(taas_call *call, void *buf, size_t len, unsigned flags);
/* End a stream after every queued message. `message` is copied. Idempotent. */
void taas_call_finish(taas_call *call, taas_status st, const char *message);

/* True once the client cancelled or the deadline passed. */
bool taas_call_cancelled(const taas_call *call);

/*
 * Hooks, set by the handler before it returns (they may fire at once after).
 * on_cancel: the client cancelled, disconnected or its deadline passed; runs
 *   once on the server's thread; the owner still calls taas_call_finish.
 * on_sent: a taas_call_send message left the queue (written or failed); lets
 *   a producer send one message at a time.
 * Both run without any server lock held and must not block.
 */
typedef void (*taas_call_hook_fn)(taas_call *call, void *arg);
void taas_call_on_cancel(taas_call *call, taas_call_hook_fn fn, void *arg);
void taas_call_on_sent(taas_call *call, taas_call_hook_fn fn, void *arg);

/*
 * Attach the handler's state; `destroy(data)` runs when the call is freed,
 * after every hook has run, on whichever thread drops the last reference.
 */
void taas_call_set_data(taas_call *call, void *data, void (*destroy)(void *data));
void *taas_call_data(const taas_call *call);

/*
 * Who is calling, as established by the authentication middleware:
 * `principal` (copied) and the TAAS_SCOPE_* bits its token grants. Until
 * it is set, taas_call_principal() is NULL, which the services read as
 * "authentication is off". Admin (TAAS_SCOPE_ADMIN) implies the other three
 * and sees every principal's tasks.
 */
#define TAAS_SCOPE_SUBMIT 1u
#define TAAS_SCOPE_READ 2u
#define TAAS_SCOPE_CANCEL 4u
#define TAAS_SCOPE_ADMIN 8u
void taas_call_set_principal(taas_call *call, const char *principal, unsigned scopes);
const char *taas_call_principal(const taas_call *call);
unsigned taas_call_scopes(const taas_call *call);

/* The status the call ended with (valid in the server's done callback). */
taas_status taas_call_final_status(const taas_call *call);


/*
 * Other transports. A call made by another transport (the HTTP port,
 * runtime/http/) is a struct whose first member is a taas_call_head with
 * its operations; every taas_call_* function above that is not answered by
 * the head itself hands such a call to them, so the middleware and the
 * services serve both transports with the same code. A gRPC call's head
 * has no operations (NULL).
 */
typedef struct taas_call_ops {
    const char *transport; /* "http" */
    const char *(*method_name)(const taas_call *c);
    const taas_method *(*method)(const taas_call *c);
    const uint8_t *(*request)(const taas_call *c, size_t *len);
    bool (*has_request)(const taas_call *c);
    const char *(*peer)(const taas_call *c);
    const char *(*metadata)(const taas_call *c, const char *key, size_t *len);
    int64_t (*deadline_left_ms)(const taas_call *c);
    int64_t (*start_us)(const taas_call *c);
    void (*ref)(taas_call *c);
    void (*unref)(taas_call *c);
    void (*reply)(taas_call *c, taas_status st, const char *message, void *buf, size_t len);
    void (*reply_details)(taas_call *c, taas_status st, const char *message, void *details,
                          size_t len);
    int (*send)(taas_call *c, void *buf, size_t len, unsigned flags);
    taas_status (*final_status)(const taas_call *c);
} taas_call_ops;

/*
 * What every call keeps alike whatever its transport, as the first member
 * of its struct: its operations, who is calling, the handler's data, and
 * the cancel and sent hooks. taas_call_principal(), _scopes(), _data(),
 * _cancelled(), _on_cancel(), _on_sent() and their setters read and write
 * it directly (grpc_server.c). `mu` is the call's own lock, which guards
 * the hooks; a transport reads on_sent under it, and marks the cancel with
 * taas_call_head_cancel_locked().
 */
typedef struct taas_call_head {
    const taas_call_ops *ops; /* NULL for a gRPC call */
    pthread_mutex_t *mu;
    char *principal; /* malloc'd; NULL until authentication sets it, or with it off */
    unsigned scopes;
    void *data;
    void (*destroy)(void *data);
    taas_call_hook_fn on_cancel, on_sent;
    void *on_cancel_arg, *on_sent_arg;
    atomic_bool cancelled;
} taas_call_head;

/* A new call's head (the rest of it zeroed by the caller's calloc). */
void taas_call_head_init(taas_call_head *h, const taas_call_ops *ops, pthread_mutex_t *mu);
/* Frees what the head owns: the principal, and the data through destroy. */
void taas_call_head_clear(taas_call_head *h);
/* With h->mu held: marks the call cancelled and takes its cancel hook
 * (NULL when none is set or it was taken), for the caller to run once mu is
 * released. */
taas_call_hook_fn taas_call_head_cancel_locked(taas_call_head *h, void **arg);

/* The ops of a call of another transport, NULL for a gRPC call. */
static inline const taas_call_ops *taas_call_ops_of(const taas_call *c)
{
    return ((const taas_call_head *)(const void *)c)->ops;
}
/* "grpc" or the other transport's name (metrics, logs). */
static inline const char *taas_call_transport(const taas_call *c)
{
    const taas_call_ops *o = taas_call_ops_of(c);
    return o ? o->transport : "grpc";
}

#ifdef __cplusplus
}
#endif
#endif /* TAAS_SERVER_CALL_H */
