/*
 * tests/engine/test_failures.c - retries with backoff, permanent failures,
 * the attempt history, deadlines, and bodies that ignore cancellation (they
 * are abandoned: the task fails, the pool keeps its size, shutdown is not
 * blocked). Uses the test-only tasks of tests/engine/specs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_helpers.h"
#include "util/util.h"

static const taas_engine_opts fast = {
    .workers = 1,
    .run_workers = true,
    .lease_ms = 3000,
    .retry_base_ms = 20,
    .retry_cap_ms = 200,
    .stuck_grace_ms = 300,
};

static int setup(void **state)
{
    *state = fixture_new(&fast);
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_retry_until_success(void **state)
{
    fixture *f = *state;
    char id[40];
    assert_int_equal(submit(f, "flaky", "{\"succeed_on\":3}", NULL, 0, id, NULL, NULL), TAAS_ST_OK);
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 10000), TAAS_TASK_SUCCEEDED);
    assert_int_equal(r.attempt, 3);
    assert_int_equal(r.max_attempts, 4);
    assert_string_equal(r.output, "{\"attempt\":3}");
    /* Both failed attempts are in the history, with their errors. */
    assert_non_null(r.attempts_json);
    assert_int_equal(count(r.attempts_json, "transient failure on attempt"), 2);
    assert_non_null(strstr(r.attempts_json, "attempt 1"));
    assert_non_null(strstr(r.attempts_json, "attempt 2"));
    taas_task_rec_clear(&r);
}

static void test_retries_exhausted(void **state)
{
    fixture *f = *state;
    char id[40];
    assert_int_equal(submit(f, "flaky", "{\"succeed_on\":99}", NULL, 0, id, NULL, NULL), TAAS_ST_OK);
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 10000), TAAS_TASK_FAILED);
    assert_int_equal(r.attempt, 4);
    assert_non_null(strstr(r.error, "after 4 attempts"));
    assert_int_equal(count(r.attempts_json, "transient failure"), 4);
    taas_task_rec_clear(&r);
}

static void test_permanent_not_retried(void **state)
{
    fixture *f = *state;
    char id[40];
    assert_int_equal(submit(f, "flaky", "{\"succeed_on\":1,\"permanent\":true}", NULL, 0, id, NULL,
                            NULL),
                     TAAS_ST_OK);
    taas_task_rec r;
    assert_int_equal(wait_final(f, id, &r, 5000), TAAS_TASK_FAILED);
    assert_int_equal(r.attempt, 1);
    assert_non_null(strstr(r.error, "permanent failure on attempt 1"));
    taas_task_rec_clear(&r);
}

/* The body sleeps 2.5 s against a 1 s deadline and ignores cancellation:
 * at 1 s + 300 ms it is abandoned and its task fails, while the single
 * worker slot is already serving the next task. */
static void test_stuck_body_abandoned_pool_keeps_serving(void **state)
{
    fixture *f = *state;
    char stuck[40], next[40];
    int64_t t0 = taas_mono_ms();
    assert_int_equal(submit(f, "stubborn", "{\"ms\":2500}", NULL, 0, stuck, NULL, NULL), TAAS_ST_OK);
    usleep(100000);
    assert_int_equal(submit(f, "flaky", "{\"succeed_on\":1}", NULL, 0, next, NULL, NULL), TAAS_ST_OK);

    taas_task_rec r;
    assert_int_equal(wait_final(f, stuck, &r, 5000), TAAS_TASK_FAILED);
    assert_non_null(strstr(r.error, "timed out after 1 s"));
    assert_non_null(strstr(r.error, "abandoned"));
    taas_task_rec_clear(&r);
    assert_int_equal(wait_final(f, next, &r, 5000), TAAS_TASK_SUCCEEDED);
    taas_task_rec_clear(&r);
    /* Well before the stuck body returns. */
    assert_true(taas_mono_ms() - t0 < 2400);

    /* Once the body returns, its late result is dropped and shutdown is clean. */
    usleep(1500000);
    assert_int_equal(fixture_close(f, 1000), 0);
    fixture_open(f);
    assert_int_equal(wait_final(f, stuck, &r, 1000), TAAS_TASK_FAILED);
    taas_task_rec_clear(&r);
}

/* Shutdown with a body that never stops: bounded, and reported. Runs in a
 * child process that owns its own engine (and _exits, since the body's
 * thread and the engine it holds must outlive the stop). */
static void test_shutdown_not_blocked_by_stuck_body(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fixture *f = fixture_new(&fast);
        char id[40];
        if (submit(f, "stubborn", "{\"ms\":60000}", NULL, 0, id, NULL, NULL) != TAAS_ST_OK)
            _exit(2);
        usleep(200000);
        int64_t t0 = taas_mono_ms();
        int stuck = taas_engine_stop(f->engine, 100);
        int64_t took = taas_mono_ms() - t0;
        _exit(stuck == 1 && took < 3000 ? 0 : 1);
    }
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("taas_engine_stop blocked on a body that ignores cancellation");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_until_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stuck_body_abandoned_pool_keeps_serving, setup,
                                        teardown),
        cmocka_unit_test(test_shutdown_not_blocked_by_stuck_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
