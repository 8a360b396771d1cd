/*
 * runtime/schedule/schedule.h - when a schedule is due, and what to submit
 * after the scheduler was away (catch-up) or while the previous task runs
 * (overlap). Pure functions of the schedule and a clock, so every policy is
 * tested without waiting for real time.
 */
#ifndef TAAS_SCHEDULE_SCHEDULE_H
#define TAAS_SCHEDULE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule/cron.h"
#include "schedule/tz.h"

/* Due times handled in one step at most; older ones are counted as skipped. */
#define TAAS_SCHED_MAX_PLAN 1000
#define TAAS_SCHED_MIN_INTERVAL_MS 1000

typedef struct taas_sched_spec {
    bool is_cron;
    taas_cron cron;
    taas_tz *tz;            /* owned; NULL for an interval */
    int64_t interval_ms;
    int64_t anchor_ms;      /* interval: due at anchor + k * interval */
} taas_sched_spec;

/*
 * Compile a schedule's timing: exactly one of `cron` (non-empty) and
 * interval_ms (> 0). Returns 0, or -1 with a message naming the field:
 * "cron: hour field: 24 is out of range 0-23", "time_zone: unknown time
 * zone \"Mars/Olympus\"", "interval_ms: must be at least 1000",
 * "set one of cron and interval_ms, not both". Free with taas_sched_spec_free.
 */
int taas_sched_compile(const char *cron, const char *time_zone, int64_t interval_ms,
                       int64_t anchor_ms, taas_sched_spec *out, char *err, size_t errlen);
void taas_sched_spec_free(taas_sched_spec *s);

/* The first due time strictly after after_ms (milliseconds), or -1 if none. */
int64_t taas_sched_next(const taas_sched_spec *s, int64_t after_ms);

typedef struct taas_sched_plan {
    int64_t due[TAAS_SCHED_MAX_PLAN]; /* due times to submit, oldest first */
    int n;
    int64_t skipped;        /* due times passed over */
    int64_t last_due_ms;    /* the latest due time handled */
    int64_t new_next_ms;    /* the first due time after now; -1 = none */
} taas_sched_plan;

/*
 * What to do at `now_ms` for a schedule whose first unhandled due time is
 * next_ms (<= now_ms). A due time more than misfire_ms old was missed (no
 * scheduler ran then); the others are on time and are all submitted. Of the
 * missed ones: catch_up SKIP submits none, RUN_ONCE the latest, RUN_ALL the
 * latest max_catch_up. With overlap SKIP only the latest chosen time is
 * submitted (the earlier ones would overlap it). Returns the number to
 * submit (plan->n); new_next_ms is -1 when no due time follows.
 */
int taas_sched_plan_at(const taas_sched_spec *s, int64_t next_ms, int64_t now_ms,
                       int64_t misfire_ms, int catch_up, int max_catch_up, int overlap,
                       taas_sched_plan *plan);

#endif
