/*
 * client/src/rpc.c - unary and server-streaming calls on the gRPC C core.
 *
 * Method. Each call gets its own completion queue, so calls on one channel
 * from several threads never see each other's events and need no lock. The
 * thread that made the call polls its queue in short ticks (POLL_MS) and
 * between ticks checks the interrupt flag and the deadline; nothing blocks
 * on a queue without a limit.
 *
 * Ownership rules of this gRPC version that the code below relies on: the
 * received status details slice and error_string are ours to release; the
 * error_string is a debug blob and is never shown to users, the details are;
 * a received byte buffer is ours and is read through a byte_buffer_reader
 * (which handles compressed messages); a send buffer takes its own ref on
 * the slice. Out-pointers given to a batch are written asynchronously, so
 * they live in the heap-allocated call state, which is freed only once every
 * started batch has completed. A call whose batches do not complete within
 * ABANDON_MS after it was cancelled is left allocated (a leak rather than a
 * use-after-free); that has been seen once in stress runs of this version.
 *
 * For streams, RECV_STATUS_ON_CLIENT runs in its own batch from the start,
 * and each RECV_MESSAGE in a batch of its own.
 */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#define POLL_MS 100
/* After a deadline passes, how long gRPC gets to report it before we cancel. */
#define DEADLINE_GRACE_MS 5000
/* After a cancel, how long we wait for outstanding batches before giving up. */
#define ABANDON_MS 10000

struct rpc_channel {
    grpc_channel *channel;
    char *target;
    char *auth_value;             /* "Bearer <token>" or NULL */
    const atomic_int *interrupt;
};

static void set_error(taas_client_error *err, int code, const char *msg)
{
    if (!err)
        return;
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int rpc_channel_create(rpc_channel **out, const rpc_config *cfg, taas_client_error *err)
{
    *out = NULL;
    rpc_channel *ch = calloc(1, sizeof *ch);
    if (!ch) {
        set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "out of memory");
        return TAAS_CLIENT_RESOURCE_EXHAUSTED;
    }
    ch->target = xstrdup(cfg->target);
    if (cfg->bearer_token && cfg->bearer_token[0]) {
        size_t n = strlen(cfg->bearer_token) + sizeof "Bearer ";
        ch->auth_value = malloc(n);
        if (ch->auth_value)
            snprintf(ch->auth_value, n, "Bearer %s", cfg->bearer_token);
        if (ch->auth_value && strpbrk(ch->auth_value, "\r\n")) {
            free(ch->auth_value);
            free(ch->target);
            free(ch);
            set_error(err, TAAS_CLIENT_INVALID_ARGUMENT, "bearer token contains a line break");
            return TAAS_CLIENT_INVALID_ARGUMENT;
        }
    }
    if (!ch->target || (cfg->bearer_token && cfg->bearer_token[0] && !ch->auth_value)) {
        free(ch->auth_value);
        free(ch->target);
        free(ch);
        set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "out of memory");
        return TAAS_CLIENT_RESOURCE_EXHAUSTED;
    }
    ch->interrupt = cfg->interrupt;

    grpc_init();
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = cfg->max_receive_bytes > 0 ? cfg->max_receive_bytes : 16 << 20;
    args[1].type = GRPC_ARG_STRING;
    args[1].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[1].value.string = (char *)"taas-client/0.1";
    grpc_channel_args cargs = { 2, args };

    grpc_channel_credentials *creds = NULL;
    if (cfg->use_tls) {
        grpc_ssl_pem_key_cert_pair pair = {cfg->tls_key_pem, cfg->tls_cert_pem};
        bool mutual = cfg->tls_cert_pem && cfg->tls_key_pem;
        creds = grpc_ssl_credentials_create(cfg->tls_ca_pem, mutual ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    if (creds)
        ch->channel = grpc_channel_create(ch->target, creds, &cargs);
    if (creds)
        grpc_channel_credentials_release(creds);
    if (!ch->channel) {
        grpc_shutdown();
        free(ch->auth_value);
        free(ch->target);
        free(ch);
        set_error(err, TAAS_CLIENT_INVALID_ARGUMENT, "cannot create a channel for this address");
        return TAAS_CLIENT_INVALID_ARGUMENT;
    }
    *out = ch;
    return 0;
}

void rpc_channel_destroy(rpc_channel *ch)
{
    if (!ch)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch->auth_value);
    free(ch->target);
    free(ch);
    grpc_shutdown();
}

static gpr_timespec deadline_after(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static gpr_timespec tick(void)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(POLL_MS, GPR_TIMESPAN));
}

