/*
 * runtime/middleware/middleware.h - the chain every call passes through
 * before its handler.
 *
 * A middleware is a small versioned vtable that knows only its `next`, in
 * the manner of stackable connection filters. Its `call` either answers the
 * call itself (a rejection: taas_middleware_reject) or hands it on with
 * taas_middleware_next(). The last element is the dispatcher, which runs the
 * method's handler or answers UNIMPLEMENTED. `done`, when set, runs for every
 * call once it has ended (status sent or client gone), in chain order.
 *
 * A middleware sees the method name, the peer, the request metadata and the
 * request bytes (call.h), so authentication is one more element:
 *
 *   static void auth_call(taas_middleware *m, taas_call *c) {
 *       size_t n; const char *v = taas_call_metadata(c, "authorization", &n);
 *       if (!token_ok(v, n)) { taas_middleware_reject(c, TAAS_ST_UNAUTHENTICATED, "..."); return; }
 *       taas_middleware_next(m, c);
 *   }
 *
 * (auth.c is that element: taas_mw_auth_new.)
 *
 * Threads: `call` and `done` run on the server thread; they must not block.
 */
#ifndef TAAS_MIDDLEWARE_H
#define TAAS_MIDDLEWARE_H

#include <stddef.h>
#include <stdint.h>

#include "server/call.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TAAS_MIDDLEWARE_VERSION 1

typedef struct taas_middleware taas_middleware;
struct taas_middleware {
    int version;       /* TAAS_MIDDLEWARE_VERSION */
    const char *name;  /* "log", "rate_limit", ... for logs */
    taas_middleware *next; /* set by taas_chain_push; NULL for the last */
    void (*call)(taas_middleware *self, taas_call *call);
    /* Optional. */
    void (*done)(taas_middleware *self, taas_call *call, taas_status st, int64_t duration_us);
    /* Required: free the middleware (implementations embed `parent` first). */
    void (*free)(taas_middleware *self);
};

/* Hand the call to the next middleware (the dispatcher ends the chain). */
void taas_middleware_next(taas_middleware *self, taas_call *call);
/* Answer the call with an error status and a message for a person. */
void taas_middleware_reject(taas_call *call, taas_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* The chain */

typedef struct taas_chain taas_chain;

taas_chain *taas_chain_new(void);
/* Append `m` (owned by the chain from here, also on failure). Returns 0 or -1.
 * The dispatcher is added by taas_chain_new and always stays last. */
int taas_chain_push(taas_chain *chain, taas_middleware *m);
/* Run a new call through the chain (taas_server_opts.dispatch). */
void taas_chain_call(void *chain, taas_call *call);
/* Tell every middleware that a call ended (taas_server_opts.done). */
void taas_chain_done(void *chain, taas_call *call, taas_status st, int64_t duration_us);
void taas_chain_free(taas_chain *chain);

/* ------------------------------------------------------------------------ */
/* The middleware of this module */

/* Refuse request messages over max_bytes with RESOURCE_EXHAUSTED. */
taas_middleware *taas_mw_size_limit_new(size_t max_bytes);

/*
 * Token buckets: `global_rps` calls per second over all clients and
 * `peer_rps` per client: per principal when the call was authenticated
 * (taas_call_principal), else per client address (port ignored); each
 * bucket holds one second's worth. 0 disables that bucket. Over ->
 * RESOURCE_EXHAUSTED. Push it after the auth middleware so that it sees
 * the principal.
 */
taas_middleware *taas_mw_rate_limit_new(double global_rps, double peer_rps);

/* One structured line per call: event rpc, method, peer, status, duration.
 * Metadata values (authorization) are never logged. */
taas_middleware *taas_mw_log_new(void);

/* ------------------------------------------------------------------------ */
/* Authentication (auth.c) */

/* Scopes a token grants: TAAS_SCOPE_* in server/call.h. */
/* What taas_auth_method_scope() gives a method the server does not serve:
 * any valid token, then UNIMPLEMENTED. */
#define TAAS_SCOPE_AUTHENTICATED 0x100u
#define TAAS_PRINCIPAL_MAX 128

typedef struct taas_tokens taas_tokens;

/*
 * Read a tokens file: one line per token,
 *   sha256:<hex of SHA-256(token)> <principal> <scope>[,<scope>...]
 * scopes submit, read, cancel, admin; '#' comments and blank lines allowed.
 * NULL with a message naming the file and line on any error (the file
 * must hold at least one token). Free with taas_tokens_free.
 *
 * Before reading, the file must be a regular file of at most 1 MiB, owned by
 * the server's user or root and not writable by group or others, in
 * directories that are the same all the way up (a world-writable one only
 * with the sticky bit); a device or a FIFO is refused at once. Each refusal
 * says why and what to change.
 */
taas_tokens *taas_tokens_load(const char *path, char *err, size_t errlen);
/* The parsing alone, of text[0..len) (named `name` in messages). */
taas_tokens *taas_tokens_parse(const char *text, size_t len, const char *name, char *err,
                               size_t errlen);
size_t taas_tokens_count(const taas_tokens *t);
void taas_tokens_free(taas_tokens *t);
/* The hex SHA-256 of a token, as the tokens file stores it. */
void taas_token_hash_hex(const char *token, size_t len, char out[65]);
/* The scope a method needs: 0 = open (grpc.health.v1.Health),
 * TAAS_SCOPE_AUTHENTICATED for unknown methods. */
unsigned taas_auth_method_scope(const char *method);
/* "submit", "read", "cancel", "admin" for one scope bit. */
const char *taas_scope_name(unsigned scope);

/*
 * Bearer-token authentication over `tokens` (owned from here, also on
 * failure): UNAUTHENTICATED without a valid "authorization: Bearer <token>",
 * PERMISSION_DENIED without the method's scope; sets the call's principal.
 */
taas_middleware *taas_mw_auth_new(taas_tokens *tokens);

/* For --role worker: every method but grpc.health.v1.Health -> UNAVAILABLE. */
taas_middleware *taas_mw_worker_role_new(void);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_MIDDLEWARE_H */
