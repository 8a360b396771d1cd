/*
 * runtime/engine/engine.c - the task engine.
 *
 * Method. Every state change is a store operation queued on the group-commit
 * writer; the engine reacts in the operations' completion callbacks, which
 * run on the writer thread after the commit. That gives the ordering the task
 * life needs without locks across I/O:
 *
 *   submit      -> INSERT committed   -> reply to the client; wake the claimer
 *   claimer     -> CLAIM committed    -> claimed tasks go to the ready queue
 *   worker      -> runs the body      -> COMPLETE queued, worker takes the next
 *   COMPLETE committed                -> final event to watchers, job freed
 *
 * A CLAIM is only issued while workers are free, and at most one is in flight,
 * so claimed tasks never wait long in memory holding a lease. A task is
 * claimed (its lease durable) before its body starts, so a crash between the
 * two cannot run a non-idempotent body twice.
 *
 * The sweeper thread renews this node's leases (HEARTBEAT every lease/3),
 * recovers expired leases (RECOVER), enforces per-task deadlines, and wakes
 * the claimer for delayed tasks (run_after) that have become due.
 *
 * Locks: `mu` guards the ready queue, the worker slots and the claim state;
 * `watch_mu` guards the watcher table and is held while a watcher's callback
 * runs, which is what lets taas_engine_unwatch promise that the callback is
 * not running once it returns. Neither lock is held across a store call
 * except the watcher snapshot read in taas_engine_watch (see there).
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/run.h"
#include "engine_internal.h"
#include "json/json.h"
#include "taas/registry.h"
#include "util/log.h"
#include "util/fault.h"
#include "util/util.h"

#define WATCH_BUCKETS 1024
/* Tasks held here (claimed, or inserted already claimed) may exceed workers
 * + prefetch when bodies are short: as many as the workers are expected to
 * start within HOLD_US (from the bodies' running average duration), at most
 * HOLD_CAP_MAX. Slow bodies keep the prefetch bound, so one server does
 * not hold work other servers could run. */
#define HOLD_US 50000
#define HOLD_CAP_MAX 1024
/* The average before any body has run: assume slow until measured. */
#define BODY_US_INITIAL 100000
#define SWEEP_TICK_MS 100
#define RECOVER_EVERY_MS 2000

typedef struct job job;

struct taas_watch {
    taas_watch *next;        /* bucket chain */
    char id[TAAS_ID_LEN + 1];
    taas_watch_fn fn;
    void *arg;
    bool done;               /* final event delivered: no more calls */
    bool linked;             /* in the table */
};

struct job {
    job *next;               /* ready queue */
    /* On e->completing from the end of the body until its COMPLETE commits,
     * so readers still find its latest progress. */
    job *cprev, *cnext;
    bool completing;
    taas_engine *e;
    taas_task_rec rec;       /* as claimed; owns its strings */
    const taas_task_type *type;
    atomic_int stop;         /* TAAS_STOP_* */
    int64_t deadline_mono;   /* 0 = none */
    int64_t body_started_ms; /* wall clock when the body started; 0 = not yet */
    int slot;                /* worker index while running, -1 otherwise */
    /* References: the completion path holds one; a body that was abandoned
     * past its deadline (see sweeper) holds a second until it returns. */
    atomic_int refs;
    atomic_bool abandoned;

    /* Progress: the latest report, and at most one PROGRESS op in flight. */
    pthread_mutex_t pmu;
    int64_t last_store_mono;
    bool progress_inflight;
    double progress;
    char progress_msg[256];
    char progress_msg_op[256];
    taas_store_op progress_op;

    /* Completion. */
    taas_store_op complete_op;
    taas_run_result res;
    char error[1100];
};

struct taas_engine {
    taas_store *store;
    taas_writer *writer;
    taas_engine_opts opts;
    char node_id[128];

    pthread_mutex_t mu;
    pthread_cond_t work_cv;      /* workers wait for ready jobs */
    pthread_cond_t idle_cv;      /* stop() waits for workers to go idle */
    job *ready_head, *ready_tail;
    int ready_count;
    job *completing;             /* bodies done, completion not yet committed */
    job **slots;                 /* per worker: the running job or NULL */
    int busy;                    /* workers running a body */
    bool claim_inflight;
    /* Submits being inserted already claimed for this node (see
     * taas_engine_submit): they hold a slot until their insert commits. */
    int reserved;
    bool pending_hint;           /* there may be runnable tasks in the store */
    int64_t next_due_ms;         /* earliest known run_after in the future, 0 = none */
    taas_store_op claim_op;
    taas_task_rec *claim_buf;
    int claim_buf_len;
    /* The sweeper's periodic operations; reused once the previous use has committed. */
    taas_store_op hb_op, rc_op, prune_op;
    atomic_bool hb_busy, rc_busy, prune_busy;
    /* The last heartbeat failed: our leases may have lapsed in the store
     * while our bodies still run. Recovery waits until one commits again,
     * so an outage does not make us settle our own running tasks. */
    atomic_bool hb_failed;
    int64_t pruned_total;

    pthread_t *workers;
    int nworkers;
    int claim_cap;               /* workers + prefetch: most tasks held at once */
    int64_t body_avg_us;         /* running average of body durations (1/8 weight) */
    int abandoned_alive;         /* abandoned bodies whose threads still run */
    pthread_t notifier;
    bool notifier_started;
    pthread_t sweeper;
    bool sweeper_started;
    pthread_cond_t sweep_cv;
    atomic_bool accepting;       /* submits accepted */
    atomic_bool stopping;        /* no new claims */

    pthread_mutex_t watch_mu;
    taas_watch *watch[WATCH_BUCKETS];
    int nwatch;
};

/* ------------------------------------------------------------------------ */
/* helpers */

