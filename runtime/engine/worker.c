/*
 * runtime/engine/worker.c - the worker side: claiming, the ready queue,
 * worker threads, running a body, and its completion (its progress and
 * start mark: progress.c).
 *
 *   claimer  -> CLAIM committed -> claim_done puts the jobs on the ready queue
 *   worker   -> takes the head of the ready queue, runs the body (run_body)
 *            -> build_completion turns the outcome into a COMPLETE
 *   COMPLETE committed -> taas_engine__complete_done: final event to the
 *            watchers (or PENDING for a retry), the job is freed
 *
 * A CLAIM is only issued while this node may hold more tasks (see
 * hold_cap_locked), and at most one is in flight, so claimed tasks never
 * wait long in memory holding a lease.
 *
 * Locks: e->mu guards the ready queue (ready_head/tail/count), the worker
 * slots, busy and reserved, the claim state (claim_inflight, pending_hint,
 * claim_op, claim_buf), the completing list and body_avg_us; workers wait
 * on e->work_cv and stop() on e->idle_cv. j->pmu guards a job's progress
 * and its PROGRESS op in flight, and may be taken with e->mu held, never
 * the reverse. A body runs with no lock held. Watchers are told (watch.c)
 * with no lock held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "engine_internal.h"
#include "taas/registry.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

static void claim_done(taas_store_op *op, void *arg);

/* Workers expected to free within HOLD_US: those idle, and those whose body
 * has run less than the bodies' average plus HOLD_US. A body past that is
 * a long one (the average, made of earlier bodies, does not describe it):
 * its worker starts nothing soon. With e->mu. */
static int soon_workers_locked(const taas_engine *e)
{
    if (e->busy == 0)
        return e->nworkers;
    int64_t past_ms = taas_now_ms() - (HOLD_US + e->body_avg_us) / 1000;
    int slow = 0;
    for (int i = 0; i < e->nworkers; i++) {
        const job *j = e->slots[i];
        if (j && j->body_started_ms > 0 && j->body_started_ms < past_ms)
            slow++;
    }
    return e->nworkers - slow;
}

/* How many tasks this node may hold at once (running, ready for a worker,
 * or being inserted already claimed): its workers, plus as many as they are
 * expected to start within HOLD_US (from the bodies' running average
 * duration), at most opts.prefetch more and HOLD_CAP_MAX in all.
 *
 * Why no fixed prefetch: a task held here waits for this node's workers
 * even when another node's worker frees first, and a task with a higher
 * priority submitted elsewhere cannot overtake it. With short bodies that
 * wait is under HOLD_US and one claim feeds many bodies; with long bodies
 * it would be a whole body's time, so slow bodies are held only for free
 * workers and the store's claim order (priority, then age) decides.
 *
 * Only the workers expected to free soon count for the extra: the average
 * is of bodies that ended, so a node whose workers all run long bodies
 * after many short ones would otherwise keep claiming (and claiming new
 * submits in their inserts) for workers that start nothing for seconds,
 * while other nodes free and start lower priorities. Such a node holds no
 * more than its workers: the backlog waits in the store, where the first
 * worker to free anywhere takes the best task. With e->mu. */
static int hold_cap_locked(const taas_engine *e)
{
    int soon = soon_workers_locked(e);
    int64_t extra = (int64_t)HOLD_US * soon / (e->body_avg_us > 0 ? e->body_avg_us : 1);
    if (extra > e->opts.prefetch)
        extra = e->opts.prefetch;
    int64_t cap = e->nworkers + extra;
    return cap > HOLD_CAP_MAX && HOLD_CAP_MAX > e->nworkers ? HOLD_CAP_MAX : (int)cap;
}

int taas_engine__free_slots_locked(const taas_engine *e)
{
    return hold_cap_locked(e) - e->busy - e->ready_count - e->reserved;
}

/* Ready-queue order, the store's claim order: higher priority first, then
 * the earlier runnable (run_after_ms: the submit time, or a retry's due
 * time), then the older id (UUIDv7: submit order). */
static int ready_cmp(const job *a, const job *b)
{
    if (a->rec.priority != b->rec.priority)
        return a->rec.priority > b->rec.priority ? -1 : 1;
    if (a->rec.run_after_ms != b->rec.run_after_ms)
        return a->rec.run_after_ms < b->rec.run_after_ms ? -1 : 1;
    return strcmp(a->rec.id, b->rec.id);
}

