/*
 * tests/tasks/test_simple_tasks.c - my_custom_task and countdown through
 * their generated entries (taas_run: JSON in, JSON out).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "countdown.h"
#include "latency_probe.h"
#include "my_custom_task.h"
#include "tasks_run_util.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect_result(const char *input, const char *result)
{
    char *out = tt_run_ok(&taas_task_my_custom_task, input);
    char want[256];
    snprintf(want, sizeof want, "{\"result\":\"%s\"}", result);
    tt_assert_json(out, want);
    free(out);
}

static void test_my_custom_task_guide_example(void **state)
{
    (void)state;
    expect_result("{\"param1\":\"test\",\"param2\":42}", "Processed test with 42");
}

static void test_my_custom_task_numbers(void **state)
{
    (void)state;
    /* param2 defaults to 0 */
    expect_result("{\"param1\":\"test\"}", "Processed test with 0");
    expect_result("{\"param1\":\"x\",\"param2\":2.5}", "Processed x with 2.5");
    expect_result("{\"param1\":\"x\",\"param2\":0.1}", "Processed x with 0.1");
    expect_result("{\"param1\":\"x\",\"param2\":-3}", "Processed x with -3");
    expect_result("{\"param1\":\"x\",\"param2\":42.0}", "Processed x with 42");
    expect_result("{\"param1\":\"x\",\"param2\":1e3}", "Processed x with 1000");
    expect_result("{\"param1\":\"x\",\"param2\":123456789012345680000}",
                  "Processed x with 123456789012345680000");
    expect_result("{\"param1\":\"x\",\"param2\":1e21}", "Processed x with 1e+21");
    expect_result("{\"param1\":\"x\",\"param2\":0.000001}", "Processed x with 0.000001");
    expect_result("{\"param1\":\"x\",\"param2\":1.5e-7}", "Processed x with 1.5e-7");
    expect_result("{\"param1\":\"x\",\"param2\":-0.0}", "Processed x with 0");
    expect_result("{\"param1\":\"x\",\"param2\":0.30000000000000004}",
                  "Processed x with 0.30000000000000004");
    expect_result("{\"param1\":\"x\",\"param2\":1.7976931348623157e308}",
                  "Processed x with 1.7976931348623157e+308");
    /* Strings are carried through untouched, including non-ASCII text. */
    expect_result("{\"param1\":\"h\\u00e9llo \\\"q\\\"\",\"param2\":1}",
                  "Processed h\\u00e9llo \\\"q\\\" with 1");
}