static void set_msg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t len, const char *fmt, ...)
{
    if (!msg || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

static taas_status store_status(int code)
{
    switch (code) {
    case TAAS_STORE_OK: return TAAS_ST_OK;
    case TAAS_STORE_ENOTFOUND: return TAAS_ST_NOT_FOUND;
    case TAAS_STORE_ECONFLICT: return TAAS_ST_ALREADY_EXISTS;
    case TAAS_STORE_EFULL: return TAAS_ST_RESOURCE_EXHAUSTED;
    case TAAS_STORE_EINVAL: return TAAS_ST_INVALID_ARGUMENT;
    case TAAS_STORE_EFINAL: return TAAS_ST_FAILED_PRECONDITION;
    case TAAS_STORE_ESTALE: return TAAS_ST_ABORTED;
    default: return TAAS_ST_UNAVAILABLE;
    }
}

static const char *store_message(int code)
{
    switch (code) {
    case TAAS_STORE_EFULL: return "the task store is full (disk or quota); nothing was stored";
    case TAAS_STORE_EBUSY: return "the task store is busy or unreachable; nothing was stored, retry";
    case TAAS_STORE_EIO: return "the task store reported an I/O error; nothing was stored, retry";
    case TAAS_STORE_ENOMEM: return "the server is out of memory; nothing was stored, retry";
    default: return taas_store_strerror(code);
    }
}

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % WATCH_BUCKETS;
}

/* ------------------------------------------------------------------------ */
/* watchers */

/* Deliver an event to every watcher of `id`; a final event ends them. */
static void notify(taas_engine *e, const char *id, int state, double progress,
                   const char *message, const taas_task_rec *final_task)
{
    taas_watch_event ev = {
        .task_id = id,
        .state = state,
        .progress = progress,
        .progress_message = message,
        .at_ms = taas_now_ms(),
        .final_task = final_task,
    };
    pthread_mutex_lock(&e->watch_mu);
    taas_watch **pp = &e->watch[bucket_of(id)];
    while (*pp) {
        taas_watch *w = *pp;
        if (strcmp(w->id, id) != 0 || w->done) {
            pp = &w->next;
            continue;
        }
        w->fn(w->arg, &ev);
        if (final_task) {
            w->done = true;
            w->linked = false;
            *pp = w->next;
            e->nwatch--;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&e->watch_mu);
}

static bool has_watchers(taas_engine *e, const char *id)
{
    bool found = false;
    pthread_mutex_lock(&e->watch_mu);
    if (e->nwatch > 0)
        for (taas_watch *w = e->watch[bucket_of(id)]; w && !found; w = w->next)
            found = strcmp(w->id, id) == 0;
    pthread_mutex_unlock(&e->watch_mu);
    return found;
}

/* Read the stored record and deliver it as the final event. */
static void notify_final_from_store(taas_engine *e, const char *id)
{
    if (!has_watchers(e, id))
        return;
    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    if (e->store->get(e->store, id, &rec) == TAAS_STORE_OK && taas_task_state_final(rec.state))
        notify(e, id, rec.state, rec.progress, rec.progress_message, &rec);
    taas_task_rec_clear(&rec);
}

/* ------------------------------------------------------------------------ */
/* claiming */

static void claim_done(taas_store_op *op, void *arg);

/* How many tasks this node may hold at once (running, ready for a worker,
 * or being inserted already claimed): workers + prefetch, or, while bodies
 * are short, as many as the workers are expected to start within HOLD_US
 * (at most HOLD_CAP_MAX). With e->mu. */
static int hold_cap_locked(const taas_engine *e)
{
    if (e->opts.prefetch == 0) /* TAAS_PREFETCH=-1: only for free workers */
        return e->claim_cap;
    int64_t fit = (int64_t)HOLD_US * e->nworkers / (e->body_avg_us > 0 ? e->body_avg_us : 1);
    if (fit <= e->claim_cap)
        return e->claim_cap;
    return fit > HOLD_CAP_MAX ? HOLD_CAP_MAX : (int)fit;
}

/* Tasks this node may still take: claim, or insert already claimed. With e->mu. */
static int free_slots_locked(const taas_engine *e)
{
    return hold_cap_locked(e) - e->busy - e->ready_count - e->reserved;
}

/* Append the chain `first` (n jobs, linked by next) to the ready queue and
 * wake the workers. With e->mu. */
static void ready_append_locked(taas_engine *e, job *first, int n)
{
    if (!first)
        return;
    if (e->ready_tail)
        e->ready_tail->next = first;
    else
        e->ready_head = first;
    job *last = first;
    while (last->next)
        last = last->next;
    e->ready_tail = last;
    e->ready_count += n;
    if (n == 1)
        pthread_cond_signal(&e->work_cv);
    else
        pthread_cond_broadcast(&e->work_cv);
}

/* Issue a CLAIM if workers are free and the store may hold runnable tasks.
 * Called with e->mu held. */
static void maybe_claim_locked(taas_engine *e)
{
    if (!e->opts.run_workers || e->claim_inflight || !e->pending_hint ||
        atomic_load(&e->stopping))
        return;
    /* Claim for the free workers plus a bounded prefetch, so one durable
     * claim feeds many bodies: a commit costs milliseconds, a no-op body
     * microseconds. */
    int free_slots = free_slots_locked(e);
    if (free_slots > e->claim_buf_len)
        free_slots = e->claim_buf_len;
    if (free_slots <= 0)
        return;
    memset(&e->claim_op, 0, sizeof e->claim_op);
    e->claim_op.kind = TAAS_OP_CLAIM;
    e->claim_op.u.claim.owner = e->node_id;
    e->claim_op.u.claim.max = free_slots;
    e->claim_op.u.claim.now_ms = taas_now_ms();
    e->claim_op.u.claim.lease_ms = e->opts.lease_ms;
    e->claim_op.u.claim.out = e->claim_buf;
    memset(e->claim_buf, 0, sizeof(taas_task_rec) * (size_t)free_slots);
    e->pending_hint = false;
    e->claim_inflight = true;
    if (taas_writer_enqueue(e->writer, &e->claim_op, claim_done, e) != 0)
        e->claim_inflight = false;
}

static void wake_claimer(taas_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->pending_hint = true;
    maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
}

static job *job_new(taas_engine *e, taas_task_rec *rec)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->e = e;
    j->rec = *rec; /* takes the strings */
    memset(rec, 0, sizeof *rec);
    j->type = taas_registry_find(j->rec.name);
    atomic_init(&j->stop, TAAS_STOP_NONE);
    atomic_init(&j->refs, 1);
    atomic_init(&j->abandoned, false);
    j->slot = -1;
    pthread_mutex_init(&j->pmu, NULL);
    return j; /* the deadline is set when the body starts */
}

static void job_free(job *j)
{
    taas_task_rec_clear(&j->rec);
    free(j->res.output);
    pthread_mutex_destroy(&j->pmu);
    free(j);
}

static void job_unref(job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        job_free(j);
}

/* e->completing list; called with e->mu held. */
static void completing_add(taas_engine *e, job *j)
{
    j->cprev = NULL;
    j->cnext = e->completing;
    if (e->completing)
        e->completing->cprev = j;
    e->completing = j;
    j->completing = true;
}

static void completing_remove(taas_engine *e, job *j)
{
    if (!j->completing)
        return;
    if (j->cprev)
        j->cprev->cnext = j->cnext;
    else
        e->completing = j->cnext;
    if (j->cnext)
        j->cnext->cprev = j->cprev;
    j->completing = false;
}

static void completing_done(taas_engine *e, job *j)
{
    pthread_mutex_lock(&e->mu);
    completing_remove(e, j);
    pthread_mutex_unlock(&e->mu);
}

/* Free a job that never reached COMPLETE, once no PROGRESS op of it is
 * still queued (the writer drains before it stops, so this ends). */
static void job_release(job *j)
{
    completing_done(j->e, j);
    for (;;) {
        pthread_mutex_lock(&j->pmu);
        bool busy = j->progress_inflight;
        pthread_mutex_unlock(&j->pmu);
        if (!busy)
            break;
        usleep(1000);
    }
    job_unref(j);
}

/* Ask the body of task `id` to stop, whether it runs here or waits here
 * for a worker (a waiting one then ends without running). */
static void stop_local(taas_engine *e, const char *id, int why)
{
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers; i++)
        if (e->slots[i] && strcmp(e->slots[i]->rec.id, id) == 0)
            atomic_store(&e->slots[i]->stop, why);
    for (job *j = e->ready_head; j; j = j->next)
        if (strcmp(j->rec.id, id) == 0)
            atomic_store(&j->stop, why);
    pthread_mutex_unlock(&e->mu);
}

