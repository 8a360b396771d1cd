/*
 * runtime/engine/progress.c - a running body's progress and its start mark:
 * the PROGRESS operations of a job (worker.c runs the body).
 *
 * Locks: j->pmu guards a job's progress and its PROGRESS op in flight; it
 * may be taken with e->mu held, never the reverse (see worker.c). No lock
 * is held across a wait for a commit but pmu's condition variable.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine_internal.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

static void progress_done(taas_store_op *op, void *arg)
{
    job *j = arg;
    pthread_mutex_lock(&j->pmu);
    j->progress_inflight = false;
    j->progress_result = op->result;
    pthread_cond_broadcast(&j->pcv);
    pthread_mutex_unlock(&j->pmu);
}

void taas_engine__queue_progress_pmu(taas_engine *e, job *j)
{
    j->progress_inflight = true;
    j->start_marked = true;
    memcpy(j->progress_msg_op, j->progress_msg, sizeof j->progress_msg_op);
    memset(&j->progress_op, 0, sizeof j->progress_op);
    j->progress_op.kind = TAAS_OP_PROGRESS;
    j->progress_op.u.progress.id = j->rec.id;
    j->progress_op.u.progress.lease_token = j->rec.lease_token;
    j->progress_op.u.progress.progress = j->progress;
    j->progress_op.u.progress.message = j->reported ? j->progress_msg_op : NULL;
    j->progress_op.u.progress.now_ms = taas_now_ms();
    j->progress_op.u.progress.started_ms = j->clear_mark ? -1 : j->body_started_ms;
    if (taas_writer_enqueue(e->writer, &j->progress_op, progress_done, j) != 0) {
        j->progress_inflight = false;
        j->progress_result = TAAS_STORE_EINVAL; /* the writer is stopping */
    }
}

/* Write j's start mark (started_ms = body_started_ms, or clear it when
 * `clear`) and wait for its commit. Returns the store's answer. With no
 * lock held; the body has not been entered, so no other PROGRESS op of j
 * is in flight but possibly the sweeper's, which is waited for first. */
static int write_mark(taas_engine *e, job *j, bool clear)
{
    if (clear) {
        /* Not started after all: the sweeper must not mark it again. */
        pthread_mutex_lock(&e->mu);
        j->body_started_ms = 0;
        pthread_mutex_unlock(&e->mu);
    }
    pthread_mutex_lock(&j->pmu);
    while (j->progress_inflight)
        pthread_cond_wait(&j->pcv, &j->pmu);
    j->clear_mark = clear;
    taas_engine__queue_progress_pmu(e, j);
    while (j->progress_inflight)
        pthread_cond_wait(&j->pcv, &j->pmu);
    int rc = j->progress_result;
    if (clear)
        j->start_marked = j->clear_mark = false;
    pthread_mutex_unlock(&j->pmu);
    return rc;
}

/* Clear the mark of a body that will not start here. A clear the store
 * refuses leaves the mark standing if it committed: the task then counts as
 * started (an attempt used, never a second run), and the log says so. */
static void clear_mark(taas_engine *e, job *j)
{
    int rc = write_mark(e, j, true);
    if (rc != TAAS_STORE_OK)
        taas_log(TAAS_LOG_WARN, "task.mark_uncleared",
                 "id=%s attempt=%d error=\"%s\" msg=\"the body did not start, but its start "
                 "mark may stand: if it does, recovery counts attempt %d as used (never a "
                 "second run)\"",
                 j->rec.id, j->rec.attempt, taas_store_strerror(rc), j->rec.attempt);
}

/*
 * At most once: a non-idempotent body starts only once its start mark has
 * committed, so a task recovered with no mark never ran and goes back to
 * PENDING with its attempt given back (store.h, RECOVER). The marks of
 * bodies starting together share a group commit. Idempotent bodies do not
 * wait: running one twice is allowed, and their start is marked after
 * START_MARK_MS as before.
 *
 * Returns true when the body may start. False: the lease is lost (another
 * node recovered the task) or this node stops; the job is not run and its
 * row is left as it was before the mark (RELEASE or recovery returns it).
 * A mark refused for a passing reason (store down, disk full) is sent
 * again, 100 ms doubling to 1.6 s, while the node runs; the lease is kept
 * by the heartbeat meanwhile (the job holds its worker slot).
 */
bool taas_engine__mark_start(taas_engine *e, job *j)
{
    if (j->rec.idempotent)
        return true;
    for (int tries = 0;; tries++) {
        if (atomic_load(&e->stopping)) {
            /* A refused mark may have committed all the same (the
             * connection lost during COMMIT): clear it, so RELEASE gives
             * the task back. If the store still refuses, the task counts
             * as started: an attempt used, never a second run. */
            if (tries > 0)
                clear_mark(e, j);
            return false;
        }
        int rc = write_mark(e, j, false);
        TAAS_FAULT_POINT("engine.start_marked");
        if (rc == TAAS_STORE_OK)
            break;
        if (!taas_engine__store_transient(rc)) {
            taas_log(TAAS_LOG_WARN, "task.mark_refused",
                     "id=%s attempt=%d error=\"%s\" msg=\"start mark refused: the body does not "
                     "start here\"",
                     j->rec.id, j->rec.attempt, taas_store_strerror(rc));
            return false;
        }
        if (tries == 0)
            taas_log(TAAS_LOG_WARN, "task.mark_retry",
                     "id=%s error=\"%s\" msg=\"the start mark is sent again; the body waits\"",
                     j->rec.id, taas_store_strerror(rc));
        int64_t until = taas_mono_ms() + ((int64_t)100 << (tries < 4 ? tries : 4));
        while (taas_mono_ms() < until && !atomic_load(&e->stopping))
            usleep(10000);
    }
    if (!atomic_load(&e->stopping) && atomic_load(&j->stop) != TAAS_STOP_SHUTDOWN)
        return true;
    /* Marked, but the node stops before the body starts: clear the mark so
     * RELEASE gives the task back with no attempt used. If the clear does
     * not commit, the lease expires and recovery counts the attempt: never
     * a second run. */
    clear_mark(e, j);
    return false;
}

void taas_engine__on_progress(void *arg, double fraction, const char *message)
{
    job *j = arg;
    taas_engine *e = j->e;
    int64_t now = taas_mono_ms();

    /* The op is queued with pmu held: the sweeper's start mark (which
     * holds e->mu, then pmu) sees it in flight and does not queue another. */
    pthread_mutex_lock(&j->pmu);
    j->progress = fraction;
    j->reported = true;
    snprintf(j->progress_msg, sizeof j->progress_msg, "%s", message ? message : "");
    if (!j->progress_inflight && !atomic_load(&j->abandoned) &&
        now - j->last_store_mono >= e->opts.progress_store_ms) {
        j->last_store_mono = now;
        taas_engine__queue_progress_pmu(e, j);
    }
    pthread_mutex_unlock(&j->pmu);
    taas_engine__notify(e, j->rec.id, TAAS_TASK_RUNNING, fraction, message, NULL);
}

