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
    if (!found && r->started_ms == 0)
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
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
