/*
 * tests/schedule/test_cron.c - runtime/schedule: the TZif reader against
 * glibc's own (this test process may set TZ; the server never does), and
 * cron parsing and next fire times: ranges, steps, lists, names, the Vixie
 * day rule, leap days, invalid expressions, and the daylight-saving changes
 * of Europe/Paris and America/New_York, where a brute-force walk over every
 * minute (local time from glibc) must agree with the search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule/cron.h"
#include "schedule/tz.h"

static bool have_zones(void)
{
    char err[160];
    taas_tz *tz = taas_tz_load("Europe/Paris", err, sizeof err);
    taas_tz_free(tz);
    return tz != NULL;
}

#define NEED_ZONES()                                                                             \
    do {                                                                                         \
        if (!have_zones())                                                                       \
            skip();                                                                              \
    } while (0)

static taas_tz *load(const char *name)
{
    char err[160];
    taas_tz *tz = taas_tz_load(name, err, sizeof err);
    if (!tz)
        fail_msg("load %s: %s", name, err);
    return tz;
}

/* Unix seconds of a UTC civil time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return taas_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static taas_cron cron(const char *expr)
{
    taas_cron c;
    char err[200];
    if (taas_cron_parse(expr, &c, err, sizeof err) != 0)
        fail_msg("parse \"%s\": %s", expr, err);
    return c;
}

static void expect_error(const char *expr, const char *want)
{
    taas_cron c;
    char err[200] = "";
    if (taas_cron_parse(expr, &c, err, sizeof err) == 0)
        fail_msg("\"%s\" was accepted", expr);
    if (!strstr(err, want))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", expr, err, want);
}

/* ------------------------------------------------------------------------ */

