/*
 * runtime/engine/children.c - child tasks: what taas_submit_child and
 * taas_wait_child do inside a server.
 *
 * A child is an ordinary task submitted through taas_engine_submit, with
 * its parent's id and principal, so that it is durable, listed by parent
 * and isolated as its parent is. Its idempotency key is derived from the
 * parent's id and the child's position in the attempt ("taas.child:<parent
 * id>:<n>"): an attempt that runs again after a crash and submits the same
 * children in the same order gets the same tasks back rather than
 * duplicates.
 *
 * Waiting. The first wait of a body moves it off its worker slot
 * (taas_engine__block_begin: a fresh worker takes the slot), because a pool
 * whose every worker waits on children that no worker can run never ends.
 * The wait itself polls the child's record (a local read: cheap) every few
 * milliseconds, growing to 50 ms, and checks the body's stop flag between
 * reads; a stopped parent cancels its unfinished children before it returns
 * (taas_engine__children_end, after the body).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "store/store.h"

typedef struct submit_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    taas_status status;
    char id[TAAS_ID_LEN + 1];
    char msg[256];
} submit_wait;

static void on_submitted(void *arg, const taas_submit_result *res)
{
    submit_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = res->status;
    if (res->status == TAAS_ST_OK && res->task_id)
        snprintf(w->id, sizeof w->id, "%s", res->task_id);
    else
        snprintf(w->msg, sizeof w->msg, "%s", res->message ? res->message : "submit failed");
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int child_submit(void *arg, const char *name, const char *inputs_json, char *id_out,
                        size_t id_cap, char *err, size_t errlen)
{
    job *j = arg;
    taas_engine *e = j->e;
    if (j->nchildren == j->children_cap) {
        int cap = j->children_cap ? j->children_cap * 2 : 8;
        char(*ids)[TAAS_ID_LEN + 1] = realloc(j->children, (size_t)cap * sizeof *ids);
        if (!ids) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        j->children = ids;
        j->children_cap = cap;
    }
    char key[96];
    snprintf(key, sizeof key, "taas.child:%s:%d", j->rec.id, ++j->child_seq);
    taas_submit_req req = {
        .task_name = name,
        .input = inputs_json,
        .input_len = strlen(inputs_json),
        .idempotency_key = key,
        .priority = j->rec.priority,
        .principal = j->rec.principal,
        .parent_id = j->rec.id,
    };
    submit_wait w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    char msg[512] = "";
    taas_status st = taas_engine_submit(e, &req, on_submitted, &w, msg, sizeof msg);
    if (st == TAAS_ST_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.status;
        if (st != TAAS_ST_OK)
            snprintf(msg, sizeof msg, "%s", w.msg);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (st != TAAS_ST_OK) {
        if (st == TAAS_ST_ALREADY_EXISTS)
            snprintf(err, errlen, "child %d of this task was submitted with other inputs by an "
                     "earlier attempt: %s", j->child_seq, msg);
        else
            snprintf(err, errlen, "%s", msg[0] ? msg : taas_status_name(st));
        return -1;
    }
    memcpy(j->children[j->nchildren++], w.id, TAAS_ID_LEN + 1);
    snprintf(id_out, id_cap, "%s", w.id);
    return 0;
}

static void ignore_cancel(void *arg, taas_status st, int state_after, const char *message)
{
    (void)arg, (void)st, (void)state_after, (void)message;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *stop_reason(int stop)
{
    return stop == TAAS_STOP_CANCEL    ? "the task was cancelled while it waited for a child"
           : stop == TAAS_STOP_TIMEOUT ? "the task's deadline passed while it waited for a child"
                                       : "the server is shutting down";
}

static int child_wait_loop(job *j, taas_engine *e, const char *id, int *state, char **output,
                           char **error,
                           void (*progress)(void *parg, double fraction, const char *message),
                           void *parg, bool once);

static int child_wait(void *arg, const char *id, int *state, char **output, char **error,
                      void (*progress)(void *parg, double fraction, const char *message),
                      void *parg)
{
    job *j = arg;
    taas_engine *e = j->e;
    *state = 0;
    *output = *error = NULL;
    int on_slot = taas_engine__block_begin(e, j);
    if (on_slot < 0) {
        /* No wait that could hold the last worker. A child that has ended
         * needs none; otherwise a clear error the body can retry on (its
         * children carry on meanwhile, and a rerun gets the same ones back). */
        int rc = child_wait_loop(j, e, id, state, output, error, NULL, NULL, true);
        if (rc <= 0)
            return rc;
        char m[300];
        int max = e->opts.max_waiting > 0 ? e->opts.max_waiting : 1024;
        snprintf(m, sizeof m,
                 "this server cannot wait for a child now: %d task bodies already wait off "
                 "their worker slots (the most it allows, TAAS_MAX_WAITING_BODIES) and every "
                 "other worker slot holds a waiting body; retry later",
                 max);
        *error = strdup(m);
        return -1;
    }
    int rc = child_wait_loop(j, e, id, state, output, error, progress, parg, false);
    if (on_slot > 0)
        taas_engine__block_end(e);
    return rc;
}

