/*
 * runtime/schedule/schedule.c - due times and catch-up planning (see
 * schedule.h).
 */
#include "schedule/schedule.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h" /* TAAS_CATCH_UP_*, TAAS_OVERLAP_* */

/* Due times walked in one plan at most; a longer backlog (a per-second
 * schedule down for days) is skipped in one step, counted exactly for
 * intervals and at least this many for cron. */
#define WALK_CAP 200000

int taas_sched_compile(const char *cron, const char *time_zone, int64_t interval_ms,
                       int64_t anchor_ms, taas_sched_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    bool has_cron = cron && *cron;
    if (has_cron == (interval_ms != 0)) {
        snprintf(err, errlen, has_cron ? "set one of cron and interval_ms, not both"
                                       : "set one of cron (e.g. \"0 3 * * *\") and interval_ms");
        return -1;
    }
    if (!has_cron) {
        if (time_zone && *time_zone) {
            snprintf(err, errlen, "time_zone: applies to cron schedules only");
            return -1;
        }
        if (interval_ms < TAAS_SCHED_MIN_INTERVAL_MS || interval_ms > 366LL * 86400 * 1000) {
            snprintf(err, errlen, "interval_ms: must be between %d (one second) and %lld (a year)",
                     TAAS_SCHED_MIN_INTERVAL_MS, 366LL * 86400 * 1000);
            return -1;
        }
        out->interval_ms = interval_ms;
        out->anchor_ms = anchor_ms;
        return 0;
    }
    char why[200];
    if (taas_cron_parse(cron, &out->cron, why, sizeof why) != 0) {
        snprintf(err, errlen, "cron: %s", why);
        return -1;
    }
    out->tz = taas_tz_load(time_zone, why, sizeof why);
    if (!out->tz) {
        snprintf(err, errlen, "time_zone: %s", why);
        return -1;
    }
    out->is_cron = true;
    return 0;
}

void taas_sched_spec_free(taas_sched_spec *s)
{
    if (s)
        taas_tz_free(s->tz);
    if (s)
        s->tz = NULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t taas_sched_next(const taas_sched_spec *s, int64_t after_ms)
{
    if (!s->is_cron) {
        if (after_ms < s->anchor_ms)
            return s->anchor_ms;
        return s->anchor_ms + (floor_div(after_ms - s->anchor_ms, s->interval_ms) + 1) * s->interval_ms;
    }
    /* Cron times are whole seconds: after 12:00:00.500 the next second-
     * resolution time is strictly after 12:00:00. */
    int64_t t = taas_cron_next(&s->cron, s->tz, floor_div(after_ms, 1000));
    return t < 0 ? -1 : t * 1000;
}

int taas_sched_plan_at(const taas_sched_spec *s, int64_t next_ms, int64_t now_ms,
                       int64_t misfire_ms, int catch_up, int max_catch_up, int overlap,
                       taas_sched_plan *plan)
{
    plan->n = 0;
    plan->skipped = 0;
    plan->last_due_ms = 0;
    plan->new_next_ms = next_ms;
    if (next_ms < 0)
        return -1;
    if (max_catch_up <= 0)
        max_catch_up = 10;
    if (max_catch_up > TAAS_SCHED_MAX_PLAN)
        max_catch_up = TAAS_SCHED_MAX_PLAN;

    /* Missed times are those up to now - misfire_ms. Count them, keeping
     * the latest max_catch_up in a ring; then the on-time ones. */
    int64_t missed = 0, ring[TAAS_SCHED_MAX_PLAN];
    int64_t d = next_ms, walked = 0;
    int64_t ontime[TAAS_SCHED_MAX_PLAN];
    int nontime = 0;
    while (d >= 0 && d <= now_ms) {
        if (now_ms - d > misfire_ms) {
            ring[missed % TAAS_SCHED_MAX_PLAN] = d;
            missed++;
        } else if (nontime < TAAS_SCHED_MAX_PLAN) {
            ontime[nontime++] = d;
        } else {
            plan->skipped++;
        }
        plan->last_due_ms = d;
        if (++walked >= WALK_CAP && !s->is_cron) {
            /* An interval backlog: count the middle and walk on from the
             * last TAAS_SCHED_MAX_PLAN missed times, which may be submitted. */
            int64_t k = floor_div(now_ms - misfire_ms - s->anchor_ms, s->interval_ms);
            int64_t to = s->anchor_ms + (k - TAAS_SCHED_MAX_PLAN) * s->interval_ms;
            if (to > d) {
                missed += floor_div(to - d, s->interval_ms) - 1;
                d = to;
                continue; /* `to` itself is classified next time round */
            }
        } else if (walked >= WALK_CAP) {
            d = taas_sched_next(s, now_ms); /* cron: the rest is skipped uncounted */
            plan->last_due_ms = now_ms;
            break;
        }
        d = taas_sched_next(s, d);
    }
    plan->new_next_ms = d;

    int take = 0;
    if (missed > 0) {
        if (catch_up == TAAS_CATCH_UP_RUN_ONCE)
            take = 1;
        else if (catch_up == TAAS_CATCH_UP_RUN_ALL)
            take = missed < max_catch_up ? (int)missed : max_catch_up;
        if (take > TAAS_SCHED_MAX_PLAN)
            take = TAAS_SCHED_MAX_PLAN;
        int64_t kept = missed < TAAS_SCHED_MAX_PLAN ? missed : TAAS_SCHED_MAX_PLAN;
        if (take > kept)
            take = (int)kept;
        plan->skipped += missed - take;
        for (int i = 0; i < take; i++)
            plan->due[plan->n++] = ring[(missed - take + i) % TAAS_SCHED_MAX_PLAN];
    }
    for (int i = 0; i < nontime && plan->n < TAAS_SCHED_MAX_PLAN; i++)
        plan->due[plan->n++] = ontime[i];
    if (overlap == TAAS_OVERLAP_SKIP && plan->n > 1) {
        plan->skipped += plan->n - 1;
        plan->due[0] = plan->due[plan->n - 1];
        plan->n = 1;
    }
    return plan->n;
}