static void claim_done(taas_store_op *op, void *arg)
{
    taas_engine *e = arg;
    int n = op->result == TAAS_STORE_OK ? op->u.claim.n : 0;
    if (op->result != TAAS_STORE_OK)
        taas_log(TAAS_LOG_WARN, "engine.claim_failed", "error=\"%s\"",
                 taas_store_strerror(op->result));

    job *first = NULL, **tail = &first;
    int got = 0;
    for (int i = 0; i < n; i++) {
        job *j = job_new(e, &op->u.claim.out[i]);
        if (!j)
            continue; /* its lease expires and the sweeper recovers it */
        *tail = j;
        tail = &j->next;
        got++;
    }
    for (job *j = first; j; j = j->next)
        notify(e, j->rec.id, TAAS_TASK_RUNNING, j->rec.progress, NULL, NULL);

    pthread_mutex_lock(&e->mu);
    e->claim_inflight = false;
    ready_append_locked(e, first, got);
    /* A full claim suggests more are waiting; a failed one is retried by the sweeper. */
    if (op->result == TAAS_STORE_OK && n == op->u.claim.max)
        e->pending_hint = true;
    maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------------------ */
/* running */

static void progress_done(taas_store_op *op, void *arg)
{
    job *j = arg;
    (void)op;
    pthread_mutex_lock(&j->pmu);
    j->progress_inflight = false;
    pthread_mutex_unlock(&j->pmu);
}

static void on_progress(void *arg, double fraction, const char *message)
{
    job *j = arg;
    taas_engine *e = j->e;
    int64_t now = taas_mono_ms();
    bool store_it = false;

    pthread_mutex_lock(&j->pmu);
    j->progress = fraction;
    snprintf(j->progress_msg, sizeof j->progress_msg, "%s", message ? message : "");
    if (!j->progress_inflight && !atomic_load(&j->abandoned) &&
        now - j->last_store_mono >= e->opts.progress_store_ms) {
        j->progress_inflight = true;
        j->last_store_mono = now;
        memcpy(j->progress_msg_op, j->progress_msg, sizeof j->progress_msg_op);
        memset(&j->progress_op, 0, sizeof j->progress_op);
        j->progress_op.kind = TAAS_OP_PROGRESS;
        j->progress_op.u.progress.id = j->rec.id;
        j->progress_op.u.progress.lease_token = j->rec.lease_token;
        j->progress_op.u.progress.progress = fraction;
        j->progress_op.u.progress.message = j->progress_msg_op;
        j->progress_op.u.progress.now_ms = taas_now_ms();
        store_it = true;
    }
    pthread_mutex_unlock(&j->pmu);

    if (store_it && taas_writer_enqueue(e->writer, &j->progress_op, progress_done, j) != 0) {
        pthread_mutex_lock(&j->pmu);
        j->progress_inflight = false;
        pthread_mutex_unlock(&j->pmu);
    }
    notify(e, j->rec.id, TAAS_TASK_RUNNING, fraction, message, NULL);
}

static int64_t backoff_ms(const taas_engine *e, int attempt)
{
    /* delay = min(cap, base * 2^(attempt-1)), then "equal jitter": half fixed,
     * half uniformly random, so retries of many tasks spread out. */
    int shift = attempt - 1 < 20 ? attempt - 1 : 20;
    int64_t d = (int64_t)e->opts.retry_base_ms << (shift > 0 ? shift : 0);
    if (d > e->opts.retry_cap_ms)
        d = e->opts.retry_cap_ms;
    uint32_t r;
    taas_random_bytes(&r, sizeof r);
    return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

static void complete_done(taas_store_op *op, void *arg)
{
    job *j = arg;
    taas_engine *e = j->e;
    completing_done(e, j);
    if (op->result == TAAS_STORE_OK) {
        taas_task_state st = op->u.complete.state;
        if (taas_task_state_final(st)) {
            notify_final_from_store(e, j->rec.id);
        } else {
            /* A retry: back to PENDING; the claimer may pick it up when due. */
            notify(e, j->rec.id, TAAS_TASK_PENDING, 0, NULL, NULL);
            pthread_mutex_lock(&e->mu);
            int64_t due = op->u.complete.run_after_ms;
            if (e->next_due_ms == 0 || due < e->next_due_ms)
                e->next_due_ms = due;
            pthread_mutex_unlock(&e->mu);
        }
        taas_log(TAAS_LOG_DEBUG, "task.complete", "id=%s state=%s attempt=%d", j->rec.id,
                 taas_task_state_name(st), j->rec.attempt);
    } else if (op->result == TAAS_STORE_ESTALE) {
        taas_log(TAAS_LOG_WARN, "task.fenced",
                 "id=%s attempt=%d msg=\"completion refused: this attempt lost its lease\"",
                 j->rec.id, j->rec.attempt);
    } else {
        /* The lease will expire and recovery decides (retry or interrupted). */
        taas_log(TAAS_LOG_ERROR, "task.complete_failed", "id=%s error=\"%s\"", j->rec.id,
                 taas_store_strerror(op->result));
    }
    job_unref(j);
}

/* Turn the body's outcome into a COMPLETE operation. Returns false when the
 * job should not be completed here (stopped by shutdown: RELEASE handles it). */
static bool build_completion(taas_engine *e, job *j)
{
    taas_store_op *op = &j->complete_op;
    memset(op, 0, sizeof *op);
    op->kind = TAAS_OP_COMPLETE;
    op->u.complete.id = j->rec.id;
    op->u.complete.lease_token = j->rec.lease_token;
    op->u.complete.now_ms = taas_now_ms();
    op->u.complete.started_ms = j->body_started_ms;
    taas_run_result *r = &j->res;
    switch (r->outcome) {
    case TAAS_OUTCOME_SUCCEEDED:
        op->u.complete.state = TAAS_TASK_SUCCEEDED;
        op->u.complete.output = r->output;
        op->u.complete.output_len = r->output_len;
        return true;
    case TAAS_OUTCOME_FAILED_RETRYABLE:
        snprintf(j->error, sizeof j->error, "%s", r->error);
        op->u.complete.error = j->error;
        if (j->rec.attempt < j->rec.max_attempts) {
            op->u.complete.state = TAAS_TASK_PENDING;
            op->u.complete.run_after_ms = taas_now_ms() + backoff_ms(e, j->rec.attempt);
            TAAS_FAULT_POINT("engine.retry_scheduled");
        } else {
            op->u.complete.state = TAAS_TASK_FAILED;
            if (j->rec.max_attempts > 1)
                snprintf(j->error, sizeof j->error, "%s (after %d attempts)", r->error,
                         j->rec.attempt);
        }
        return true;
    case TAAS_OUTCOME_STOPPED:
        if (r->stop_reason == TAAS_STOP_SHUTDOWN) {
            /* An idempotent task is released and runs again after the
             * restart. A non-idempotent body that had started may have done
             * part of its work: running it again could do it twice, so it
             * fails, as at-most-once requires. */
            if (j->rec.idempotent)
                return false;
            op->u.complete.state = TAAS_TASK_FAILED;
            snprintf(j->error, sizeof j->error,
                     "interrupted: the server shut down while the body ran; not retried "
                     "because the task is not idempotent");
            op->u.complete.error = j->error;
            return true;
        }
        if (r->stop_reason == TAAS_STOP_CANCEL) {
            op->u.complete.state = TAAS_TASK_CANCELLED;
            snprintf(j->error, sizeof j->error, "cancelled by a client while running");
        } else {
            op->u.complete.state = TAAS_TASK_FAILED;
            int t = j->rec.timeout_s > 0 ? j->rec.timeout_s
                    : j->type && j->type->timeout_s > 0 ? j->type->timeout_s
                                                        : e->opts.default_timeout_s;
            snprintf(j->error, sizeof j->error, "timed out after %d s", t);
        }
        op->u.complete.error = j->error;
        return true;
    default: /* permanent failures, invalid inputs or outputs */
        op->u.complete.state = TAAS_TASK_FAILED;
        snprintf(j->error, sizeof j->error, "%s", r->error);
        op->u.complete.error = j->error;
        return true;
    }
}

static void *worker_main(void *p);

/* Run the body (or record why it cannot run) into j->res. */
static void run_body(taas_engine *e, job *j)
{
    (void)e;
    if (!j->type) {
        j->res.outcome = TAAS_OUTCOME_FAILED_PERMANENT;
        snprintf(j->res.error, sizeof j->res.error,
                 "task type '%s' is not registered on this server", j->rec.name);
    } else if (atomic_load(&j->stop) != TAAS_STOP_NONE) {
        j->res.outcome = TAAS_OUTCOME_STOPPED;
        j->res.stop_reason = atomic_load(&j->stop);
    } else {
        taas_run_opts ro = {
            .task_id = j->rec.id,
            .attempt = j->rec.attempt,
            .progress = on_progress,
            .progress_arg = j,
            .stop = &j->stop,
        };
        taas_run(j->type, j->rec.input, j->rec.input_len, &ro, &j->res);
    }
}

/* Queue the COMPLETE for j's outcome; j is released by its callback. */
static void finish_job(taas_engine *e, job *j)
{
    if (!build_completion(e, j)) {
        job_release(j); /* its lease is released by taas_engine_stop */
        return;
    }
    if (taas_writer_enqueue(e->writer, &j->complete_op, complete_done, j) != 0)
        job_release(j);
}

typedef struct worker_arg {
    taas_engine *e;
    int index;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    taas_engine *e = wa->e;
    int idx = wa->index;
    free(wa);
    pthread_setname_np(pthread_self(), "taas-worker"); /* per-thread CPU in top, perf, /proc */
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->ready_head && !atomic_load(&e->stopping))
            pthread_cond_wait(&e->work_cv, &e->mu);
        if (!e->ready_head)
            break; /* stopping and nothing left to run */
        job *j = e->ready_head;
        if (atomic_load(&e->stopping)) {
            /* Claimed but never started: leave it to RELEASE. */
            e->ready_head = j->next;
            if (!e->ready_head)
                e->ready_tail = NULL;
            e->ready_count--;
            pthread_mutex_unlock(&e->mu);
            job_free(j);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        e->ready_head = j->next;
        if (!e->ready_head)
            e->ready_tail = NULL;
        e->ready_count--;
        e->busy++;
        e->slots[idx] = j;
        j->slot = idx;
        int timeout = j->rec.timeout_s > 0 ? j->rec.timeout_s
                      : j->type && j->type->timeout_s > 0 ? j->type->timeout_s
                                                          : e->opts.default_timeout_s;
        int64_t started = taas_mono_ms();
        j->deadline_mono = timeout > 0 ? started + (int64_t)timeout * 1000 : 0;
        /* Progress of a body that ends within one store interval never
         * reaches the store: its completion follows right away. */
        j->last_store_mono = started;
        j->body_started_ms = taas_now_ms();
        if (j->rec.cancel_requested)
            atomic_store(&j->stop, TAAS_STOP_CANCEL);
        pthread_mutex_unlock(&e->mu);

        int64_t t0 = taas_mono_us();
        run_body(e, j);
        int64_t took = taas_mono_us() - t0;
        TAAS_FAULT_POINT("engine.body_done");

        pthread_mutex_lock(&e->mu);
        e->body_avg_us += (took - e->body_avg_us) / 8;
        if (atomic_load(&j->abandoned)) {
            /* The sweeper gave up on this body, failed its task and put a
             * new thread in this slot: this thread only lets go and ends. */
            e->abandoned_alive--;
            pthread_mutex_unlock(&e->mu);
            job_release(j);
            return NULL;
        }
        e->slots[idx] = NULL;
        completing_add(e, j);
        e->busy--;
        maybe_claim_locked(e);
        if (e->busy == 0)
            pthread_cond_broadcast(&e->idle_cv);
        pthread_mutex_unlock(&e->mu);

        finish_job(e, j); /* j may be freed from here on */
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* sweeper: leases, recovery, deadlines, delayed tasks */

static void periodic_done(taas_store_op *op, void *arg)
{
    atomic_bool *busy = arg;
    if (op->kind == TAAS_OP_HEARTBEAT) {
        taas_engine *e = (taas_engine *)((char *)busy - offsetof(taas_engine, hb_busy));
        atomic_store(&e->hb_failed, op->result != TAAS_STORE_OK);
    }
    if (op->result != TAAS_STORE_OK)
        taas_log(TAAS_LOG_WARN, "engine.sweep_failed", "op=%s error=\"%s\"",
                 op->kind == TAAS_OP_HEARTBEAT ? "heartbeat"
                 : op->kind == TAAS_OP_PRUNE   ? "prune"
                                               : "recover",
                 taas_store_strerror(op->result));
    else if (op->kind == TAAS_OP_PRUNE && op->u.prune.deleted > 0)
        taas_log(TAAS_LOG_DEBUG, "engine.pruned", "tasks=%d", op->u.prune.deleted);
    else if (op->kind == TAAS_OP_RECOVER && (op->u.recover.retried || op->u.recover.failed))
        taas_log(TAAS_LOG_INFO, "engine.recovered", "requeued=%d failed_interrupted=%d",
                 op->u.recover.retried, op->u.recover.failed);
    atomic_store(busy, false);
}

/* Queue `op` unless its previous use is still on its way to the store. */
static void enqueue_periodic(taas_engine *e, taas_store_op *op, atomic_bool *busy)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(busy, &expected, true))
        return;
    if (taas_writer_enqueue(e->writer, op, periodic_done, busy) != 0)
        atomic_store(busy, false);
}

/*
 * A body ignored its deadline for stuck_grace_ms: it cannot be killed (it is
 * a thread of this process), but it must not hold its task or its worker
 * slot. Mark the job abandoned, start a fresh worker in the slot, and let
 * the old thread go (detached). The task is failed with a timeout error by
 * finish_abandoned(); when the body returns at last, its thread sees the
 * mark, drops its reference and ends. Called with e->mu held.
 */
static bool abandon_locked(taas_engine *e, int i)
{
    job *j = e->slots[i];
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa)
        return false;
    wa->e = e;
    wa->index = i;
    pthread_t fresh;
    if (pthread_create(&fresh, NULL, worker_main, wa) != 0) {
        free(wa);
        return false;
    }
    pthread_detach(e->workers[i]);
    e->workers[i] = fresh;
    atomic_fetch_add(&j->refs, 1);
    atomic_store(&j->abandoned, true);
    e->slots[i] = NULL;
    e->busy--;
    e->abandoned_alive++;
    taas_log(TAAS_LOG_WARN, "task.abandoned",
             "id=%s attempt=%d msg=\"body ignored cancellation past its deadline; task failed, "
             "worker replaced\"",
             j->rec.id, j->rec.attempt);
    return true;
}

