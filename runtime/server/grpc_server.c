/*
 * runtime/server/grpc_server.c - the only file in TaaS that talks to the
 * gRPC C core. Everything else sees taas_call (call.h) and taas_server
 * (server.h).
 *
 * Method. One completion queue, polled by one thread (one poller beat two
 * on small machines, and keeps completions of one call in order). Each
 * registered method keeps REQUESTS_PER_METHOD grpc_server_request_registered_call
 * pending, and a generic grpc_server_request_call is always pending too, so
 * that a call to a method we do not serve is answered UNIMPLEMENTED instead
 * of hanging until its deadline. Every request is re-posted as soon as it
 * yields a call, before the call is handled.
 *
 * Per call there is one heap struct (taas_call) holding every out-pointer
 * gRPC writes asynchronously, four distinct tags (new, send, close, final),
 * a mutex that serializes start_batch on that call (answers come from other
 * threads, e.g. the store's writer) and a reference count: one reference per
 * batch in flight plus those the handlers take.
 *
 * Batches.
 *   unary:  {SEND_INITIAL_METADATA, SEND_MESSAGE?, SEND_STATUS, RECV_CLOSE_ON_SERVER}
 *   stream: {RECV_CLOSE_ON_SERVER} on arrival (how we learn of cancellation
 *           and deadlines), then one {SEND_INITIAL_METADATA?, SEND_MESSAGE}
 *           at a time from a queue, then {SEND_INITIAL_METADATA?, SEND_STATUS}.
 *
 * Shutdown follows the order the C core needs: shutdown_and_notify (stop
 * accepting; pending requests come back failed and are freed), then, after
 * the layers above drained, cancel_all_calls, wait for the notify tag,
 * grpc_server_destroy, completion-queue shutdown, drain until
 * GRPC_QUEUE_SHUTDOWN, destroy the queue.
 */
#include "server/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "server/absl_mutex.h"
#include "util/log.h"
#include "util/trace.h"
#include "util/utf8.h"
#include "util/util.h"

#define REQUESTS_PER_METHOD 8
#define GENERIC_REQUESTS 4
#define DEFAULT_MAX_MESSAGE ((size_t)4 << 20)

enum tag_kind { TAG_NEW = 1, TAG_SEND, TAG_CLOSE, TAG_FINAL, TAG_SHUTDOWN };

struct tag {
    enum tag_kind kind;
    taas_call *call;
};

struct qmsg {
    struct qmsg *next;
    grpc_byte_buffer *bb;
    unsigned flags;
};

struct taas_call {
    taas_call_head head; /* first, as in every call (call.h); no ops here */
    struct tag t_new, t_send, t_close, t_final;
    taas_server *srv;
    const taas_method *method; /* NULL: generic (unknown method) */
    int method_index;          /* -1 for generic */
    atomic_int refs;
    pthread_mutex_t mu;

    /* Written by gRPC. */
    grpc_call *gc;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details;
    grpc_byte_buffer *payload;
    int close_cancelled;

    grpc_slice req;
    bool has_req;
    char *generic_name; /* gpr_malloc'd, generic calls */
    char *peer;         /* gpr_malloc'd */
    int64_t start_us;

    /* Answer state, under mu. */
    bool md_sent;
    bool send_inflight;
    bool finish_wanted;
    bool final_started;
    bool close_started;
    struct qmsg *qhead, *qtail;
    taas_status fin_status;
    char *fin_msg;
    /* grpc-status-details-bin (a packed google.rpc.Status), malloc'd; the
     * trailer's slices point into it until the call is freed. */
    uint8_t *fin_details;
    size_t fin_details_len;
    taas_status fin_details_status; /* sent only with this status */
    grpc_metadata fin_trailer;
    taas_status final_status;
};

struct taas_server {
    taas_server_opts o;
    grpc_server *gs;
    grpc_completion_queue *cq;
    void **reg; /* registered method handles, one per o.methods[i] */
    pthread_t thr;
    bool thr_started;
    char addr[300];
    struct tag t_shutdown;
    atomic_bool accepting;
    atomic_bool stop_called;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool notified;
    bool thread_done;
};

/* ------------------------------------------------------------------------ */
/* Global */

