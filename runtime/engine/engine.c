/*
 * runtime/engine/engine.c - the task engine: the task life and the public API.
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
 * This file holds the task life and the public API: start and stop, submit,
 * (cancel is in cancel.c, get and list in read.c). The other parts live beside it (engine_internal.h
 * lists them and their locks): worker.c (claims, ready queue, bodies,
 * completions), sweeper.c, cluster.c (other servers' changes), watch.c.
 *
 * Locks: `e->mu` guards the ready queue, the worker slots, the claim state
 * and e->reserved, which submit and start_claimed change here; stop() waits
 * on e->idle_cv under it. No lock is held across a store call.
 */
#include <errno.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "engine_internal.h"
#include "json/json.h"
#include "taas/registry.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* helpers */

void taas_engine__msg(char *msg, size_t len, const char *fmt, ...)
{
    if (!msg || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

taas_status taas_engine__store_status(int code)
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

const char *taas_engine__store_message(int code)
{
    switch (code) {
    case TAAS_STORE_EFULL: return "the task store is full (disk or quota); nothing was stored";
    case TAAS_STORE_EBUSY: return "the task store is busy or unreachable; nothing was stored, retry";
    case TAAS_STORE_EIO: return "the task store reported an I/O error; nothing was stored, retry";
    case TAAS_STORE_ENOMEM: return "the server is out of memory; nothing was stored, retry";
    default: return taas_store_strerror(code);
    }
}

taas_status taas_engine__check_id(const char *id, char *msg, size_t msglen)
{
    if (!id || !id[0]) {
        taas_engine__msg(msg, msglen, "task_id: required");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (taas_uuid_valid(id))
        return TAAS_ST_OK;
    taas_engine__msg(msg, msglen, "task '%.*s' not found (task ids are 36-character UUIDs)",
                     (int)taas_utf8_cut(id, strlen(id), 64), id);
    return TAAS_ST_NOT_FOUND;
}

taas_status taas_engine__not_found(const char *id, char *msg, size_t msglen)
{
    taas_engine__msg(msg, msglen, "task '%s' not found", id);
    return TAAS_ST_NOT_FOUND;
}

bool taas_engine__may_see(const taas_task_rec *r, const char *principal)
{
    return !principal || (r->principal && strcmp(r->principal, principal) == 0);
}

void taas_engine_unknown_task(const char *name, char *buf, size_t cap)
{
    const char *near[3];
    size_t n = taas_registry_suggest(name, near, 3);
    int w = snprintf(buf, cap, "unknown task '%.*s'", (int)taas_utf8_cut(name, strlen(name), 64),
                     name);
    if (w < 0 || (size_t)w >= cap)
        return;
    if (n == 0) {
        snprintf(buf + w, cap - (size_t)w, "; see RegistryService.ListTaskTypes");
        return;
    }
    w += snprintf(buf + w, cap - (size_t)w, "; did you mean ");
    for (size_t i = 0; i < n && (size_t)w < cap; i++)
        w += snprintf(buf + w, cap - (size_t)w, "%s%s", i ? (i + 1 == n ? " or " : ", ") : "",
                      near[i]);
    if ((size_t)w < cap)
        snprintf(buf + w, cap - (size_t)w, "?");
}

void taas_engine__cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
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

int taas_engine__write_sync(taas_engine *e, taas_store_op *op)
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

/* TAAS_<NAME> environment variables fill options the caller left at 0;
 * a value below `min` (or not a number) is ignored with a warning. -1 means
 * "off" for some options only: the others pass min 0. */
static void env_int_min(const char *name, int *field, long min)
{
    const char *v = getenv(name);
    if (*field == 0 && v && *v) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && errno == 0 && n >= min && n <= 1000000000)
            *field = (int)n;
        else
            taas_log(TAAS_LOG_WARN, "engine.bad_env", "var=%s value=\"%s\" msg=\"ignored\"", name, v);
    }
}

static void env_int(const char *name, int *field)
{
    env_int_min(name, field, -1);
}

static void apply_env_defaults(taas_engine_opts *o)
{
    env_int("TAAS_LEASE_MS", &o->lease_ms);
    env_int("TAAS_PREFETCH", &o->prefetch);
    env_int("TAAS_CLAIM_ON_SUBMIT", &o->claim_on_submit);
    env_int("TAAS_STUCK_GRACE_MS", &o->stuck_grace_ms);
    env_int("TAAS_DEFAULT_TIMEOUT_S", &o->default_timeout_s);
    /* A negative backoff means nothing: 0 is the default. */
    env_int_min("TAAS_RETRY_BASE_MS", &o->retry_base_ms, 0);
    env_int_min("TAAS_RETRY_CAP_MS", &o->retry_cap_ms, 0);
    env_int("TAAS_PROGRESS_STORE_MS", &o->progress_store_ms);
    env_int_min("TAAS_WATCH_INTERVAL_MS", &o->watch_interval_ms, 0);
    env_int_min("TAAS_WATCH_RATE", &o->watch_rate, 0);
    env_int("TAAS_PRUNE_EVERY_MS", &o->prune_every_ms);
    env_int("TAAS_PRUNE_BATCH", &o->prune_batch);
    env_int_min("TAAS_MAX_WAITING_BODIES", &o->max_waiting, 1);
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
        taas_engine__msg(err, errlen, "out of memory");
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
    else if (e->opts.prefetch == 0 || e->opts.prefetch > HOLD_CAP_MAX)
        e->opts.prefetch = HOLD_CAP_MAX;
    if (e->opts.stuck_grace_ms <= 0)
        e->opts.stuck_grace_ms = 10000;
    if (e->opts.retry_base_ms <= 0)
        e->opts.retry_base_ms = 1000;
    if (e->opts.retry_cap_ms <= 0)
        e->opts.retry_cap_ms = 300000;
    if (e->opts.watch_interval_ms <= 0)
        e->opts.watch_interval_ms = 100;
    if (e->opts.watch_rate <= 0)
        e->opts.watch_rate = 4000;
    e->claim_cap = e->nworkers + e->opts.prefetch;
    e->body_avg_us = BODY_US_INITIAL;

    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->watch_mu, NULL);
    pthread_mutex_init(&e->wq_mu, NULL);
    pthread_cond_init(&e->wq_cv, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->idle_cv, NULL);
    pthread_cond_init(&e->completed_cv, NULL);
    pthread_cond_init(&e->sweep_cv, NULL);

    e->slots = calloc((size_t)e->nworkers, sizeof *e->slots);
    /* The most a claim asks for: the hold cap (worker.c), at most this. */
    e->claim_buf_len = e->claim_cap > HOLD_CAP_MAX ? e->claim_cap : HOLD_CAP_MAX;
    e->claim_buf = calloc((size_t)e->claim_buf_len, sizeof *e->claim_buf);
    e->workers = calloc((size_t)e->nworkers, sizeof *e->workers);
    e->writer = taas_writer_start(store, NULL);
    if (!e->slots || !e->claim_buf || !e->workers || !e->writer) {
        taas_engine__msg(err, errlen, "cannot start the engine: out of memory or threads");
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
    int r = taas_engine__write_sync(e, &rc);
    if (r != TAAS_STORE_OK) {
        taas_engine__msg(err, errlen, "recovery failed: %s", taas_store_strerror(r));
        goto fail;
    }
    if (rc.u.recover.retried || rc.u.recover.failed)
        taas_log(TAAS_LOG_INFO, "engine.recovered", "requeued=%d failed_interrupted=%d",
                 rc.u.recover.retried, rc.u.recover.failed);

    if (taas_engine__watcher_start(e) != 0) {
        taas_engine__msg(err, errlen, "cannot start the watch thread");
        goto fail;
    }
    atomic_store(&e->accepting, true);
    e->pending_hint = true;
    e->pending_prio_max = INT_MAX;
    if (e->opts.run_workers) {
        for (int i = 0; i < e->nworkers; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->e = e;
                wa->index = i;
            }
            if (!wa || pthread_create(&e->workers[i], NULL, taas_engine__worker_main, wa) != 0) {
                free(wa);
                taas_engine__msg(err, errlen, "cannot start worker threads");
                e->nworkers = i;
                goto fail_threads;
            }
        }
    }
    if (pthread_create(&e->sweeper, NULL, taas_engine__sweeper_main, e) != 0) {
        taas_engine__msg(err, errlen, "cannot start the sweeper thread");
        goto fail_threads;
    }
    e->sweeper_started = true;
    if (store->sched_due) {
        if (pthread_create(&e->scheduler, NULL, taas_engine__scheduler_main, e) != 0) {
            taas_engine__msg(err, errlen, "cannot start the scheduler thread");
            goto fail_threads;
        }
        e->scheduler_started = true;
    }
    if (store->wait_notify) {
        if (pthread_create(&e->notifier, NULL, taas_engine__notifier_main, e) != 0) {
            taas_engine__msg(err, errlen, "cannot start the notification thread");
            goto fail_threads;
        }
        e->notifier_started = true;
    }
    taas_engine__wake_claimer(e);
    return e;

fail_threads:
    (void)taas_engine_stop(e, 0);
    return NULL;
fail:
    if (e->writer)
        taas_writer_stop(e->writer);
    taas_engine__orphans_free(e);
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
    while (e->busy + e->offslot_alive > 0 && taas_mono_ms() < until) {
        taas_engine__cond_wait_ms(&e->idle_cv, &e->mu, 20);
    }
    /* Then ask the rest to stop, and give them a moment. */
    for (int i = 0; i < e->nworkers; i++)
        if (e->slots[i])
            atomic_store(&e->slots[i]->stop, TAAS_STOP_SHUTDOWN);
    for (job *j = e->offslot; j; j = j->onext)
        atomic_store(&j->stop, TAAS_STOP_SHUTDOWN);
    until = taas_mono_ms() + 1000;
    while (e->busy + e->offslot_alive > 0 && taas_mono_ms() < until) {
        taas_engine__cond_wait_ms(&e->idle_cv, &e->mu, 20);
    }
    /* Non-idempotent bodies that still run have started their work: they
     * fail as interrupted rather than be released and run again. Their
     * threads drop the job when (if) the body returns. */
    job **interrupted = calloc((size_t)e->nworkers, sizeof *interrupted);
    int ninterrupted = 0;
    for (int i = 0; interrupted && i < e->nworkers; i++) {
        job *j = e->slots[i];
        /* A job still waiting for its start mark has not entered its body:
         * its worker gives it back (mark_start in worker.c). */
        if (!j || j->rec.idempotent || !atomic_load(&j->body_entered))
            continue;
        atomic_fetch_add(&j->refs, 1);
        atomic_store(&j->abandoned, true);
        e->slots[i] = NULL;
        e->busy--;
        e->abandoned_alive++;
        interrupted[ninterrupted++] = j;
    }
    /* Bodies that waited for children run off the slots, on threads of
     * their own: like abandoned ones, their memory must outlive them. */
    int stuck = e->busy + e->abandoned_alive + e->offslot_alive;
    pthread_cond_broadcast(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
    for (int k = 0; k < ninterrupted; k++)
        taas_engine__fail_abandoned(e, interrupted[k],
                       "interrupted: the server shut down while the body ran and it did not "
                       "stop; not retried because the task is not idempotent");
    free(interrupted);

    if (e->sweeper_started)
        pthread_join(e->sweeper, NULL);
    /* Children of parents cancelled since the sweeper's last tick: their
     * cancels are queued before the writer stops (one level; deeper ones
     * are left as a crash would leave them). */
    taas_engine__cancel_orphans_step(e);
    if (e->scheduler_started)
        pthread_join(e->scheduler, NULL);
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

    /* Bodies that finished: their completions must land before any lease
     * is given back, or the RELEASE below would make a task whose body ran
     * PENDING again. The store may be down for a while: keep sending them
     * for up to COMPLETE_STOP_WAIT_MS. */
    int64_t cuntil = taas_mono_ms() + COMPLETE_STOP_WAIT_MS;
    int left;
    while ((left = taas_engine__resend_completions(e)) > 0 && taas_mono_ms() < cuntil)
        usleep(20000);
    atomic_store(&e->completions_closed, true);

    if (left > 0 || atomic_load(&e->release_unsafe)) {
        /* Some started attempt's row may still be RUNNING under our lease.
         * RELEASE would make it PENDING and its body would run again: leave
         * every lease to expire instead, and recovery to apply the rules of
         * an interrupted attempt (docs/reliability.md). */
        taas_log(TAAS_LOG_WARN, "engine.release_skipped",
                 "unsent_completions=%d msg=\"the store refused completions: leases left to "
                 "expire so that no started body runs again\"",
                 left);
    } else {
        /* Give back every lease this node still holds: the next start (or
         * another node) runs those tasks again without consuming an
         * attempt. Only tasks whose bodies never started here, or
         * idempotent ones stopped by the shutdown, are left. */
        taas_store_op rel;
        memset(&rel, 0, sizeof rel);
        rel.kind = TAAS_OP_RELEASE;
        rel.u.release.owner = e->node_id;
        rel.u.release.now_ms = taas_now_ms();
        if (taas_engine__write_sync(e, &rel) == TAAS_STORE_OK && rel.u.release.released)
            taas_log(TAAS_LOG_INFO, "engine.released", "tasks=%d", rel.u.release.released);
    }
    TAAS_FAULT_POINT("engine.released");
    /* Completions not sent: drop them (in-flight ones end in complete_done,
     * which retries no more). */
    for (;;) {
        job *drop = NULL;
        pthread_mutex_lock(&e->mu);
        for (job *j = e->completing; j; j = j->cnext)
            if (j->cretry_mono) {
                drop = j;
                break;
            }
        if (drop) {
            drop->cretry_mono = 0;
            if (drop->cprev)
                drop->cprev->cnext = drop->cnext;
            else
                e->completing = drop->cnext;
            if (drop->cnext)
                drop->cnext->cprev = drop->cprev;
            drop->completing = false;
        }
        pthread_mutex_unlock(&e->mu);
        if (!drop)
            break;
        taas_engine__job_unref(drop);
    }

    /* Final events of the completions above reach their watchers. */
    taas_engine__watcher_stop(e);

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

    taas_engine__unwatch_all(e);

    for (job *j = e->ready_head; j;) {
        job *next = j->next;
        taas_engine__job_free(j);
        j = next;
    }
    free(e->slots);
    free(e->claim_buf);
    free(e->workers);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work_cv);
    pthread_cond_destroy(&e->idle_cv);
    pthread_cond_destroy(&e->completed_cv);
    pthread_cond_destroy(&e->sweep_cv);
    free(e);
    return 0;
}