/* Fail an abandoned job's task with `why`. j->res is not touched: the body's
 * thread still owns it and fills it if it ever returns. */
static void fail_abandoned(taas_engine *e, job *j, const char *why)
{
    taas_store_op *op = &j->complete_op;
    memset(op, 0, sizeof *op);
    op->kind = TAAS_OP_COMPLETE;
    op->u.complete.id = j->rec.id;
    op->u.complete.lease_token = j->rec.lease_token;
    op->u.complete.now_ms = taas_now_ms();
    op->u.complete.state = TAAS_TASK_FAILED;
    snprintf(j->error, sizeof j->error, "%s", why);
    op->u.complete.error = j->error;
    if (taas_writer_enqueue(e->writer, op, complete_done, j) != 0)
        job_unref(j);
}

static void finish_abandoned(taas_engine *e, job *j)
{
    int t = j->rec.timeout_s > 0 ? j->rec.timeout_s
            : j->type && j->type->timeout_s > 0 ? j->type->timeout_s
                                                : e->opts.default_timeout_s;
    char why[160];
    snprintf(why, sizeof why,
             "timed out after %d s; the body ignored cancellation for %d ms and was abandoned", t,
             e->opts.stuck_grace_ms);
    fail_abandoned(e, j, why);
}

static void *sweeper_main(void *p)
{
    taas_engine *e = p;
    pthread_setname_np(pthread_self(), "taas-sweeper");
    int64_t last_heartbeat = taas_mono_ms(), last_recover = taas_mono_ms();
    int64_t last_prune = taas_mono_ms();
    int last_pruned = 0;

    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SWEEP_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->sweep_cv, &e->mu, &ts);
        if (atomic_load(&e->stopping))
            break;
        int64_t mono = taas_mono_ms(), now = taas_now_ms();

        /* Deadlines of running bodies: ask them to stop; abandon those
         * that still run stuck_grace_ms later. */
        job *abandon[8];
        int nabandon = 0;
        for (int i = 0; i < e->nworkers; i++) {
            job *j = e->slots[i];
            if (!j || !j->deadline_mono || mono < j->deadline_mono)
                continue;
            if (atomic_load(&j->stop) == TAAS_STOP_NONE)
                atomic_store(&j->stop, TAAS_STOP_TIMEOUT);
            else if (mono >= j->deadline_mono + e->opts.stuck_grace_ms && nabandon < 8 &&
                     abandon_locked(e, i))
                abandon[nabandon++] = j;
        }
        /* Delayed tasks that became due, and a periodic look for work. */
        if (e->next_due_ms && now >= e->next_due_ms) {
            e->next_due_ms = 0;
            e->pending_hint = true;
        }
        if (mono - last_recover >= RECOVER_EVERY_MS)
            e->pending_hint = true; /* also covers run_after submitted elsewhere */
        maybe_claim_locked(e);
        bool do_hb = e->busy + e->ready_count + nabandon > 0 &&
                     mono - last_heartbeat >= e->opts.lease_ms / 3;
        /* After a failed heartbeat, recover only once one commits again -
         * unless nothing runs here, when no lease of ours can be lapsed. */
        bool do_rc = mono - last_recover >= RECOVER_EVERY_MS &&
                     (!atomic_load(&e->hb_failed) || e->busy + e->ready_count == 0);
        /* Prune in small batches; keep going at once while a batch comes
         * back full, so a backlog drains without one long transaction. */
        bool do_prune = e->opts.retention_s > 0 &&
                        (mono - last_prune >= e->opts.prune_every_ms ||
                         (last_pruned >= e->opts.prune_batch && mono - last_prune >= 200));
        pthread_mutex_unlock(&e->mu);
        for (int k = 0; k < nabandon; k++)
            finish_abandoned(e, abandon[k]);
        if (!atomic_load(&e->prune_busy) && e->prune_op.kind == TAAS_OP_PRUNE) {
            last_pruned = e->prune_op.u.prune.deleted;
            e->prune_op.kind = 0;
        }
        if (do_prune && !atomic_load(&e->prune_busy)) {
            memset(&e->prune_op, 0, sizeof e->prune_op);
            e->prune_op.kind = TAAS_OP_PRUNE;
            e->prune_op.u.prune.finished_before_ms = now - e->opts.retention_s * 1000;
            e->prune_op.u.prune.limit = e->opts.prune_batch;
            enqueue_periodic(e, &e->prune_op, &e->prune_busy);
            last_prune = mono;
            last_pruned = 0;
        }

        if (do_hb && !atomic_load(&e->hb_busy) && !TAAS_FAULT_SKIP("engine.heartbeat")) {
            memset(&e->hb_op, 0, sizeof e->hb_op);
            e->hb_op.kind = TAAS_OP_HEARTBEAT;
            e->hb_op.u.heartbeat.owner = e->node_id;
            e->hb_op.u.heartbeat.lease_expires_ms = now + e->opts.lease_ms;
            enqueue_periodic(e, &e->hb_op, &e->hb_busy);
            last_heartbeat = mono;
        }
        if (do_rc && !atomic_load(&e->rc_busy)) {
            memset(&e->rc_op, 0, sizeof e->rc_op);
            e->rc_op.kind = TAAS_OP_RECOVER;
            e->rc_op.u.recover.now_ms = now;
            enqueue_periodic(e, &e->rc_op, &e->rc_busy);
            last_recover = mono;
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* notifications from other servers sharing the store (PostgreSQL) */

/* Re-read a task another server changed, for our watchers and our body. */
/* Task `id` changed in the store (any node's commit, this one's included).
 * Watchers of a task not running here get the store's view. A body running
 * here needs the store only for a cancel requested through another node
 * (cancel = true; this node's own cancels stop the body directly): reading
 * the row on every other event, the claims and completions this node
 * itself announces, cost one store read per task for nothing. */
static void refresh_task(taas_engine *e, const char *id, bool cancel)
{
    /* Local: running here, or claimed here and waiting for a worker. */
    bool local = false;
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers && !local; i++)
        local = e->slots[i] && strcmp(e->slots[i]->rec.id, id) == 0;
    for (job *j = e->ready_head; j && !local; j = j->next)
        local = strcmp(j->rec.id, id) == 0;
    /* A body that finished here reports its own end once its completion
     * commits; the store's older view must not be relayed meanwhile. */
    for (job *j = e->completing; j && !local; j = j->cnext)
        local = strcmp(j->rec.id, id) == 0;
    pthread_mutex_unlock(&e->mu);
    bool relay = !local && has_watchers(e, id);
    if (!(local && cancel) && !relay)
        return;

    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    if (e->store->get(e->store, id, &rec) != TAAS_STORE_OK) {
        taas_task_rec_clear(&rec);
        return;
    }
    if (local && rec.cancel_requested)
        stop_local(e, id, TAAS_STOP_CANCEL);
    /* A body running here reports to watchers directly; only remote runs
     * are relayed from the store. A task whose lease this node holds is
     * ours even if its job is not visible yet (the claim's notification can
     * overtake claim_done): relaying the store's older view would replace
     * the body's newer progress on the stream. */
    bool ours = rec.lease_owner && strcmp(rec.lease_owner, e->node_id) == 0 &&
                rec.state == TAAS_TASK_RUNNING;
    if (relay && !ours)
        notify(e, id, rec.state, rec.progress, rec.progress_message,
               taas_task_state_final(rec.state) ? &rec : NULL);
    taas_task_rec_clear(&rec);
}

