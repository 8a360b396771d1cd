/*
 * bench/grpc_driver.h - many unary gRPC calls in flight from one thread.
 *
 * taas-bench needs C submits outstanding at once, driven from a single
 * thread, which the synchronous libtaas-client does not offer. This module
 * is the bench's only user of the gRPC C core: one channel, one completion
 * queue, any number of unary calls in flight, each finished by a callback
 * that runs inside gd_poll() on the caller's thread. Messages are opaque
 * bytes; the caller encodes and decodes them with protobuf-c.
 */
#ifndef BENCH_GRPC_DRIVER_H
#define BENCH_GRPC_DRIVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gd_channel gd_channel;

/*
 * Called once per call, inside gd_poll(). `status` is the gRPC status code
 * (0 = OK); `details` the server's message ("" when none); `resp` the reply
 * bytes (NULL when the call failed). All three are valid only during the
 * callback. The callback may start further calls.
 */
typedef void (*gd_done_fn)(void *payload, int status, const char *details,
                           const uint8_t *resp, size_t resp_len);

/* Opens a plaintext channel to `target` ("host:port"). 0 or -1. Close with
 * gd_close(). */
int gd_open(gd_channel **out, const char *target);

/* Sends "authorization: Bearer <token>" with every later call (a server
 * started with --tokens-file); NULL stops sending it. The token is copied. */
void gd_set_bearer(gd_channel *ch, const char *token);

/* Registers a method path ("/taas.v1.TaskService/SubmitTask") for fast
 * call creation; the handle lives as long as the channel. `path` must stay
 * valid as long as the channel. */
void *gd_method(gd_channel *ch, const char *path);

/* Starts a unary call. The request bytes are copied. `timeout_ms` <= 0 means
 * no deadline. 0, or -1 when the call could not be started (the callback
 * then never runs). */
int gd_unary(gd_channel *ch, void *method, const void *req, size_t req_len,
             int64_t timeout_ms, gd_done_fn done, void *payload);

/* Calls started and not yet finished. */
long gd_in_flight(const gd_channel *ch);

/*
 * Waits until one call finishes or `timeout_ns` passes, runs that call's
 * callback, then also runs the callbacks of calls already finished (without
 * waiting). Returns the number of callbacks run.
 */
int gd_poll(gd_channel *ch, int64_t timeout_ns);

/* Cancels the calls still in flight (their callbacks run with CANCELLED),
 * then frees everything. NULL is allowed. */
void gd_close(gd_channel *ch);

#endif
