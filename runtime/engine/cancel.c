/*
 * runtime/engine/cancel.c - CancelTask: one CANCEL operation in the store, or,
 * for a task held here whose body has not started, one COMPLETE (CANCELLED).
 *
 * A running body is asked to stop (taas_engine__stop_local) after the CANCEL
 * commits; the final state is written by its completion. Locks: `e->mu` only
 * while taking a held task off the ready queue; none across a store call.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "engine_internal.h"
#include "util/log.h"
#include "util/util.h"
typedef struct cancel_op {
    taas_store_op op;
    taas_engine *e;
    taas_cancel_fn done;
    void *arg;
    job *held;               /* a task held here, not started: completed directly */
    char id[TAAS_ID_LEN + 1];
    char principal[];        /* the caller's, when it may see only its own tasks */
} cancel_op;

static void ignore_cancel(void *arg, taas_status st, int state_after, const char *message)
{
    (void)arg;
    (void)st;
    (void)state_after;
    (void)message;
}

/*
 * A task cancelled before its body ran (PENDING, or held here unstarted)
 * may still have children: those an earlier attempt submitted before the
 * server died. No body is there to cancel them on its way out, so they are
 * cancelled after the CANCELLED has committed. Each of them that ends
 * CANCELLED this way does the same for its own (transitively); one that
 * runs is asked to stop, and its body cancels the children it knows.
 *
 * Finding them is a store read (a round trip on PostgreSQL), so it is not
 * done on the writer's thread, where the cancel's callback runs: the
 * parent is queued, and the sweeper pages through its children at its next
 * tick, ORPHAN_PAGES pages of ORPHAN_PAGE at a time, so that a parent with
 * very many children never holds up the sweeper's heartbeats.
 */
#define ORPHAN_PAGE 1000
#define ORPHAN_PAGES 4

typedef struct orphan_scan {
    struct orphan_scan *next;
    char parent[TAAS_ID_LEN + 1];
    char token[64];              /* where the next page starts */
} orphan_scan;

static void cancel_orphans(taas_engine *e, const char *parent)
{
    orphan_scan *o = calloc(1, sizeof *o);
    if (!o) {
        taas_log(TAAS_LOG_WARN, "engine.cancel_children", "parent=%s error=\"out of memory\"",
                 parent);
        return;
    }
    memcpy(o->parent, parent, sizeof o->parent);
    pthread_mutex_lock(&e->mu);
    o->next = e->orphans;
    e->orphans = o;
    pthread_mutex_unlock(&e->mu);
}

void taas_engine__cancel_orphans_step(taas_engine *e)
{
    pthread_mutex_lock(&e->mu);
    orphan_scan *list = e->orphans;
    e->orphans = NULL;
    pthread_mutex_unlock(&e->mu);
    while (list) {
        orphan_scan *o = list;
        list = o->next;
        bool more = false;
        for (int pages = 0; pages < ORPHAN_PAGES; pages++) {
            taas_list_query q = {.parent_id = o->parent, .limit = ORPHAN_PAGE,
                                 .page_token = o->token};
            taas_task_rec *recs = NULL;
            size_t n = 0;
            char next[64] = "", msg[160];
            if (taas_engine_list(e, &q, &recs, &n, next, msg, sizeof msg) != TAAS_ST_OK) {
                /* Tried again at the next tick, from the same page. */
                taas_log(TAAS_LOG_WARN, "engine.cancel_children", "parent=%s error=\"%s\"",
                         o->parent, msg);
                more = true;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                if (recs[i].state == TAAS_TASK_PENDING || recs[i].state == TAAS_TASK_RUNNING)
                    taas_engine_cancel(e, recs[i].id, NULL, ignore_cancel, NULL, NULL, 0);
                taas_task_rec_clear(&recs[i]);
            }
            free(recs);
            memcpy(o->token, next, sizeof o->token);
            if (!next[0])
                break;
            more = pages + 1 == ORPHAN_PAGES;
        }
        if (more && !atomic_load(&e->stopping)) {
            pthread_mutex_lock(&e->mu);
            o->next = e->orphans;
            e->orphans = o;
            pthread_mutex_unlock(&e->mu);
        } else {
            free(o);
        }
    }
}

void taas_engine__orphans_free(taas_engine *e)
{
    while (e->orphans) {
        orphan_scan *o = e->orphans;
        e->orphans = o->next;
        free(o);
    }
}

/* The COMPLETE (CANCELLED) of a task that was held here has committed. */
static void held_cancel_done(taas_store_op *op, void *arg)
{
    cancel_op *c = arg;
    int result = op->result;
    taas_engine__complete_done(op, c->held); /* final event; drops the job */
    if (result == TAAS_STORE_OK) {
        c->done(c->arg, TAAS_ST_OK, TAAS_TASK_CANCELLED, NULL);
        cancel_orphans(c->e, c->id);
    } else
        c->done(c->arg, taas_engine__store_status(result == TAAS_STORE_ESTALE ? TAAS_STORE_EBUSY : result), 0,
                taas_engine__store_message(result == TAAS_STORE_ESTALE ? TAAS_STORE_EBUSY : result));
    free(c);
}

