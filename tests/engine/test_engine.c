/*
 * tests/engine/test_engine.c - the engine over a real SQLite store and the
 * real example tasks: submit -> claim -> body -> durable completion, watch
 * events in order, validation errors, idempotency, cancellation of pending
 * and running tasks, timeouts, graceful stop releasing leases, restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_helpers.h"
#include "taas/registry.h"
#include "util/util.h"

static int setup(void **state)
{
    taas_engine_opts o = {.workers = 2, .run_workers = true, .lease_ms = 3000};
    *state = fixture_new(&o);
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_submit_runs_to_success(void **state)
{
    fixture *f = *state;
    char id[40];
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"test\",\"param2\":42}", NULL, 0,
                            id, NULL, NULL),
                     TAAS_ST_OK);
    assert_true(taas_uuid_valid(id));
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 5000), TAAS_TASK_SUCCEEDED);
    assert_non_null(r.output);
    assert_non_null(strstr(r.output, "Processed test with 42"));
    assert_int_equal(r.attempt, 1);
    taas_task_rec_clear(&r);
}

static void test_submit_errors(void **state)
{
    fixture *f = *state;
    char msg[256];
    assert_int_equal(submit(f, "my_custm_task", "{}", NULL, 0, NULL, NULL, msg), TAAS_ST_NOT_FOUND);
    assert_non_null(strstr(msg, "my_custom_task"));
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"x\",\"param2\":\"no\"}", NULL, 0,
                            NULL, NULL, msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "/param2"));
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":", NULL, 0, NULL, NULL, msg),
                     TAAS_ST_INVALID_ARGUMENT);
    taas_task_rec r;
    assert_int_equal(taas_engine_get(f->engine, "00000000-0000-7000-8000-000000000000", NULL, &r, msg,
                                     sizeof msg),
                     TAAS_ST_NOT_FOUND);
    assert_int_equal(taas_engine_get(f->engine, "nope", NULL, &r, msg, sizeof msg), TAAS_ST_NOT_FOUND);
}

static void on_event_ignore(void *arg, const taas_watch_event *ev)
{
    (void)arg;
    (void)ev;
}

/* The engine owns the request checks the services used to repeat. */
static void test_submit_checks(void **state)
{
    fixture *f = *state;
    char msg[256];
    assert_int_equal(submit(f, "", "{}", NULL, 0, NULL, NULL, msg), TAAS_ST_INVALID_ARGUMENT);
    assert_string_equal(msg, "task_name: required");
    taas_submit_req req = {.task_name = "my_custom_task", .input = "{\"param1\":\"x\"}",
                           .input_len = 14, .priority = 1000001};
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_string_equal(msg, "priority: out of range");
    req.priority = 0;
    req.timeout_s = -1;
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_string_equal(msg, "timeout_s: must not be negative");
    req.timeout_s = 0;
    req.run_after_ms = -5;
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_string_equal(msg, "run_after_ms: must not be negative");
    req.run_after_ms = 0;

    /* Inputs that break the schema: the message names the first violation,
     * and the engine hands every violation to a caller that asks (the
     * services translate them into BadRequest details). */
    taas_error *v = (taas_error *)1;
    size_t nv = 99;
    req.input = "{\"param1\":7,\"param2\":\"no\"}";
    req.input_len = strlen(req.input);
    req.violations = &v;
    req.n_violations = &nv;
    req.max_violations = 8;
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "/param1"));
    assert_int_equal(nv, 2);
    assert_non_null(v);
    assert_string_equal(v[0].path, "/param1");
    assert_string_equal(v[1].path, "/param2");
    free(v);
    /* Room for one: one, not more. */
    req.max_violations = 1;
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_int_equal(nv, 1);
    assert_string_equal(v[0].path, "/param1");
    free(v);
    /* Any other refusal leaves none. */
    req.timeout_s = -1;
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, NULL, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_int_equal(nv, 0);
    assert_null(v);
    taas_task_rec r;
    assert_int_equal(taas_engine_get(f->engine, "", NULL, &r, msg, sizeof msg),
                     TAAS_ST_INVALID_ARGUMENT);
    assert_string_equal(msg, "task_id: required");
}

