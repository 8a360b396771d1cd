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

/* reads */

/* What readers are told of a task the store has claimed (RUNNING): a task
 * held here whose body has not started is PENDING, with no start time; one
 * running here has its real start and newer progress in memory than in the
 * store (short bodies never store theirs). A claimed task with no start
 * time in the store is held by some node and not started: PENDING too.
 * Takes e->mu. */
void taas_engine__overlay_progress(taas_engine *e, taas_task_rec *r)
{
    if (r->state != TAAS_TASK_RUNNING)
        return;
    pthread_mutex_lock(&e->mu);
    for (job *j = e->ready_head; j; j = j->next) {
        if (strcmp(j->rec.id, r->id) == 0) {
            pthread_mutex_unlock(&e->mu);
            r->state = TAAS_TASK_PENDING;
            r->started_ms = 0;
            return;
        }
    }
    job *found = NULL;
    for (int i = 0; i < e->nworkers && !found; i++)
        if (e->slots[i] && strcmp(e->slots[i]->rec.id, r->id) == 0)
            found = e->slots[i];
    for (job *j = e->offslot; j && !found; j = j->onext)
        if (strcmp(j->rec.id, r->id) == 0)
            found = j;
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
    /* Not started anywhere (held by another node), or on a slot here but
     * never entered (it ends without its body): PENDING. */
    if (r->started_ms == 0)
        r->state = TAAS_TASK_PENDING;
}

taas_status taas_engine_get(taas_engine *e, const char *id, const char *principal,
                            taas_task_rec *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    taas_status st = taas_engine__check_id(id, msg, msglen);
    if (st != TAAS_ST_OK)
        return st;
    int r = e->store->get(e->store, id, out);
    if (r == TAAS_STORE_ENOTFOUND)
        return taas_engine__not_found(id, msg, msglen);
    if (r == TAAS_STORE_OK && !taas_engine__may_see(out, principal)) {
        taas_task_rec_clear(out);
        return taas_engine__not_found(id, msg, msglen);
    }
    if (r != TAAS_STORE_OK) {
        taas_engine__msg(msg, msglen, "cannot read the task store: %s", taas_store_strerror(r));
        return taas_engine__store_status(r) == TAAS_ST_NOT_FOUND ? TAAS_ST_UNAVAILABLE : taas_engine__store_status(r);
    }
    taas_engine__overlay_progress(e, out);
    return TAAS_ST_OK;
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

/*
 * ListTasks(state=RUNNING) on top of the store's page: the store lists a
 * claimed task as RUNNING only once its start is stored (the start mark,
 * written START_MARK_MS into a body, or with its completion), so a body
 * running here, or one whose completion is being committed, would be in
 * neither the RUNNING list (not marked) nor the PENDING one (GetTask says
 * RUNNING). Those of this page's id range are added from the store's record
 * with this node's overlay, in id order; a page past the limit is cut and
 * its token moved. Other nodes' unmarked bodies are PENDING to this node's
 * readers, GetTask included, until their mark commits.
 */
static taas_status add_local_running(taas_engine *e, const taas_list_query *q,
                                     taas_task_rec **out, size_t *n, char next_token[64])
{
    char lo[TAAS_ID_LEN + 1] = "", hi[TAAS_ID_LEN + 1] = "";
    if (next_token[0] && taas_store__token_decode(next_token, lo) != 0)
        return TAAS_ST_OK;
    if (q->page_token && *q->page_token && taas_store__token_decode(q->page_token, hi) != 0)
        return TAAS_ST_OK;
    enum { MAX = 256 };
    char(*ids)[TAAS_ID_LEN + 1] = malloc(MAX * sizeof *ids);
    if (!ids)
        return TAAS_ST_OK;
    int k = 0;
    pthread_mutex_lock(&e->mu);
    for (int pass = 0; pass < 3; pass++) {
        int i = 0;
        job *j = pass == 1 ? e->offslot : pass == 2 ? e->completing : NULL;
        for (;;) {
            if (pass == 0) {
                if (i >= e->nworkers)
                    break;
                j = e->slots[i++];
                if (!j)
                    continue;
            } else if (!j) {
                break;
            }
            const job *cur = j;
            j = pass == 1 ? j->onext : pass == 2 ? j->cnext : NULL;
            if (cur->body_started_ms <= 0 || k >= MAX || !job_matches(cur, q) ||
                (lo[0] && strcmp(cur->rec.id, lo) <= 0) ||
                (hi[0] && strcmp(cur->rec.id, hi) >= 0) || id_listed(*out, *n, cur->rec.id))
                continue;
            memcpy(ids[k++], cur->rec.id, TAAS_ID_LEN + 1);
        }
    }
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < k; i++) {
        taas_task_rec r;
        if (id_listed(*out, *n, ids[i]) || e->store->get(e->store, ids[i], &r) != TAAS_STORE_OK)
            continue;
        taas_engine__overlay_progress(e, &r);
        taas_task_rec *grown = r.state == TAAS_TASK_RUNNING
                                   ? realloc(*out, (*n + 1) * sizeof **out)
                                   : NULL;
        if (!grown) {
            taas_task_rec_clear(&r);
            continue;
        }
        /* A summary, as the store lists them: no input or output text. */
        free(r.input);
        r.input = NULL;
        r.input_len = 0;
        free(r.output);
        r.output = NULL;
        r.output_len = 0;
        *out = grown;
        (*out)[(*n)++] = r;
    }
    free(ids);
    if (k == 0)
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

taas_status taas_engine_list(taas_engine *e, const taas_list_query *q, taas_task_rec **out,
                             size_t *n, char next_token[64], char *msg, size_t msglen)
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
    for (size_t i = 0; i < *n; i++) {
        taas_engine__overlay_progress(e, &(*out)[i]);
        if (q->state != TAAS_TASK_UNSPECIFIED && (*out)[i].state != q->state) {
            taas_task_rec_clear(&(*out)[i]);
            continue;
        }
        if (kept != i)
            (*out)[kept] = (*out)[i];
        kept++;
    }
    *n = kept;
    if (q->state == TAAS_TASK_RUNNING)
        return add_local_running(e, q, out, n, next_token);
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
