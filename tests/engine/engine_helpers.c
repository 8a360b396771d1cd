/* tests/engine/engine_helpers.c - see engine_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_helpers.h"

void fixture_open(fixture *f)
{
    char err[256] = "";
    f->store = taas_store_open(f->url, NULL, err, sizeof err);
    if (!f->store)
        fail_msg("store open: %s", err);
    f->engine = taas_engine_start(f->store, &f->opts, err, sizeof err);
    if (!f->engine)
        fail_msg("engine start: %s", err);
}

int fixture_close(fixture *f, int grace_ms)
{
    int stuck = taas_engine_stop(f->engine, grace_ms);
    if (stuck == 0)
        f->store->close(f->store);
    f->engine = NULL;
    f->store = NULL;
    return stuck;
}

fixture *fixture_new(const taas_engine_opts *opts)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/taas-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:///%s/t.db", f->dir);
    f->opts = *opts;
    fixture_open(f);
    return f;
}

void fixture_free(fixture *f)
{
    if (f->engine)
        assert_int_equal(fixture_close(f, 2000), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

void waiter_init(waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

void waiter_wait(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void on_submit(void *arg, const taas_submit_result *r)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = r->status;
    if (r->task_id)
        snprintf(w->id, sizeof w->id, "%s", r->task_id);
    if (r->message)
        snprintf(w->msg, sizeof w->msg, "%s", r->message);
    w->dup = r->duplicate;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void cancel_cb(void *arg, taas_status st, int state_after, const char *message)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->state = state_after;
    if (message)
        snprintf(w->msg, sizeof w->msg, "%s", message);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

taas_status submit(fixture *f, const char *name, const char *input, const char *key,
                   int64_t run_after, char id[40], bool *dup, char *msg)
{
    waiter w;
    waiter_init(&w);
    taas_submit_req req = {.task_name = name, .input = input, .input_len = strlen(input),
                           .idempotency_key = key, .run_after_ms = run_after};
    char m[256] = "";
    taas_status st = taas_engine_submit(f->engine, &req, on_submit, &w, m, sizeof m);
    if (st != TAAS_ST_OK) {
        if (msg)
            strcpy(msg, m);
        return st;
    }
    waiter_wait(&w);
    if (id)
        strcpy(id, w.id);
    if (dup)
        *dup = w.dup;
    if (msg)
        strcpy(msg, w.msg);
    return w.st;
}

taas_task_state wait_final(fixture *f, const char *id, taas_task_rec *out, int ms)
{
    char msg[256];
    for (int waited = 0; waited < ms; waited += 10) {
        taas_task_rec r;
        assert_int_equal(taas_engine_get(f->engine, id, NULL, &r, msg, sizeof msg), TAAS_ST_OK);
        if (taas_task_state_final(r.state)) {
            if (out)
                *out = r;
            else
                taas_task_rec_clear(&r);
            return r.state;
        }
        taas_task_rec_clear(&r);
        usleep(10000);
    }
    fail_msg("task %s not final after %d ms", id, ms);
    return TAAS_TASK_UNSPECIFIED;
}
