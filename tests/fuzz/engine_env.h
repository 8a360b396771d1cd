/*
 * tests/fuzz/engine_env.h - an engine on an in-memory SQLite store for the
 * targets that drive taas_engine_* directly (page tokens, idempotency keys).
 * No worker runs bodies: every task stays PENDING, so what a target reads
 * back depends only on what it submitted. Included by one .c file each.
 */
#ifndef TAAS_FUZZ_ENGINE_ENV_H
#define TAAS_FUZZ_ENGINE_ENV_H

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "engine/engine.h"
#include "fuzz.h"
#include "store/store.h"
#include "util/log.h"
#include "util/util.h"

static taas_store *env_store;
static taas_engine *env_engine;

static void env_start(int64_t retention_s)
{
    taas_log_setup(TAAS_LOG_OFF, TAAS_LOG_TEXT);
    char err[256] = "";
    env_store = taas_store_open("sqlite://", NULL, err, sizeof err);
    FUZZ_CHECK(env_store != NULL, "store: %s", err);
    taas_engine_opts o = {
        .workers = 1,
        .run_workers = false,
        .node_id = "fuzz",
        .retention_s = retention_s,
        .prune_every_ms = 1000,
        .prune_batch = 100000,
    };
    env_engine = taas_engine_start(env_store, &o, err, sizeof err);
    FUZZ_CHECK(env_engine != NULL, "engine: %s", err);
}

static void env_stop(void)
{
    FUZZ_CHECK(taas_engine_stop(env_engine, 5000) == 0, "engine stop");
    env_store->close(env_store);
}

typedef struct env_submit {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    taas_status st;
    char id[64];
    bool duplicate;
    char msg[512];
} env_submit;

static void env_submit_done(void *arg, const taas_submit_result *res)
{
    env_submit *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = res->status;
    snprintf(w->id, sizeof w->id, "%s", res->task_id ? res->task_id : "");
    w->duplicate = res->duplicate;
    snprintf(w->msg, sizeof w->msg, "%s", res->message ? res->message : "");
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Submit and wait for the durable answer. The status is the synchronous
 * one when not OK, else the callback's; *out holds id and duplicate. */
static taas_status env_submit_sync(const taas_submit_req *req, env_submit *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_init(&out->mu, NULL);
    pthread_cond_init(&out->cv, NULL);
    taas_status st = taas_engine_submit(env_engine, req, env_submit_done, out, out->msg,
                                        sizeof out->msg);
    if (st == TAAS_ST_OK) {
        pthread_mutex_lock(&out->mu);
        while (!out->done)
            pthread_cond_wait(&out->cv, &out->mu);
        pthread_mutex_unlock(&out->mu);
        st = out->st;
    }
    pthread_mutex_destroy(&out->mu);
    pthread_cond_destroy(&out->cv);
    return st;
}

#endif
