/*
 * runtime/schedule/cron.c - cron parsing and next-fire search. Syntax and
 * daylight-saving rules: cron.h.
 *
 * Method. The search walks local wall-clock time field by field (a month
 * that does not match skips to the next month, a day to the next day, and
 * so on), so a yearly schedule costs a few dozen steps, not a minute-by-
 * minute scan. Each matching wall time is turned into instants with
 * taas_tz_wall_to_utc (none, one or two); the answer is the smallest
 * instant after `after`. Near a backward change the second occurrence of an
 * earlier wall time can come after the first occurrence of a later one, so
 * the walk starts a little before `after`'s wall time and goes on a little
 * past the first candidate, bounded by the offsets in force there.
 */
#include "schedule/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HORIZON_S (30LL * 366 * 86400)

typedef struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* index 0 = lo */
} field_def;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };
static const field_def fields[] = {
    {"second", 0, 59, NULL},      {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},        {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names}, {"day-of-week", 0, 7, dow_names},
};

static int fail(char *err, size_t errlen, const field_def *f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, const field_def *f, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s field: %s", f->name, what);
    return -1;
}

/* One value: a number or (for month and weekday) a name. */
static int parse_value(const char **pp, const char *end, const field_def *f, int *out,
                       char *err, size_t errlen)
{
    const char *p = *pp;
    char tok[16];
    size_t n = 0;
    while (p + n < end && isalnum((unsigned char)p[n]))
        n++;
    if (n == 0 || n >= sizeof tok) {
        snprintf(tok, sizeof tok, "%.*s", (int)(n ? (n < 15 ? n : 15) : (p < end ? 1 : 0)), p);
        return fail(err, errlen, f, "expected a number, got \"%s\"", tok);
    }
    memcpy(tok, p, n);
    tok[n] = '\0';
    int v;
    if (isdigit((unsigned char)tok[0])) {
        for (size_t i = 0; i < n; i++)
            if (!isdigit((unsigned char)tok[i]))
                return fail(err, errlen, f, "expected a number, got \"%s\"", tok);
        if (n > 3)
            return fail(err, errlen, f, "%s is out of range %d-%d", tok, f->lo, f->hi);
        v = atoi(tok);
        if (v < f->lo || v > f->hi)
            return fail(err, errlen, f, "%s is out of range %d-%d", tok, f->lo, f->hi);
    } else {
        v = -1;
        for (int i = 0; f->names && f->names[i]; i++)
            if (strcasecmp(tok, f->names[i]) == 0)
                v = f->lo + i;
        if (v < 0)
            return f->names ? fail(err, errlen, f, "unknown name \"%s\"", tok)
                            : fail(err, errlen, f, "expected a number, got \"%s\"", tok);
    }
    *pp = p + n;
    *out = v;
    return 0;
}