static void test_my_custom_task_progress(void **state)
{
    (void)state;
    tt_progress p;
    taas_run_result res;
    tt_progress_init(&p);
    assert_int_equal(tt_run(&taas_task_my_custom_task, "{\"param1\":\"a\"}", &p, NULL, &res),
                     TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_int_equal(p.count, 1);
    assert_true(p.fraction[0] == 0.5);
    assert_string_equal(p.message[0], "Processing...");
}

static void expect_invalid(const taas_task_type *type, const char *input, const char *needle)
{
    taas_run_result res;
    taas_outcome o = tt_run(type, input, NULL, NULL, &res);
    tt_run_done(&res);
    if (o != TAAS_OUTCOME_INVALID_INPUT || !strstr(res.error, needle))
        fail_msg("%s %s: outcome %d, error '%s' (want INVALID_INPUT with '%s')", type->name,
                 input, (int)o, res.error, needle);
}

static void test_my_custom_task_invalid(void **state)
{
    (void)state;
    expect_invalid(&taas_task_my_custom_task, "{\"param2\":1}", "param1");
    expect_invalid(&taas_task_my_custom_task, "{\"param1\":\"a\",\"param2\":\"x\"}", "/param2");
    expect_invalid(&taas_task_my_custom_task, "{\"param1\":7}", "/param1");
    expect_invalid(&taas_task_my_custom_task, "[]", "object");
    expect_invalid(&taas_task_my_custom_task, "{\"param1\":", "");
}

/* ------------------------------------------------------------------------ */

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The probe reports its body's start on the wall clock, which is what
 * taas-bench subtracts the submit time from. */
static void test_latency_probe_reports_start(void **state)
{
    (void)state;
    int64_t before = realtime_us();
    char *out = tt_run_ok(&taas_task_latency_probe, "{\"param1\":\"x\",\"param2\":1}");
    int64_t after = realtime_us();
    const char *p = strstr(out, "\"started_us\":");
    assert_non_null(p);
    long long started = strtoll(p + 13, NULL, 10);
    assert_true(started >= before && started <= after);
    free(out);
    /* Inputs are not looked at, but they are still checked: an object. */
    taas_run_result res;
    assert_int_equal(tt_run(&taas_task_latency_probe, "[1]", NULL, NULL, &res),
                     TAAS_OUTCOME_INVALID_INPUT);
    tt_run_done(&res);
}

static void test_countdown_zero(void **state)
{
    (void)state;
    char *out = tt_run_ok(&taas_task_countdown, "{\"seconds\":0}");
    tt_assert_json(out, "{\"counted\":0,\"steps\":0}");
    free(out);
}

static void test_countdown_runs_and_reports(void **state)
{
    (void)state;
    tt_progress p;
    taas_run_result res;
    tt_progress_init(&p);
    int64_t t0 = now_ms();
    assert_int_equal(
        tt_run(&taas_task_countdown, "{\"seconds\":1,\"step_ms\":100}", &p, NULL, &res),
        TAAS_OUTCOME_SUCCEEDED);
    int64_t took = now_ms() - t0;
    tt_assert_json(res.output, "{\"counted\":1,\"steps\":10}");
    tt_run_done(&res);
    assert_true(took >= 1000);
    assert_true(took < 3000);
    /* One report per step, then the final one; fractions never go back. */
    assert_int_equal(p.count, 11);
    assert_string_equal(p.message[0], "1 second left");
    for (size_t i = 1; i < p.count; i++)
        assert_true(p.fraction[i] >= p.fraction[i - 1]);
    assert_true(p.fraction[0] == 0.0);
    assert_true(p.fraction[10] == 1.0);

    /* Whole-second steps count the seconds down. */
    tt_progress_init(&p);
    assert_int_equal(
        tt_run(&taas_task_countdown, "{\"seconds\":2,\"step_ms\":1000}", &p, NULL, &res),
        TAAS_OUTCOME_SUCCEEDED);
    tt_assert_json(res.output, "{\"counted\":2,\"steps\":2}");
    tt_run_done(&res);
    assert_int_equal(p.count, 3);
    assert_string_equal(p.message[0], "2 seconds left");
    assert_string_equal(p.message[1], "1 second left");
}

typedef struct canceller {
    atomic_int *stop;
    int delay_ms;
    int64_t at_ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    struct timespec ts = {.tv_sec = c->delay_ms / 1000, .tv_nsec = (c->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    c->at_ms = now_ms();
    atomic_store(c->stop, TAAS_STOP_CANCEL);
    return NULL;
}

static void run_cancelled(const char *input, int delay_ms, int64_t max_react_ms)
{
    atomic_int stop = TAAS_STOP_NONE;
    canceller c = {.stop = &stop, .delay_ms = delay_ms};
    pthread_t th;
    taas_run_result res;
    tt_progress p;
    tt_progress_init(&p);

    int64_t t0 = now_ms();
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    taas_outcome o = tt_run(&taas_task_countdown, input, &p, &stop, &res);
    int64_t end = now_ms();
    pthread_join(th, NULL);
    tt_run_done(&res);

    if (o != TAAS_OUTCOME_STOPPED || res.stop_reason != TAAS_STOP_CANCEL)
        fail_msg("%s: outcome %d (want STOPPED), stop %d, error '%s'", input, (int)o,
                 res.stop_reason, res.error);
    int64_t react = end - c.at_ms;
    if (react > max_react_ms)
        fail_msg("%s: stopped %lld ms after the cancellation (limit %lld)", input,
                 (long long)react, (long long)max_react_ms);
    assert_true(end - t0 < 5000);
    assert_true(p.count >= 1);
}

static void test_countdown_cancel(void **state)
{
    (void)state;
    /* Long steps: the poll slice, not the step, bounds the reaction (100 ms + slack). */
    run_cancelled("{\"seconds\":3600,\"step_ms\":60000}", 300, 150);
    /* Short steps: within a step or so. */
    run_cancelled("{\"seconds\":60,\"step_ms\":20}", 250, 80);
    /* Cancelled before it starts. */
    run_cancelled("{\"seconds\":10}", 0, 150);
}

static void test_countdown_invalid(void **state)
{
    (void)state;
    expect_invalid(&taas_task_countdown, "{}", "seconds");
    expect_invalid(&taas_task_countdown, "{\"seconds\":-1}", "/seconds");
    expect_invalid(&taas_task_countdown, "{\"seconds\":3601}", "/seconds");
    expect_invalid(&taas_task_countdown, "{\"seconds\":1.5}", "/seconds");
    expect_invalid(&taas_task_countdown, "{\"seconds\":1,\"step_ms\":0}", "/step_ms");
    expect_invalid(&taas_task_countdown, "{\"seconds\":1,\"extra\":0}", "extra");
}

static void test_countdown_registry(void **state)
{
    (void)state;
    assert_true(taas_task_countdown.idempotent);
    assert_string_equal(taas_task_countdown.name, "countdown");
    assert_string_equal(taas_task_my_custom_task.version, "1.0.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_my_custom_task_guide_example),
        cmocka_unit_test(test_my_custom_task_numbers),
        cmocka_unit_test(test_my_custom_task_progress),
        cmocka_unit_test(test_my_custom_task_invalid),
        cmocka_unit_test(test_latency_probe_reports_start),
        cmocka_unit_test(test_countdown_zero),
        cmocka_unit_test(test_countdown_runs_and_reports),
        cmocka_unit_test(test_countdown_cancel),
        cmocka_unit_test(test_countdown_invalid),
        cmocka_unit_test(test_countdown_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
