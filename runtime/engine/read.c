/*
 * runtime/engine/read.c - GetTask and ListTasks: the store's record, with
 * the progress of a body running here laid over it.
 *
 * Locks: e->mu while looking for the task among the worker slots and the
 * completing list, and the job's pmu (taken after e->mu) while copying its
 * progress; no lock across the store read.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "store/store_int.h" /* page tokens */
#include "util/util.h"

/* reads */

/* What readers are told of a task the store has claimed (RUNNING): a task
 * held here whose body has not started is PENDING, with no start time; one
 * running here has its real start and newer progress in memory than in the
 * store (short bodies never store theirs). A claimed task with no start
 * time in the store is held by some node and not started: PENDING too.
 * Takes e->mu. Returns true when the record should be read again once the
 * task is off the completing list (see read_view). */
bool taas_engine__overlay_progress(taas_engine *e, taas_task_rec *r)
{
    if (r->state != TAAS_TASK_RUNNING)
        return false;
    pthread_mutex_lock(&e->mu);
    for (job *j = e->ready_head; j; j = j->next) {
        if (strcmp(j->rec.id, r->id) == 0) {
            pthread_mutex_unlock(&e->mu);
            r->state = TAAS_TASK_PENDING;
            r->started_ms = 0;
            return false;
        }
    }
    job *found = NULL;
    bool ending = false;
    for (int i = 0; i < e->nworkers && !found; i++)
        if (e->slots[i] && strcmp(e->slots[i]->rec.id, r->id) == 0)
            found = e->slots[i];
    for (job *j = e->offslot; j && !found; j = j->onext)
        if (strcmp(j->rec.id, r->id) == 0)
            found = j;
    /* A completion the store already refused waits for its resend, for
     * seconds maybe: the reader is not held for it (RUNNING it reads). */
    for (job *j = e->completing; j && !found; j = j->cnext)
        if (strcmp(j->rec.id, r->id) == 0)
            found = j, ending = j->cretries == 0;
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
    /* Started under this node's lease, yet no body of it is here: its
     * completion committed after the store was read (the record is older
     * than this look). Read it again, as one ending. */
    if (!found && r->started_ms > 0 && r->lease_owner && strcmp(r->lease_owner, e->node_id) == 0)
        ending = true;
    /* Not started anywhere (held by another node), or on a slot here but
     * never entered (it ends without its body): PENDING. */
    if (r->started_ms == 0)
        r->state = TAAS_TASK_PENDING;
    return ending;
}

/* How long one read waits in all for completions being committed. A
 * commit takes milliseconds; a store that refuses completions keeps them
 * on the completing list for seconds, and the read then says RUNNING at
 * once: readers run on the server's call threads, which must not be held
 * by a store that is down. */
#define COMPLETED_WAIT_MS 500

/* Wait until task `id` is off the completing list (its COMPLETE has been
 * applied, or given up), at most until deadline_mono, and not once the
 * store has refused it. True when it is off. */
static bool wait_completed(taas_engine *e, const char *id, int64_t deadline_mono)
{
    bool off = false;
    pthread_mutex_lock(&e->mu);
    e->completed_waiters++;
    for (;;) {
        job *pending = NULL;
        for (job *j = e->completing; j && !pending; j = j->cnext)
            if (strcmp(j->rec.id, id) == 0)
                pending = j;
        off = pending == NULL;
        int64_t left = deadline_mono - taas_mono_ms();
        if (off || left <= 0 || pending->cretries > 0)
            break;
        taas_engine__cond_wait_ms(&e->completed_cv, &e->mu, left < 50 ? (int)left : 50);
    }
    e->completed_waiters--;
    pthread_mutex_unlock(&e->mu);
    return off;
}

/*
 * The stored record with this node's view over it (above). A task whose body
 * ended here and whose completion is being committed is in no state a
 * reader could be told: its body runs no more (RUNNING counts bodies on
 * workers), and its end is not durable yet. The read waits for that commit
 * (bounded by deadline_mono; 0: no wait) and reads the task again, so that
 * GetTask and every ListTasks agree, before and after.
 */
static int read_view(taas_engine *e, const char *id, taas_task_rec *out, int64_t deadline_mono)
{
    memset(out, 0, sizeof *out);
    int r = e->store->get(e->store, id, out);
    if (r != TAAS_STORE_OK)
        return r;
    if (taas_engine__overlay_progress(e, out) && deadline_mono &&
        wait_completed(e, id, deadline_mono)) {
        taas_task_rec_clear(out);
        r = e->store->get(e->store, id, out);
        if (r == TAAS_STORE_OK)
            taas_engine__overlay_progress(e, out);
    }
    return r;
}