bool taas_engine__outranks_held_locked(const taas_engine *e, int priority)
{
    /* The queue is sorted: its tail has the lowest priority held. When no
     * worker here frees soon, the task goes ahead of nothing by being held
     * here: it waits in the store for the first worker to free anywhere. */
    return e->ready_tail && priority > e->ready_tail->rec.priority &&
           soon_workers_locked(e) > 0;
}

void taas_engine__ready_append_locked(taas_engine *e, job *first, int n)
{
    if (!first)
        return;
    /* Sort the chain (a claim comes sorted, a submit is a chain of one, so
     * this is nearly always appends), then merge it into the queue. The
     * common case, one priority arriving in order, only appends. */
    job *chain = NULL, *ctail = NULL;
    for (job *j = first, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (!ctail || ready_cmp(ctail, j) <= 0) {
            if (ctail)
                ctail->next = j;
            else
                chain = j;
            ctail = j;
            continue;
        }
        job **pp = &chain;
        while (ready_cmp(*pp, j) <= 0)
            pp = &(*pp)->next;
        j->next = *pp;
        *pp = j;
    }
    if (!e->ready_head) {
        e->ready_head = chain;
        e->ready_tail = ctail;
    } else if (ready_cmp(e->ready_tail, chain) <= 0) {
        e->ready_tail->next = chain;
        e->ready_tail = ctail;
    } else {
        job *merged = NULL, **mt = &merged, *q = e->ready_head, *c = chain;
        while (q && c) {
            job **take = ready_cmp(q, c) <= 0 ? &q : &c;
            *mt = *take;
            *take = (*take)->next;
            mt = &(*mt)->next;
        }
        *mt = q ? q : c;
        if (!q)
            e->ready_tail = ctail; /* else the old tail stays last */
        e->ready_head = merged;
    }
    e->ready_count += n;
    if (n == 1)
        pthread_cond_signal(&e->work_cv);
    else
        pthread_cond_broadcast(&e->work_cv);
}