/* A principal sees only its own tasks: another's answers exactly as an
 * unknown id, for get, watch and cancel alike; NULL (admin) sees all. */
static void test_principal_isolation(void **state)
{
    fixture *f = *state;
    char id[40], msg[256], unknown_msg[256];
    taas_submit_req req = {.task_name = "my_custom_task",
                           .input = "{\"param1\":\"p\",\"param2\":1}",
                           .input_len = 25, .run_after_ms = taas_now_ms() + 3600000,
                           .principal = "alice"};
    waiter w;
    waiter_init(&w);
    assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, &w, msg, sizeof msg),
                     TAAS_ST_OK);
    waiter_wait(&w);
    assert_int_equal(w.st, TAAS_ST_OK);
    snprintf(id, sizeof id, "%s", w.id);

    taas_task_rec r;
    assert_int_equal(taas_engine_get(f->engine, id, "alice", &r, msg, sizeof msg), TAAS_ST_OK);
    assert_string_equal(r.principal, "alice");
    taas_task_rec_clear(&r);
    assert_int_equal(taas_engine_get(f->engine, id, NULL, &r, msg, sizeof msg), TAAS_ST_OK);
    taas_task_rec_clear(&r);
    assert_int_equal(taas_engine_get(f->engine, id, "bob", &r, msg, sizeof msg),
                     TAAS_ST_NOT_FOUND);
    /* The same words as for an id nobody used. */
    char other[40];
    snprintf(other, sizeof other, "%s", id);
    other[35] = other[35] == '0' ? '1' : '0';
    assert_int_equal(taas_engine_get(f->engine, other, NULL, &r, unknown_msg, sizeof unknown_msg),
                     TAAS_ST_NOT_FOUND);
    char *a = strstr(msg, "' not found"), *b = strstr(unknown_msg, "' not found");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);

    taas_watch *h = (taas_watch *)1;
    assert_int_equal(taas_engine_watch(f->engine, id, "bob", on_event_ignore, NULL, &h, msg,
                                       sizeof msg),
                     TAAS_ST_NOT_FOUND);
    assert_null(h);

    waiter c;
    waiter_init(&c);
    assert_int_equal(taas_engine_cancel(f->engine, id, "bob", cancel_cb, &c, msg, sizeof msg),
                     TAAS_ST_OK);
    waiter_wait(&c);
    assert_int_equal(c.st, TAAS_ST_NOT_FOUND);
    assert_int_equal(taas_engine_get(f->engine, id, NULL, &r, msg, sizeof msg), TAAS_ST_OK);
    assert_int_equal(r.state, TAAS_TASK_PENDING); /* bob's cancel changed nothing */
    taas_task_rec_clear(&r);

    waiter_init(&c);
    assert_int_equal(taas_engine_cancel(f->engine, id, "alice", cancel_cb, &c, msg, sizeof msg),
                     TAAS_ST_OK);
    waiter_wait(&c);
    assert_int_equal(c.st, TAAS_ST_OK);
    assert_int_equal(c.state, TAAS_TASK_CANCELLED);
}

static void test_idempotency(void **state)
{
    fixture *f = *state;
    char a[40], b[40], msg[256];
    bool dup = true;
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"k\",\"param2\":1}", "key-1", 0, a,
                            &dup, NULL),
                     TAAS_ST_OK);
    assert_false(dup);
    /* Same inputs, other key order and spacing: a duplicate. */
    assert_int_equal(submit(f, "my_custom_task", "{ \"param2\": 1.0, \"param1\": \"k\" }", "key-1",
                            0, b, &dup, NULL),
                     TAAS_ST_OK);
    assert_true(dup);
    assert_string_equal(a, b);
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"other\"}", "key-1", 0, b, &dup, msg),
                     TAAS_ST_ALREADY_EXISTS);
    assert_non_null(strstr(msg, "key-1"));
}

/* Watch events: collected under a lock, checked for order. */
typedef struct events {
    pthread_mutex_t mu;
    int n;
    int states[4096];
    double progress[4096];
    int final_state;
    bool final_seen;
    int finals;              /* final events delivered: the test thread checks it is 1 */
    char final_output[256];
} events;