static taas_status get_task(taas_engine *e, const char *id, const char *principal,
                            taas_task_rec *out, char *msg, size_t msglen, bool wait)
{
    memset(out, 0, sizeof *out);
    taas_status st = taas_engine__check_id(id, msg, msglen);
    if (st != TAAS_ST_OK)
        return st;
    int r = read_view(e, id, out, wait ? taas_mono_ms() + COMPLETED_WAIT_MS : 0);
    if (r == TAAS_STORE_ENOTFOUND)
        return taas_engine__not_found(id, msg, msglen);
    if (r == TAAS_STORE_OK && !taas_engine__may_see(out, principal)) {
        taas_task_rec_clear(out);
        return taas_engine__not_found(id, msg, msglen);
    }
    if (r != TAAS_STORE_OK) {
        taas_task_rec_clear(out);
        taas_engine__msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return taas_engine__store_status(r) == TAAS_ST_NOT_FOUND ? TAAS_ST_UNAVAILABLE : taas_engine__store_status(r);
    }
    return TAAS_ST_OK;
}

taas_status taas_engine_get(taas_engine *e, const char *id, const char *principal,
                            taas_task_rec *out, char *msg, size_t msglen)
{
    return get_task(e, id, principal, out, msg, msglen, true);
}

taas_status taas_engine__get_nowait(taas_engine *e, const char *id, const char *principal,
                                    taas_task_rec *out, char *msg, size_t msglen)
{
    return get_task(e, id, principal, out, msg, msglen, false);
}

/* A full record cut to what the store lists: no input or output text. */
static void to_summary(taas_task_rec *r)
{
    free(r->input);
    r->input = NULL;
    r->input_len = 0;
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

static int rec_id_desc(const void *a, const void *b)
{
    return strcmp(((const taas_task_rec *)b)->id, ((const taas_task_rec *)a)->id);
}

static bool id_listed(const taas_task_rec *recs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(recs[i].id, id) == 0)
            return true;
    return false;
}

/* Whether a job's task belongs in the list asked for (but for its state). */
static bool job_matches(const job *j, const taas_list_query *q)
{
    if (q->name && strcmp(q->name, j->rec.name) != 0)
        return false;
    if (q->principal && strcmp(q->principal, j->rec.principal ? j->rec.principal : "") != 0)
        return false;
    if (q->parent_id && strcmp(q->parent_id, j->rec.parent_id ? j->rec.parent_id : "") != 0)
        return false;
    return true;
}

/* A summary of a job running here, as this instant sees it (e->mu and
 * j->pmu held): no input or output text, as the store lists them. */
static bool job_summary(const taas_engine *e, const job *j, taas_task_rec *r)
{
    if (taas_task_rec_copy(r, &j->rec, false) != 0)
        return false;
    free(r->lease_owner);
    free(r->progress_message);
    r->lease_owner = strdup(e->node_id);
    r->progress_message = j->reported ? strdup(j->progress_msg) : NULL;
    if (!r->attempts_json)
        r->attempts_json = strdup("[]");
    r->state = TAAS_TASK_RUNNING;
    r->started_ms = j->body_started_ms;
    r->progress = j->reported ? j->progress : 0;
    if (!r->lease_owner || (j->reported && !r->progress_message) || !r->attempts_json) {
        taas_task_rec_clear(r);
        return false;
    }
    return true;
}

/*
 * ListTasks(state=RUNNING): this node's own tasks from one look at its
 * workers, the others' from the store. The store lists a claimed task as
 * RUNNING only once its start is stored (the start mark, written
 * START_MARK_MS into a body, or with its completion), so a short body
 * running here would be in neither the RUNNING list (not marked) nor the
 * PENDING one while GetTask says RUNNING; and a page read from the store
 * and then laid over this node's memory a moment later could list a task
 * that has ended as well as the one that took its worker since. So the
 * page's rows under this node's lease are dropped (list_tasks) and the
 * bodies on this node's workers at one instant, of the page's id range,
 * are added in id order: never more than the workers (and the bodies
 * waiting for children off them). A page past the limit is cut and its
 * token moved. Another node's body with no start stored is PENDING to
 * this node's readers, GetTask included, until its mark commits.
 */