void taas_server_global_init(void)
{
    taas_server_absl_deadlock_detection_off();
    grpc_init();
}

void taas_server_global_shutdown(void)
{
    grpc_shutdown();
}

const char *taas_server_grpc_version(void)
{
    return grpc_version_string();
}

/* ------------------------------------------------------------------------ */
/* Call state */

static taas_call *call_new(taas_server *s, int method_index)
{
    taas_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->method_index = method_index;
    c->method = method_index >= 0 ? &s->o.methods[method_index] : NULL;
    c->t_new = (struct tag){TAG_NEW, c};
    c->t_send = (struct tag){TAG_SEND, c};
    c->t_close = (struct tag){TAG_CLOSE, c};
    c->t_final = (struct tag){TAG_FINAL, c};
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    taas_call_head_init(&c->head, NULL, &c->mu);
    grpc_metadata_array_init(&c->md);
    if (method_index < 0)
        grpc_call_details_init(&c->details);
    c->fin_status = TAAS_ST_OK;
    c->final_status = TAAS_ST_UNKNOWN;
    return c;
}

static void queue_free(struct qmsg *m)
{
    while (m) {
        struct qmsg *next = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
        m = next;
    }
}

static void call_free(taas_call *c)
{
    taas_call_head_clear(&c->head);
    if (c->gc)
        grpc_call_unref(c->gc);
    grpc_metadata_array_destroy(&c->md);
    if (c->method_index < 0)
        grpc_call_details_destroy(&c->details);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->has_req)
        grpc_slice_unref(c->req);
    gpr_free(c->generic_name);
    gpr_free(c->peer);
    free(c->fin_details);
    queue_free(c->qhead);
    free(c->fin_msg);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void taas_call_ref(taas_call *c)
{
    if (c->head.ops) {
        c->head.ops->ref(c);
        return;
    }
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void taas_call_unref(taas_call *c)
{
    if (c->head.ops) {
        c->head.ops->unref(c);
        return;
    }
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        call_free(c);
}

const char *taas_call_method_name(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->method_name(c);
    if (c->method)
        return c->method->name;
    return c->generic_name ? c->generic_name : "";
}

const taas_method *taas_call_method(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->method(c);
    return c->method;
}

const uint8_t *taas_call_request(const taas_call *c, size_t *len)
{
    if (c->head.ops)
        return c->head.ops->request(c, len);
    if (!c->has_req) {
        *len = 0;
        return (const uint8_t *)"";
    }
    *len = GRPC_SLICE_LENGTH(c->req);
    return GRPC_SLICE_START_PTR(c->req);
}

bool taas_call_has_request(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->has_request(c);
    return c->has_req;
}

const char *taas_call_peer(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->peer(c);
    return c->peer ? c->peer : "unknown";
}

const char *taas_call_metadata(const taas_call *c, const char *key, size_t *len)
{
    if (c->head.ops)
        return c->head.ops->metadata(c, key, len);
    size_t klen = strlen(key);
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_slice *k = &c->md.metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == klen && memcmp(GRPC_SLICE_START_PTR(*k), key, klen) == 0) {
            const grpc_slice *v = &c->md.metadata[i].value;
            *len = GRPC_SLICE_LENGTH(*v);
            return (const char *)GRPC_SLICE_START_PTR(*v);
        }
    }
    *len = 0;
    return NULL;
}

