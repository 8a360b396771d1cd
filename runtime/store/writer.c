/*
 * runtime/store/writer.c - the group-commit writer.
 *
 * Method. Callers append operations to one queue (an intrusive list through
 * op->next, under a mutex). A single thread takes everything queued, up to
 * max_batch, hands it to the backend's apply() as one transaction, and then
 * runs each operation's callback in queue order. The thread never sleeps to
 * wait for more work: while one commit's fsync runs, new operations pile up
 * in the queue and become the next batch, so the batch size follows the load
 * by itself (one op per commit when idle, hundreds under pressure) and no
 * latency is added when the system is quiet.
 *
 * Callbacks run on the writer thread and must be short; they may enqueue
 * further operations (the queue lock is not held while they run).
 */
#include "metrics/metrics.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/fault.h"
#include "util/trace.h"
#include "util/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of the calling thread, microseconds (the writer's own cost). */
static uint64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct taas_writer {
    taas_store *store;
    int max_batch;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    taas_store_op *head, *tail;
    bool stopping;
    taas_store_op **batch;
    /* A batch is being applied, by the thread or inline by a caller (only
     * ever one at a time: the store's apply() is not reentrant). */
    bool busy;
    size_t last_n;        /* the last batch's size */
    uint64_t last_end_us; /* and when its callbacks ended */
    const char **trace_ids; /* with tracing on: the batch's task ids */
    taas_writer_stats stats; /* under mu */
};

/* The task id an operation is about, for the trace: inserts only (the
 * submit path is what bench/trace breaks down). */
static const char *trace_id(const taas_store_op *op)
{
    return op->kind == TAAS_OP_INSERT && op->u.insert.task ? op->u.insert.task->id : NULL;
}

static void trace_batch_start(taas_writer *w, taas_store_op **ops, size_t n)
{
    if (!w->trace_ids)
        w->trace_ids = calloc((size_t)w->max_batch, sizeof(*w->trace_ids));
    if (!w->trace_ids)
        return;
    for (size_t i = 0; i < n; i++)
        w->trace_ids[i] = trace_id(ops[i]);
    taas_trace_set_batch(w->trace_ids, (int)n);
    taas_trace_batch("writer.batch");
}

/* Apply ops[0..n-1] as one transaction and run their callbacks, on this
 * thread; w->busy is set (by the caller) for the whole time. */
/* The writer whose batch this thread is applying (for the store's hooks). */
static _Thread_local taas_writer *tl_applying;

bool taas_writer__ops_waiting(void)
{
    taas_writer *w = tl_applying;
    if (!w)
        return false;
    pthread_mutex_lock(&w->mu);
    bool waiting = w->head != NULL;
    pthread_mutex_unlock(&w->mu);
    return waiting;
}

static void run_batch(taas_writer *w, taas_store_op **ops, size_t n)
{
    if (taas_trace_on)
        trace_batch_start(w, ops, n);
    uint64_t t0 = (uint64_t)taas_mono_us(), c0 = thread_cpu_us();
    tl_applying = w;
    int rc = w->store->apply(w->store, ops, n);
    tl_applying = NULL;
    uint64_t t1 = (uint64_t)taas_mono_us(), c1 = thread_cpu_us();
    taas_metrics_commit(n, (int64_t)(t1 - t0));
    taas_trace_batch("writer.applied");
    taas_trace_set_batch(NULL, 0);

    pthread_mutex_lock(&w->mu);
    w->stats.batches++;
    w->stats.ops += n;
    w->stats.apply_us += t1 - t0;
    w->stats.apply_cpu_us += c1 - c0;
    if (rc != 0)
        w->stats.failed++;
    if ((int)n > w->stats.max_batch_seen)
        w->stats.max_batch_seen = (int)n;
    pthread_mutex_unlock(&w->mu);

    for (size_t i = 0; i < n; i++) {
        taas_store_op *op = ops[i];
        if (rc == 0) {
            TAAS_FAULT_POINT_OP("writer.committed", op->kind);
            /* A COMMIT whose reply was lost (the connection dropped after
             * the database made it durable): the op committed, its owner is
             * told it failed. Only start marks and progress, for the test
             * of a start mark in doubt (tests/crash/mark_in_doubt.py). */
            if (op->kind == TAAS_OP_PROGRESS && TAAS_FAULT_SKIP("writer.reply_lost"))
                op->result = TAAS_STORE_EIO;
        }
        taas_trace("writer.done", op, trace_id(op));
        if (op->done)
            op->done(op, op->done_arg);
    }
    uint64_t t2 = (uint64_t)taas_mono_us();
    pthread_mutex_lock(&w->mu);
    w->stats.callback_us += t2 - t1;
    w->stats.busy_us += t2 - t0;
    w->last_n = n;
    w->last_end_us = t2;
    w->busy = false;
    /* The thread may wait for an inline batch: for what was queued
     * meanwhile, or to stop. */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    taas_writer *w = arg;
    pthread_setname_np(pthread_self(), "taas-writer"); /* for top, perf and gdb */
    for (;;) {
        pthread_mutex_lock(&w->mu);
        /* busy: a caller is applying a batch inline; wait for it. */
        while (w->busy || (!w->head && !w->stopping))
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head) { /* stopping and drained */
            pthread_mutex_unlock(&w->mu);
            break;
        }
        size_t n = 0;
        while (w->head && n < (size_t)w->max_batch) {
            taas_store_op *op = w->head;
            w->head = op->next;
            op->next = NULL;
            w->batch[n++] = op;
        }
        if (!w->head)
            w->tail = NULL;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        run_batch(w, w->batch, n);
    }
    return NULL;
}

taas_writer *taas_writer_start(taas_store *s, const taas_writer_opts *opts)
{
    if (!s)
        return NULL;
    taas_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->store = s;
    w->max_batch = opts && opts->max_batch > 0 ? opts->max_batch : 256;
    w->batch = calloc((size_t)w->max_batch, sizeof(*w->batch));
    if (!w->batch) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->batch);
        free(w);
        return NULL;
    }
    return w;
}

/* Set by taas_writer_allow_inline() for this thread's next enqueue only. */
static _Thread_local bool tl_inline;

void taas_writer_allow_inline(bool on)
{
    tl_inline = on;
}

/* A writer is idle enough to apply a caller's op inline when nothing is
 * queued or being applied, and the load is low: the last batch held one op
 * and ended at least INLINE_IDLE_US ago. Under load (C = 64) batches hold
 * many ops and follow each other closely, so the writer thread keeps
 * grouping them and the caller (the gRPC thread) is never held by a
 * commit's fsync while other requests wait to be read. */
#define INLINE_IDLE_US 500

int taas_writer_enqueue(taas_writer *w, taas_store_op *op, taas_op_done_fn done, void *arg)
{
    bool may_inline = tl_inline;
    tl_inline = false;
    if (!w || !op)
        return TAAS_STORE_EINVAL;
    op->done = done;
    op->done_arg = arg;
    op->next = NULL;
    taas_trace("writer.enqueue", op, trace_id(op));
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return TAAS_STORE_EINVAL;
    }
    if (may_inline && !w->busy && !w->head && w->last_n <= 1 &&
        (uint64_t)taas_mono_us() - w->last_end_us >= INLINE_IDLE_US) {
        /* Commit it here: no hop to the writer thread and back. */
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        taas_store_op *one[1] = {op};
        run_batch(w, one, 1);
        return 0;
    }
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void taas_writer_get_stats(taas_writer *w, taas_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

void taas_writer_stop(taas_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->batch);
    free(w->trace_ids);
    free(w);
}