static bool passed(gpr_timespec t, int64_t extra_ms)
{
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0)
        return false;
    gpr_timespec limit = gpr_time_add(t, gpr_time_from_millis(extra_ms, GPR_TIMESPAN));
    return gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), limit) > 0;
}

/* Copies a received message into one malloc'd block and destroys the buffer. */
static int take_message(grpc_byte_buffer *bb, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(bb);
    size_t n = GRPC_SLICE_LENGTH(all);
    void *p = malloc(n ? n : 1);
    if (!p) {
        grpc_slice_unref(all);
        return -1;
    }
    memcpy(p, GRPC_SLICE_START_PTR(all), n);
    grpc_slice_unref(all);
    *out = p;
    *out_len = n;
    return 0;
}

/*
 * The grpc-status-details-bin trailer of the last call that ended on this
 * thread (gRPC has already base64-decoded it), for taas_client_last_violations.
 * Per thread, because the public error struct has a fixed size (ABI) and a
 * client may be shared between threads.
 */
static _Thread_local unsigned char last_details[8192];
static _Thread_local size_t last_details_len;

static void details_clear(void)
{
    last_details_len = 0;
}

/* A fixed buffer rather than malloc: nothing to free when a thread ends.
 * The server caps its details well below this; larger ones are dropped. */
static void details_keep(const grpc_metadata_array *md)
{
    details_clear();
    for (size_t i = 0; i < md->count; i++) {
        if (!grpc_slice_str_cmp(md->metadata[i].key, "grpc-status-details-bin")) {
            size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
            if (n <= sizeof last_details) {
                memcpy(last_details, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
                last_details_len = n;
            }
            return;
        }
    }
}

const void *rpc_last_status_details(size_t *len)
{
    *len = last_details_len;
    return last_details_len ? last_details : NULL;
}

/* The user-facing message of a status: the server's details, or the code's name. */
static void status_error(taas_client_error *err, grpc_status_code code, grpc_slice details)
{
    if (!err)
        return;
    err->code = (int)code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n == 0) {
        snprintf(err->message, sizeof err->message, "%s", taas_client_code_name((int)code));
        return;
    }
    if (n >= sizeof err->message)
        n = sizeof err->message - 1;
    memcpy(err->message, GRPC_SLICE_START_PTR(details), n);
    err->message[n] = '\0';
}

/* Everything a call's batches may write into; freed only when they are done. */
typedef struct call_state {
    grpc_completion_queue *cq;
    grpc_call *call;
    gpr_timespec deadline;
    gpr_timespec cancelled_at;
    bool cancelled;
    int outstanding;              /* started batches not yet completed */
    const atomic_int *interrupt;

    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
    grpc_byte_buffer *recv;

    /* Distinct tags, one per kind of batch. */
    char tag_start, tag_status, tag_recv;
    bool start_done, status_done, recv_pending;
} call_state;

static void cancel_call(call_state *cs, const char *why)
{
    if (cs->cancelled)
        return;
    grpc_call_cancel_with_status(cs->call, GRPC_STATUS_CANCELLED, why, NULL);
    cs->cancelled = true;
    cs->cancelled_at = gpr_now(GPR_CLOCK_MONOTONIC);
}

static void free_state(call_state *cs)
{
    if (cs->recv)
        grpc_byte_buffer_destroy(cs->recv);
    grpc_metadata_array_destroy(&cs->initial_md);
    grpc_metadata_array_destroy(&cs->trailing_md);
    grpc_slice_unref(cs->details);
    if (cs->error_string)
        gpr_free((void *)cs->error_string);
    if (cs->call)
        grpc_call_unref(cs->call);
    if (cs->cq) {
        grpc_completion_queue_shutdown(cs->cq);
        for (int i = 0; i < ABANDON_MS / POLL_MS; i++) {
            grpc_event ev = grpc_completion_queue_next(cs->cq, tick(), NULL);
            if (ev.type == GRPC_QUEUE_SHUTDOWN)
                break;
        }
        grpc_completion_queue_destroy(cs->cq);
    }
    free(cs);
}

/*
 * Waits for the next completion. Returns the tag, or NULL when the call had
 * to be abandoned (its batches never completed after a cancel).
 */