/* One field: a comma-separated list. Sets bits lo..hi of *bits. */
static int parse_field(const char *s, size_t len, const field_def *f, uint64_t *bits, bool *star,
                       char *err, size_t errlen)
{
    const char *p = s, *end = s + len;
    *bits = 0;
    *star = len > 0 && s[0] == '*';
    for (;;) {
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        if (!item_end)
            item_end = end;
        if (item_end == p) {
            snprintf(err, errlen, "%s field: empty item in list \"%.*s\"", f->name,
                     (int)(len < 64 ? len : 64), s);
            return -1;
        }
        int a, b, step = 1;
        bool ranged = false;
        if (*p == '*') {
            a = f->lo;
            b = f->hi == 7 ? 6 : f->hi;
            p++;
            ranged = true;
        } else {
            if (parse_value(&p, item_end, f, &a, err, errlen) != 0)
                return -1;
            b = a;
            if (p < item_end && *p == '-') {
                p++;
                if (parse_value(&p, item_end, f, &b, err, errlen) != 0)
                    return -1;
                if (b < a)
                    return fail(err, errlen, f, "range %d-%d runs backwards", a, b);
                ranged = true;
            }
        }
        if (p < item_end && *p == '/') {
            p++;
            const char *q = p;
            while (q < item_end && isdigit((unsigned char)*q))
                q++;
            if (q == p || q - p > 3)
                return fail(err, errlen, f, "a step needs a number after '/'");
            step = atoi(p);
            if (step < 1 || step > f->hi)
                return fail(err, errlen, f, "step %d is out of range 1-%d", step, f->hi);
            p = q;
            if (!ranged) /* "a/n": from a to the field's end */
                b = f->hi == 7 ? 6 : f->hi;
        }
        if (p != item_end)
            return fail(err, errlen, f, "unexpected \"%c\"", *p);
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << (f->hi == 7 && v == 7 ? 0 : v);
        if (item_end == end)
            break;
        p = item_end + 1;
        if (p == end)
            return fail(err, errlen, f, "the list ends with ','");
    }
    return 0;
}

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int taas_cron_parse(const char *expr, taas_cron *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        expr = "";
    while (isspace((unsigned char)*expr))
        expr++;
    if (expr[0] == '@') {
        size_t n = strcspn(expr, " \t\r\n");
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strlen(macros[i].name) == n && strncasecmp(expr, macros[i].name, n) == 0 &&
                expr[n + strspn(expr + n, " \t\r\n")] == '\0')
                return taas_cron_parse(macros[i].expr, out, err, errlen);
        snprintf(err, errlen, "unknown macro \"%.*s\" (known: @yearly, @annually, @monthly, "
                 "@weekly, @daily, @midnight, @hourly)", (int)(n < 32 ? n : 32), expr);
        return -1;
    }
    const char *tok[7];
    size_t toklen[7];
    int nf = 0;
    for (const char *p = expr; *p;) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *q = p;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (nf < 7) {
            tok[nf] = p;
            toklen[nf] = (size_t)(q - p);
        }
        nf++;
        p = q;
    }
    if (nf != 5 && nf != 6) {
        snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month day-of-week), "
                 "or 6 with seconds first; got %d", nf);
        return -1;
    }
    int first = nf == 6 ? F_SEC : F_MIN;
    out->has_seconds = nf == 6;
    out->sec = 1; /* second 0 in the 5-field form */
    for (int i = 0; i < nf; i++) {
        int fi = first + i;
        uint64_t bits;
        bool star;
        if (parse_field(tok[i], toklen[i], &fields[fi], &bits, &star, err, errlen) != 0)
            return -1;
        switch (fi) {
        case F_SEC: out->sec = bits; break;
        case F_MIN: out->min = bits; break;
        case F_HOUR: out->hour = (uint32_t)bits; out->hour_star = star; break;
        case F_DOM: out->dom = (uint32_t)bits; out->dom_star = star; break;
        case F_MON: out->mon = (uint16_t)bits; break;
        case F_DOW: out->dow = (uint8_t)bits; out->dow_star = star; break;
        }
    }
    /* A day-of-month that no chosen month has can never fire, unless the
     * weekday field may (the OR rule). Said here, with the reason, rather
     * than as a schedule that silently never runs. */
    if (out->dow_star || out->dom_star) {
        static const int maxd[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool possible = false;
        for (int m = 1; m <= 12 && !possible; m++)
            if (out->mon & (1u << m))
                for (int d = 1; d <= maxd[m]; d++)
                    if (out->dom & (1u << d))
                        possible = true;
        if (!possible) {
            snprintf(err, errlen, "day-of-month field: no chosen month has such a day, so the "
                     "schedule would never fire");
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

static bool day_matches(const taas_cron *c, int64_t days, int d)
{
    int wd = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    bool dm = (c->dom >> d) & 1, wm = (c->dow >> wd) & 1;
    if (c->dom_star || c->dow_star)
        return dm && wm;
    return dm || wm;
}

static int next_bit(uint64_t bits, int from, int hi)
{
    for (int i = from; i <= hi; i++)
        if ((bits >> i) & 1)
            return i;
    return -1;
}

/* The first wall time >= w that matches the fields, or INT64_MAX past limit. */
static int64_t next_wall(const taas_cron *c, int64_t w, int64_t limit)
{
    while (w <= limit) {
        int64_t days = w >= 0 ? w / 86400 : -((-w + 86399) / 86400);
        int64_t sod = w - days * 86400;
        int64_t y;
        int m, d;
        taas_civil_from_days(days, &y, &m, &d);
        if (!((c->mon >> m) & 1)) {
            int nm = next_bit(c->mon, m + 1, 12);
            w = nm > 0 ? taas_days_from_civil(y, nm, 1) * 86400
                       : taas_days_from_civil(y + 1, next_bit(c->mon, 1, 12), 1) * 86400;
            continue;
        }
        if (!day_matches(c, days, d)) {
            w = (days + 1) * 86400;
            continue;
        }
        int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
        if (!((c->hour >> h) & 1)) {
            int nh = next_bit(c->hour, h + 1, 23);
            w = nh >= 0 ? days * 86400 + nh * 3600 : (days + 1) * 86400;
            continue;
        }
        if (!((c->min >> mi) & 1)) {
            int nmi = next_bit(c->min, mi + 1, 59);
            w = nmi >= 0 ? days * 86400 + h * 3600 + nmi * 60 : days * 86400 + (h + 1) * 3600;
            continue;
        }
        if (!((c->sec >> s) & 1)) {
            int ns = next_bit(c->sec, s + 1, 59);
            w = ns >= 0 ? w - s + ns : w - s + 60;
            continue;
        }
        return w;
    }
    return INT64_MAX;
}

static int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }

int64_t taas_cron_next(const taas_cron *c, const taas_tz *tz, int64_t after)
{
    /* Every instant t > after has wall time t + off(t) > after + lo, where
     * lo is the smallest offset in force around `after` (offsets change
     * months apart, and past two days the elapsed time outweighs any
     * change). */
    int32_t lo = min32(taas_tz_offset(tz, after),
                       min32(taas_tz_offset(tz, after - 2 * 86400),
                             taas_tz_offset(tz, after + 2 * 86400)));
    int64_t w = after + lo + 1, limit = after + HORIZON_S;
    int64_t best = INT64_MAX, stop = INT64_MAX;
    for (;;) {
        w = next_wall(c, w, stop < limit ? stop : limit);
        if (w == INT64_MAX)
            break;
        int64_t t[2];
        int n = taas_tz_wall_to_utc(tz, w, t);
        if (n == 0) {
            if (!c->hour_star && t[0] > after && t[0] < best)
                best = t[0];
        } else {
            for (int i = 0; i < n; i++) {
                if (i == 1 && !c->hour_star)
                    break; /* a fixed time fires at its first occurrence only */
                if (t[i] > after && t[i] < best)
                    best = t[i];
            }
        }
        if (best != INT64_MAX && stop == INT64_MAX) {
            /* Later wall times w' give instants >= w' - hi; past best + hi
             * none can beat best. */
            int32_t hi = max32(taas_tz_offset(tz, best - 2 * 86400),
                               taas_tz_offset(tz, best + 2 * 86400));
            stop = best + hi;
        }
        w++;
    }
    return best == INT64_MAX ? -1 : best;
}
