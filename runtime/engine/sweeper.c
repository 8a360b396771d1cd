/*
 * runtime/engine/sweeper.c - the sweeper thread: leases, recovery,
 * deadlines, abandonment, pruning, delayed tasks.
 *
 * Every SWEEP_TICK_MS (or when woken through e->sweep_cv) it:
 *   - asks bodies past their deadline to stop, and abandons those that still
 *     run stuck_grace_ms later (the task fails, a fresh worker takes the slot);
 *   - wakes the claimer for delayed tasks (run_after) that became due, and
 *     every RECOVER_EVERY_MS for work other servers may have made runnable;
 *   - renews this node's leases (HEARTBEAT every lease/3 while it holds any);
 *   - recovers expired leases of any node (RECOVER), unless our own last
 *     heartbeat failed (see hb_failed);
 *   - deletes finished tasks past their retention in small batches (PRUNE);
 *   - cancels the leftover children of parents cancelled before their body
 *     ran (cancel.c), a few pages per tick.
 *
 * Locks: e->mu is held while it looks at the worker slots and the claim
 * state, and released before any store operation is queued. Its periodic
 * operations (hb_op, rc_op, prune_op) belong to this thread; each one's
 * atomic *_busy flag is true from the enqueue until the writer's callback,
 * and the op is only rewritten while its flag is false.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "engine_internal.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

/* The flag that is true while `op`, one of e's periodic operations, is queued. */
static atomic_bool *periodic_busy(taas_engine *e, const taas_store_op *op)
{
    return op == &e->hb_op ? &e->hb_busy : op == &e->rc_op ? &e->rc_busy : &e->prune_busy;
}

static void periodic_done(taas_store_op *op, void *arg)
{
    taas_engine *e = arg;
    if (op->kind == TAAS_OP_HEARTBEAT)
        atomic_store(&e->hb_failed, op->result != TAAS_STORE_OK);
    if (op->result == TAAS_STORE_OK && op->kind == TAAS_OP_RECOVER)
        taas_metrics_lease_recovered(op->u.recover.retried + op->u.recover.failed);
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
    atomic_store(periodic_busy(e, op), false);
}

/* Queue `op` unless its previous use is still on its way to the store. */
static void enqueue_periodic(taas_engine *e, taas_store_op *op, atomic_bool *busy)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(busy, &expected, true))
        return;
    if (taas_writer_enqueue(e->writer, op, periodic_done, e) != 0)
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
    if (pthread_create(&fresh, NULL, taas_engine__worker_main, wa) != 0) {
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
void taas_engine__fail_abandoned(taas_engine *e, job *j, const char *why)
{
    taas_engine__complete_begin(j);
    taas_store_op *op = &j->complete_op;
    op->u.complete.state = TAAS_TASK_FAILED;
    snprintf(j->error, sizeof j->error, "%s", why);
    op->u.complete.error = j->error;
    if (taas_writer_enqueue(e->writer, op, taas_engine__complete_done, j) != 0)
        taas_engine__job_unref(j);
}

static void finish_abandoned(taas_engine *e, job *j)
{
    int t = taas_engine__timeout_s(e, j);
    char why[160];
    snprintf(why, sizeof why,
             "timed out after %d s; the body ignored cancellation for %d ms and was abandoned", t,
             e->opts.stuck_grace_ms);
    taas_engine__fail_abandoned(e, j, why);
}

void *taas_engine__sweeper_main(void *p)
{
    taas_engine *e = p;
    pthread_setname_np(pthread_self(), "taas-sweeper");
    int64_t last_heartbeat = taas_mono_ms(), last_recover = taas_mono_ms();
    int64_t last_prune = taas_mono_ms();
    int last_pruned = 0;

    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stopping)) {
        taas_engine__cond_wait_ms(&e->sweep_cv, &e->mu, SWEEP_TICK_MS);
        if (atomic_load(&e->stopping))
            break;
        int64_t mono = taas_mono_ms(), now = taas_now_ms();

        /* Deadlines of running bodies: ask them to stop; abandon those
         * that still run stuck_grace_ms later. */
        job *abandon[8];
        int nabandon = 0;
        /* Start marks of bodies that have run a little while (see
         * START_MARK_MS), queued under e->mu so each lands before its
         * job's COMPLETE. */
        /* Bodies waiting for children off the slots are marked too: they
         * run long, and recovery tells by the mark whether a body started. */
        job *offslot = e->offslot;
        for (int i = 0; i < e->nworkers || offslot; i++) {
            job *j = i < e->nworkers ? e->slots[i] : offslot;
            if (i >= e->nworkers)
                offslot = offslot->onext;
            if (!j || j->body_started_ms <= 0 || atomic_load(&j->abandoned) ||
                now - j->body_started_ms < START_MARK_MS)
                continue;
            pthread_mutex_lock(&j->pmu);
            if (!j->start_marked && !j->progress_inflight)
                taas_engine__queue_progress_pmu(e, j);
            pthread_mutex_unlock(&j->pmu);
        }
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
        /* Bodies waiting for children off the slots: their deadline stops
         * the wait (they are not abandoned: the wait returns at once). */
        for (job *j = e->offslot; j; j = j->onext)
            if (j->deadline_mono && mono >= j->deadline_mono &&
                atomic_load(&j->stop) == TAAS_STOP_NONE)
                atomic_store(&j->stop, TAAS_STOP_TIMEOUT);
        /* Delayed tasks that became due, and a periodic look for work. */
        if (e->next_due_ms && now >= e->next_due_ms) {
            e->next_due_ms = 0;
            e->pending_hint = true;
            e->pending_prio_max = INT_MAX;
        }
        if (mono - last_recover >= RECOVER_EVERY_MS) {
            e->pending_hint = true; /* also covers run_after submitted elsewhere */
            e->pending_prio_max = INT_MAX;
        }
        taas_engine__maybe_claim_locked(e);
        job *unstartable = taas_engine__take_unstartable_locked(e);
        /* Completions waiting to be sent again keep their leases too, and
         * bodies waiting for children off the slots hold theirs. */
        bool do_hb = (e->busy + e->ready_count + e->offslot_alive + nabandon > 0 ||
                      e->completing) &&
                     mono - last_heartbeat >= e->opts.lease_ms / 3;
        /* After a failed heartbeat, recover only once one commits again -
         * unless nothing runs here, when no lease of ours can be lapsed. */
        bool do_rc = mono - last_recover >= RECOVER_EVERY_MS &&
                     (!atomic_load(&e->hb_failed) ||
                      e->busy + e->ready_count + e->offslot_alive == 0);
        /* Prune in small batches; keep going at once while a batch comes
         * back full, so a backlog drains without one long transaction. */
        bool do_prune = e->opts.retention_s > 0 &&
                        (mono - last_prune >= e->opts.prune_every_ms ||
                         (last_pruned >= e->opts.prune_batch && mono - last_prune >= 200));
        bool resend = e->completing != NULL;
        pthread_mutex_unlock(&e->mu);
        taas_engine__give_back(e, unstartable);
        if (resend)
            taas_engine__resend_completions(e);
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
        /* Children left by parents cancelled before their body ran. */
        taas_engine__cancel_orphans_step(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

