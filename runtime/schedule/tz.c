/*
 * runtime/schedule/tz.c - TZif (RFC 8536) reader and the POSIX TZ rules of
 * its footer. See tz.h for why this is not localtime_r().
 *
 * Method. Only the version 2+ body is used (64-bit transition times); a
 * version 1 file is read from its 32-bit body. Instants before the first
 * transition take the first local time type (RFC 8536 3.2); instants after
 * the last one follow the footer's TZ string when there is one, else the
 * last type. Zone files that carry leap seconds ("right/...") are refused:
 * schedules count civil seconds.
 */
#include "schedule/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_MAX_FILE (256 * 1024) /* the largest real zone file is ~4 KiB */
#define TZ_MAX_NAME 128

typedef struct tz_rule_date {
    char kind;   /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.day) */
    int a, b, c; /* J/N: a = day; M: a = month, b = week (1..5), c = weekday */
    int32_t secs; /* local time of day of the change, may be < 0 or > 24 h */
} tz_rule_date;

typedef struct tz_rule {
    bool present;
    bool has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    tz_rule_date start, end;
} tz_rule;

struct taas_tz {
    char name[TZ_MAX_NAME];
    size_t ntrans;
    int64_t *trans;   /* ascending */
    int32_t *trans_off; /* offset in force from trans[i] on */
    int32_t first_off; /* before trans[0] */
    tz_rule rule;      /* after the last transition */
};

const char *taas_tz_name(const taas_tz *tz)
{
    return tz->name;
}

void taas_tz_free(taas_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->trans_off);
    free(tz);
}

/* ------------------------------------------------------------------------ */
/* Civil calendar (H. Hinnant's algorithms, proleptic Gregorian). */

int64_t taas_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void taas_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* ------------------------------------------------------------------------ */
/* POSIX TZ strings: "CET-1CEST,M3.5.0,M10.5.0/3", "<+03>-3", "EST5EDT,..." */

static const char *parse_tzname(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 extension). */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return i == 0 ? NULL : p;
        int v = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if ((i == 0 && v > 167) || (i > 0 && v > 59))
            return NULL;
        parts[i] = v;
        if (*p != ':' || i == 2)
            break;
        p++;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    int v = 0;
    while (*p >= '0' && *p <= '9' && v <= hi)
        v = v * 10 + (*p++ - '0');
    if (v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_rule_date(const char *p, tz_rule_date *d)
{
    if (*p == 'J') {
        d->kind = 'J';
        p = parse_num(p + 1, 1, 365, &d->a);
    } else if (*p == 'M') {
        d->kind = 'M';
        if (!(p = parse_num(p + 1, 1, 12, &d->a)) || *p++ != '.')
            return NULL;
        if (!(p = parse_num(p, 1, 5, &d->b)) || *p++ != '.')
            return NULL;
        p = parse_num(p, 0, 6, &d->c);
    } else {
        d->kind = 'N';
        p = parse_num(p, 0, 365, &d->a);
    }
    if (!p)
        return NULL;
    d->secs = 7200;
    if (*p == '/')
        p = parse_hms(p + 1, &d->secs);
    return p;
}

static bool parse_posix_tz(const char *s, tz_rule *r)
{
    memset(r, 0, sizeof *r);
    const char *p = parse_tzname(s);
    int32_t off;
    if (!p || !(p = parse_hms(p, &off)))
        return false;
    r->std_off = -off; /* POSIX counts west of UTC */
    r->present = true;
    if (!*p)
        return true;
    if (!(p = parse_tzname(p)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off)))
            return false;
        r->dst_off = -off;
    }
    if (*p != ',') /* a DST name without rules: no way to know when */
        return false;
    if (!(p = parse_rule_date(p + 1, &r->start)) || *p != ',')
        return false;
    if (!(p = parse_rule_date(p + 1, &r->end)))
        return false;
    return *p == '\0';
}

/* Days since the epoch of a rule's date in year y. */
static int64_t rule_day(const tz_rule_date *d, int64_t y)
{
    int64_t jan1 = taas_days_from_civil(y, 1, 1);
    switch (d->kind) {
    case 'J': /* Feb 29 is never counted */
        return jan1 + d->a - 1 + (is_leap(y) && d->a >= 60 ? 1 : 0);
    case 'N':
        return jan1 + d->a;
    default: {
        int64_t first = taas_days_from_civil(y, d->a, 1);
        int wd_first = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int64_t day = first + (d->c - wd_first + 7) % 7 + (int64_t)(d->b - 1) * 7;
        int64_t last = first + month_days(y, d->a) - 1;
        while (day > last)
            day -= 7; /* week 5 = the last such weekday */
        return day;
    }
    }
}

