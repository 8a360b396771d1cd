/*
 * bench/grpc_driver.c - unary gRPC calls in flight on one completion queue.
 * The only file of bench/ that includes gRPC; see grpc_driver.h.
 *
 * Each call is one batch of the six client ops, so it yields exactly one
 * completion, tagged with its own heap context (every out-pointer the core
 * writes asynchronously lives there). On that completion the reply is read
 * through a byte-buffer reader, the callback runs, and everything the call
 * owned is released: the received buffer, both metadata arrays, the status
 * details slice, the error string and the call itself.
 */
#include "grpc_driver.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

typedef struct gd_call {
    struct gd_call *prev, *next;  /* in-flight list, for gd_close() */
    grpc_call *call;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *recv;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
    gd_done_fn done;
    void *payload;
} gd_call;

struct gd_channel {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    gd_call head;                 /* sentinel of the in-flight list */
    long in_flight;
    grpc_metadata auth;           /* sent with every call when has_auth */
    int has_auth;
};

int gd_open(gd_channel **out, const char *target)
{
    gd_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return -1;
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    /* The least a client does per call: no optional filters (compression,
     * client-side deadline and message-size checks: the run has its own
     * deadline and the replies are small), no retries, and no BDP pings
     * (they tune flow control for large transfers, and on loopback only
     * add frames for the server to answer). */
    grpc_arg args[3];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MINIMAL_STACK;
    args[0].value.integer = 1;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
    args[1].value.integer = 0;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    args[2].value.integer = 0;
    grpc_channel_args chargs = {3, args};
    ch->channel = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    ch->cq = grpc_completion_queue_create_for_next(NULL);
    ch->head.next = ch->head.prev = &ch->head;
    if (!ch->channel || !ch->cq) {
        gd_close(ch);
        return -1;
    }
    *out = ch;
    return 0;
}

void gd_set_bearer(gd_channel *ch, const char *token)
{
    if (ch->has_auth) {
        grpc_slice_unref(ch->auth.key);
        grpc_slice_unref(ch->auth.value);
        ch->has_auth = 0;
    }
    if (!token)
        return;
    size_t n = strlen(token);
    char *v = malloc(n + 8);
    if (!v)
        return;
    memcpy(v, "Bearer ", 7);
    memcpy(v + 7, token, n + 1);
    memset(&ch->auth, 0, sizeof ch->auth);
    ch->auth.key = grpc_slice_from_static_string("authorization");
    ch->auth.value = grpc_slice_from_copied_string(v);
    free(v);
    ch->has_auth = 1;
}

void *gd_method(gd_channel *ch, const char *path)
{
    return grpc_channel_register_call(ch->channel, path, NULL, NULL);
}

long gd_in_flight(const gd_channel *ch)
{
    return ch->in_flight;
}

static void call_free(gd_channel *ch, gd_call *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    ch->in_flight--;
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    grpc_slice_unref(c->details);
    if (c->error_string)
        gpr_free((void *)c->error_string);
    if (c->call)
        grpc_call_unref(c->call);
    free(c);
}

int gd_unary(gd_channel *ch, void *method, const void *req, size_t req_len,
             int64_t timeout_ms, gd_done_fn done, void *payload)
{
    gd_call *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->done = done;
    c->payload = payload;
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->initial_md);
    grpc_metadata_array_init(&c->trailing_md);
    c->next = ch->head.next;
    c->prev = &ch->head;
    ch->head.next->prev = c;
    ch->head.next = c;
    ch->in_flight++;

    gpr_timespec deadline = timeout_ms > 0
        ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                       gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
        : gpr_inf_future(GPR_CLOCK_REALTIME);
    c->call = grpc_channel_create_registered_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                  ch->cq, method, deadline, NULL);
    if (!c->call) {
        call_free(ch, c);
        return -1;
    }

    /* The buffer takes its own ref of the slice; the send op takes the
     * buffer's slices, and the handle is ours to destroy. */
    grpc_slice slice = grpc_slice_from_copied_buffer(req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (ch->has_auth) {
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &ch->auth;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    ops[5].data.recv_status_on_client.error_string = &c->error_string;
    grpc_call_error err = grpc_call_start_batch(c->call, ops, 6, c, NULL);
    grpc_byte_buffer_destroy(send);
    if (err != GRPC_CALL_OK) {
        call_free(ch, c);
        return -1;
    }
    return 0;
}

/* Runs the callback of a finished call and frees it. */
static void finish(gd_channel *ch, gd_call *c, int success)
{
    int status = success ? (int)c->status : (int)GRPC_STATUS_UNKNOWN;
    char *details = grpc_slice_to_c_string(c->details);
    grpc_slice body = grpc_empty_slice();
    const uint8_t *resp = NULL;
    size_t resp_len = 0;
    if (status == GRPC_STATUS_OK && c->recv) {
        grpc_byte_buffer_reader reader;
        if (grpc_byte_buffer_reader_init(&reader, c->recv)) {
            body = grpc_byte_buffer_reader_readall(&reader);
            grpc_byte_buffer_reader_destroy(&reader);
            resp = GRPC_SLICE_START_PTR(body);
            resp_len = GRPC_SLICE_LENGTH(body);
        }
    }
    if (status == GRPC_STATUS_OK && !c->recv)
        status = GRPC_STATUS_INTERNAL; /* a unary reply without a message */
    /* resp may be NULL for an empty (all-default) message: give a valid pointer */
    if (status == GRPC_STATUS_OK && !resp)
        resp = (const uint8_t *)"";
    c->done(c->payload, status, details ? details : "", resp, resp_len);
    grpc_slice_unref(body);
    gpr_free(details);
    call_free(ch, c);
}

int gd_poll(gd_channel *ch, int64_t timeout_ns)
{
    int ran = 0;
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_nanos(timeout_ns > 0 ? timeout_ns : 0,
                                                             GPR_TIMESPAN));
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(ch->cq, deadline, NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            return ran;
        finish(ch, (gd_call *)ev.tag, ev.success);
        ran++;
        /* Then whatever else is ready, without waiting. */
        deadline = gpr_inf_past(GPR_CLOCK_MONOTONIC);
    }
}

void gd_close(gd_channel *ch)
{
    if (!ch)
        return;
    if (ch->cq) {
        for (gd_call *c = ch->head.next; c != &ch->head; c = c->next)
            grpc_call_cancel(c->call, NULL);
        while (ch->in_flight > 0) {
            grpc_event ev = grpc_completion_queue_next(
                ch->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_seconds(5, GPR_TIMESPAN)), NULL);
            if (ev.type != GRPC_OP_COMPLETE)
                break; /* never block forever on a call that does not end */
            finish(ch, (gd_call *)ev.tag, ev.success);
        }
    }
    gd_set_bearer(ch, NULL);
    if (ch->channel)
        grpc_channel_destroy(ch->channel);
    if (ch->cq) {
        grpc_completion_queue_shutdown(ch->cq);
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(
                ch->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_seconds(5, GPR_TIMESPAN)), NULL);
            if (ev.type == GRPC_QUEUE_SHUTDOWN || ev.type == GRPC_QUEUE_TIMEOUT)
                break;
        }
        if (ch->in_flight == 0)
            grpc_completion_queue_destroy(ch->cq);
    }
    free(ch);
    grpc_shutdown();
}