static void test_civil(void **state)
{
    (void)state;
    for (int64_t days = -800000; days <= 800000; days += 97) {
        int64_t y;
        int m, d;
        taas_civil_from_days(days, &y, &m, &d);
        assert_int_equal(taas_days_from_civil(y, m, d), days);
    }
    assert_int_equal(taas_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(taas_days_from_civil(2000, 3, 1), 11017);
}

static void test_tz_against_glibc(void **state)
{
    (void)state;
    NEED_ZONES();
    static const char *zones[] = {"Europe/Paris", "America/New_York", "Australia/Sydney",
                                  "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham",
                                  "Europe/Dublin", "Africa/Casablanca", "America/Santiago",
                                  "UTC"};
    srand(11);
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        taas_tz *tz = load(zones[z]);
        char env[64];
        snprintf(env, sizeof env, ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        /* 1901..2199: the table, and the footer's rule beyond it. */
        for (int i = 0; i < 20000; i++) {
            int64_t t = -2145916800LL + (int64_t)((double)rand() / RAND_MAX * 9.4e9);
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (taas_tz_offset(tz, t) != tm.tm_gmtoff)
                fail_msg("%s at %lld: ours %d, glibc %ld", zones[z], (long long)t,
                         taas_tz_offset(tz, t), tm.tm_gmtoff);
        }
        taas_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_tz_errors(void **state)
{
    (void)state;
    char err[200];
    assert_null(taas_tz_load("Europe/Pariss", err, sizeof err));
    assert_non_null(strstr(err, "unknown time zone \"Europe/Pariss\""));
    assert_null(taas_tz_load("../../etc/passwd", err, sizeof err));
    assert_non_null(strstr(err, "invalid time zone name"));
    assert_null(taas_tz_load("/etc/localtime", err, sizeof err));
    assert_null(taas_tz_load("Europe", err, sizeof err)); /* a directory */
    taas_tz *tz = taas_tz_load("", err, sizeof err);
    assert_non_null(tz);
    assert_string_equal(taas_tz_name(tz), "UTC");
    assert_int_equal(taas_tz_offset(tz, 1700000000), 0);
    taas_tz_free(tz);
}

static void test_wall_to_utc(void **state)
{
    (void)state;
    NEED_ZONES();
    taas_tz *tz = load("Europe/Paris");
    int64_t t[2];
    /* 2026-03-29 02:30 does not exist: the gap ends at 01:00 UTC. */
    int64_t w = utc(2026, 3, 29, 2, 30, 0);
    assert_int_equal(taas_tz_wall_to_utc(tz, w, t), 0);
    assert_int_equal(t[0], utc(2026, 3, 29, 1, 0, 0));
    /* 2026-10-25 02:30 happens twice: 00:30 and 01:30 UTC. */
    w = utc(2026, 10, 25, 2, 30, 0);
    assert_int_equal(taas_tz_wall_to_utc(tz, w, t), 2);
    assert_int_equal(t[0], utc(2026, 10, 25, 0, 30, 0));
    assert_int_equal(t[1], utc(2026, 10, 25, 1, 30, 0));
    /* An ordinary summer time. */
    w = utc(2026, 7, 14, 12, 0, 0);
    assert_int_equal(taas_tz_wall_to_utc(tz, w, t), 1);
    assert_int_equal(t[0], utc(2026, 7, 14, 10, 0, 0));
    /* Far past the table: the footer's rule (2099-03-29 is the last Sunday). */
    w = utc(2099, 3, 29, 2, 30, 0);
    assert_int_equal(taas_tz_wall_to_utc(tz, w, t), 0);
    assert_int_equal(t[0], utc(2099, 3, 29, 1, 0, 0));
    taas_tz_free(tz);
}

/* ------------------------------------------------------------------------ */

static void expect_next(const char *expr, const char *zone, int64_t after, int64_t want)
{
    taas_cron c = cron(expr);
    taas_tz *tz = load(zone);
    int64_t got = taas_cron_next(&c, tz, after);
    taas_tz_free(tz);
    if (got != want)
        fail_msg("\"%s\" in %s after %lld: got %lld, want %lld (diff %lld s)", expr, zone,
                 (long long)after, (long long)got, (long long)want, (long long)(got - want));
}

static void test_fields(void **state)
{
    (void)state;
    int64_t t0 = utc(2026, 1, 1, 0, 0, 0); /* a Thursday */
    expect_next("* * * * *", "UTC", t0, t0 + 60);
    expect_next("*/15 * * * *", "UTC", t0 + 1, t0 + 900);
    expect_next("5-10/2 * * * *", "UTC", t0 + 7 * 60, t0 + 9 * 60);
    expect_next("5-10/2 * * * *", "UTC", t0 + 9 * 60, t0 + 3600 + 5 * 60);
    expect_next("50/5 * * * *", "UTC", t0 + 56 * 60, t0 + 3600 + 50 * 60);
    expect_next("1,3,59 * * * *", "UTC", t0 + 3 * 60, t0 + 59 * 60);
    expect_next("0 3 * * *", "UTC", t0, utc(2026, 1, 1, 3, 0, 0));
    expect_next("0 3 * * *", "UTC", utc(2026, 1, 1, 3, 0, 0), utc(2026, 1, 2, 3, 0, 0));
    expect_next("0 0 1 jan,Jul *", "UTC", t0, utc(2026, 7, 1, 0, 0, 0));
    expect_next("0 0 * * MON-FRI", "UTC", utc(2026, 1, 2, 0, 0, 0), utc(2026, 1, 5, 0, 0, 0));
    expect_next("0 0 * * 7", "UTC", t0, utc(2026, 1, 4, 0, 0, 0));   /* 7 = Sunday */
    expect_next("0 0 * * 5-7", "UTC", utc(2026, 1, 2, 0, 0, 0), utc(2026, 1, 3, 0, 0, 0));
    expect_next("0 0 29 2 *", "UTC", t0, utc(2028, 2, 29, 0, 0, 0)); /* leap day */
    expect_next("0 0 31 * *", "UTC", utc(2026, 1, 31, 0, 0, 0), utc(2026, 3, 31, 0, 0, 0));
    expect_next("@hourly", "UTC", t0, t0 + 3600);
    expect_next("@weekly", "UTC", t0, utc(2026, 1, 4, 0, 0, 0));
    expect_next("@yearly", "UTC", t0, utc(2027, 1, 1, 0, 0, 0));
    /* Six fields: seconds first. */
    expect_next("* * * * * *", "UTC", t0, t0 + 1);
    expect_next("*/10 * * * * *", "UTC", t0 + 3, t0 + 10);
    expect_next("30 0 12 * * *", "UTC", t0, utc(2026, 1, 1, 12, 0, 30));
}

static void test_day_rule(void **state)
{
    (void)state;
    /* Both restricted: the 13th OR any Friday (Vixie). */
    int64_t t0 = utc(2026, 1, 1, 0, 0, 0);
    int64_t want[] = {utc(2026, 1, 2, 0, 0, 0), utc(2026, 1, 9, 0, 0, 0),
                      utc(2026, 1, 13, 0, 0, 0), utc(2026, 1, 16, 0, 0, 0)};
    taas_cron c = cron("0 0 13 * FRI");
    taas_tz *tz = load("UTC");
    int64_t t = t0;
    for (int i = 0; i < 4; i++) {
        t = taas_cron_next(&c, tz, t);
        assert_int_equal(t, want[i]);
    }
    /* One starts with '*': AND, so '*' + step in the day of month still
     * restricts together with the weekday. */
    c = cron("0 0 */2 * MON");
    t = taas_cron_next(&c, tz, t0); /* odd days that are Mondays */
    assert_int_equal(t, utc(2026, 1, 5, 0, 0, 0));
    assert_int_equal(taas_cron_next(&c, tz, t), utc(2026, 1, 19, 0, 0, 0));
    taas_tz_free(tz);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_error("", "expected 5 fields");
    expect_error("* * * *", "got 4");
    expect_error("* * * * * * *", "got 7");
    expect_error("60 * * * *", "minute field: 60 is out of range 0-59");
    expect_error("* 24 * * *", "hour field: 24 is out of range 0-23");
    expect_error("* * 0 * *", "day-of-month field: 0 is out of range 1-31");
    expect_error("* * * 13 *", "month field: 13 is out of range 1-12");
    expect_error("* * * * 8", "day-of-week field: 8 is out of range 0-7");
    expect_error("* * * FOO *", "month field: unknown name \"FOO\"");
    expect_error("* * * * FRIDAY", "day-of-week field: unknown name \"FRIDAY\"");
    expect_error("abc * * * *", "minute field: expected a number, got \"abc\"");
    expect_error("10-5 * * * *", "minute field: range 10-5 runs backwards");
    expect_error("*/0 * * * *", "minute field: step 0 is out of range");
    expect_error("*/ * * * *", "minute field: a step needs a number");
    expect_error("1,,2 * * * *", "minute field: empty item");
    expect_error("1, * * * *", "minute field: the list ends with ','");
    expect_error("1-2-3 * * * *", "minute field: unexpected \"-\"");
    expect_error("0 0 30 2 *", "never fire");
    expect_error("0 0 31 4,6,9,11 *", "never fire");
    expect_error("@reboot", "unknown macro \"@reboot\"");
    expect_error("60 * * * * *", "second field: 60 is out of range 0-59");
    /* The OR rule makes this one possible: every Monday in February. */
    taas_cron c = cron("0 0 30 2 MON");
    taas_tz *tz = load("UTC");
    assert_int_equal(taas_cron_next(&c, tz, utc(2026, 1, 1, 0, 0, 0)), utc(2026, 2, 2, 0, 0, 0));
    taas_tz_free(tz);
}

static void test_dst_fixed_times(void **state)
{
    (void)state;
    NEED_ZONES();
    /* Paris, spring 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC). */
    expect_next("30 2 * * *", "Europe/Paris", utc(2026, 3, 28, 1, 30, 0),
                utc(2026, 3, 29, 1, 0, 0)); /* fires once when the gap ends */
    expect_next("30 2 * * *", "Europe/Paris", utc(2026, 3, 29, 1, 0, 0),
                utc(2026, 3, 30, 0, 30, 0));
    expect_next("0,15,30,45 2 * * *", "Europe/Paris", utc(2026, 3, 28, 23, 0, 0),
                utc(2026, 3, 29, 1, 0, 0));
    expect_next("0,15,30,45 2 * * *", "Europe/Paris", utc(2026, 3, 29, 1, 0, 0),
                utc(2026, 3, 30, 0, 0, 0)); /* the skipped four fire only once */
    expect_next("0 3 * * *", "Europe/Paris", utc(2026, 3, 28, 12, 0, 0),
                utc(2026, 3, 29, 1, 0, 0));
    /* Paris, autumn 2026-10-25: 03:00 CEST -> 02:00 CET (01:00 UTC). */
    expect_next("30 2 * * *", "Europe/Paris", utc(2026, 10, 24, 12, 0, 0),
                utc(2026, 10, 25, 0, 30, 0)); /* first occurrence */
    expect_next("30 2 * * *", "Europe/Paris", utc(2026, 10, 25, 0, 30, 0),
                utc(2026, 10, 26, 1, 30, 0)); /* not again an hour later */
    expect_next("0 3 * * *", "Europe/Paris", utc(2026, 10, 24, 12, 0, 0),
                utc(2026, 10, 25, 2, 0, 0));
    /* New York, spring 2026-03-08: 02:00 EST -> 03:00 EDT (07:00 UTC). */
    expect_next("0 2 * * *", "America/New_York", utc(2026, 3, 7, 12, 0, 0),
                utc(2026, 3, 8, 7, 0, 0));
    expect_next("0 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 0, 0),
                utc(2026, 3, 9, 6, 0, 0));
    /* New York, autumn 2026-11-01: 02:00 EDT -> 01:00 EST (06:00 UTC). */
    expect_next("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12, 0, 0),
                utc(2026, 11, 1, 5, 30, 0));
    expect_next("30 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 30, 0),
                utc(2026, 11, 2, 6, 30, 0));
    /* The daily 03:00 of the example, in winter and in summer. */
    expect_next("0 3 * * *", "Europe/Paris", utc(2026, 1, 10, 0, 0, 0),
                utc(2026, 1, 10, 2, 0, 0));
    expect_next("0 3 * * *", "Europe/Paris", utc(2026, 7, 10, 0, 0, 0),
                utc(2026, 7, 10, 1, 0, 0));
}

/* Elapsed-time schedules ('*' hour): every fire time is exactly the set of
 * instants whose local time (glibc) matches; checked minute by minute over
 * three days around each change. */
static bool brute_match(const taas_cron *c, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    if (tm.tm_sec != 0 || !((c->min >> tm.tm_min) & 1) || !((c->hour >> tm.tm_hour) & 1) ||
        !((c->mon >> (tm.tm_mon + 1)) & 1))
        return false;
    bool dm = (c->dom >> tm.tm_mday) & 1, wm = (c->dow >> tm.tm_wday) & 1;
    return (c->dom_star || c->dow_star) ? dm && wm : dm || wm;
}

static void test_dst_elapsed_brute(void **state)
{
    (void)state;
    NEED_ZONES();
    static const struct {
        const char *zone;
        int y, m, d;
    } changes[] = {
        {"Europe/Paris", 2026, 3, 29},     {"Europe/Paris", 2026, 10, 25},
        {"America/New_York", 2026, 3, 8},  {"America/New_York", 2026, 11, 1},
        {"Europe/Paris", 2101, 3, 27},     {"America/New_York", 2101, 11, 6},
    };
    static const char *exprs[] = {"*/15 * * * *", "7,50 * * * *", "* */2 * * *",
                                  "*/20 * * * 0"};
    for (size_t z = 0; z < sizeof changes / sizeof changes[0]; z++) {
        char env[64];
        snprintf(env, sizeof env, ":%s", changes[z].zone);
        setenv("TZ", env, 1);
        tzset();
        taas_tz *tz = load(changes[z].zone);
        int64_t from = utc(changes[z].y, changes[z].m, changes[z].d, 0, 0, 0) - 86400;
        for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
            taas_cron c = cron(exprs[e]);
            int64_t t = from, expect = from;
            for (int n = 0; n < 400; n++) {
                t = taas_cron_next(&c, tz, t);
                do
                    expect += 60;
                while (!brute_match(&c, expect));
                if (t != expect)
                    fail_msg("%s \"%s\" fire %d: got %lld, want %lld", changes[z].zone, exprs[e],
                             n, (long long)t, (long long)expect);
            }
        }
        taas_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_speed_sparse(void **state)
{
    (void)state;
    /* A leap-day schedule searched from many points stays cheap. */
    taas_cron c = cron("0 0 29 2 *");
    taas_tz *tz = load("UTC");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 2000; i++)
        assert_true(taas_cron_next(&c, tz, utc(2026, 1, 1, 0, 0, 0) + i * 3600) > 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    assert_true(ms < 2000); /* about 1 ms here; generous for a loaded machine */
    taas_tz_free(tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil),
        cmocka_unit_test(test_tz_against_glibc),
        cmocka_unit_test(test_tz_errors),
        cmocka_unit_test(test_wall_to_utc),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_day_rule),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_dst_fixed_times),
        cmocka_unit_test(test_dst_elapsed_brute),
        cmocka_unit_test(test_speed_sparse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
