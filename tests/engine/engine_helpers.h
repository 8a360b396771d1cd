/* tests/engine/engine_helpers.h - a real SQLite store + engine per test, and
 * synchronous wrappers over the engine's callbacks. */
#ifndef TAAS_TEST_ENGINE_HELPERS_H
#define TAAS_TEST_ENGINE_HELPERS_H

#include <pthread.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "store/store.h"

typedef struct fixture {
    char dir[64];
    char url[128];
    taas_engine_opts opts;
    taas_store *store;
    taas_engine *engine;
} fixture;

/* A temporary directory with a SQLite database; the engine started with opts. */
fixture *fixture_new(const taas_engine_opts *opts);
/* Stop (expecting a clean stop), remove the directory. */
void fixture_free(fixture *f);
void fixture_open(fixture *f);
/* Stop the engine and close the store; returns taas_engine_stop's value. */
int fixture_close(fixture *f, int grace_ms);

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    taas_status st;
    char id[40];
    bool dup;
    char msg[256];
    int state;
} waiter;

void waiter_init(waiter *w);
void waiter_wait(waiter *w);
void on_submit(void *arg, const taas_submit_result *r);
void cancel_cb(void *arg, taas_status st, int state_after, const char *message);

/* Submit and wait for the durable acknowledgement. */
taas_status submit(fixture *f, const char *name, const char *input, const char *key,
                   int64_t run_after, char id[40], bool *dup, char *msg);
/* Poll GetTask until the task is final (fails the test after ms). */
taas_task_state wait_final(fixture *f, const char *id, taas_task_rec *out, int ms);

#endif
