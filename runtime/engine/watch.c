/*
 * runtime/engine/watch.c - watchers of a task's events.
 *
 * A watcher is registered for one task id in a hash table; every change the
 * engine sees (a claim, progress, a retry, a final commit, another server's
 * change relayed by cluster.c) is delivered to the task's watchers in
 * order, and a final event ends them.
 *
 * Locks: e->watch_mu guards the table (e->watch, e->nwatch) and every
 * watcher's fields, and is held while a watcher's callback runs: that is
 * what lets taas_engine_unwatch promise the callback is not running once it
 * returns, and what makes the snapshot in taas_engine_watch exact (see
 * there). It is the only lock taken here except e->mu inside
 * taas_engine__overlay_progress; e->mu is never held when watch_mu is taken.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "util/util.h"

struct taas_watch {
    taas_watch *next;        /* bucket chain */
    char id[TAAS_ID_LEN + 1];
    taas_watch_fn fn;
    void *arg;
    bool done;               /* final event delivered: no more calls */
    bool linked;             /* in the table */
};

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % WATCH_BUCKETS;
}

void taas_engine__notify(taas_engine *e, const char *id, int state, double progress,
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

bool taas_engine__has_watchers(taas_engine *e, const char *id)
{
    bool found = false;
    pthread_mutex_lock(&e->watch_mu);
    if (e->nwatch > 0)
        for (taas_watch *w = e->watch[bucket_of(id)]; w && !found; w = w->next)
            found = strcmp(w->id, id) == 0;
    pthread_mutex_unlock(&e->watch_mu);
    return found;
}

void taas_engine__notify_final(taas_engine *e, const char *id)
{
    if (!taas_engine__has_watchers(e, id))
        return;
    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    if (e->store->get(e->store, id, &rec) == TAAS_STORE_OK && taas_task_state_final(rec.state))
        taas_engine__notify(e, id, rec.state, rec.progress, rec.progress_message, &rec);
    taas_task_rec_clear(&rec);
}
int taas_engine__watched_ids(taas_engine *e, char (*ids)[TAAS_ID_LEN + 1], int max)
{
    int n = 0;
    pthread_mutex_lock(&e->watch_mu);
    for (int b = 0; b < WATCH_BUCKETS && n < max; b++)
        for (taas_watch *w = e->watch[b]; w && n < max; w = w->next)
            memcpy(ids[n++], w->id, TAAS_ID_LEN + 1);
    pthread_mutex_unlock(&e->watch_mu);
    return n;
}

void taas_engine__unwatch_all(taas_engine *e)
{
    pthread_mutex_lock(&e->watch_mu);
    for (int b = 0; b < WATCH_BUCKETS; b++)
        for (taas_watch *w = e->watch[b]; w; w = w->next)
            w->linked = false, w->done = true;
    memset(e->watch, 0, sizeof e->watch);
    pthread_mutex_unlock(&e->watch_mu);
}

taas_status taas_engine_watch(taas_engine *e, const char *id, const char *principal,
                              taas_watch_fn fn, void *arg, taas_watch **out, char *msg,
                              size_t msglen)
{
    assert(e && fn && out);
    *out = NULL;
    taas_status st = taas_engine__check_id(id, msg, msglen);
    if (st != TAAS_ST_OK)
        return st;
    taas_watch *w = calloc(1, sizeof *w);
    if (!w) {
        taas_engine__msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memcpy(w->id, id, TAAS_ID_LEN + 1);
    w->fn = fn;
    w->arg = arg;

    /* Register and take the snapshot under watch_mu: a state change
     * committed before the snapshot is in it; one committed after it is
     * delivered to this watcher by taas_engine__notify(), which waits for the lock. So
     * the watcher sees every change exactly once, in order. */
    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_lock(&e->watch_mu);
    int r = e->store->get(e->store, id, &rec);
    if (r == TAAS_STORE_OK && !taas_engine__may_see(&rec, principal)) {
        taas_task_rec_clear(&rec);
        r = TAAS_STORE_ENOTFOUND;
    }
    if (r != TAAS_STORE_OK) {
        pthread_mutex_unlock(&e->watch_mu);
        free(w);
        if (r == TAAS_STORE_ENOTFOUND)
            return taas_engine__not_found(id, msg, msglen);
        taas_engine__msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return TAAS_ST_UNAVAILABLE;
    }
    taas_engine__overlay_progress(e, &rec);
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