static int32_t rule_offset(const tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    int m, d;
    taas_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    /* The start is given in standard time, the end in daylight time. */
    int64_t start = rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    int64_t end = rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ------------------------------------------------------------------------ */

int32_t taas_tz_offset(const taas_tz *tz, int64_t t)
{
    if (tz->ntrans == 0 || t < tz->trans[0])
        return tz->ntrans == 0 && tz->rule.present ? rule_offset(&tz->rule, t) : tz->first_off;
    if (t >= tz->trans[tz->ntrans - 1] && tz->rule.present)
        return rule_offset(&tz->rule, t);
    size_t lo = 0, hi = tz->ntrans; /* last i with trans[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->trans_off[lo];
}

int taas_tz_wall_to_utc(const taas_tz *tz, int64_t wall, int64_t out[2])
{
    /* Changes are months apart: the offsets a day before and after bound
     * the candidates. */
    int32_t oa = taas_tz_offset(tz, wall - 86400 * 2);
    int32_t ob = taas_tz_offset(tz, wall + 86400 * 2);
    int n = 0;
    int32_t cand[2] = {oa, ob};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && ob == oa)
            break;
        int64_t t = wall - cand[i];
        if (taas_tz_offset(tz, t) == cand[i])
            out[n++] = t;
    }
    if (n == 2 && out[0] > out[1]) {
        int64_t x = out[0];
        out[0] = out[1];
        out[1] = x;
    }
    if (n > 0)
        return n;
    /* A skipped local time: the gap ends at the change, which lies between
     * wall - ob (still before it) and wall - oa (already after it). */
    int64_t lo = wall - (oa > ob ? oa : ob), hi = wall - (oa < ob ? oa : ob);
    int32_t olo = taas_tz_offset(tz, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (taas_tz_offset(tz, mid) == olo)
            lo = mid;
        else
            hi = mid;
    }
    out[0] = hi;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool valid_zone_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= TZ_MAX_NAME || name[0] == '/' || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return false;
        if (c == '.' && (name[i + 1] == '.' || (i > 0 && name[i - 1] == '/')))
            return false;
    }
    return true;
}

static int parse_tzif(taas_tz *tz, const unsigned char *buf, size_t len, char *err,
                      size_t errlen)
{
#define BAD(msg)                                                                                 \
    do {                                                                                         \
        snprintf(err, errlen, "time zone \"%s\": %s", tz->name, msg);                            \
        return -1;                                                                               \
    } while (0)
    if (len < 44 || memcmp(buf, "TZif", 4) != 0)
        BAD("not a TZif file");
    int version = buf[4] ? buf[4] - '0' : 1;
    size_t off = 0;
    int tsize = 4;
    uint32_t cnt[6];
    for (int pass = 0; pass < 2; pass++) {
        if (len - off < 44 || memcmp(buf + off, "TZif", 4) != 0)
            BAD("truncated header");
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(buf + off + 20 + 4 * i);
        /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
        uint64_t body = (uint64_t)cnt[3] * (tsize + 1) + (uint64_t)cnt[4] * 6 + cnt[5] +
                        (uint64_t)cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if (cnt[4] == 0 || body > len - off - 44)
            BAD("truncated data");
        if (pass == 1 || version < 2)
            break;
        off += 44 + body; /* skip the 32-bit body */
        tsize = 8;
    }
    if (cnt[2] != 0)
        BAD("zone files with leap seconds are not supported");
    const unsigned char *p = buf + off + 44;
    size_t ntrans = cnt[3], ntypes = cnt[4];
    const unsigned char *times = p, *idx = p + ntrans * tsize, *types = idx + ntrans;
    int32_t *type_off = calloc(ntypes, sizeof *type_off);
    tz->trans = calloc(ntrans ? ntrans : 1, sizeof *tz->trans);
    tz->trans_off = calloc(ntrans ? ntrans : 1, sizeof *tz->trans_off);
    if (!type_off || !tz->trans || !tz->trans_off) {
        free(type_off);
        BAD("out of memory");
    }
    for (size_t i = 0; i < ntypes; i++) {
        type_off[i] = (int32_t)be32(types + 6 * i);
        if (type_off[i] < -25 * 3600 || type_off[i] > 26 * 3600) {
            free(type_off);
            BAD("offset out of range");
        }
    }
    tz->first_off = type_off[0];
    for (size_t i = 0; i < ntrans; i++) {
        int64_t t = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= ntypes || (i > 0 && t <= tz->trans[i - 1])) {
            free(type_off);
            BAD("bad transition table");
        }
        tz->trans[i] = t;
        tz->trans_off[i] = type_off[idx[i]];
    }
    tz->ntrans = ntrans;
    free(type_off);
    if (version >= 2) {
        size_t body = ntrans * 9 + ntypes * 6 + cnt[5] + cnt[1] + cnt[0];
        const unsigned char *f = p + body, *end = buf + len;
        if (f < end && *f == '\n') {
            const unsigned char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
            if (nl && nl > f + 1) {
                char footer[128];
                size_t n = (size_t)(nl - f - 1);
                if (n >= sizeof footer)
                    BAD("footer too long");
                memcpy(footer, f + 1, n);
                footer[n] = '\0';
                if (!parse_posix_tz(footer, &tz->rule))
                    BAD("unreadable TZ string in the footer");
            }
        }
    }
    return 0;
#undef BAD
}

taas_tz *taas_tz_load(const char *name, char *err, size_t errlen)
{
    if (!name || !*name)
        name = "UTC";
    taas_tz *tz = calloc(1, sizeof *tz);
    if (!tz) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!valid_zone_name(name)) {
        snprintf(err, errlen, "invalid time zone name \"%.64s\" (expected an IANA name such as "
                 "Europe/Paris)", name);
        free(tz);
        return NULL;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* The name was checked above: no "..", so the path stays in the tree
     * (many zones are symlinks within it). */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
            tz->rule.present = true; /* no zone files installed: UTC is still UTC */
            return tz;
        }
        snprintf(err, errlen, "unknown time zone \"%s\"", name);
        free(tz);
        return NULL;
    }
    struct stat st;
    unsigned char *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE) {
        snprintf(err, errlen, "unknown time zone \"%s\"", name);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        snprintf(err, errlen, "out of memory");
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                break;
            }
            got += (size_t)r;
        }
        rc = parse_tzif(tz, buf, got, err, errlen);
    }
    free(buf);
    close(fd);
    if (rc != 0) {
        taas_tz_free(tz);
        return NULL;
    }
    return tz;
}
