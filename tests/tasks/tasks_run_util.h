/*
 * tests/tasks/tasks_run_util.h - running a task through taas_run() and
 * looking at what came out.
 */
#ifndef TAAS_TESTS_TASKS_RUN_UTIL_H
#define TAAS_TESTS_TASKS_RUN_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/run.h"

#define TT_MAX_PROGRESS 256

/* Every progress report of one run (filled by tt_progress_cb). */
typedef struct tt_progress {
    pthread_mutex_t lock;
    size_t count;
    double fraction[TT_MAX_PROGRESS];
    char message[TT_MAX_PROGRESS][64];
} tt_progress;

void tt_progress_init(tt_progress *p);
void tt_progress_cb(void *arg, double fraction, const char *message);

/* taas_run with `json` and optional progress/stop; res->output freed by tt_run_done. */
taas_outcome tt_run(const taas_task_type *type, const char *json, tt_progress *progress,
                    atomic_int *stop, taas_run_result *res);
void tt_run_done(taas_run_result *res);

/* Run and assert success; returns the output (malloc'd; caller frees). */
char *tt_run_ok(const taas_task_type *type, const char *json);

/* Whether JSON texts a and b are equal as JSON (key order and spacing ignored). */
bool tt_json_equal(const char *a, const char *b);
/* Fail the test unless actual is JSON-equal to expected. */
void tt_assert_json(const char *actual, const char *expected);

/* The string value at top-level `key` of a JSON object (malloc'd), or NULL. */
char *tt_json_get_string(const char *json, const char *key);
/* The integer / boolean at top-level `key`; fails the test when absent. */
long long tt_json_get_int(const char *json, const char *key);
bool tt_json_get_bool(const char *json, const char *key);

#endif