/* Held here and not started: take c's task off the ready queue and end it
 * with one COMPLETE (the body never starts); held_cancel_done answers and
 * frees c. Returns 1 when taken, 0 when not held here (principal: only
 * that principal's task), -1 when the writer is stopping (c is the
 * caller's to answer and free). */
static int end_if_held(taas_engine *e, cancel_op *c, const char *principal)
{
    pthread_mutex_lock(&e->mu);
    c->held = taas_engine__take_held_locked(e, c->id, principal);
    pthread_mutex_unlock(&e->mu);
    if (!c->held)
        return 0;
    return taas_engine__cancel_held(e, c->held, held_cancel_done, c) == 0 ? 1 : -1;
}

static void cancel_done(taas_store_op *op, void *arg)
{
    cancel_op *c = arg;
    taas_engine *e = c->e;
    char msg[128];
    if (op->result == TAAS_STORE_OK || op->result == TAAS_STORE_EFINAL) {
        int st = op->u.cancel.state_after;
        if (st == TAAS_TASK_RUNNING && op->u.cancel.state_seen == TAAS_TASK_PENDING) {
            /* Claimed, not started, and held here after all: a submit's
             * reply goes out before its claimed task joins the ready
             * queue, so a cancel sent at once can miss it above and find
             * it now (callbacks run in queue order). It ends as a held
             * task does, and the answer waits for that COMPLETE. */
            int held = end_if_held(e, c, NULL);
            if (held > 0)
                return;
            if (held < 0) {
                c->done(c->arg, TAAS_ST_UNAVAILABLE, 0, "the server is shutting down; retry");
                free(c);
                return;
            }
        }
        if (st == TAAS_TASK_RUNNING) {
            /* Ask the body to stop, if it runs here; the server that holds
             * it otherwise is told (PostgreSQL: a notification) and stops
             * it, or cancels it at once when its body has not started. The
             * answer is the state the cancel saw: PENDING while another
             * server holds the task unstarted. */
            taas_engine__stop_local(e, c->id, TAAS_STOP_CANCEL);
            /* What a reader is told, from what the cancel saw and no read:
             * the store's view (no start mark: PENDING) with this node's
             * own knowledge of a body running here laid over it. */
            taas_task_rec seen;
            memset(&seen, 0, sizeof seen);
            memcpy(seen.id, c->id, sizeof seen.id);
            seen.state = TAAS_TASK_RUNNING;
            seen.started_ms = op->u.cancel.state_seen == TAAS_TASK_PENDING ? 0 : 1;
            taas_engine__overlay_progress(e, &seen);
            st = seen.state;
            taas_task_rec_clear(&seen);
        }
        c->done(c->arg, TAAS_ST_OK, st, NULL);
        if (op->result == TAAS_STORE_OK && st == TAAS_TASK_CANCELLED) {
            /* A pending task cancelled: the store reported its name for
             * the metrics' task label. */
            taas_metrics_finished(op->u.cancel.name[0] ? op->u.cancel.name : NULL,
                                  TAAS_TASK_CANCELLED);
            taas_engine__notify_final(e, c->id);
            cancel_orphans(e, c->id);
        }
    } else if (op->result == TAAS_STORE_ENOTFOUND) {
        c->done(c->arg, taas_engine__not_found(c->id, msg, sizeof msg), 0, msg);
    } else {
        c->done(c->arg, taas_engine__store_status(op->result), 0, taas_engine__store_message(op->result));
    }
    free(c);
}

taas_status taas_engine_cancel(taas_engine *e, const char *id, const char *principal,
                               taas_cancel_fn done, void *arg, char *msg, size_t msglen)
{
    assert(e && done);
    taas_status st = taas_engine__check_id(id, msg, msglen);
    if (st != TAAS_ST_OK)
        return st;
    size_t plen = principal ? strlen(principal) + 1 : 0;
    cancel_op *c = calloc(1, sizeof *c + plen);
    if (!c) {
        taas_engine__msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memcpy(c->id, id, TAAS_ID_LEN + 1);
    if (principal) {
        /* The store refuses another principal's task as unknown, inside
         * the same statement that cancels, so no read goes before it. */
        memcpy(c->principal, principal, plen);
        c->op.u.cancel.principal = c->principal;
    }
    c->e = e;
    c->done = done;
    c->arg = arg;
    /* Held here and not started: one COMPLETE ends it, and the body never
     * starts (it is off the ready queue before a worker could take it). */
    int held = end_if_held(e, c, principal);
    if (held > 0)
        return TAAS_ST_OK;
    if (held < 0) {
        free(c);
        taas_engine__msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    c->op.kind = TAAS_OP_CANCEL;
    c->op.u.cancel.id = c->id;
    c->op.u.cancel.now_ms = taas_now_ms();
    if (taas_writer_enqueue(e->writer, &c->op, cancel_done, c) != 0) {
        free(c);
        taas_engine__msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

