/*
 * runtime/schedule/tz.h - time zones read from the system's TZif files
 * (RFC 8536), without touching the process-wide TZ.
 *
 * Why our own reader: localtime_r() answers for one zone per process (the
 * TZ variable), and setting TZ while other threads call localtime_r() is a
 * data race. Schedules each carry their own zone, so we read the compiled
 * zone files ourselves: the 64-bit transition table, and the POSIX TZ
 * string of the footer for instants after the last transition.
 *
 * A taas_tz is immutable once loaded and may be shared between threads.
 */
#ifndef TAAS_SCHEDULE_TZ_H
#define TAAS_SCHEDULE_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct taas_tz taas_tz;

/*
 * Load a zone by its IANA name, e.g. "Europe/Paris", from $TZDIR or
 * /usr/share/zoneinfo. "UTC" (and "") always works, also without zone
 * files. Returns NULL with a one-line message in err for an unknown or
 * malformed name ("unknown time zone \"Europe/Pariss\"") or an unreadable
 * file. Free with taas_tz_free.
 */
taas_tz *taas_tz_load(const char *name, char *err, size_t errlen);
void taas_tz_free(taas_tz *tz);
/* The name it was loaded with ("UTC" for ""); owned by tz. */
const char *taas_tz_name(const taas_tz *tz);

/* Offset from UTC in seconds (local = utc + offset) in force at instant t
 * (Unix seconds). */
int32_t taas_tz_offset(const taas_tz *tz, int64_t t);

/*
 * The instants at which the local wall-clock time `wall` (seconds since
 * 1970-01-01T00:00 of the local calendar, as if it were UTC) occurs.
 * Returns 1 normally (out[0]); 2 in a backward change (a repeated hour:
 * out[0] < out[1]); 0 in a forward change (a skipped hour), in which case
 * out[0] is the instant the gap ends (the first local time after it).
 */
int taas_tz_wall_to_utc(const taas_tz *tz, int64_t wall, int64_t out[2]);

/* Civil calendar helpers (proleptic Gregorian), days since 1970-01-01. */
int64_t taas_days_from_civil(int64_t y, int m, int d);
void taas_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