static void on_event(void *arg, const taas_watch_event *ev)
{
    events *e = arg;
    pthread_mutex_lock(&e->mu);
    if (e->n < 4096) {
        e->states[e->n] = ev->state;
        e->progress[e->n] = ev->progress;
        e->n++;
    }
    if (ev->final_task) {
        /* Counted, not asserted: this runs on an engine thread, where a
         * failed cmocka assert would longjmp out of the engine. */
        e->finals++;
        e->final_seen = true;
        e->final_state = ev->final_task->state;
        if (ev->final_task->output)
            snprintf(e->final_output, sizeof e->final_output, "%s", ev->final_task->output);
    }
    pthread_mutex_unlock(&e->mu);
}

static bool wait_event_final(events *ev, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        pthread_mutex_lock(&ev->mu);
        bool done = ev->final_seen;
        pthread_mutex_unlock(&ev->mu);
        if (done)
            return true;
        usleep(10000);
    }
    return false;
}


static void test_watch_countdown_and_cancel_running(void **state)
{
    fixture *f = *state;
    char id[40], msg[256];
    assert_int_equal(submit(f, "countdown", "{\"seconds\":30,\"step_ms\":50}", NULL, 0, id, NULL,
                            NULL),
                     TAAS_ST_OK);
    events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
    taas_watch *w = NULL;
    assert_int_equal(taas_engine_watch(f->engine, id, NULL, on_event, &ev, &w, msg, sizeof msg),
                     TAAS_ST_OK);
    /* Wait for a few progress events, then cancel the running body. */
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&ev.mu);
        int n = ev.n;
        pthread_mutex_unlock(&ev.mu);
        if (n >= 4)
            break;
        usleep(10000);
    }
    waiter cw;
    waiter_init(&cw);
    assert_int_equal(taas_engine_cancel(f->engine, id, NULL, cancel_cb, &cw, msg, sizeof msg), TAAS_ST_OK);
    waiter_wait(&cw);
    assert_int_equal(cw.st, TAAS_ST_OK);
    assert_int_equal(cw.state, TAAS_TASK_RUNNING);
    assert_true(wait_event_final(&ev, 5000));
    assert_int_equal(ev.final_state, TAAS_TASK_CANCELLED);
    usleep(50000); /* room for a second final event, which would be a bug */
    pthread_mutex_lock(&ev.mu);
    int finals = ev.finals;
    pthread_mutex_unlock(&ev.mu);
    assert_int_equal(finals, 1); /* exactly one final event */
    /* States never go backwards before the end. */
    for (int i = 1; i < ev.n; i++)
        assert_true(ev.states[i] >= ev.states[i - 1] || ev.states[i] == TAAS_TASK_RUNNING);
    taas_engine_unwatch(f->engine, w);
}

static void test_cancel_pending_and_unknown(void **state)
{
    fixture *f = *state;
    char id[40], msg[256];
    /* Delayed by an hour: stays PENDING. */
    assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"later\"}", NULL,
                            taas_now_ms() + 3600 * 1000, id, NULL, NULL),
                     TAAS_ST_OK);
    waiter w;
    waiter_init(&w);
    assert_int_equal(taas_engine_cancel(f->engine, id, NULL, cancel_cb, &w, msg, sizeof msg), TAAS_ST_OK);
    waiter_wait(&w);
    assert_int_equal(w.st, TAAS_ST_OK);
    assert_int_equal(w.state, TAAS_TASK_CANCELLED);
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 1000), TAAS_TASK_CANCELLED);
    taas_task_rec_clear(&r);

    waiter_init(&w);
    assert_int_equal(taas_engine_cancel(f->engine, "00000000-0000-7000-8000-000000000000", NULL,
                                        cancel_cb, &w, msg, sizeof msg),
                     TAAS_ST_OK);
    waiter_wait(&w);
    assert_int_equal(w.st, TAAS_ST_NOT_FOUND);
}

/* Both workers busy; each new task is held here (claimed in its insert).
 * A cancel sent the moment its submit is acknowledged - before the task
 * may have joined the ready queue - still ends it before any body starts,
 * and says so: CANCELLED, never PENDING (no other server holds it). */
