/*
 * runtime/engine/watch.c - watchers of a task's events.
 *
 * A watcher is registered for one task id in a hash table; every change the
 * engine sees (a claim, progress, a retry, a final commit, another server's
 * change relayed by cluster.c) is delivered to the task's watchers in
 * order, and a final event ends them.
 *
 * Fan-out off the reporting thread. taas_engine__notify() only records the
 * event in the task's group (struct wgroup) and wakes the watch thread: a
 * body reporting progress every millisecond costs one lock and a copy,
 * whatever the number of watchers. A progress event replaces a progress
 * event still waiting in the group, so the queue holds at most the state
 * changes not yet delivered plus the latest progress. The watch thread
 * delivers a group's events to its watchers; state changes and the final
 * event at once, progress at most once per interval: the larger of
 * opts.watch_interval_ms and (watchers / opts.watch_rate) seconds. That
 * bounds the messages all watch streams send together, and with them the
 * work of the gRPC thread, which in gRPC's poller does every socket write:
 * without the bound, a few hundred watchers that read kept that thread
 * busy sending progress (most of its time in sendmsg) and health checks
 * waited behind them for hundreds of milliseconds.
 *
 * Order and snapshot. Every queued event and every registration takes a
 * number from e->wseq; a watcher gets only events numbered after its
 * registration. The snapshot a new watcher is sent is read after its
 * number was taken, and an event is queued after its change was committed:
 * an event numbered before the watcher is in the snapshot, one numbered
 * after it is delivered. So no change is missed; one committed between the
 * registration and the snapshot read may be seen twice (the same state
 * again, which a stream treats as progress).
 *
 * Locks: e->watch_mu guards the table (e->watch, e->nwatch) and every
 * watcher's fields, and is held while a watcher's callback runs: that is
 * what lets taas_engine_unwatch promise the callback is not running once it
 * returns. e->wq_mu guards the groups, the ready list, wseq and wq_nwatch;
 * it is held only for short copies, never across a callback, so reporting
 * never waits for delivery. Order: watch_mu before wq_mu; e->mu is taken
 * inside taas_engine__overlay_progress with watch_mu held, and is never held
 * when watch_mu or wq_mu is taken.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/util.h"

struct taas_watch {
    taas_watch *next;        /* bucket chain */
    char id[TAAS_ID_LEN + 1];
    taas_watch_fn fn;
    void *arg;
    uint64_t seq;            /* registration: events after it are for us */
    bool done;               /* final event delivered: no more calls */
    bool linked;             /* in the table */
};

/* One queued event. */
struct witem {
    struct witem *next;
    uint64_t seq;
    int state;
    bool progress_only;      /* the same state as the event before it */
    double progress;
    char message[256];
    taas_task_rec *final;    /* owned copy; NULL unless final */
};

/* The watched task's queue, while it has watchers or events. */
struct wgroup {
    struct wgroup *next;     /* bucket chain */
    struct wgroup *rnext;    /* ready list */
    char id[TAAS_ID_LEN + 1];
    int nwatchers;
    bool listed;             /* on the ready list */
    int last_state;          /* of the last queued event */
    struct witem *qhead, *qtail;
    int64_t progress_mono;   /* when progress last went out */
};

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % WATCH_BUCKETS;
}

/* ------------------------------------------------------------------------ */
/* Groups (e->wq_mu held) */

