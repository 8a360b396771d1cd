/*
 * runtime/json/json_write.c - the taas_jw writer.
 *
 * Every append goes through put(), which enforces the cap (`max`) and keeps
 * the first error: after an error nothing more is written and take()
 * returns NULL, so a caller may emit a whole document and check once.
 *
 * w->first[d] holds the state of nesting level d: bit 0 "no value written
 * yet", bit 1 "this level is an object". Level 0 is the document itself,
 * which takes exactly one value.
 *
 * Strings must be valid UTF-8 without NUL bytes: the output then always
 * parses back with taas_json_parse(). Anything else sets err and writes
 * nothing of that string.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "util/utf8.h"

#define JW_DEFAULT_MAX ((size_t)16 << 20)
#define LVL_FIRST 1u
#define LVL_OBJECT 2u

void taas_jw_init(taas_jw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max ? max : JW_DEFAULT_MAX;
    w->first[0] = LVL_FIRST;
}

void taas_jw_free(taas_jw *w)
{
    free(w->buf);
    taas_jw_init(w, w->max);
}

static void seterr(taas_jw *w, int code)
{
    if (!w->err)
        w->err = code;
}

static int reserve(taas_jw *w, size_t n)
{
    size_t need, cap;
    char *b;

    if (w->err)
        return -1;
    if (n > w->max - w->len) {
        seterr(w, TAAS_JSON_ETOOBIG);
        return -1;
    }
    need = w->len + n + 1; /* room for the NUL */
    if (need <= w->cap)
        return 0;
    cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > w->max + 1)
        cap = w->max + 1;
    b = realloc(w->buf, cap);
    if (!b) {
        seterr(w, TAAS_JSON_ENOMEM);
        return -1;
    }
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void put(taas_jw *w, const char *s, size_t n)
{
    if (reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* Comma and position checks before a value; 0 when the value may follow. */
static int before_value(taas_jw *w)
{
    unsigned char *lvl;

    if (w->err)
        return -1;
    lvl = &w->first[w->depth];
    if (w->after_key) {
        w->after_key = 0;
        return 0;
    }
    if (*lvl & LVL_OBJECT) {
        seterr(w, TAAS_JSON_ESYNTAX); /* a value in an object needs a key first */
        return -1;
    }
    if (!(*lvl & LVL_FIRST)) {
        if (w->depth == 0) {
            seterr(w, TAAS_JSON_ESYNTAX); /* a second root value */
            return -1;
        }
        put(w, ",", 1);
    }
    *lvl &= (unsigned char)~LVL_FIRST;
    return w->err ? -1 : 0;
}

static void begin(taas_jw *w, char c, unsigned char kind)
{
    if (before_value(w))
        return;
    if (w->depth + 1 >= TAAS_JW_MAX_DEPTH) {
        seterr(w, TAAS_JSON_EDEPTH);
        return;
    }
    put(w, &c, 1);
    if (w->err)
        return;
    w->first[++w->depth] = (unsigned char)(LVL_FIRST | kind);
}

static void end(taas_jw *w, char c, unsigned char kind)
{
    if (w->err)
        return;
    if (w->depth == 0 || (w->first[w->depth] & LVL_OBJECT) != kind || w->after_key) {
        seterr(w, TAAS_JSON_ESYNTAX);
        return;
    }
    put(w, &c, 1);
    if (!w->err)
        w->depth--;
}

void taas_jw_obj_begin(taas_jw *w) { begin(w, '{', LVL_OBJECT); }
void taas_jw_obj_end(taas_jw *w) { end(w, '}', LVL_OBJECT); }
void taas_jw_arr_begin(taas_jw *w) { begin(w, '[', 0); }
void taas_jw_arr_end(taas_jw *w) { end(w, ']', 0); }

/* Validate s[0..n) for the writer: UTF-8, no NUL. */
static int check_text(taas_jw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        if (u[i] >= 0x80) {
            size_t l = taas_utf8_seq(u + i, n - i);
            if (!l) {
                seterr(w, TAAS_JSON_EUTF8);
                return -1;
            }
            i += l;
        } else if (u[i] == 0) {
            seterr(w, TAAS_JSON_ENUL);
            return -1;
        } else {
            i++;
        }
    }
    return 0;
}

static void escape_valid(taas_jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, run;

    while (i < n && !w->err) {
        for (run = i; run < n; run++) {
            unsigned char c = (unsigned char)s[run];
            if (c < 0x20 || c == '"' || c == '\\')
                break;
        }
        put(w, s + i, run - i);
        if (run == n)
            break;
        {
            unsigned char c = (unsigned char)s[run];
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            switch (c) {
            case '"': put(w, "\\\"", 2); break;
            case '\\': put(w, "\\\\", 2); break;
            case '\b': put(w, "\\b", 2); break;
            case '\f': put(w, "\\f", 2); break;
            case '\n': put(w, "\\n", 2); break;
            case '\r': put(w, "\\r", 2); break;
            case '\t': put(w, "\\t", 2); break;
            default: put(w, e, 6); break;
            }
        }
        i = run + 1;
    }
}

void taas_jw_escape(taas_jw *w, const char *s, size_t n)
{
    if (w->err || check_text(w, s, n))
        return;
    escape_valid(w, s, n);
}

static void quoted(taas_jw *w, const char *s, size_t n)
{
    put(w, "\"", 1);
    escape_valid(w, s, n);
    put(w, "\"", 1);
}

void taas_jw_keyn(taas_jw *w, const char *key, size_t n)
{
    unsigned char *lvl;

    if (w->err)
        return;
    lvl = &w->first[w->depth];
    if (!(*lvl & LVL_OBJECT) || w->after_key) {
        seterr(w, TAAS_JSON_ESYNTAX);
        return;
    }
    if (check_text(w, key, n))
        return;
    if (!(*lvl & LVL_FIRST))
        put(w, ",", 1);
    quoted(w, key, n);
    put(w, ":", 1);
    *lvl &= (unsigned char)~LVL_FIRST;
    w->after_key = 1;
}

void taas_jw_key(taas_jw *w, const char *key)
{
    taas_jw_keyn(w, key, strlen(key));
}

void taas_jw_strn(taas_jw *w, const char *s, size_t n)
{
    if (w->err || check_text(w, s, n) || before_value(w))
        return;
    quoted(w, s, n);
}

void taas_jw_str(taas_jw *w, const char *s)
{
    if (!s)
        taas_jw_null(w);
    else
        taas_jw_strn(w, s, strlen(s));
}

void taas_jw_int64(taas_jw *w, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRId64, v);

    if (before_value(w))
        return;
    put(w, b, (size_t)n);
}