int64_t taas_call_deadline_left_ms(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->deadline_left_ms(c);
    gpr_timespec d = c->deadline;
    if (d.clock_type == GPR_TIMESPAN || gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return -1;
    gpr_timespec m = gpr_convert_clock_type(d, GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(m, gpr_now(GPR_CLOCK_MONOTONIC));
    int64_t ms = (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
    return ms < 0 ? 0 : ms;
}

int64_t taas_call_start_us(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->start_us(c);
    return c->start_us;
}

/* The head every call starts with, whatever its transport (call.h). */
static taas_call_head *head_of(const taas_call *c)
{
    return (taas_call_head *)(void *)c;
}

void taas_call_head_init(taas_call_head *h, const taas_call_ops *ops, pthread_mutex_t *mu)
{
    h->ops = ops;
    h->mu = mu;
    atomic_init(&h->cancelled, false);
}

void taas_call_head_clear(taas_call_head *h)
{
    if (h->destroy)
        h->destroy(h->data);
    h->destroy = NULL;
    h->data = NULL;
    free(h->principal);
    h->principal = NULL;
}

taas_call_hook_fn taas_call_head_cancel_locked(taas_call_head *h, void **arg)
{
    atomic_store(&h->cancelled, true);
    taas_call_hook_fn fn = h->on_cancel;
    *arg = h->on_cancel_arg;
    h->on_cancel = NULL;
    return fn;
}

bool taas_call_cancelled(const taas_call *c)
{
    return atomic_load(&head_of(c)->cancelled);
}

void taas_call_set_principal(taas_call *c, const char *principal, unsigned scopes)
{
    taas_call_head *h = head_of(c);
    free(h->principal);
    h->principal = principal ? strdup(principal) : NULL;
    h->scopes = h->principal ? scopes : 0;
}

const char *taas_call_principal(const taas_call *c)
{
    return head_of(c)->principal;
}

unsigned taas_call_scopes(const taas_call *c)
{
    return head_of(c)->scopes;
}

taas_status taas_call_final_status(const taas_call *c)
{
    if (c->head.ops)
        return c->head.ops->final_status(c);
    return c->final_status;
}

void taas_call_set_data(taas_call *c, void *data, void (*destroy)(void *))
{
    taas_call_head *h = head_of(c);
    h->data = data;
    h->destroy = destroy;
}

void *taas_call_data(const taas_call *c)
{
    return head_of(c)->data;
}

void taas_call_on_cancel(taas_call *c, taas_call_hook_fn fn, void *arg)
{
    taas_call_head *h = head_of(c);
    pthread_mutex_lock(h->mu);
    /* Cancelled before the hook was set: the cancel has come and gone, so
     * run the hook here, once. */
    bool fire = atomic_load(&h->cancelled);
    if (!fire) {
        h->on_cancel = fn;
        h->on_cancel_arg = arg;
    }
    pthread_mutex_unlock(h->mu);
    if (fire && fn)
        fn(c, arg);
}

void taas_call_on_sent(taas_call *c, taas_call_hook_fn fn, void *arg)
{
    taas_call_head *h = head_of(c);
    pthread_mutex_lock(h->mu);
    h->on_sent = fn;
    h->on_sent_arg = arg;
    pthread_mutex_unlock(h->mu);
}

/* ------------------------------------------------------------------------ */
/* Batches. Each start_* runs with c->mu held. */

static grpc_byte_buffer *bb_from_malloc(void *buf, size_t len)
{
    grpc_slice sl = len ? grpc_slice_new(buf, len, free) : grpc_empty_slice();
    if (!len)
        free(buf);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl); /* the buffer took its own reference */
    return bb;
}

static void start_batch_locked(taas_call *c, grpc_op *ops, size_t n, struct tag *t)
{
    taas_call_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, t, NULL);
    if (e != GRPC_CALL_OK) {
        /* A programming error on our side; the call cannot be answered. */
        taas_log(TAAS_LOG_ERROR, "server.batch_error", "method=%s error=%d kind=%d",
                 taas_call_method_name(c), (int)e, (int)t->kind);
        grpc_call_cancel(c->gc, NULL);
        /* Not the last reference: the caller holds one. */
        atomic_fetch_sub(&c->refs, 1);
    }
}

static void start_send_locked(taas_call *c, grpc_byte_buffer *bb)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->md_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    c->send_inflight = true;
    start_batch_locked(c, ops, n, &c->t_send);
    grpc_byte_buffer_destroy(bb); /* the batch owns the slices now */
}

/* Final batch: optional message, the status, and for unary calls the close. */
static void start_final_locked(taas_call *c, grpc_byte_buffer *bb)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    c->final_started = true;
    if (!c->md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->md_sent = true;
    }
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = bb;
        n++;
    }
    grpc_slice details = grpc_slice_from_static_string(c->fin_msg ? c->fin_msg : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)c->fin_status;
    ops[n].data.send_status_from_server.status_details = c->fin_msg ? &details : NULL;
    if (c->fin_details && c->fin_status == c->fin_details_status) {
        /* A -bin key: gRPC base64-encodes the value on the wire. */
        c->fin_trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
        c->fin_trailer.value = grpc_slice_from_static_buffer(c->fin_details, c->fin_details_len);
        ops[n].data.send_status_from_server.trailing_metadata_count = 1;
        ops[n].data.send_status_from_server.trailing_metadata = &c->fin_trailer;
    }
    n++;
    if (!c->close_started) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &c->close_cancelled;
        n++;
        c->close_started = true;
    }
    start_batch_locked(c, ops, n, &c->t_final);
    if (bb)
        grpc_byte_buffer_destroy(bb);
}