/* Every watched task and every local body, after notifications were lost. */
static void resync(taas_engine *e)
{
    enum { MAX = 4096 };
    char(*ids)[TAAS_ID_LEN + 1] = malloc(MAX * sizeof *ids);
    if (!ids)
        return;
    int n = 0;
    pthread_mutex_lock(&e->watch_mu);
    for (int b = 0; b < WATCH_BUCKETS && n < MAX; b++)
        for (taas_watch *w = e->watch[b]; w && n < MAX; w = w->next)
            memcpy(ids[n++], w->id, TAAS_ID_LEN + 1);
    pthread_mutex_unlock(&e->watch_mu);
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers && n < MAX; i++)
        if (e->slots[i])
            memcpy(ids[n++], e->slots[i]->rec.id, TAAS_ID_LEN + 1);
    for (job *j = e->ready_head; j && n < MAX; j = j->next)
        memcpy(ids[n++], j->rec.id, TAAS_ID_LEN + 1);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < n; i++)
        refresh_task(e, ids[i], true);
    free(ids);
}

static void on_store_event(void *arg, int kind, const char *id)
{
    taas_engine *e = arg;
    if (kind == TAAS_NOTIFY_RUNNABLE) {
        wake_claimer(e);
    } else if ((kind == TAAS_NOTIFY_TASK || kind == TAAS_NOTIFY_CANCEL) && id) {
        refresh_task(e, id, kind == TAAS_NOTIFY_CANCEL);
    } else if (kind == TAAS_NOTIFY_RESYNC) {
        wake_claimer(e);
        resync(e);
    }
}