void taas_engine__maybe_claim_locked(taas_engine *e)
{
    if (!e->opts.run_workers || e->claim_inflight || !e->pending_hint ||
        atomic_load(&e->stopping))
        return;
    /* Claim for the free workers plus a bounded prefetch, so one durable
     * claim feeds many bodies: a commit costs milliseconds, a no-op body
     * microseconds. */
    int free_slots = taas_engine__free_slots_locked(e);
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

void taas_engine__wake_claimer(taas_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->pending_hint = true;
    e->pending_prio_max = INT_MAX; /* another server's tasks: of any priority */
    taas_engine__maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
}

job *taas_engine__take_unstartable_locked(taas_engine *e)
{
    if (!e->ready_head || atomic_load(&e->stopping) || soon_workers_locked(e) > 0)
        return NULL;
    job *all = e->ready_head;
    e->ready_head = e->ready_tail = NULL;
    e->ready_count = 0;
    return all;
}

static void give_back_done(taas_store_op *op, void *arg)
{
    job *j = arg;
    taas_engine *e = j->e;
    if (taas_engine__store_transient(op->result) && !atomic_load(&e->stopping)) {
        /* Still held here: the next sweep tries again, or a worker that
         * frees first starts it. */
        pthread_mutex_lock(&e->mu);
        j->next = NULL;
        taas_engine__ready_append_locked(e, j, 1);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    bool back = op->result == TAAS_STORE_OK && op->u.release.released > 0;
    taas_log(TAAS_LOG_DEBUG, "task.given_back", "id=%s priority=%d released=%d result=%d",
             j->rec.id, j->rec.priority, back, op->result);
    if (back) {
        /* Runnable again: this node claims it when a worker frees (other
         * nodes hear of it from the store's notification). */
        pthread_mutex_lock(&e->mu);
        if (!e->pending_hint || j->rec.priority > e->pending_prio_max)
            e->pending_prio_max = j->rec.priority;
        e->pending_hint = true;
        taas_engine__maybe_claim_locked(e);
        pthread_mutex_unlock(&e->mu);
        /* A cancel requested meanwhile made it CANCELLED: its end for
         * the watchers (one read, and only when it has any). */
        taas_engine__notify_final(e, j->rec.id);
    }
    /* Not given back for another reason (it was claimed again after its
     * lease lapsed, or the store refused): not ours to start; a lease still
     * ours expires and recovery decides. */
    taas_engine__job_free(j);
}

void taas_engine__give_back(taas_engine *e, job *list)
{
    for (job *j = list, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        taas_store_op *op = &j->complete_op;
        memset(op, 0, sizeof *op);
        op->kind = TAAS_OP_RELEASE;
        op->u.release.owner = e->node_id;
        op->u.release.now_ms = taas_now_ms();
        op->u.release.id = j->rec.id;
        op->u.release.lease_token = j->rec.lease_token;
        if (taas_writer_enqueue(e->writer, op, give_back_done, j) != 0)
            taas_engine__job_free(j); /* stopping: the RELEASE at stop gives it back */
    }
}

job *taas_engine__job_new(taas_engine *e, taas_task_rec *rec)
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
    atomic_init(&j->body_entered, false);
    j->slot = -1;
    pthread_mutex_init(&j->pmu, NULL);
    pthread_cond_init(&j->pcv, NULL);
    return j; /* the deadline is set when the body starts */
}

void taas_engine__job_free(job *j)
{
    free(j->children);
    taas_task_rec_clear(&j->rec);
    free(j->res.output);
    pthread_mutex_destroy(&j->pmu);
    pthread_cond_destroy(&j->pcv);
    free(j);
}

void taas_engine__job_unref(job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        taas_engine__job_free(j);
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
    if (e->completed_waiters > 0)
        pthread_cond_broadcast(&e->completed_cv);
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
    taas_engine__job_unref(j);
}

job *taas_engine__take_held_locked(taas_engine *e, const char *id, const char *principal)
{
    job *prev = NULL;
    for (job *j = e->ready_head; j; prev = j, j = j->next) {
        if (strcmp(j->rec.id, id) != 0)
            continue;
        if (principal && strcmp(principal, j->rec.principal ? j->rec.principal : "") != 0)
            return NULL; /* another's task: the store answers it as unknown */
        if (prev)
            prev->next = j->next;
        else
            e->ready_head = j->next;
        if (e->ready_tail == j)
            e->ready_tail = prev;
        j->next = NULL;
        e->ready_count--;
        return j;
    }
    return NULL;
}

int taas_engine__cancel_held(taas_engine *e, job *j, taas_op_done_fn done, void *arg)
{
    taas_engine__complete_begin(j);
    taas_store_op *op = &j->complete_op;
    op->u.complete.state = TAAS_TASK_CANCELLED;
    snprintf(j->error, sizeof j->error, "cancelled");
    op->u.complete.error = j->error;
    /* Its slot is free now: another task may be claimed for it. */
    pthread_mutex_lock(&e->mu);
    taas_engine__maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
    if (taas_writer_enqueue(e->writer, op, done ? done : taas_engine__complete_done,
                            done ? arg : j) != 0) {
        /* Stopping: the lease is released (a cancel request in the store
         * turns it CANCELLED), the body never runs. */
        job_release(j);
        return -1;
    }
    return 0;
}

void taas_engine__stop_local(taas_engine *e, const char *id, int why)
{
    job *held = NULL;
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers; i++)
        if (e->slots[i] && strcmp(e->slots[i]->rec.id, id) == 0)
            atomic_store(&e->slots[i]->stop, why);
    /* A cancelled task held here but not started ends now, without waiting
     * for a worker: its body never starts. */
    if (why == TAAS_STOP_CANCEL)
        held = taas_engine__take_held_locked(e, id, NULL);
    for (job *j = e->ready_head; j; j = j->next)
        if (strcmp(j->rec.id, id) == 0)
            atomic_store(&j->stop, why);
    for (job *j = e->offslot; j; j = j->onext)
        if (strcmp(j->rec.id, id) == 0)
            atomic_store(&j->stop, why);
    pthread_mutex_unlock(&e->mu);
    if (held)
        taas_engine__cancel_held(e, held, NULL, NULL);
}

/* Most bodies off their slots at once by default: each holds a thread
 * while it waits. */
#define OFFSLOT_MAX 1024