void taas_call_reply_details(taas_call *c, taas_status st, const char *message, void *details,
                             size_t len)
{
    if (c->head.ops) {
        c->head.ops->reply_details(c, st, message, details, len);
        return;
    }
    pthread_mutex_lock(&c->mu);
    bool first = !c->finish_wanted && st != TAAS_ST_OK && details && len;
    if (first) {
        c->fin_details = details;
        c->fin_details_len = len;
        c->fin_details_status = st;
    }
    pthread_mutex_unlock(&c->mu);
    if (!first)
        free(details);
    taas_call_reply(c, st, message, NULL, 0);
}

void taas_call_reply(taas_call *c, taas_status st, const char *message, void *buf, size_t len)
{
    if (c->head.ops) {
        c->head.ops->reply(c, st, message, buf, len);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->finish_wanted) {
        pthread_mutex_unlock(&c->mu);
        free(buf);
        return;
    }
    c->finish_wanted = true;
    c->fin_status = st;
    c->fin_msg = message ? strdup(message) : NULL;
    /* Status messages quote what clients sent and may have been cut at a
     * byte count; clients decode them as UTF-8, so make them valid. */
    if (c->fin_msg)
        taas_utf8_fix(c->fin_msg);
    grpc_byte_buffer *bb = NULL;
    if (buf && st == TAAS_ST_OK)
        bb = bb_from_malloc(buf, len);
    else
        free(buf);
    if (c->send_inflight || c->qhead) {
        /* A stream with messages still going out: queue the last one and
         * let the send completion start the final batch. */
        if (bb) {
            struct qmsg *m = calloc(1, sizeof *m);
            if (m) {
                m->bb = bb;
                if (c->qtail)
                    c->qtail->next = m;
                else
                    c->qhead = m;
                c->qtail = m;
            } else {
                grpc_byte_buffer_destroy(bb);
            }
        }
        pthread_mutex_unlock(&c->mu);
        return;
    }
    start_final_locked(c, bb);
    pthread_mutex_unlock(&c->mu);
}