/*
 * The shortest of %.15g, %.16g, %.17g that reads back to the same bits
 * (17 significant digits always do). Formatting and reading both happen in
 * the C locale, so the decimal point is '.' whatever LC_NUMERIC says.
 */
static int format_double(char *b, size_t cap, double v)
{
    locale_t c = taas_json__c_locale(), old = (locale_t)0;
    int prec, n = 0;

    if (c)
        old = uselocale(c);
    for (prec = 15; prec <= 17; prec++) {
        double back;
        n = snprintf(b, cap, "%.*g", prec, v);
        back = c ? strtod_l(b, NULL, c) : strtod(b, NULL);
        if (memcmp(&back, &v, sizeof(v)) == 0)
            break;
    }
    if (c)
        uselocale(old);
    return n;
}

void taas_jw_double(taas_jw *w, double v)
{
    char b[40];
    int n;

    if (w->err)
        return;
    if (!isfinite(v)) {
        seterr(w, TAAS_JSON_ESYNTAX);
        return;
    }
    n = format_double(b, sizeof(b), v);
    if (before_value(w))
        return;
    put(w, b, (size_t)n);
}

void taas_jw_bool(taas_jw *w, bool v)
{
    if (before_value(w))
        return;
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void taas_jw_null(taas_jw *w)
{
    if (before_value(w))
        return;
    put(w, "null", 4);
}

void taas_jw_raw(taas_jw *w, const char *json, size_t n)
{
    if (n == 0) {
        seterr(w, TAAS_JSON_ESYNTAX); /* not a value */
        return;
    }
    if (before_value(w))
        return;
    put(w, json, n);
}

char *taas_jw_take(taas_jw *w, size_t *len)
{
    char *b = NULL;

    if (!w->err && (w->depth != 0 || w->after_key))
        w->err = TAAS_JSON_ESYNTAX; /* an unfinished document */
    if (!w->err && reserve(w, 0) == 0) {
        b = w->buf;
        b[w->len] = '\0';
        if (len)
            *len = w->len;
        w->buf = NULL;
    }
    free(w->buf);
    w->buf = NULL;
    if (!b && len)
        *len = 0;
    taas_jw_init(w, w->max);
    return b;
}