static int child_wait_loop(job *j, taas_engine *e, const char *id, int *state, char **output,
                           char **error,
                           void (*progress)(void *parg, double fraction, const char *message),
                           void *parg, bool once)
{
    int pause = 2;
    int failures = 0;
    double last_progress = -1;
    char *last_message = NULL;
    for (;;) {
        int stop = atomic_load(&j->stop);
        if (stop != TAAS_STOP_NONE) {
            *error = strdup(stop_reason(stop));
            free(last_message);
            return -1;
        }
        taas_task_rec r;
        char msg[256] = "";
        taas_status st = taas_engine_get(e, id, NULL, &r, msg, sizeof msg);
        if (st == TAAS_ST_OK) {
            failures = 0;
            bool mine = r.parent_id && strcmp(r.parent_id, j->rec.id) == 0;
            if (!mine) {
                taas_task_rec_clear(&r);
                char m[128];
                snprintf(m, sizeof m, "task %s is not a child of this task", id);
                *error = strdup(m);
                free(last_message);
                return -1;
            }
            const char *pm = r.progress_message ? r.progress_message : "";
            if (progress && !taas_task_state_final(r.state) &&
                (r.progress != last_progress || !last_message || strcmp(pm, last_message) != 0)) {
                /* Only what changed: a poll every few ms must not flood the parent. */
                last_progress = r.progress;
                free(last_message);
                last_message = strdup(pm);
                progress(parg, r.progress, pm);
            }
            if (taas_task_state_final(r.state)) {
                *state = (int)r.state;
                if (r.state == TAAS_TASK_SUCCEEDED) {
                    *output = r.output;
                    r.output = NULL;
                } else {
                    *error = strdup(r.error && *r.error ? r.error
                                    : r.state == TAAS_TASK_CANCELLED ? "cancelled"
                                                                     : "failed");
                }
                taas_task_rec_clear(&r);
                free(last_message);
                return 0;
            }
            taas_task_rec_clear(&r);
            if (once) {
                free(last_message);
                return 1; /* not ended yet */
            }
        } else if (st == TAAS_ST_NOT_FOUND || ++failures > 200) {
            *error = strdup(msg[0] ? msg : "the child task cannot be read");
            free(last_message);
            return -1;
        }
        sleep_ms(pause);
        if (pause < 50)
            pause = pause * 2 > 50 ? 50 : pause * 2;
    }
}

const taas_children_ops taas_engine__children = {
    .version = TAAS_CHILDREN_OPS_VERSION,
    .submit = child_submit,
    .wait = child_wait,
};

void taas_engine__children_end(taas_engine *e, job *j)
{
    if (j->nchildren && atomic_load(&j->stop) != TAAS_STOP_NONE) {
        /* Cancelling a finished child is a no-op: no need to read first. */
        for (int i = 0; i < j->nchildren; i++)
            taas_engine_cancel(e, j->children[i], NULL, ignore_cancel, NULL, NULL, 0);
    }
    free(j->children);
    j->children = NULL;
    j->nchildren = j->children_cap = 0;
    j->child_seq = 0;
}