static void *notifier_main(void *p)
{
    taas_engine *e = p;
    pthread_setname_np(pthread_self(), "taas-notify");
    while (!atomic_load(&e->stopping)) {
        int r = e->store->wait_notify(e->store, 200, on_store_event, e);
        if (r < 0 && !atomic_load(&e->stopping))
            usleep(200000); /* store unreachable: the call logs; retry soon */
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* synchronous writes (start-up and shutdown) */

typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} sync_wait;

static void sync_wait_done(taas_store_op *op, void *arg)
{
    (void)op;
    sync_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int write_sync(taas_engine *e, taas_store_op *op)
{
    sync_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    if (taas_writer_enqueue(e->writer, op, sync_wait_done, &w) != 0)
        return TAAS_STORE_EINVAL;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return op->result;
}

/* ------------------------------------------------------------------------ */
/* lifecycle */

/* TAAS_<NAME> environment variables fill options the caller left at 0. */
static void env_int(const char *name, int *field)
{
    const char *v = getenv(name);
    if (*field == 0 && v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= -1 && n <= 1000000000)
            *field = (int)n;
        else
            taas_log(TAAS_LOG_WARN, "engine.bad_env", "var=%s value=\"%s\" msg=\"ignored\"", name, v);
    }
}

static void apply_env_defaults(taas_engine_opts *o)
{
    env_int("TAAS_LEASE_MS", &o->lease_ms);
    env_int("TAAS_PREFETCH", &o->prefetch);
    env_int("TAAS_CLAIM_ON_SUBMIT", &o->claim_on_submit);
    env_int("TAAS_STUCK_GRACE_MS", &o->stuck_grace_ms);
    env_int("TAAS_DEFAULT_TIMEOUT_S", &o->default_timeout_s);
    env_int("TAAS_RETRY_BASE_MS", &o->retry_base_ms);
    env_int("TAAS_RETRY_CAP_MS", &o->retry_cap_ms);
    env_int("TAAS_PROGRESS_STORE_MS", &o->progress_store_ms);
    env_int("TAAS_PRUNE_EVERY_MS", &o->prune_every_ms);
    env_int("TAAS_PRUNE_BATCH", &o->prune_batch);
    int retention = 0;
    env_int("TAAS_RETENTION_S", &retention);
    if (o->retention_s == 0 && retention != 0)
        o->retention_s = retention;
    const char *node = getenv("TAAS_NODE_ID");
    if ((!o->node_id || !*o->node_id) && node && *node)
        o->node_id = node;
}

taas_engine *taas_engine_start(taas_store *store, const taas_engine_opts *opts, char *err,
                               size_t errlen)
{
    taas_engine *e = calloc(1, sizeof *e);
    if (!e) {
        set_msg(err, errlen, "out of memory");
        return NULL;
    }
    e->store = store;
    if (opts)
        e->opts = *opts;
    else
        e->opts.run_workers = true;
    apply_env_defaults(&e->opts);
    if (e->opts.workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        e->opts.workers = n > 0 ? (int)n : 2;
    }
    if (e->opts.lease_ms <= 0)
        e->opts.lease_ms = 30000;
    if (e->opts.default_timeout_s <= 0)
        e->opts.default_timeout_s = 3600;
    if (e->opts.progress_store_ms <= 0)
        e->opts.progress_store_ms = 250;
    if (e->opts.retention_s == 0)
        e->opts.retention_s = 7 * 24 * 3600;
    if (e->opts.prune_batch <= 0)
        e->opts.prune_batch = 500;
    if (e->opts.prune_every_ms <= 0)
        e->opts.prune_every_ms = 10000;
    if (e->opts.node_id && *e->opts.node_id) {
        snprintf(e->node_id, sizeof e->node_id, "%s", e->opts.node_id);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(e->node_id, sizeof e->node_id, "%s:%ld", host, (long)getpid());
    }
    e->opts.node_id = e->node_id;
    e->nworkers = e->opts.workers;
    if (e->opts.prefetch < 0)
        e->opts.prefetch = 0;
    else if (e->opts.prefetch == 0)
        e->opts.prefetch = 64;
    if (e->opts.stuck_grace_ms <= 0)
        e->opts.stuck_grace_ms = 10000;
    if (e->opts.retry_base_ms <= 0)
        e->opts.retry_base_ms = 1000;
    if (e->opts.retry_cap_ms <= 0)
        e->opts.retry_cap_ms = 300000;
    e->claim_cap = e->nworkers + e->opts.prefetch;
    e->body_avg_us = BODY_US_INITIAL;

    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->watch_mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->idle_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&e->sweep_cv, &ca);
    pthread_condattr_destroy(&ca);

    e->slots = calloc((size_t)e->nworkers, sizeof *e->slots);
    e->claim_buf_len = e->opts.prefetch > 0 && e->claim_cap < HOLD_CAP_MAX ? HOLD_CAP_MAX
                                                                            : e->claim_cap;
    e->claim_buf = calloc((size_t)e->claim_buf_len, sizeof *e->claim_buf);
    e->workers = calloc((size_t)e->nworkers, sizeof *e->workers);
    e->writer = taas_writer_start(store, NULL);
    if (!e->slots || !e->claim_buf || !e->workers || !e->writer) {
        set_msg(err, errlen, "cannot start the engine: out of memory or threads");
        goto fail;
    }

    /* Recovery before any work: a single-process store (SQLite) knows that
     * every lease still held belongs to a process that is gone. */
    taas_store_op rc;
    memset(&rc, 0, sizeof rc);
    rc.kind = TAAS_OP_RECOVER;
    bool single = strcmp(store->backend, "sqlite") == 0;
    rc.u.recover.now_ms = taas_now_ms();
    rc.u.recover.lease_cutoff_ms = single ? INT64_MAX : 0;
    int r = write_sync(e, &rc);
    if (r != TAAS_STORE_OK) {
        set_msg(err, errlen, "recovery failed: %s", taas_store_strerror(r));
        goto fail;
    }
    if (rc.u.recover.retried || rc.u.recover.failed)
        taas_log(TAAS_LOG_INFO, "engine.recovered", "requeued=%d failed_interrupted=%d",
                 rc.u.recover.retried, rc.u.recover.failed);

    atomic_store(&e->accepting, true);
    e->pending_hint = true;
    if (e->opts.run_workers) {
        for (int i = 0; i < e->nworkers; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->e = e;
                wa->index = i;
            }
            if (!wa || pthread_create(&e->workers[i], NULL, worker_main, wa) != 0) {
                free(wa);
                set_msg(err, errlen, "cannot start worker threads");
                e->nworkers = i;
                goto fail_threads;
            }
        }
    }
    if (pthread_create(&e->sweeper, NULL, sweeper_main, e) != 0) {
        set_msg(err, errlen, "cannot start the sweeper thread");
        goto fail_threads;
    }
    e->sweeper_started = true;
    if (store->wait_notify) {
        if (pthread_create(&e->notifier, NULL, notifier_main, e) != 0) {
            set_msg(err, errlen, "cannot start the notification thread");
            goto fail_threads;
        }
        e->notifier_started = true;
    }
    wake_claimer(e);
    return e;

fail_threads:
    (void)taas_engine_stop(e, 0);
    return NULL;
fail:
    if (e->writer)
        taas_writer_stop(e->writer);
    free(e->slots);
    free(e->claim_buf);
    free(e->workers);
    free(e);
    return NULL;
}

int taas_engine_stop(taas_engine *e, int grace_ms)
{
    if (!e)
        return 0;
    atomic_store(&e->accepting, false);

    /* Let running bodies finish within the grace period; claim nothing new. */
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stopping, true);
    pthread_cond_broadcast(&e->sweep_cv);
    int64_t until = taas_mono_ms() + (grace_ms > 0 ? grace_ms : 0);
    while (e->busy > 0 && taas_mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->idle_cv, &e->mu, &ts);
    }
    /* Then ask the rest to stop, and give them a moment. */
    for (int i = 0; i < e->nworkers; i++)
        if (e->slots[i])
            atomic_store(&e->slots[i]->stop, TAAS_STOP_SHUTDOWN);
    until = taas_mono_ms() + 1000;
    while (e->busy > 0 && taas_mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->idle_cv, &e->mu, &ts);
    }
    /* Non-idempotent bodies that still run have started their work: they
     * fail as interrupted rather than be released and run again. Their
     * threads drop the job when (if) the body returns. */
    job **interrupted = calloc((size_t)e->nworkers, sizeof *interrupted);
    int ninterrupted = 0;
    for (int i = 0; interrupted && i < e->nworkers; i++) {
        job *j = e->slots[i];
        if (!j || j->rec.idempotent)
            continue;
        atomic_fetch_add(&j->refs, 1);
        atomic_store(&j->abandoned, true);
        e->slots[i] = NULL;
        e->busy--;
        e->abandoned_alive++;
        interrupted[ninterrupted++] = j;
    }
    int stuck = e->busy + e->abandoned_alive;
    pthread_cond_broadcast(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
    for (int k = 0; k < ninterrupted; k++)
        fail_abandoned(e, interrupted[k],
                       "interrupted: the server shut down while the body ran and it did not "
                       "stop; not retried because the task is not idempotent");
    free(interrupted);

    if (e->sweeper_started)
        pthread_join(e->sweeper, NULL);
    if (e->notifier_started)
        pthread_join(e->notifier, NULL);

    /* Wait for a claim in flight, and for submits inserted already claimed,
     * to land, so their tasks are released too. */
    for (;;) {
        pthread_mutex_lock(&e->mu);
        bool inflight = e->claim_inflight || e->reserved > 0;
        pthread_mutex_unlock(&e->mu);
        if (!inflight)
            break;
        usleep(1000);
    }

    if (stuck == 0 && e->opts.run_workers)
        for (int i = 0; i < e->nworkers; i++)
            pthread_join(e->workers[i], NULL);

    /* Give back every lease this node still holds: the next start (or
     * another node) runs those tasks again without consuming an attempt. */
    taas_store_op rel;
    memset(&rel, 0, sizeof rel);
    rel.kind = TAAS_OP_RELEASE;
    rel.u.release.owner = e->node_id;
    rel.u.release.now_ms = taas_now_ms();
    if (write_sync(e, &rel) == TAAS_STORE_OK && rel.u.release.released)
        taas_log(TAAS_LOG_INFO, "engine.released", "tasks=%d", rel.u.release.released);
    TAAS_FAULT_POINT("engine.released");

    if (stuck > 0) {
        /* Bodies that ignore cancellation keep their threads; the process is
         * about to exit, and the engine's memory must outlive them. Their
         * leases are released above, and a completion they send later is
         * refused by the stopped writer and by the store's fencing. */
        taas_log(TAAS_LOG_WARN, "engine.stuck_bodies",
                 "count=%d msg=\"bodies ignored cancellation; their tasks were released\"", stuck);
        return stuck;
    }
    /* What the single writer thread did, for capacity planning: when busy
     * approaches the uptime, the writer bounds throughput. */
    taas_writer_stats ws;
    taas_writer_get_stats(e->writer, &ws);
    taas_log(TAAS_LOG_INFO, "engine.writer",
             "batches=%llu ops=%llu max_batch=%d busy_ms=%llu apply_ms=%llu apply_cpu_ms=%llu "
             "callback_ms=%llu",
             (unsigned long long)ws.batches, (unsigned long long)ws.ops, ws.max_batch_seen,
             (unsigned long long)(ws.busy_us / 1000), (unsigned long long)(ws.apply_us / 1000),
             (unsigned long long)(ws.apply_cpu_us / 1000),
             (unsigned long long)(ws.callback_us / 1000));
    taas_writer_stop(e->writer);

    /* Watchers still registered get nothing more; their owners unwatch. */
    pthread_mutex_lock(&e->watch_mu);
    for (int b = 0; b < WATCH_BUCKETS; b++)
        for (taas_watch *w = e->watch[b]; w; w = w->next)
            w->linked = false, w->done = true;
    memset(e->watch, 0, sizeof e->watch);
    pthread_mutex_unlock(&e->watch_mu);

    for (job *j = e->ready_head; j;) {
        job *next = j->next;
        job_free(j);
        j = next;
    }
    free(e->slots);
    free(e->claim_buf);
    free(e->workers);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work_cv);
    pthread_cond_destroy(&e->idle_cv);
    pthread_cond_destroy(&e->sweep_cv);
    free(e);
    return 0;
}