int taas_call_send(taas_call *c, void *buf, size_t len, unsigned flags)
{
    if (c->head.ops)
        return c->head.ops->send(c, buf, len, flags);
    pthread_mutex_lock(&c->mu);
    if (c->finish_wanted || atomic_load(&c->head.cancelled) || !c->gc) {
        pthread_mutex_unlock(&c->mu);
        free(buf);
        return -1;
    }
    grpc_byte_buffer *bb = bb_from_malloc(buf, len);
    if (!c->send_inflight) {
        start_send_locked(c, bb);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    if ((flags & TAAS_SEND_COALESCE) && c->qtail && (c->qtail->flags & TAAS_SEND_COALESCE)) {
        grpc_byte_buffer_destroy(c->qtail->bb);
        c->qtail->bb = bb;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    struct qmsg *m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&c->mu);
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    m->bb = bb;
    m->flags = flags;
    if (c->qtail)
        c->qtail->next = m;
    else
        c->qhead = m;
    c->qtail = m;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void taas_call_finish(taas_call *c, taas_status st, const char *message)
{
    taas_call_reply(c, st, message, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Completions (server thread) */

static void on_send_done(taas_call *c, bool ok)
{
    pthread_mutex_lock(&c->mu);
    c->send_inflight = false;
    if (!ok) {
        /* The client is gone: nothing queued will be delivered. */
        queue_free(c->qhead);
        c->qhead = c->qtail = NULL;
    }
    if (c->qhead) {
        struct qmsg *m = c->qhead;
        c->qhead = m->next;
        if (!c->qhead)
            c->qtail = NULL;
        grpc_byte_buffer *bb = m->bb;
        free(m);
        if (!c->qhead && c->finish_wanted && !c->final_started)
            start_final_locked(c, bb); /* last message rides with the status */
        else
            start_send_locked(c, bb);
    } else if (c->finish_wanted && !c->final_started) {
        start_final_locked(c, NULL);
    }
    taas_call_hook_fn fn = c->head.on_sent;
    void *arg = c->head.on_sent_arg;
    pthread_mutex_unlock(&c->mu);
    if (fn)
        fn(c, arg);
}

static void on_close_done(taas_call *c)
{
    if (!c->close_cancelled)
        return;
    pthread_mutex_lock(&c->mu);
    void *arg;
    taas_call_hook_fn fn = taas_call_head_cancel_locked(&c->head, &arg);
    queue_free(c->qhead);
    c->qhead = c->qtail = NULL;
    pthread_mutex_unlock(&c->mu);
    if (fn)
        fn(c, arg);
}

static void on_final_done(taas_call *c, bool ok)
{
    taas_server *s = c->srv;
    if (c->close_cancelled)
        atomic_store(&c->head.cancelled, true);
    if (!ok || (c->close_cancelled && c->method && c->method->kind == TAAS_CALL_UNARY))
        c->final_status = TAAS_ST_CANCELLED;
    else
        c->final_status = c->fin_status;
    if (s->o.done)
        s->o.done(s->o.arg, c, c->final_status, taas_mono_us() - c->start_us);
}

static void post_request(taas_server *s, int method_index)
{
    taas_call *c = call_new(s, method_index);
    if (!c) {
        taas_log(TAAS_LOG_ERROR, "server.oom", "what=call");
        return;
    }
    grpc_call_error e;
    if (method_index >= 0) {
        e = grpc_server_request_registered_call(s->gs, s->reg[method_index], &c->gc, &c->deadline,
                                                &c->md, &c->payload, s->cq, s->cq, &c->t_new);
    } else {
        e = grpc_server_request_call(s->gs, &c->gc, &c->details, &c->md, s->cq, s->cq, &c->t_new);
    }
    if (e != GRPC_CALL_OK) {
        if (atomic_load(&s->accepting))
            taas_log(TAAS_LOG_ERROR, "server.request_error", "error=%d", (int)e);
        call_free(c);
    }
}

static void on_new_call(taas_call *c, bool ok)
{
    taas_trace("call.new", c, NULL);
    taas_server *s = c->srv;
    if (!ok) {
        /* A pending request given back at shutdown. */
        call_free(c);
        return;
    }
    if (atomic_load(&s->accepting))
        post_request(s, c->method_index);

    c->start_us = taas_mono_us();
    c->peer = grpc_call_get_peer(c->gc);
    if (c->method_index < 0) {
        c->generic_name = grpc_slice_to_c_string(c->details.method);
        c->deadline = c->details.deadline;
    }
    if (c->payload) {
        grpc_byte_buffer_reader rd;
        if (grpc_byte_buffer_reader_init(&rd, c->payload)) {
            c->req = grpc_byte_buffer_reader_readall(&rd);
            c->has_req = true;
            grpc_byte_buffer_reader_destroy(&rd);
        }
        grpc_byte_buffer_destroy(c->payload);
        c->payload = NULL;
    }
    if (c->method && c->method->kind == TAAS_CALL_SERVER_STREAM) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->close_cancelled;
        pthread_mutex_lock(&c->mu);
        c->close_started = true;
        start_batch_locked(c, &op, 1, &c->t_close);
        pthread_mutex_unlock(&c->mu);
    }
    s->o.dispatch(s->o.arg, c);
    taas_call_unref(c); /* the request's reference */
}

static void *cq_thread(void *arg)
{
    taas_server *s = arg;
    pthread_setname_np(pthread_self(), "taas-grpc"); /* per-thread CPU in top, perf, /proc */
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        struct tag *t = ev.tag;
        bool ok = ev.success != 0;
        switch (t->kind) {
        case TAG_NEW:
            on_new_call(t->call, ok);
            break;
        case TAG_SEND:
            on_send_done(t->call, ok);
            taas_call_unref(t->call);
            break;
        case TAG_CLOSE:
            on_close_done(t->call);
            taas_call_unref(t->call);
            break;
        case TAG_FINAL:
            on_final_done(t->call, ok);
            taas_call_unref(t->call);
            break;
        case TAG_SHUTDOWN:
            pthread_mutex_lock(&s->mu);
            s->notified = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            break;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->thread_done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Server */

/* Append an integer channel argument: v > 0 as given, 0 = dflt (skipped when
 * dflt is 0 too), < 0 = leave gRPC's default. */
static void add_int_arg(grpc_arg *args, size_t *n, const char *key, int v, int dflt)
{
    if (v == 0)
        v = dflt;
    if (v <= 0)
        return;
    args[*n].type = GRPC_ARG_INTEGER;
    args[*n].key = (char *)key;
    args[*n].value.integer = v;
    (*n)++;
}

/* Split "host:port" / "[v6]:port" and rebuild it with the bound port. */
static void format_bound(char *out, size_t cap, const char *listen, int port)
{
    /* A socket path has no port: gRPC answers 1 for it, which is no port. */
    if (!strncmp(listen, "unix:", 5) || !strncmp(listen, "unix-abstract:", 14)) {
        snprintf(out, cap, "%s", listen);
        return;
    }
    const char *colon = strrchr(listen, ':');
    int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(out, cap, "%.*s:%d", hostlen, listen, port);
}

taas_server *taas_server_start(const taas_server_opts *opts, char *err, size_t errlen)
{
    taas_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->o = *opts;
    if (!s->o.max_message_bytes)
        s->o.max_message_bytes = DEFAULT_MAX_MESSAGE;
    if (s->o.max_message_bytes > (size_t)INT32_MAX)
        s->o.max_message_bytes = (size_t)INT32_MAX;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->t_shutdown = (struct tag){TAG_SHUTDOWN, NULL};
    atomic_init(&s->accepting, false);
    atomic_init(&s->stop_called, false);

    grpc_arg args[12];
    memset(args, 0, sizeof args);
    size_t nargs = 0;
    add_int_arg(args, &nargs, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)s->o.max_message_bytes, 0);
    add_int_arg(args, &nargs, GRPC_ARG_MAX_CONCURRENT_STREAMS, s->o.max_concurrent_streams,
                TAAS_SERVER_DEFAULT_MAX_STREAMS);
    add_int_arg(args, &nargs, GRPC_ARG_MAX_METADATA_SIZE, s->o.max_metadata_bytes,
                TAAS_SERVER_DEFAULT_MAX_METADATA);
    add_int_arg(args, &nargs, GRPC_ARG_KEEPALIVE_TIME_MS, s->o.keepalive_time_ms,
                TAAS_SERVER_DEFAULT_KEEPALIVE_MS);
    add_int_arg(args, &nargs, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, s->o.keepalive_timeout_ms,
                TAAS_SERVER_DEFAULT_KEEPALIVE_TIMEOUT_MS);
    add_int_arg(args, &nargs, GRPC_ARG_HTTP2_MAX_PING_STRIKES, s->o.max_ping_strikes,
                TAAS_SERVER_DEFAULT_PING_STRIKES);
    add_int_arg(args, &nargs, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                s->o.min_ping_interval_ms, TAAS_SERVER_DEFAULT_MIN_PING_MS);
    /* Ping idle connections too, so a vanished peer does not hold a descriptor forever. */
    add_int_arg(args, &nargs, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1, 0);
    if (s->o.max_connection_idle_ms > 0)
        add_int_arg(args, &nargs, GRPC_ARG_MAX_CONNECTION_IDLE_MS, s->o.max_connection_idle_ms, 0);
    /* No BDP pings: they size flow-control windows for bulk transfers;
     * requests and replies here are small, and each probe is a PING the
     * peer answers, on the same polling thread as the calls. (Not the
     * minimal stack: its filters enforce message sizes, deadlines and
     * compression, which clients may rely on.) */
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
    args[nargs].value.integer = 0;
    nargs++;
    grpc_channel_args chargs = {nargs, args};

    s->cq = grpc_completion_queue_create_for_next(NULL);
    s->gs = grpc_server_create(&chargs, NULL);
    grpc_server_register_completion_queue(s->gs, s->cq, NULL);
    s->reg = calloc(s->o.n_methods ? s->o.n_methods : 1, sizeof *s->reg);
    for (size_t i = 0; s->reg && i < s->o.n_methods; i++) {
        s->reg[i] = grpc_server_register_method(s->gs, s->o.methods[i].name, NULL,
                                                GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (!s->reg[i]) {
            snprintf(err, errlen, "cannot register method %s", s->o.methods[i].name);
            goto fail;
        }
    }
    grpc_server_credentials *creds = NULL;
    if (s->o.tls_cert_pem || s->o.tls_key_pem) {
        if (!s->o.tls_cert_pem || !s->o.tls_key_pem) {
            snprintf(err, errlen, "TLS needs both a certificate and its key");
            goto fail;
        }
        grpc_ssl_pem_key_cert_pair pair = {s->o.tls_key_pem, s->o.tls_cert_pem};
        creds = grpc_ssl_server_credentials_create_ex(
            s->o.tls_client_ca_pem, &pair, 1,
            s->o.tls_client_ca_pem ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (!creds) {
            snprintf(err, errlen, "the TLS certificate, key or client CA was refused");
            goto fail;
        }
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    int port = grpc_server_add_http2_port(s->gs, s->o.listen, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid%s)", s->o.listen,
                 s->o.tls_cert_pem ? ", or a TLS certificate/key that does not load" : "");
        goto fail;
    }
    format_bound(s->addr, sizeof s->addr, s->o.listen, port);

    grpc_server_start(s->gs);
    atomic_store(&s->accepting, true);
    for (size_t i = 0; i < s->o.n_methods; i++)
        for (int k = 0; k < REQUESTS_PER_METHOD; k++)
            post_request(s, (int)i);
    for (int k = 0; k < GENERIC_REQUESTS; k++)
        post_request(s, -1);
    if (pthread_create(&s->thr, NULL, cq_thread, s) != 0) {
        snprintf(err, errlen, "cannot start the server thread");
        atomic_store(&s->accepting, false);
        taas_server_stop_accepting(s);
        grpc_server_cancel_all_calls(s->gs);
        /* Drain here on this thread instead. */
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            if (ev.type != GRPC_OP_COMPLETE)
                break;
            struct tag *t = ev.tag;
            if (t->kind == TAG_NEW)
                call_free(t->call);
            else if (t->kind == TAG_SHUTDOWN)
                break;
        }
        goto fail;
    }
    s->thr_started = true;
    return s;

fail:
    grpc_server_destroy(s->gs);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
    free(s->reg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return NULL;
}

const char *taas_server_address(const taas_server *s)
{
    return s->addr;
}

void taas_server_stop_accepting(taas_server *s)
{
    if (atomic_exchange(&s->stop_called, true))
        return;
    atomic_store(&s->accepting, false);
    grpc_server_shutdown_and_notify(s->gs, s->cq, &s->t_shutdown);
}

/* Wait for `flag` (under s->mu) until the monotonic deadline; false on timeout. */
static bool wait_flag(taas_server *s, bool *flag, int64_t deadline_ms)
{
    pthread_mutex_lock(&s->mu);
    while (!*flag) {
        int64_t left = deadline_ms - taas_mono_ms();
        if (left <= 0)
            break;
        /* The condition variable uses CLOCK_REALTIME; wait in short steps. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step = left < 100 ? left : 100;
        ts.tv_nsec += (long)(step * 1000000);
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    bool ok = *flag;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

int taas_server_shutdown(taas_server *s, int timeout_ms)
{
    int64_t deadline = taas_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    taas_server_stop_accepting(s);
    grpc_server_cancel_all_calls(s->gs);
    if (!wait_flag(s, &s->notified, deadline)) {
        taas_log(TAAS_LOG_ERROR, "server.shutdown_timeout",
                 "waited_ms=%d what=calls still held; server not freed", timeout_ms);
        return -1;
    }
    grpc_server_destroy(s->gs);
    grpc_completion_queue_shutdown(s->cq);
    if (!wait_flag(s, &s->thread_done, deadline + 5000)) {
        taas_log(TAAS_LOG_ERROR, "server.shutdown_timeout", "what=completion queue did not drain");
        return -1;
    }
    pthread_join(s->thr, NULL);
    grpc_completion_queue_destroy(s->cq);
    free(s->reg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return 0;
}
