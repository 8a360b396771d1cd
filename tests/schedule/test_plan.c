/*
 * tests/schedule/test_plan.c - runtime/schedule/schedule.c: due times of
 * interval and cron schedules, and what is submitted after the scheduler
 * was away (catch-up: skip, run once, up to N) or while the previous task
 * runs (overlap), with the clock given by the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/schedule.h"
#include "store/store.h"

static taas_sched_plan plan;

static void interval(taas_sched_spec *s, int64_t iv, int64_t anchor)
{
    char err[200];
    assert_int_equal(taas_sched_compile(NULL, "", iv, anchor, s, err, sizeof err), 0);
}

static void expect_due(const int64_t *want, int n)
{
    if (plan.n != n)
        fail_msg("planned %d due times, want %d", plan.n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(plan.due[i], want[i]);
}

static void test_interval_next(void **state)
{
    (void)state;
    taas_sched_spec s;
    interval(&s, 2000, 10000);
    assert_int_equal(taas_sched_next(&s, 0), 10000);
    assert_int_equal(taas_sched_next(&s, 10000), 12000);
    assert_int_equal(taas_sched_next(&s, 11999), 12000);
    assert_int_equal(taas_sched_next(&s, 12000), 14000);
    taas_sched_spec_free(&s);
}

static void test_on_time(void **state)
{
    (void)state;
    taas_sched_spec s;
    interval(&s, 2000, 0);
    assert_int_equal(taas_sched_plan_at(&s, 2000, 2300, 1000, TAAS_CATCH_UP_SKIP, 0,
                                        TAAS_OVERLAP_ALLOW, &plan), 1);
    expect_due((int64_t[]){2000}, 1);
    assert_int_equal(plan.new_next_ms, 4000);
    assert_int_equal(plan.skipped, 0);
    assert_int_equal(plan.last_due_ms, 2000);
    /* A late tick within the misfire threshold submits every time. */
    assert_int_equal(taas_sched_plan_at(&s, 2000, 4900, 60000, TAAS_CATCH_UP_SKIP, 0,
                                        TAAS_OVERLAP_ALLOW, &plan), 2);
    expect_due((int64_t[]){2000, 4000}, 2);
    taas_sched_spec_free(&s);
}

/* Down from 1000 to 8500: 2000, 4000, 6000 missed (> 1 s old), 8000 on time. */
static void test_catch_up(void **state)
{
    (void)state;
    taas_sched_spec s;
    interval(&s, 2000, 0);
    taas_sched_plan_at(&s, 2000, 8500, 1000, TAAS_CATCH_UP_SKIP, 0, TAAS_OVERLAP_ALLOW, &plan);
    expect_due((int64_t[]){8000}, 1);
    assert_int_equal(plan.skipped, 3);
    assert_int_equal(plan.new_next_ms, 10000);
    assert_int_equal(plan.last_due_ms, 8000);

    taas_sched_plan_at(&s, 2000, 8500, 1000, TAAS_CATCH_UP_RUN_ONCE, 0, TAAS_OVERLAP_ALLOW,
                       &plan);
    expect_due((int64_t[]){6000, 8000}, 2);
    assert_int_equal(plan.skipped, 2);

    taas_sched_plan_at(&s, 2000, 8500, 1000, TAAS_CATCH_UP_RUN_ALL, 2, TAAS_OVERLAP_ALLOW, &plan);
    expect_due((int64_t[]){4000, 6000, 8000}, 3);
    assert_int_equal(plan.skipped, 1);

    taas_sched_plan_at(&s, 2000, 8500, 1000, TAAS_CATCH_UP_RUN_ALL, 0, TAAS_OVERLAP_ALLOW, &plan);
    expect_due((int64_t[]){2000, 4000, 6000, 8000}, 4);
    assert_int_equal(plan.skipped, 0);

    /* Overlap skip: only the latest of what would run. */
    taas_sched_plan_at(&s, 2000, 8500, 1000, TAAS_CATCH_UP_RUN_ALL, 0, TAAS_OVERLAP_SKIP, &plan);
    expect_due((int64_t[]){8000}, 1);
    assert_int_equal(plan.skipped, 3);
    taas_sched_spec_free(&s);
}

static void test_huge_backlog(void **state)
{
    (void)state;
    taas_sched_spec s;
    interval(&s, 1000, 0);
    int64_t now = 1000LL * 1000 * 1000 + 500; /* a million seconds later */
    taas_sched_plan_at(&s, 1000, now, 60000, TAAS_CATCH_UP_RUN_ALL, 5, TAAS_OVERLAP_ALLOW, &plan);
    int64_t total = now / 1000; /* due times 1000 .. now */
    assert_int_equal(plan.n + plan.skipped, total);
    assert_int_equal(plan.new_next_ms, (now / 1000 + 1) * 1000);
    /* The latest five missed, then the 60 on-time ones. */
    assert_int_equal(plan.n, 5 + 60);
    assert_int_equal(plan.due[plan.n - 1], now - 500);
    taas_sched_spec_free(&s);
}

static void test_cron_injected_clock(void **state)
{
    (void)state;
    taas_sched_spec s;
    char err[200];
    assert_int_equal(taas_sched_compile("* * * * *", "Europe/Paris", 0, 0, &s, err, sizeof err),
                     0);
    int64_t t0 = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    assert_int_equal(taas_sched_next(&s, t0), t0 + 60000);
    assert_int_equal(taas_sched_next(&s, t0 + 500), t0 + 60000);
    /* Every minute, away for three: skip runs only the current one. */
    taas_sched_plan_at(&s, t0 + 60000, t0 + 240000 + 10, 30000, TAAS_CATCH_UP_SKIP, 0,
                       TAAS_OVERLAP_ALLOW, &plan);
    expect_due((int64_t[]){t0 + 240000}, 1);
    assert_int_equal(plan.skipped, 3);
    assert_int_equal(plan.new_next_ms, t0 + 300000);
    taas_sched_spec_free(&s);
}

static void test_compile_errors(void **state)
{
    (void)state;
    taas_sched_spec s;
    char err[200];
    assert_int_equal(taas_sched_compile("", "", 0, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "set one of cron"));
    assert_int_equal(taas_sched_compile("* * * * *", "", 5000, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "not both"));
    assert_int_equal(taas_sched_compile(NULL, "", 999, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "interval_ms: must be between 1000"));
    assert_int_equal(taas_sched_compile(NULL, "Europe/Paris", 5000, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "time_zone: applies to cron schedules only"));
    assert_int_equal(taas_sched_compile("0 24 * * *", "", 0, 0, &s, err, sizeof err), -1);
    assert_string_equal(err, "cron: hour field: 24 is out of range 0-23");
    assert_int_equal(taas_sched_compile("0 3 * * *", "Mars/Olympus", 0, 0, &s, err, sizeof err),
                     -1);
    assert_string_equal(err, "time_zone: unknown time zone \"Mars/Olympus\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_next),    cmocka_unit_test(test_on_time),
        cmocka_unit_test(test_catch_up),         cmocka_unit_test(test_huge_backlog),
        cmocka_unit_test(test_cron_injected_clock), cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
