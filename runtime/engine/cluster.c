/*
 * runtime/engine/cluster.c - changes made by other servers sharing the store.
 *
 * With PostgreSQL several servers share one task table. The store announces
 * every commit (LISTEN/NOTIFY); the notifier thread here turns those
 * announcements into local effects: runnable work wakes the claimer, a
 * changed task is re-read for this server's watchers (refresh_task), a
 * cancel requested through another server stops the body running here, and
 * after notifications may have been lost (a reconnect) every watched task
 * and local body is refreshed (resync). A store without wait_notify
 * (SQLite: one server) never starts this thread.
 *
 * Locks: e->mu is taken briefly to look at the worker slots, the ready
 * queue and the completing list; e->watch_mu (through watch.c) to look at
 * the watchers. Neither is held across the store read.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_internal.h"

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
    for (job *j = e->offslot; j && !local; j = j->onext)
        local = strcmp(j->rec.id, id) == 0;
    /* A body that finished here reports its own end once its completion
     * commits; the store's older view must not be relayed meanwhile. */
    for (job *j = e->completing; j && !local; j = j->cnext)
        local = strcmp(j->rec.id, id) == 0;
    pthread_mutex_unlock(&e->mu);
    bool relay = !local && taas_engine__has_watchers(e, id);
    if (!(local && cancel) && !relay)
        return;

    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    if (e->store->get(e->store, id, &rec) != TAAS_STORE_OK) {
        taas_task_rec_clear(&rec);
        return;
    }
    if (local && rec.cancel_requested)
        taas_engine__stop_local(e, id, TAAS_STOP_CANCEL);
    /* A body running here reports to watchers directly; only remote runs
     * are relayed from the store. A task whose lease this node holds is
     * ours even if its job is not visible yet (the claim's notification can
     * overtake claim_done): relaying the store's older view would replace
     * the body's newer progress on the stream. */
    bool ours = rec.lease_owner && strcmp(rec.lease_owner, e->node_id) == 0 &&
                rec.state == TAAS_TASK_RUNNING;
    if (rec.state == TAAS_TASK_RUNNING && rec.started_ms == 0)
        rec.state = TAAS_TASK_PENDING; /* held by a server, body not started */
    if (relay && !ours)
        taas_engine__notify(e, id, rec.state, rec.progress, rec.progress_message,
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
    int n = taas_engine__watched_ids(e, ids, MAX);
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->nworkers && n < MAX; i++)
        if (e->slots[i])
            memcpy(ids[n++], e->slots[i]->rec.id, TAAS_ID_LEN + 1);
    for (job *j = e->ready_head; j && n < MAX; j = j->next)
        memcpy(ids[n++], j->rec.id, TAAS_ID_LEN + 1);
    for (job *j = e->offslot; j && n < MAX; j = j->onext)
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
        taas_engine__wake_claimer(e);
    } else if ((kind == TAAS_NOTIFY_TASK || kind == TAAS_NOTIFY_CANCEL) && id) {
        refresh_task(e, id, kind == TAAS_NOTIFY_CANCEL);
    } else if (kind == TAAS_NOTIFY_RESYNC) {
        taas_engine__wake_claimer(e);
        resync(e);
    }
}

void *taas_engine__notifier_main(void *p)
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