static void test_cancel_right_after_submit(void **state)
{
    fixture *f = *state;
    char busy[2][40], id[40], msg[256];
    for (int i = 0; i < 2; i++)
        assert_int_equal(submit(f, "countdown", "{\"seconds\":30,\"step_ms\":50}", NULL, 0,
                                busy[i], NULL, NULL),
                         TAAS_ST_OK);
    for (int i = 0; i < 2; i++) {
        for (int tries = 0;; tries++) {
            taas_task_rec r;
            assert_int_equal(taas_engine_get(f->engine, busy[i], NULL, &r, msg, sizeof msg),
                             TAAS_ST_OK);
            taas_task_state st = r.state;
            taas_task_rec_clear(&r);
            if (st == TAAS_TASK_RUNNING)
                break;
            assert_true(tries < 500);
            usleep(10000);
        }
    }
    for (int i = 0; i < 300; i++) {
        assert_int_equal(submit(f, "my_custom_task", "{\"param1\":\"x\"}", NULL, 0, id, NULL,
                                NULL),
                         TAAS_ST_OK);
        waiter w;
        waiter_init(&w);
        assert_int_equal(taas_engine_cancel(f->engine, id, NULL, cancel_cb, &w, msg, sizeof msg),
                         TAAS_ST_OK);
        waiter_wait(&w);
        assert_int_equal(w.st, TAAS_ST_OK);
        assert_int_equal(w.state, TAAS_TASK_CANCELLED);
        taas_task_rec r;
        assert_int_equal(taas_engine_get(f->engine, id, NULL, &r, msg, sizeof msg), TAAS_ST_OK);
        assert_int_equal(r.state, TAAS_TASK_CANCELLED);
        assert_int_equal(r.started_ms, 0);
        taas_task_rec_clear(&r);
    }
    for (int i = 0; i < 2; i++) {
        waiter w;
        waiter_init(&w);
        assert_int_equal(taas_engine_cancel(f->engine, busy[i], NULL, cancel_cb, &w, msg,
                                            sizeof msg),
                         TAAS_ST_OK);
        waiter_wait(&w);
    }
}

static void test_many_tasks_all_finish(void **state)
{
    fixture *f = *state;
    enum { N = 500 };
    static char ids[N][40];
    static waiter ws[N];
    for (int i = 0; i < N; i++) {
        waiter_init(&ws[i]);
        char in[64];
        snprintf(in, sizeof in, "{\"param1\":\"t%d\",\"param2\":%d}", i, i);
        taas_submit_req req = {.task_name = "my_custom_task", .input = in, .input_len = strlen(in)};
        char m[128];
        assert_int_equal(taas_engine_submit(f->engine, &req, on_submit, &ws[i], m, sizeof m),
                         TAAS_ST_OK);
    }
    for (int i = 0; i < N; i++) {
        waiter_wait(&ws[i]);
        assert_int_equal(ws[i].st, TAAS_ST_OK);
        strcpy(ids[i], ws[i].id);
    }
    for (int i = 0; i < N; i++) {
        taas_task_rec r;
        assert_int_equal(wait_final(f, ids[i], &r, 20000), TAAS_TASK_SUCCEEDED);
        char want[64];
        snprintf(want, sizeof want, "Processed t%d with %d", i, i);
        assert_non_null(strstr(r.output, want));
        taas_task_rec_clear(&r);
    }
}

static void test_stop_releases_and_restart_resumes(void **state)
{
    fixture *f = *state;
    char id[40];
    assert_int_equal(submit(f, "countdown", "{\"seconds\":1,\"step_ms\":50}", NULL, 0, id, NULL,
                            NULL),
                     TAAS_ST_OK);
    usleep(200000); /* running now */
    /* No grace: the body is asked to stop, its lease released. */
    assert_int_equal(fixture_close(f, 0), 0);
    fixture_open(f);
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 10000), TAAS_TASK_SUCCEEDED);
    /* The interrupted run did not consume an attempt. */
    assert_int_equal(r.attempt, 1);
    taas_task_rec_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_runs_to_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principal_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_countdown_and_cancel_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_pending_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_right_after_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tasks_all_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_releases_and_restart_resumes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