/*
 * A body is about to wait for a child. Returns
 *    0  it waits off its slot (moved now, or earlier), or holds none;
 *    1  it waits on its slot: call taas_engine__block_end when the wait ends;
 *   -1  refused: every other slot already holds a waiting body, so waiting
 *       here could leave no worker to run the children.
 * Off-slot waiting is bounded (max_waiting, else OFFSLOT_MAX) and needs a
 * fresh thread; past the bound, or without a thread, the body keeps its slot
 * while that still leaves a slot free of waiters - the children of every
 * waiter can then still run, so no wait can be the last one standing.
 */
int taas_engine__block_begin(taas_engine *e, job *j)
{
    pthread_mutex_lock(&e->mu);
    int i = j->slot;
    if (j->offslot || i < 0 || e->slots[i] != j || atomic_load(&e->stopping)) {
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    int max = e->opts.max_waiting > 0 ? e->opts.max_waiting : OFFSLOT_MAX;
    worker_arg *wa = NULL;
    pthread_t fresh;
    bool moved = false;
    if (e->offslot_alive < max && (wa = malloc(sizeof *wa)) != NULL) {
        wa->e = e;
        wa->index = i;
        if (pthread_create(&fresh, NULL, taas_engine__worker_main, wa) == 0)
            moved = true;
        else
            free(wa);
    }
    if (!moved) {
        int rc = -1;
        if (e->onslot_waiters + 1 < e->nworkers) {
            e->onslot_waiters++;
            rc = 1;
        }
        pthread_mutex_unlock(&e->mu);
        if (rc < 0)
            taas_log(TAAS_LOG_WARN, "engine.waiting_full",
                     "task=%s offslot=%d max=%d workers=%d", j->rec.id, e->offslot_alive, max,
                     e->nworkers);
        return rc;
    }
    /* This thread (the slot's until now) goes on with the body, detached;
     * the fresh one is the slot's worker from here on. */
    pthread_detach(e->workers[i]);
    e->workers[i] = fresh;
    e->slots[i] = NULL;
    j->slot = -1;
    j->offslot = true;
    j->onext = e->offslot;
    e->offslot = j;
    e->offslot_alive++;
    e->busy--;
    /* A body that waits for children runs long: mark its start now rather
     * than at the next sweep, so recovery knows it started. */
    pthread_mutex_lock(&j->pmu);
    if (!j->start_marked && !j->progress_inflight && j->body_started_ms > 0)
        taas_engine__queue_progress_pmu(e, j);
    pthread_mutex_unlock(&j->pmu);
    taas_engine__maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void taas_engine__block_end(taas_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->onslot_waiters--;
    pthread_mutex_unlock(&e->mu);
}

static void claim_done(taas_store_op *op, void *arg)
{
    taas_engine *e = arg;
    int n = op->result == TAAS_STORE_OK ? op->u.claim.n : 0;
    if (op->result != TAAS_STORE_OK)
        taas_log(TAAS_LOG_WARN, "engine.claim_failed", "error=\"%s\"",
                 taas_store_strerror(op->result));

    int last_prio = n > 0 ? op->u.claim.out[n - 1].priority : INT_MAX;
    job *first = NULL, **tail = &first;
    int got = 0;
    for (int i = 0; i < n; i++) {
        job *j = taas_engine__job_new(e, &op->u.claim.out[i]);
        if (!j)
            continue; /* its lease expires and the sweeper recovers it */
        *tail = j;
        tail = &j->next;
        got++;
    }
    /* No event: a task held here is PENDING to every reader until its body
     * starts (worker_main tells the watchers then). */

    pthread_mutex_lock(&e->mu);
    e->claim_inflight = false;
    taas_engine__ready_append_locked(e, first, got);
    /* A full claim suggests more are waiting; a failed one is retried by the sweeper. */
    if (op->result == TAAS_STORE_OK && n == op->u.claim.max) {
        e->pending_hint = true;
        /* Claims come in priority order: what is left ranks no higher. */
        e->pending_prio_max = last_prio;
    } else if (op->result == TAAS_STORE_OK && !e->pending_hint) {
        e->pending_prio_max = INT_MIN; /* nothing runnable is left in the store */
    }
    taas_engine__maybe_claim_locked(e);
    pthread_mutex_unlock(&e->mu);
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

/* Store errors that pass: the database is busy, unreachable, or its disk is
 * full or failing for now. */
bool taas_engine__store_transient(int result)
{
    return result == TAAS_STORE_EBUSY || result == TAAS_STORE_EIO ||
           result == TAAS_STORE_EFULL || result == TAAS_STORE_ENOMEM;
}

int taas_engine__resend_completions(taas_engine *e)
{
    job *due[32];
    int n = 0, left = 0;
    int64_t mono = taas_mono_ms();
    pthread_mutex_lock(&e->mu);
    for (job *j = e->completing; j; j = j->cnext) {
        left++;
        if (j->cretry_mono && mono >= j->cretry_mono && n < 32) {
            j->cretry_mono = 0;
            due[n++] = j;
        }
    }
    pthread_mutex_unlock(&e->mu);
    for (int k = 0; k < n; k++) {
        job *j = due[k];
        j->complete_op.u.complete.now_ms = taas_now_ms();
        if (taas_writer_enqueue(e->writer, &j->complete_op, taas_engine__complete_done, j) != 0) {
            pthread_mutex_lock(&e->mu);
            j->cretry_mono = mono + 1000;
            pthread_mutex_unlock(&e->mu);
        }
    }
    return left;
}

void taas_engine__complete_done(taas_store_op *op, void *arg)
{
    job *j = arg;
    taas_engine *e = j->e;
    if (taas_engine__store_transient(op->result)) {
        /* The body ran: its attempt is spent whatever happens now. Keep the
         * result and send it again (100 ms, doubling to 3.2 s) until the
         * store takes it; the heartbeat keeps the lease meanwhile. If the
         * node dies first, the lease expires and recovery applies. */
        bool retry = false;
        pthread_mutex_lock(&e->mu);
        if (j->completing && !atomic_load(&e->completions_closed)) {
            int shift = j->cretries < 5 ? j->cretries : 5;
            j->cretries++;
            j->cretry_mono = taas_mono_ms() + ((int64_t)100 << shift);
            retry = true;
        } else {
            atomic_store(&e->release_unsafe, true);
        }
        pthread_mutex_unlock(&e->mu);
        if (retry) {
            taas_log(j->cretries == 1 ? TAAS_LOG_WARN : TAAS_LOG_DEBUG, "task.complete_retry",
                     "id=%s attempt=%d retry=%d error=\"%s\" msg=\"the result is kept and sent "
                     "again\"",
                     j->rec.id, j->rec.attempt, j->cretries, taas_store_strerror(op->result));
            return;
        }
    }
    completing_done(e, j);
    if (op->result == TAAS_STORE_OK) {
        taas_task_state st = op->u.complete.state;
        if (taas_task_state_final(st)) {
            taas_metrics_finished(j->rec.name, st);
            taas_engine__notify_final(e, j->rec.id);
        } else {
            taas_metrics_retry();
            /* A retry: back to PENDING; the claimer may pick it up when due. */
            taas_engine__notify(e, j->rec.id, TAAS_TASK_PENDING, 0, NULL, NULL);
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
        /* Not retried (a permanent error, or the engine is past retrying):
         * the lease will expire and recovery decides. Until then the row
         * is RUNNING under our lease: no RELEASE may make it PENDING. */
        atomic_store(&e->release_unsafe, true);
        taas_log(TAAS_LOG_ERROR, "task.complete_failed", "id=%s error=\"%s\"", j->rec.id,
                 taas_store_strerror(op->result));
    }
    taas_engine__job_unref(j);
}

int taas_engine__timeout_s(const taas_engine *e, const job *j)
{
    return j->rec.timeout_s > 0                    ? j->rec.timeout_s
           : j->type && j->type->timeout_s > 0 ? j->type->timeout_s
                                                   : e->opts.default_timeout_s;
}

void taas_engine__complete_begin(job *j)
{
    taas_store_op *op = &j->complete_op;
    memset(op, 0, sizeof *op);
    op->kind = TAAS_OP_COMPLETE;
    op->u.complete.id = j->rec.id;
    op->u.complete.lease_token = j->rec.lease_token;
    op->u.complete.now_ms = taas_now_ms();
}

/* Turn the body's outcome into a COMPLETE operation. Returns false when the
 * job should not be completed here (stopped by shutdown: RELEASE handles it). */
static bool build_completion(taas_engine *e, job *j)
{
    taas_engine__complete_begin(j);
    taas_store_op *op = &j->complete_op;
    op->u.complete.started_ms = j->body_started_ms;
    /* The last word: the final record keeps the last progress the body
     * reported, which may be newer than the last one stored. The body has
     * returned, so nothing changes it any more. */
    pthread_mutex_lock(&j->pmu);
    if (j->reported) {
        op->u.complete.has_progress = true;
        op->u.complete.progress = j->progress;
        op->u.complete.progress_message = j->progress_msg;
    }
    pthread_mutex_unlock(&j->pmu);
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
            taas_metrics_timeout();
            op->u.complete.state = TAAS_TASK_FAILED;
            snprintf(j->error, sizeof j->error, "timed out after %d s",
                     taas_engine__timeout_s(e, j));
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
            .progress = taas_engine__on_progress,
            .progress_arg = j,
            .stop = &j->stop,
            .children = &taas_engine__children,
            .children_arg = j,
        };
        taas_run(j->type, j->rec.input, j->rec.input_len, &ro, &j->res);
        taas_engine__children_end(e, j);
    }
}

/* Queue the COMPLETE for j's outcome; j is released by its callback. */
static void finish_job(taas_engine *e, job *j)
{
    if (!build_completion(e, j)) {
        job_release(j); /* its lease is released by taas_engine_stop */
        return;
    }
    if (taas_writer_enqueue(e->writer, &j->complete_op, taas_engine__complete_done, j) != 0)
        job_release(j);
}

void *taas_engine__worker_main(void *p)
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
            taas_engine__job_free(j);
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
        j->deadline_mono = 0; /* none while the start mark is written */
        if (j->rec.cancel_requested)
            atomic_store(&j->stop, TAAS_STOP_CANCEL);
        bool runs = j->type && atomic_load(&j->stop) == TAAS_STOP_NONE;
        if (runs)
            j->body_started_ms = taas_now_ms(); /* RUNNING from here on, to every reader */
        pthread_mutex_unlock(&e->mu);
        if (runs && !taas_engine__mark_start(e, j)) {
            /* Not started (the node stops, or the task is no longer ours):
             * let go of the job without a completion. */
            pthread_mutex_lock(&e->mu);
            j->body_started_ms = 0;
            if (e->slots[idx] == j) {
                e->slots[idx] = NULL;
                e->busy--;
            }
            taas_engine__maybe_claim_locked(e);
            if (e->busy == 0 && e->offslot_alive == 0)
                pthread_cond_broadcast(&e->idle_cv);
            pthread_mutex_unlock(&e->mu);
            job_release(j);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        int timeout = taas_engine__timeout_s(e, j);
        int64_t started = taas_mono_ms();
        pthread_mutex_lock(&e->mu);
        j->deadline_mono = timeout > 0 ? started + (int64_t)timeout * 1000 : 0;
        pthread_mutex_unlock(&e->mu);
        /* Progress of a body that ends within one store interval never
         * reaches the store: its completion follows right away. */
        j->last_store_mono = started;
        atomic_store(&j->body_entered, true);
        if (runs)
            taas_engine__notify(e, j->rec.id, TAAS_TASK_RUNNING, 0, NULL, NULL);

        taas_metrics_started(j->body_started_ms - j->rec.run_after_ms);
        int64_t t0 = taas_mono_us();
        run_body(e, j);
        int64_t took = taas_mono_us() - t0;
        taas_metrics_ended(took / 1000);
        TAAS_FAULT_POINT("engine.body_done");

        pthread_mutex_lock(&e->mu);
        e->body_avg_us += (took - e->body_avg_us) / 8;
        if (j->offslot) {
            /* The body waited for children off its slot: the slot has
             * another worker, so this thread completes the task and ends. */
            for (job **pp = &e->offslot; *pp; pp = &(*pp)->onext) {
                if (*pp == j) {
                    *pp = j->onext;
                    break;
                }
            }
            e->offslot_alive--;
            completing_add(e, j);
            taas_engine__maybe_claim_locked(e);
            if (e->busy == 0 && e->offslot_alive == 0)
                pthread_cond_broadcast(&e->idle_cv);
            pthread_mutex_unlock(&e->mu);
            finish_job(e, j);
            return NULL;
        }
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
        taas_engine__maybe_claim_locked(e);
        if (e->busy == 0 && e->offslot_alive == 0)
            pthread_cond_broadcast(&e->idle_cv);
        pthread_mutex_unlock(&e->mu);

        finish_job(e, j); /* j may be freed from here on */
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