bool taas_engine_serving(const taas_engine *e)
{
    return e && atomic_load(&((taas_engine *)e)->accepting);
}

/* ------------------------------------------------------------------------ */
/* submit */

typedef struct submit_op {
    taas_store_op op;
    taas_task_rec rec;
    taas_engine *e;
    taas_submit_fn done;
    void *arg;
    bool claimed;            /* inserted RUNNING for this node (holds e->reserved) */
    char hash[33];
    char buf[];              /* name, input, key */
} submit_op;

static char *dup_or_null(const char *p)
{
    return p ? strdup(p) : NULL;
}

/* A submit inserted already claimed has committed (added) or not: hand its
 * task to the workers as claim_done would, or give its slot back. */
static void start_claimed(taas_engine *e, submit_op *s, bool added)
{
    job *j = NULL;
    if (added && !atomic_load(&e->stopping)) {
        taas_task_rec r = s->rec; /* strings are borrowed from s: copy them */
        r.state = TAAS_TASK_RUNNING;
        r.attempt = 1;
        r.lease_token = 1;
        r.started_ms = r.created_ms;
        r.lease_expires_ms = r.created_ms + e->opts.lease_ms;
        r.name = strdup(s->rec.name);
        r.input = malloc(s->rec.input_len + 1);
        if (r.input)
            memcpy(r.input, s->rec.input, s->rec.input_len + 1);
        r.idempotency_key = dup_or_null(s->rec.idempotency_key);
        r.input_hash = dup_or_null(s->rec.input_hash);
        r.principal = dup_or_null(s->rec.principal);
        r.lease_owner = strdup(e->node_id);
        r.attempts_json = strdup("[]");
        bool ok = r.name && r.input && r.lease_owner && r.attempts_json &&
                  (!s->rec.idempotency_key || r.idempotency_key) &&
                  (!s->rec.input_hash || r.input_hash) && (!s->rec.principal || r.principal);
        j = ok ? job_new(e, &r) : NULL;
        if (!j) /* its lease expires and recovery takes it, as for a claim */
            taas_task_rec_clear(&r);
    }
    /* When stopping, the task stays RUNNING under this node's lease, which
     * the engine releases once no claimed insert is in flight. */
    if (j)
        notify(e, j->rec.id, TAAS_TASK_RUNNING, 0, NULL, NULL);
    pthread_mutex_lock(&e->mu);
    e->reserved--;
    if (j) {
        j->next = NULL;
        ready_append_locked(e, j, 1);
    } else {
        maybe_claim_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
}

static void submit_done(taas_store_op *op, void *arg)
{
    submit_op *s = arg;
    taas_engine *e = s->e;
    taas_submit_result res = {0};
    char msg[256];
    bool added = op->result == TAAS_STORE_OK && !op->u.insert.duplicate;
    if (s->claimed)
        start_claimed(e, s, added); /* before the reply: the body need not wait for it */
    if (op->result == TAAS_STORE_OK) {
        res.status = TAAS_ST_OK;
        res.duplicate = op->u.insert.duplicate;
        res.task_id = res.duplicate ? op->u.insert.existing_id : s->rec.id;
        res.state = added && s->claimed ? TAAS_TASK_RUNNING : TAAS_TASK_PENDING;
    } else if (op->result == TAAS_STORE_ECONFLICT) {
        res.status = TAAS_ST_ALREADY_EXISTS;
        snprintf(msg, sizeof msg,
                 "idempotency key '%.100s' was already used for %s with different inputs",
                 s->rec.idempotency_key, s->rec.name);
        res.message = msg;
    } else {
        res.status = store_status(op->result);
        res.message = store_message(op->result);
    }
    s->done(s->arg, &res);

    if (added && !s->claimed) {
        int64_t now = taas_now_ms();
        pthread_mutex_lock(&e->mu);
        if (s->rec.run_after_ms > now) {
            if (e->next_due_ms == 0 || s->rec.run_after_ms < e->next_due_ms)
                e->next_due_ms = s->rec.run_after_ms;
        } else {
            e->pending_hint = true;
            maybe_claim_locked(e);
        }
        pthread_mutex_unlock(&e->mu);
    }
    free(s);
}

taas_status taas_engine_submit(taas_engine *e, const taas_submit_req *req, taas_submit_fn done,
                               void *arg, char *msg, size_t msglen)
{
    if (!atomic_load(&e->accepting)) {
        set_msg(msg, msglen, "the server is shutting down; submit to another node or retry");
        return TAAS_ST_UNAVAILABLE;
    }
    const char *name = req->task_name ? req->task_name : "";
    const taas_task_type *type = taas_registry_find(name);
    if (!type) {
        const char *sugg[3];
        size_t n = taas_registry_suggest(name, sugg, 3);
        if (n == 0)
            set_msg(msg, msglen, "unknown task '%.100s'; see ListTaskTypes for the registered tasks",
                    name);
        else if (n == 1)
            set_msg(msg, msglen, "unknown task '%.100s'; did you mean %s?", name, sugg[0]);
        else if (n == 2)
            set_msg(msg, msglen, "unknown task '%.100s'; did you mean %s or %s?", name, sugg[0],
                    sugg[1]);
        else
            set_msg(msg, msglen, "unknown task '%.100s'; did you mean %s, %s or %s?", name,
                    sugg[0], sugg[1], sugg[2]);
        return TAAS_ST_NOT_FOUND;
    }
    if (req->timeout_s < 0) {
        set_msg(msg, msglen, "timeout_s must not be negative");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *input = req->input ? req->input : "";
    size_t input_len = req->input ? req->input_len : 0;
    if (input_len == 0) {
        input = "{}";
        input_len = 2;
    }
    taas_error verr;
    if (taas_check_input(type, input, input_len, &verr) != 0) {
        char b[sizeof verr.path + sizeof verr.message + 4];
        set_msg(msg, msglen, "invalid inputs for %s: %s", type->name,
                taas_error_format(&verr, b, sizeof b));
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *key = req->idempotency_key && *req->idempotency_key ? req->idempotency_key : NULL;
    size_t keylen = key ? strlen(key) : 0;
    if (keylen > 255) {
        set_msg(msg, msglen, "idempotency_key is longer than 255 bytes");
        return TAAS_ST_INVALID_ARGUMENT;
    }

    size_t namelen = strlen(type->name);
    const char *who = req->principal && *req->principal ? req->principal : NULL;
    size_t wholen = who ? strlen(who) : 0;
    submit_op *s = malloc(sizeof *s + namelen + 1 + input_len + 1 + keylen + 1 + wholen + 1);
    if (!s) {
        set_msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memset(s, 0, sizeof *s);
    char *p = s->buf;
    memcpy(p, type->name, namelen + 1);
    s->rec.name = p;
    p += namelen + 1;
    memcpy(p, input, input_len);
    p[input_len] = '\0';
    s->rec.input = p;
    s->rec.input_len = input_len;
    p += input_len + 1;
    if (who) {
        memcpy(p, who, wholen + 1);
        s->rec.principal = p;
        p += wholen + 1;
    }
    if (key) {
        memcpy(p, key, keylen + 1);
        s->rec.idempotency_key = p;
        taas_engine_input_hash(input, input_len, s->hash);
        s->rec.input_hash = s->hash;
    }
    taas_uuid7(s->rec.id);
    int64_t now = taas_now_ms();
    s->rec.state = TAAS_TASK_PENDING;
    s->rec.priority = req->priority;
    s->rec.max_attempts = type->retries + 1;
    s->rec.timeout_s = req->timeout_s;
    s->rec.idempotent = type->idempotent;
    s->rec.created_ms = now;
    s->rec.updated_ms = now;
    s->rec.run_after_ms = req->run_after_ms > now ? req->run_after_ms : now;
    s->e = e;
    s->done = done;
    s->arg = arg;
    s->op.kind = TAAS_OP_INSERT;
    s->op.u.insert.task = &s->rec;
    /* Claim it in its own insert when a slot is free here and no runnable
     * task is known to wait in the store (it would come first: priority,
     * then age), so the body starts right after the one commit. */
    if (e->opts.claim_on_submit >= 0 && s->rec.run_after_ms <= now) {
        pthread_mutex_lock(&e->mu);
        if (e->opts.run_workers && !atomic_load(&e->stopping) && !e->pending_hint &&
            !e->claim_inflight && free_slots_locked(e) > 0) {
            e->reserved++;
            s->claimed = true;
            s->op.u.insert.claim_owner = e->node_id;
            s->op.u.insert.lease_ms = e->opts.lease_ms;
        }
        pthread_mutex_unlock(&e->mu);
    }
    if (taas_writer_enqueue(e->writer, &s->op, submit_done, s) != 0) {
        if (s->claimed) {
            pthread_mutex_lock(&e->mu);
            e->reserved--;
            pthread_mutex_unlock(&e->mu);
        }
        free(s);
        set_msg(msg, msglen, "the server is shutting down; submit to another node or retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
/* reads */

/* A task running here may have progress newer in memory than in the store
 * (short bodies never store theirs): readers see the newest. */
static void overlay_local_progress(taas_engine *e, taas_task_rec *r)
{
    if (r->state != TAAS_TASK_RUNNING)
        return;
    pthread_mutex_lock(&e->mu);
    job *found = NULL;
    for (int i = 0; i < e->nworkers && !found; i++)
        if (e->slots[i] && strcmp(e->slots[i]->rec.id, r->id) == 0)
            found = e->slots[i];
    for (job *j = e->completing; j && !found; j = j->cnext)
        if (strcmp(j->rec.id, r->id) == 0)
            found = j;
    if (found) {
        if (found->body_started_ms > 0)
            r->started_ms = found->body_started_ms;
        pthread_mutex_lock(&found->pmu);
        if (found->progress > r->progress ||
            (found->progress == r->progress && found->progress_msg[0])) {
            char *m = strdup(found->progress_msg);
            if (m) {
                r->progress = found->progress;
                free(r->progress_message);
                r->progress_message = m;
            }
        }
        pthread_mutex_unlock(&found->pmu);
    }
    pthread_mutex_unlock(&e->mu);
}

taas_status taas_engine_get(taas_engine *e, const char *id, taas_task_rec *out, char *msg,
                            size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (!taas_uuid_valid(id)) {
        set_msg(msg, msglen, "task '%.64s' not found (task ids are 36-character UUIDs)", id);
        return TAAS_ST_NOT_FOUND;
    }
    int r = e->store->get(e->store, id, out);
    if (r == TAAS_STORE_ENOTFOUND) {
        set_msg(msg, msglen, "task '%s' not found", id);
        return TAAS_ST_NOT_FOUND;
    }
    if (r != TAAS_STORE_OK) {
        set_msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return store_status(r) == TAAS_ST_NOT_FOUND ? TAAS_ST_UNAVAILABLE : store_status(r);
    }
    overlay_local_progress(e, out);
    return TAAS_ST_OK;
}

taas_status taas_engine_list(taas_engine *e, const taas_list_query *q, taas_task_rec **out,
                             size_t *n, char next_token[64], char *msg, size_t msglen)
{
    *out = NULL;
    *n = 0;
    next_token[0] = '\0';
    int r = e->store->list(e->store, q, out, n, next_token);
    if (r == TAAS_STORE_EINVAL) {
        set_msg(msg, msglen, "invalid page_token: pass back the next_page_token of a previous response");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (r != TAAS_STORE_OK) {
        set_msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
/* cancel */

typedef struct cancel_op {
    taas_store_op op;
    taas_engine *e;
    taas_cancel_fn done;
    void *arg;
    char id[TAAS_ID_LEN + 1];
} cancel_op;

static void cancel_done(taas_store_op *op, void *arg)
{
    cancel_op *c = arg;
    taas_engine *e = c->e;
    char msg[128];
    if (op->result == TAAS_STORE_OK || op->result == TAAS_STORE_EFINAL) {
        int st = op->u.cancel.state_after;
        if (st == TAAS_TASK_RUNNING) {
            /* Ask the body to stop, if it runs here; other nodes see
             * cancel_requested when they next look at the task. */
            stop_local(e, c->id, TAAS_STOP_CANCEL);
        }
        c->done(c->arg, TAAS_ST_OK, st, NULL);
        if (op->result == TAAS_STORE_OK && st == TAAS_TASK_CANCELLED)
            notify_final_from_store(e, c->id);
    } else if (op->result == TAAS_STORE_ENOTFOUND) {
        snprintf(msg, sizeof msg, "task '%s' not found", c->id);
        c->done(c->arg, TAAS_ST_NOT_FOUND, 0, msg);
    } else {
        c->done(c->arg, store_status(op->result), 0, store_message(op->result));
    }
    free(c);
}

taas_status taas_engine_cancel(taas_engine *e, const char *id, taas_cancel_fn done, void *arg,
                               char *msg, size_t msglen)
{
    if (!taas_uuid_valid(id)) {
        set_msg(msg, msglen, "task '%.64s' not found (task ids are 36-character UUIDs)", id);
        return TAAS_ST_NOT_FOUND;
    }
    cancel_op *c = calloc(1, sizeof *c);
    if (!c) {
        set_msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memcpy(c->id, id, TAAS_ID_LEN + 1);
    c->e = e;
    c->done = done;
    c->arg = arg;
    c->op.kind = TAAS_OP_CANCEL;
    c->op.u.cancel.id = c->id;
    c->op.u.cancel.now_ms = taas_now_ms();
    if (taas_writer_enqueue(e->writer, &c->op, cancel_done, c) != 0) {
        free(c);
        set_msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
/* watch */

taas_status taas_engine_watch(taas_engine *e, const char *id, taas_watch_fn fn, void *arg,
                              taas_watch **out, char *msg, size_t msglen)
{
    *out = NULL;
    if (!taas_uuid_valid(id)) {
        set_msg(msg, msglen, "task '%.64s' not found (task ids are 36-character UUIDs)", id);
        return TAAS_ST_NOT_FOUND;
    }
    taas_watch *w = calloc(1, sizeof *w);
    if (!w) {
        set_msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memcpy(w->id, id, TAAS_ID_LEN + 1);
    w->fn = fn;
    w->arg = arg;

    /* Register and take the snapshot under watch_mu: a state change
     * committed before the snapshot is in it; one committed after it is
     * delivered to this watcher by notify(), which waits for the lock. So
     * the watcher sees every change exactly once, in order. */
    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_lock(&e->watch_mu);
    int r = e->store->get(e->store, id, &rec);
    if (r != TAAS_STORE_OK) {
        pthread_mutex_unlock(&e->watch_mu);
        free(w);
        if (r == TAAS_STORE_ENOTFOUND) {
            set_msg(msg, msglen, "task '%s' not found", id);
            return TAAS_ST_NOT_FOUND;
        }
        set_msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return TAAS_ST_UNAVAILABLE;
    }
    overlay_local_progress(e, &rec);
    taas_watch_event ev = {
        .task_id = w->id,
        .state = rec.state,
        .progress = rec.progress,
        .progress_message = rec.progress_message,
        .at_ms = taas_now_ms(),
        .final_task = taas_task_state_final(rec.state) ? &rec : NULL,
    };
    fn(arg, &ev);
    if (ev.final_task) {
        pthread_mutex_unlock(&e->watch_mu);
        free(w);
        taas_task_rec_clear(&rec);
        return TAAS_ST_OK;
    }
    unsigned b = bucket_of(id);
    w->next = e->watch[b];
    e->watch[b] = w;
    w->linked = true;
    e->nwatch++;
    pthread_mutex_unlock(&e->watch_mu);
    taas_task_rec_clear(&rec);
    *out = w;
    return TAAS_ST_OK;
}

void taas_engine_unwatch(taas_engine *e, taas_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&e->watch_mu);
    if (w->linked) {
        for (taas_watch **pp = &e->watch[bucket_of(w->id)]; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                e->nwatch--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&e->watch_mu);
    free(w);
}