static taas_status add_local_running(taas_engine *e, const taas_list_query *q,
                                     taas_task_rec **out, size_t *n, char next_token[64])
{
    char lo[TAAS_ID_LEN + 1] = "", hi[TAAS_ID_LEN + 1] = "";
    if (next_token[0] && taas_store__token_decode(next_token, lo) != 0)
        return TAAS_ST_OK;
    if (q->page_token && *q->page_token && taas_store__token_decode(q->page_token, hi) != 0)
        return TAAS_ST_OK;
    bool added = false;
    pthread_mutex_lock(&e->mu);
    job *off = e->offslot;
    for (int i = 0; i < e->nworkers || off; i++) {
        job *j = i < e->nworkers ? e->slots[i] : off;
        if (i >= e->nworkers)
            off = off->onext;
        if (!j || j->body_started_ms <= 0 || !job_matches(j, q) ||
            (lo[0] && strcmp(j->rec.id, lo) <= 0) || (hi[0] && strcmp(j->rec.id, hi) >= 0) ||
            id_listed(*out, *n, j->rec.id))
            continue;
        taas_task_rec *grown = realloc(*out, (*n + 1) * sizeof **out);
        if (!grown)
            break;
        *out = grown;
        pthread_mutex_lock(&j->pmu);
        bool ok = job_summary(e, j, &(*out)[*n]);
        pthread_mutex_unlock(&j->pmu);
        if (ok) {
            (*n)++;
            added = true;
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (!added)
        return TAAS_ST_OK;
    qsort(*out, *n, sizeof **out, rec_id_desc);
    size_t limit = q->limit > 0 ? (size_t)q->limit : *n;
    if (*n > limit) {
        for (size_t i = limit; i < *n; i++)
            taas_task_rec_clear(&(*out)[i]);
        *n = limit;
        taas_store__token_encode((*out)[limit - 1].id, next_token);
    }
    return TAAS_ST_OK;
}

static taas_status list_tasks(taas_engine *e, const taas_list_query *q, taas_task_rec **out,
                              size_t *n, char next_token[64], char *msg, size_t msglen,
                              bool wait)
{
    *out = NULL;
    *n = 0;
    next_token[0] = '\0';
    int r = e->store->list(e->store, q, out, n, next_token);
    if (r == TAAS_STORE_EINVAL) {
        taas_engine__msg(msg, msglen, "invalid page_token: pass back the next_page_token of a previous response");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (r != TAAS_STORE_OK) {
        taas_engine__msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return TAAS_ST_UNAVAILABLE;
    }
    /* The same view as GetTask; a row that is not in the asked state once
     * seen that way (held, not started: PENDING) leaves the page. */
    size_t kept = 0;
    int64_t deadline = wait ? taas_mono_ms() + COMPLETED_WAIT_MS : 0;
    bool running = q->state == TAAS_TASK_RUNNING;
    for (size_t i = 0; i < *n; i++) {
        if (running && (*out)[i].lease_owner && strcmp((*out)[i].lease_owner, e->node_id) == 0) {
            taas_task_rec_clear(&(*out)[i]); /* added from this node's workers below */
            continue;
        }
        if (taas_engine__overlay_progress(e, &(*out)[i]) && wait) {
            /* Its completion is being committed: list it as it ends. */
            taas_task_rec again;
            if (read_view(e, (*out)[i].id, &again, deadline) == TAAS_STORE_OK) {
                to_summary(&again);
                taas_task_rec_clear(&(*out)[i]);
                (*out)[i] = again;
            } else {
                taas_task_rec_clear(&again);
            }
        }
        if (q->state != TAAS_TASK_UNSPECIFIED && (*out)[i].state != q->state) {
            taas_task_rec_clear(&(*out)[i]);
            continue;
        }
        if (kept != i)
            (*out)[kept] = (*out)[i];
        kept++;
    }
    *n = kept;
    if (running)
        return add_local_running(e, q, out, n, next_token);
    return TAAS_ST_OK;
}

taas_status taas_engine_list(taas_engine *e, const taas_list_query *q, taas_task_rec **out,
                             size_t *n, char next_token[64], char *msg, size_t msglen)
{
    return list_tasks(e, q, out, n, next_token, msg, msglen, true);
}

taas_status taas_engine__list_nowait(taas_engine *e, const taas_list_query *q,
                                     taas_task_rec **out, size_t *n, char next_token[64],
                                     char *msg, size_t msglen)
{
    return list_tasks(e, q, out, n, next_token, msg, msglen, false);
}

/* ------------------------------------------------------------------------ */