static struct wgroup **group_find(taas_engine *e, const char *id)
{
    struct wgroup **pp = &e->wgroups[bucket_of(id)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void items_free(struct witem *it)
{
    while (it) {
        struct witem *n = it->next;
        if (it->final) {
            taas_task_rec_clear(it->final);
            free(it->final);
        }
        free(it);
        it = n;
    }
}

/* Free the group once nobody watches it and the watch thread is not about
 * to look at it. */
static void group_maybe_free(taas_engine *e, struct wgroup **pp)
{
    struct wgroup *g = *pp;
    if (g->nwatchers > 0 || g->listed)
        return;
    *pp = g->next;
    items_free(g->qhead);
    free(g);
}

static void group_unwatched(taas_engine *e, const char *id)
{
    struct wgroup **pp = group_find(e, id);
    e->wq_nwatch--;
    if (*pp) {
        (*pp)->nwatchers--;
        group_maybe_free(e, pp);
    }
}

/* A deep copy for a final event delivered later; NULL when out of memory. */
static taas_task_rec *rec_copy(const taas_task_rec *r)
{
    taas_task_rec *c = malloc(sizeof *c);
    if (c && taas_task_rec_copy(c, r, true) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void taas_engine__notify(taas_engine *e, const char *id, int state, double progress,
                         const char *message, const taas_task_rec *final_task)
{
    /* The copy of a final record is made before the lock: it is the one
     * event that must not be lost, and the only costly one. */
    taas_task_rec *fin = NULL;
    if (final_task) {
        pthread_mutex_lock(&e->wq_mu);
        bool watched = *group_find(e, id) != NULL;
        pthread_mutex_unlock(&e->wq_mu);
        if (!watched)
            return;
        fin = rec_copy(final_task);
        if (!fin) {
            taas_log(TAAS_LOG_ERROR, "watch.oom", "task=%s msg=\"final event not delivered\"", id);
            return;
        }
    }

    pthread_mutex_lock(&e->wq_mu);
    struct wgroup *g = *group_find(e, id);
    if (!g) {
        pthread_mutex_unlock(&e->wq_mu);
        if (fin) {
            taas_task_rec_clear(fin);
            free(fin);
        }
        return;
    }
    struct witem *it = g->qtail;
    if (!fin && it && !it->final && it->state == state) {
        /* Newer news of the same state replaces what still waits: a slow
         * watch thread or reader gets the latest value, never a backlog. */
    } else {
        it = calloc(1, sizeof *it);
        if (!it) {
            pthread_mutex_unlock(&e->wq_mu);
            if (fin) {
                taas_task_rec_clear(fin);
                free(fin);
            }
            taas_log(TAAS_LOG_ERROR, "watch.oom", "task=%s", id);
            return;
        }
        it->state = state;
        it->progress_only = !fin && state == g->last_state;
        it->final = fin;
        if (g->qtail)
            g->qtail->next = it;
        else
            g->qhead = it;
        g->qtail = it;
    }
    g->last_state = state;
    it->seq = ++e->wseq;
    it->progress = progress;
    taas_utf8_copy(it->message, sizeof it->message, message ? message : "");
    bool wake = !g->listed;
    if (wake) {
        g->listed = true;
        g->rnext = e->wready;
        e->wready = g;
        pthread_cond_signal(&e->wq_cv);
    }
    pthread_mutex_unlock(&e->wq_mu);
}

bool taas_engine__has_watchers(taas_engine *e, const char *id)
{
    pthread_mutex_lock(&e->wq_mu);
    struct wgroup *g = *group_find(e, id);
    bool found = g && g->nwatchers > 0;
    pthread_mutex_unlock(&e->wq_mu);
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

/* ------------------------------------------------------------------------ */
/* The watch thread */

struct delivery {
    struct delivery *next;
    char id[TAAS_ID_LEN + 1];
    struct witem *items;
};

/* Deliver one group's events, in order, to the watchers registered before
 * each. */
static void deliver(taas_engine *e, struct delivery *d)
{
    unsigned b = bucket_of(d->id);
    pthread_mutex_lock(&e->watch_mu);
    for (struct witem *it = d->items; it; it = it->next) {
        taas_watch_event ev = {
            .task_id = d->id,
            .state = it->state,
            .progress = it->progress,
            .progress_message = it->message,
            .at_ms = taas_now_ms(),
            .final_task = it->final,
        };
        taas_watch **pp = &e->watch[b];
        while (*pp) {
            taas_watch *w = *pp;
            if (strcmp(w->id, d->id) != 0 || w->done || w->seq > it->seq) {
                pp = &w->next;
                continue;
            }
            w->fn(w->arg, &ev);
            if (it->final) {
                w->done = true;
                w->linked = false;
                *pp = w->next;
                e->nwatch--;
                pthread_mutex_lock(&e->wq_mu);
                group_unwatched(e, d->id);
                pthread_mutex_unlock(&e->wq_mu);
            } else {
                pp = &w->next;
            }
        }
    }
    pthread_mutex_unlock(&e->watch_mu);
}

static void *watcher_main(void *p)
{
    taas_engine *e = p;
    pthread_setname_np(pthread_self(), "taas-watch"); /* per-thread CPU in top, perf, /proc */
    pthread_mutex_lock(&e->wq_mu);
    for (;;) {
        int64_t now = taas_mono_ms();
        /* With many watchers each one's interval grows, so that all of them
         * together send at most watch_rate progress events a second. */
        int64_t ivl = (int64_t)e->wq_nwatch * 1000 / e->opts.watch_rate;
        if (ivl < e->opts.watch_interval_ms)
            ivl = e->opts.watch_interval_ms;
        int64_t next_due = -1;
        struct delivery *batch = NULL, **tail = &batch;
        for (struct wgroup **pp = &e->wready; *pp;) {
            struct wgroup *g = *pp;
            /* Only progress waits for its turn; a state change or a final
             * event takes what is queued before it along at once. */
            bool urgent = false;
            for (struct witem *it = g->qhead; it && !urgent; it = it->next)
                urgent = !it->progress_only;
            int64_t due = urgent || e->wq_stop || !g->qhead ? now : g->progress_mono + ivl;
            if (due > now) {
                if (next_due < 0 || due < next_due)
                    next_due = due;
                pp = &g->rnext;
                continue;
            }
            struct delivery *d = g->qhead ? malloc(sizeof *d) : NULL;
            if (g->qhead && !d) {
                pp = &g->rnext; /* out of memory: try again later */
                if (next_due < 0 || now + 100 < next_due)
                    next_due = now + 100;
                continue;
            }
            *pp = g->rnext;
            g->listed = false;
            if (d) {
                memcpy(d->id, g->id, sizeof d->id);
                d->items = g->qhead;
                d->next = NULL;
                *tail = d;
                tail = &d->next;
                g->qhead = g->qtail = NULL;
                g->progress_mono = now;
            }
            group_maybe_free(e, group_find(e, g->id));
        }
        if (batch) {
            pthread_mutex_unlock(&e->wq_mu);
            while (batch) {
                struct delivery *d = batch;
                batch = d->next;
                deliver(e, d);
                items_free(d->items);
                free(d);
            }
            pthread_mutex_lock(&e->wq_mu);
            continue;
        }
        if (e->wq_stop && !e->wready)
            break;
        if (next_due < 0)
            pthread_cond_wait(&e->wq_cv, &e->wq_mu);
        else
            taas_engine__cond_wait_ms(&e->wq_cv, &e->wq_mu, (int)(next_due - now));
    }
    pthread_mutex_unlock(&e->wq_mu);
    return NULL;
}

int taas_engine__watcher_start(taas_engine *e)
{
    if (pthread_create(&e->watcher, NULL, watcher_main, e) != 0)
        return -1;
    e->watcher_started = true;
    return 0;
}

void taas_engine__watcher_stop(taas_engine *e)
{
    if (!e->watcher_started)
        return;
    pthread_mutex_lock(&e->wq_mu);
    e->wq_stop = true;
    pthread_cond_signal(&e->wq_cv);
    pthread_mutex_unlock(&e->wq_mu);
    pthread_join(e->watcher, NULL);
    e->watcher_started = false;
}

/* ------------------------------------------------------------------------ */

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
    taas_engine__watcher_stop(e);
    pthread_mutex_lock(&e->watch_mu);
    for (int b = 0; b < WATCH_BUCKETS; b++)
        for (taas_watch *w = e->watch[b]; w; w = w->next)
            w->linked = false, w->done = true;
    memset(e->watch, 0, sizeof e->watch);
    pthread_mutex_lock(&e->wq_mu);
    for (int b = 0; b < WATCH_BUCKETS; b++) {
        while (e->wgroups[b]) {
            struct wgroup *g = e->wgroups[b];
            e->wgroups[b] = g->next;
            items_free(g->qhead);
            free(g);
        }
    }
    e->wready = NULL;
    e->wq_nwatch = 0;
    pthread_mutex_unlock(&e->wq_mu);
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

    /* Count the watcher in its group and take its number before the
     * snapshot is read (see the top of this file); watch_mu is held until
     * the watcher is in the table, so the watch thread cannot deliver a
     * later event before it is there. */
    taas_task_rec rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_lock(&e->watch_mu);
    pthread_mutex_lock(&e->wq_mu);
    struct wgroup **gp = group_find(e, id);
    if (!*gp) {
        struct wgroup *g = calloc(1, sizeof *g);
        if (!g) {
            pthread_mutex_unlock(&e->wq_mu);
            pthread_mutex_unlock(&e->watch_mu);
            free(w);
            taas_engine__msg(msg, msglen, "out of memory");
            return TAAS_ST_RESOURCE_EXHAUSTED;
        }
        memcpy(g->id, id, TAAS_ID_LEN + 1);
        g->last_state = -1;
        g->progress_mono = taas_mono_ms();
        *gp = g;
    }
    (*gp)->nwatchers++;
    e->wq_nwatch++;
    w->seq = ++e->wseq;
    pthread_mutex_unlock(&e->wq_mu);

    int r = e->store->get(e->store, id, &rec);
    if (r == TAAS_STORE_OK && !taas_engine__may_see(&rec, principal)) {
        taas_task_rec_clear(&rec);
        r = TAAS_STORE_ENOTFOUND;
    }
    if (r != TAAS_STORE_OK) {
        pthread_mutex_lock(&e->wq_mu);
        group_unwatched(e, id);
        pthread_mutex_unlock(&e->wq_mu);
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
        pthread_mutex_lock(&e->wq_mu);
        group_unwatched(e, id);
        pthread_mutex_unlock(&e->wq_mu);
        pthread_mutex_unlock(&e->watch_mu);
        free(w);
        taas_task_rec_clear(&rec);
        return TAAS_ST_OK;
    }
    pthread_mutex_lock(&e->wq_mu);
    struct wgroup *g = *group_find(e, id);
    if (g && g->last_state < 0)
        g->last_state = rec.state; /* the next event of this state is progress */
    pthread_mutex_unlock(&e->wq_mu);
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
        w->linked = false;
        pthread_mutex_lock(&e->wq_mu);
        group_unwatched(e, w->id);
        pthread_mutex_unlock(&e->wq_mu);
    }
    pthread_mutex_unlock(&e->watch_mu);
    free(w);
}
