/*
 * runtime/json/json_util.c - small pieces shared by the reader and writer:
 * the C locale for number conversion, UTF-8 validation and decoding of
 * validated string bodies, and the exact decimal split of number tokens.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t taas_json__c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

double taas_json__strtod(const char *s, size_t n)
{
    char small[64];
    char *buf = small;
    double v;
    locale_t loc = taas_json__c_locale();

    if (n >= sizeof(small)) {
        buf = malloc(n + 1);
        if (!buf)
            return 0.0 / 0.0; /* NaN: the only failure, and out of memory */
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* newlocale("C") can only fail for lack of memory; strtod then still
     * reads JSON numbers right under any locale whose decimal point is '.'. */
    v = loc ? strtod_l(buf, NULL, loc) : strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return v;
}

static unsigned hexval(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    return (unsigned)(c - 'A' + 10);
}

uint32_t taas_json__hex4(const char *s)
{
    return (uint32_t)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

uint32_t taas_json__next_cp(const char *s, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    uint32_t cp;

    if (u[0] == '\\') {
        switch (u[1]) {
        case 'b': *i += 2; return '\b';
        case 'f': *i += 2; return '\f';
        case 'n': *i += 2; return '\n';
        case 'r': *i += 2; return '\r';
        case 't': *i += 2; return '\t';
        case 'u':
            cp = taas_json__hex4((const char *)u + 2);
            *i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* parse checked that a low surrogate escape follows */
                uint32_t lo = taas_json__hex4((const char *)u + 8);
                *i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            return cp;
        default: *i += 2; return u[1]; /* \" \\ \/ */
        }
    }
    if (u[0] < 0x80) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xE0) {
        *i += 2;
        return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    }
    if (u[0] < 0xF0) {
        *i += 3;
        return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    }
    *i += 4;
    return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
           (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
}

size_t taas_json__utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int taas_json__raw_eq(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;

    if (an == bn && memcmp(a, b, an) == 0)
        return 1;
    /* Without escapes the raw bytes are the decoded bytes. */
    if (!memchr(a, '\\', an) && !memchr(b, '\\', bn))
        return 0;
    while (i < an && j < bn)
        if (taas_json__next_cp(a, &i) != taas_json__next_cp(b, &j))
            return 0;
    return i == an && j == bn;
}

void taas_json__num_split(const char *t, size_t start, size_t end, taas_json__num *out)
{
    size_t p = start, is, ie, fs = 0, fe = 0, k;
    size_t first = (size_t)-1, last = (size_t)-1;
    int64_t e = 0, shift;
    int eneg = 0;

    out->neg = t[p] == '-';
    if (out->neg)
        p++;
    is = p;
    while (p < end && t[p] >= '0' && t[p] <= '9')
        p++;
    ie = p;
    if (p < end && t[p] == '.') {
        fs = ++p;
        while (p < end && t[p] >= '0' && t[p] <= '9')
            p++;
        fe = p;
    }
    if (p < end && (t[p] == 'e' || t[p] == 'E')) {
        p++;
        if (t[p] == '+' || t[p] == '-')
            eneg = t[p++] == '-';
        for (; p < end; p++) {
            /* Saturate: past 10^15 the exact exponent no longer matters. */
            if (e < INT64_C(1000000000000000))
                e = e * 10 + (t[p] - '0');
        }
        if (eneg)
            e = -e;
    }
    for (k = is; k < ie && first == (size_t)-1; k++)
        if (t[k] != '0')
            first = k;
    for (k = fs; k < fe && first == (size_t)-1; k++)
        if (t[k] != '0')
            first = k;
    for (k = fe; k > fs && last == (size_t)-1; k--)
        if (t[k - 1] != '0')
            last = k - 1;
    for (k = ie; k > is && last == (size_t)-1; k--)
        if (t[k - 1] != '0')
            last = k - 1;
    if (first == (size_t)-1) {
        out->first = out->last = out->ndig = 0;
        out->exp = 0;
        return;
    }
    out->first = first;
    out->last = last;
    out->ndig = last - first + 1;
    if (fe > fs && first < ie && last >= fs)
        out->ndig--; /* the '.' between them */
    if (last < ie)
        shift = (int64_t)(ie - 1 - last);
    else
        shift = -(int64_t)(last - fs + 1);
    out->exp = e + shift;
}
