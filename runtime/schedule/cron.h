/*
 * runtime/schedule/cron.h - cron expressions and their next fire times in a
 * time zone.
 *
 * Syntax (as Vixie cron): five fields, minute hour day-of-month month
 * day-of-week, each a list of items separated by ',': '*', a number, a range
 * 'a-b', any of these with a step '/n' ('*' + '/n' = every n-th from the
 * field's first value; 'a/n' = from a to the field's end). Months JAN-DEC and
 * weekdays SUN-SAT may be given by name (any case); weekday 7 is Sunday too.
 * A sixth field in front, seconds (0-59), makes a 6-field form for
 * schedules finer than a minute. Macros: @yearly (@annually), @monthly,
 * @weekly, @daily (@midnight), @hourly.
 *
 * Day rule (Vixie): when both day-of-month and day-of-week are restricted
 * (neither starts with '*'), a day matches if EITHER matches; otherwise both
 * must ("0 0 13 * FRI" = every 13th and every Friday; "0 0 * * FRI" = every
 * Friday).
 *
 * Time zones and daylight saving: fields are matched against the local wall
 * clock of the schedule's zone. When the clock jumps forward, a schedule
 * whose hour field is fixed (does not start with '*') fires once at the end
 * of the skipped hour for the times it skipped ("30 2 * * *" fires at 03:00
 * on the spring change in Europe/Paris); when the clock goes back, it fires
 * only at the first of the two occurrences. A schedule whose hour field
 * starts with '*' follows elapsed time: skipped local times do not fire and
 * repeated ones fire each time they occur, so a schedule every 15 minutes
 * ('*' with step 15 in the minute field, '*' hour) stays 15 minutes apart
 * across both changes.
 */
#ifndef TAAS_SCHEDULE_CRON_H
#define TAAS_SCHEDULE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule/tz.h"

typedef struct taas_cron {
    uint64_t sec, min;      /* bits 0-59 */
    uint32_t hour;          /* bits 0-23 */
    uint32_t dom;           /* bits 1-31 */
    uint16_t mon;           /* bits 1-12 */
    uint8_t dow;            /* bits 0-6, Sunday = 0 */
    bool dom_star, dow_star, hour_star;
    bool has_seconds;       /* the 6-field form */
} taas_cron;

/* Parse; 0, or -1 with a one-line message naming the field and the problem,
 * e.g. "hour field: 24 is out of range 0-23". */
int taas_cron_parse(const char *expr, taas_cron *out, char *err, size_t errlen);

/* The first fire time strictly after `after` (Unix seconds), or -1 when the
 * expression matches no time in the next 30 years (e.g. "0 0 30 2 *"). */
int64_t taas_cron_next(const taas_cron *c, const taas_tz *tz, int64_t after);

#endif