taas_status taas_engine_count_live(taas_engine *e, int64_t counts[6])
{
    if (!e->store->count_live)
        return TAAS_ST_UNIMPLEMENTED;
    return e->store->count_live(e->store, counts) == TAAS_STORE_OK ? TAAS_ST_OK
                                                                   : TAAS_ST_UNAVAILABLE;
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

/* A submit inserted already claimed has committed (added) or not: hand its
 * task to the workers as claim_done would, or give its slot back. */
static void start_claimed(taas_engine *e, submit_op *s, bool added)
{
    job *j = NULL;
    if (added && !atomic_load(&e->stopping)) {
        taas_task_rec r; /* s's strings are borrowed from s: copied */
        bool ok = taas_task_rec_copy(&r, &s->rec, true) == 0;
        r.state = TAAS_TASK_RUNNING;
        r.attempt = 1;
        r.lease_token = 1;
        r.started_ms = 0; /* the body has not started */
        r.lease_expires_ms = r.created_ms + e->opts.lease_ms;
        if (ok) {
            r.lease_owner = strdup(e->node_id);
            r.attempts_json = strdup("[]");
            ok = r.lease_owner && r.attempts_json;
        }
        j = ok ? taas_engine__job_new(e, &r) : NULL;
        if (!j) /* its lease expires and recovery takes it, as for a claim */
            taas_task_rec_clear(&r);
    }
    /* When stopping, the task stays claimed under this node's lease, which
     * the engine releases once no claimed insert is in flight. No event:
     * it is PENDING to readers until its body starts. */
    pthread_mutex_lock(&e->mu);
    e->reserved--;
    if (j) {
        j->next = NULL;
        taas_engine__ready_append_locked(e, j, 1);
    } else {
        taas_engine__maybe_claim_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
}

static void submit_done(taas_store_op *op, void *arg)
{
    submit_op *s = arg;
    taas_engine *e = s->e;
    taas_submit_result res = {0};
    taas_task_rec orig;
    memset(&orig, 0, sizeof orig);
    char msg[256];
    bool added = op->result == TAAS_STORE_OK && !op->u.insert.duplicate;
    if (op->result == TAAS_STORE_OK) {
        res.status = TAAS_ST_OK;
        res.duplicate = op->u.insert.duplicate;
        res.task_id = res.duplicate ? op->u.insert.existing_id : s->rec.id;
        /* A new task is PENDING, also one claimed in its insert: its body
         * has not started. A duplicate answers with the original as it is
         * now (a read on this thread, but duplicates are rare). */
        res.state = TAAS_TASK_PENDING;
        if (res.duplicate) {
            char ignored[160];
            if (taas_engine__get_nowait(e, res.task_id, NULL, &orig, ignored, sizeof ignored) ==
                TAAS_ST_OK) {
                res.state = orig.state;
                res.original = &orig;
            }
        }
    } else if (op->result == TAAS_STORE_ECONFLICT) {
        res.status = TAAS_ST_ALREADY_EXISTS;
        snprintf(msg, sizeof msg,
                 "idempotency key '%.*s' was already used for %s with different inputs",
                 (int)taas_utf8_cut(s->rec.idempotency_key, strlen(s->rec.idempotency_key), 100),
                 s->rec.idempotency_key, s->rec.name);
        res.message = msg;
    } else {
        res.status = taas_engine__store_status(op->result);
        res.message = taas_engine__store_message(op->result);
    }
    s->done(s->arg, &res);
    taas_task_rec_clear(&orig);
    /* The reply first: the acknowledgement is what the client waits for,
     * and it says the same either way (a new task is PENDING until its
     * body starts, and it has not started yet); the worker's wake-up
     * would otherwise stand between the commit and the reply. */
    if (s->claimed)
        start_claimed(e, s, added);

    if (added && !s->claimed) {
        int64_t now = taas_now_ms();
        pthread_mutex_lock(&e->mu);
        if (s->rec.run_after_ms > now) {
            if (e->next_due_ms == 0 || s->rec.run_after_ms < e->next_due_ms)
                e->next_due_ms = s->rec.run_after_ms;
        } else {
            if (!e->pending_hint)
                e->pending_prio_max = s->rec.priority;
            else if (s->rec.priority > e->pending_prio_max)
                e->pending_prio_max = s->rec.priority;
            e->pending_hint = true;
            taas_engine__maybe_claim_locked(e);
        }
        pthread_mutex_unlock(&e->mu);
    }
    free(s);
}

taas_status taas_engine_submit(taas_engine *e, const taas_submit_req *req, taas_submit_fn done,
                               void *arg, char *msg, size_t msglen)
{
    assert(e && req && done); /* programmer errors, not requests */
    if (req->violations && req->n_violations) {
        *req->violations = NULL;
        *req->n_violations = 0;
    }
    if (!atomic_load(&e->accepting)) {
        taas_engine__msg(msg, msglen, "the server is shutting down; submit to another node or retry");
        return TAAS_ST_UNAVAILABLE;
    }
    const char *name = req->task_name ? req->task_name : "";
    if (!name[0]) {
        taas_engine__msg(msg, msglen, "task_name: required");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const taas_task_type *type = taas_registry_find(name);
    if (!type) {
        if (msg && msglen)
            taas_engine_unknown_task(name, msg, msglen);
        return TAAS_ST_NOT_FOUND;
    }
    if (req->timeout_s < 0 || req->run_after_ms < 0 || req->priority < -TAAS_PRIORITY_MAX ||
        req->priority > TAAS_PRIORITY_MAX) {
        taas_engine__msg(msg, msglen, "%s",
                         req->timeout_s < 0      ? "timeout_s: must not be negative"
                         : req->run_after_ms < 0 ? "run_after_ms: must not be negative"
                                                 : "priority: out of range");
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
        taas_engine__msg(msg, msglen, "invalid inputs for %s: %s", type->name,
                taas_error_format(&verr, b, sizeof b));
        /* Every violation, for callers that report them all (BadRequest
         * details): only on this refused path, so a valid submit pays for
         * the first-error check alone. */
        if (req->violations && req->n_violations && req->max_violations &&
            type->input_violations) {
            taas_error *v = malloc(req->max_violations * sizeof *v);
            size_t n = v ? type->input_violations(input, input_len, v, req->max_violations) : 0;
            if (n > req->max_violations)
                n = req->max_violations;
            if (n == 0) {
                free(v);
                v = NULL;
            }
            *req->violations = v;
            *req->n_violations = n;
        }
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *key = req->idempotency_key && *req->idempotency_key ? req->idempotency_key : NULL;
    size_t keylen = key ? strlen(key) : 0;
    if (keylen > 255) {
        taas_engine__msg(msg, msglen, "idempotency_key is longer than 255 bytes");
        return TAAS_ST_INVALID_ARGUMENT;
    }

    size_t namelen = strlen(type->name);
    const char *who = req->principal && *req->principal ? req->principal : NULL;
    size_t wholen = who ? strlen(who) : 0;
    const char *parent = req->parent_id && *req->parent_id ? req->parent_id : NULL;
    size_t parentlen = parent ? strlen(parent) : 0;
    submit_op *s = malloc(sizeof *s + namelen + 1 + input_len + 1 + keylen + 1 + wholen + 1 +
                          parentlen + 1);
    if (!s) {
        taas_engine__msg(msg, msglen, "out of memory");
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
    if (parent) {
        memcpy(p, parent, parentlen + 1);
        s->rec.parent_id = p;
        p += parentlen + 1;
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
     * task is known to wait in the store that would come first (priority,
     * then age), so the body starts right after the one commit. A task that
     * outranks every task waiting in the store and some task held here is
     * claimed too, beyond the hold cap (by at most HOLD_JUMP_MAX): the ready
     * queue is in priority order, so it starts before those held tasks
     * rather than wait for them in the store. */
    if (e->opts.claim_on_submit >= 0 && s->rec.run_after_ms <= now) {
        pthread_mutex_lock(&e->mu);
        int free_slots = taas_engine__free_slots_locked(e);
        bool first = !e->pending_hint || s->rec.priority > e->pending_prio_max;
        if (e->opts.run_workers && !atomic_load(&e->stopping) && first &&
            ((!e->claim_inflight && free_slots > 0) ||
             (free_slots > -HOLD_JUMP_MAX &&
              taas_engine__outranks_held_locked(e, s->rec.priority)))) {
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
        taas_engine__msg(msg, msglen, "the server is shutting down; submit to another node or retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}