static void *next_event(call_state *cs, bool *ok)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cs->cq, tick(), NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            cs->outstanding--;
            *ok = ev.success != 0;
            return ev.tag;
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (cs->interrupt && atomic_load(cs->interrupt))
            cancel_call(cs, "interrupted");
        if (!cs->cancelled && passed(cs->deadline, DEADLINE_GRACE_MS))
            cancel_call(cs, "deadline passed without an answer");
        if (cs->cancelled && passed(cs->cancelled_at, ABANDON_MS))
            return NULL;
    }
}

static call_state *new_call(rpc_channel *ch, const char *method, int64_t timeout_ms,
                            taas_client_error *err)
{
    call_state *cs = calloc(1, sizeof *cs);
    if (!cs) {
        set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    cs->interrupt = ch->interrupt;
    cs->details = grpc_empty_slice();
    grpc_metadata_array_init(&cs->initial_md);
    grpc_metadata_array_init(&cs->trailing_md);
    cs->deadline = deadline_after(timeout_ms);
    cs->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice m = grpc_slice_from_static_string(method);
    cs->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cs->cq, m,
                                        NULL, cs->deadline, NULL);
    if (!cs->call) {
        free_state(cs);
        set_error(err, TAAS_CLIENT_INTERNAL, "cannot create a call");
        return NULL;
    }
    return cs;
}

/*
 * Starts the batch that sends the request: initial metadata, the message and
 * the half-close, plus RECV_INITIAL_METADATA; for unary calls also the
 * response and the status, so the whole call is one batch.
 */
static int start_request(rpc_channel *ch, call_state *cs, const void *req, size_t req_len,
                         bool unary, taas_client_error *err)
{
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    size_t n = 0;

    grpc_metadata md;
    memset(&md, 0, sizeof md);
    if (ch->auth_value) {
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_copied_string(ch->auth_value);
    }
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = ch->auth_value ? 1 : 0;
    ops[n].data.send_initial_metadata.metadata = ch->auth_value ? &md : NULL;
    n++;

    grpc_slice s = grpc_slice_from_copied_buffer(req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n].data.recv_initial_metadata.recv_initial_metadata = &cs->initial_md;
    n++;
    if (unary) {
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n].data.recv_message.recv_message = &cs->recv;
        n++;
        ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[n].data.recv_status_on_client.trailing_metadata = &cs->trailing_md;
        ops[n].data.recv_status_on_client.status = &cs->status;
        ops[n].data.recv_status_on_client.status_details = &cs->details;
        ops[n].data.recv_status_on_client.error_string = &cs->error_string;
        n++;
    }
    grpc_call_error rc = grpc_call_start_batch(cs->call, ops, n, &cs->tag_start, NULL);
    grpc_byte_buffer_destroy(bb);
    if (ch->auth_value)
        grpc_slice_unref(md.value);
    if (rc != GRPC_CALL_OK) {
        set_error(err, TAAS_CLIENT_INTERNAL, "cannot start the call");
        return TAAS_CLIENT_INTERNAL;
    }
    cs->outstanding++;
    return 0;
}

int rpc_unary(rpc_channel *ch, const char *method, const void *req, size_t req_len,
              int64_t timeout_ms, void **resp, size_t *resp_len, taas_client_error *err)
{
    *resp = NULL;
    *resp_len = 0;
    details_clear();
    if (ch->interrupt && atomic_load(ch->interrupt)) {
        set_error(err, TAAS_CLIENT_CANCELLED, "interrupted");
        return TAAS_CLIENT_CANCELLED;
    }
    call_state *cs = new_call(ch, method, timeout_ms, err);
    if (!cs)
        return err ? err->code : TAAS_CLIENT_INTERNAL;
    int rc = start_request(ch, cs, req, req_len, true, err);
    if (rc) {
        free_state(cs);
        return rc;
    }
    bool ok;
    if (next_event(cs, &ok) == NULL) {
        /* Abandoned: the batch may still write into cs, so it is not freed. */
        set_error(err, TAAS_CLIENT_UNAVAILABLE, "the call did not complete after it was cancelled");
        return TAAS_CLIENT_UNAVAILABLE;
    }
    if (cs->status != GRPC_STATUS_OK) {
        details_keep(&cs->trailing_md);
        status_error(err, cs->status, cs->details);
        rc = (int)cs->status;
    } else if (!cs->recv) {
        set_error(err, TAAS_CLIENT_INTERNAL, "the server sent no response message");
        rc = TAAS_CLIENT_INTERNAL;
    } else {
        grpc_byte_buffer *bb = cs->recv;
        cs->recv = NULL;
        if (take_message(bb, resp, resp_len)) {
            set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "cannot read the response");
            rc = TAAS_CLIENT_RESOURCE_EXHAUSTED;
        }
    }
    free_state(cs);
    return rc;
}

struct rpc_stream {
    call_state *cs;
    bool eos;                     /* RECV_MESSAGE gave NULL */
    bool abandoned;
};

int rpc_stream_open(rpc_stream **out, rpc_channel *ch, const char *method, const void *req,
                    size_t req_len, int64_t timeout_ms, taas_client_error *err)
{
    *out = NULL;
    details_clear();
    if (ch->interrupt && atomic_load(ch->interrupt)) {
        set_error(err, TAAS_CLIENT_CANCELLED, "interrupted");
        return TAAS_CLIENT_CANCELLED;
    }
    rpc_stream *s = calloc(1, sizeof *s);
    if (!s) {
        set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "out of memory");
        return TAAS_CLIENT_RESOURCE_EXHAUSTED;
    }
    s->cs = new_call(ch, method, timeout_ms, err);
    if (!s->cs) {
        free(s);
        return err ? err->code : TAAS_CLIENT_INTERNAL;
    }
    call_state *cs = s->cs;
    int rc = start_request(ch, cs, req, req_len, false, err);
    if (rc) {
        free_state(cs);
        free(s);
        return rc;
    }
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &cs->trailing_md;
    op.data.recv_status_on_client.status = &cs->status;
    op.data.recv_status_on_client.status_details = &cs->details;
    op.data.recv_status_on_client.error_string = &cs->error_string;
    if (grpc_call_start_batch(cs->call, &op, 1, &cs->tag_status, NULL) != GRPC_CALL_OK) {
        s->eos = true;
        rpc_stream_close(s);
        set_error(err, TAAS_CLIENT_INTERNAL, "cannot start the call");
        return TAAS_CLIENT_INTERNAL;
    }
    cs->outstanding++;
    *out = s;
    return 0;
}

/* Records a completion; returns true when it was a RECV_MESSAGE. */
static bool note_completion(call_state *cs, void *tag)
{
    if (tag == &cs->tag_start)
        cs->start_done = true;
    else if (tag == &cs->tag_status)
        cs->status_done = true;
    else if (tag == &cs->tag_recv) {
        cs->recv_pending = false;
        return true;
    }
    return false;
}

int rpc_stream_read(rpc_stream *s, void **msg, size_t *len, taas_client_error *err)
{
    call_state *cs = s->cs;
    *msg = NULL;
    *len = 0;
    if (s->abandoned) {
        set_error(err, TAAS_CLIENT_UNAVAILABLE, "the call did not complete after it was cancelled");
        return TAAS_CLIENT_UNAVAILABLE;
    }
    if (!s->eos && !cs->recv_pending) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &cs->recv;
        if (grpc_call_start_batch(cs->call, &op, 1, &cs->tag_recv, NULL) != GRPC_CALL_OK) {
            set_error(err, TAAS_CLIENT_INTERNAL, "cannot read from the stream");
            return TAAS_CLIENT_INTERNAL;
        }
        cs->outstanding++;
        cs->recv_pending = true;
    }
    /* Wait for a message, or for the end of the stream and its status. */
    while (!(s->eos && cs->status_done)) {
        bool ok;
        void *tag = next_event(cs, &ok);
        if (!tag) {
            s->abandoned = true;
            set_error(err, TAAS_CLIENT_UNAVAILABLE,
                      "the call did not complete after it was cancelled");
            return TAAS_CLIENT_UNAVAILABLE;
        }
        if (note_completion(cs, tag)) {
            if (cs->recv) {
                grpc_byte_buffer *bb = cs->recv;
                cs->recv = NULL;
                if (take_message(bb, msg, len)) {
                    set_error(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "cannot read a message");
                    return TAAS_CLIENT_RESOURCE_EXHAUSTED;
                }
                return 0;
            }
            s->eos = true;
        }
    }
    if (cs->status != GRPC_STATUS_OK) {
        details_keep(&cs->trailing_md);
        status_error(err, cs->status, cs->details);
        return (int)cs->status;
    }
    return 0;
}

void rpc_stream_close(rpc_stream *s)
{
    if (!s)
        return;
    call_state *cs = s->cs;
    if (!s->abandoned) {
        if (!cs->status_done)
            cancel_call(cs, "closed by the client");
        while (cs->outstanding > 0) {
            bool ok;
            void *tag = next_event(cs, &ok);
            if (!tag) {
                s->abandoned = true;
                break;
            }
            note_completion(cs, tag);
        }
    }
    if (!s->abandoned)
        free_state(cs);
    free(s);
}
