/* tests/json/test_util.h - small shared helpers for the JSON unit tests. */
#ifndef TAAS_TEST_JSON_UTIL_H
#define TAAS_TEST_JSON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"

/* Parse s[0..n) from an exact-size heap copy, so ASan sees any read past
 * the end (the parser must not need a NUL terminator). */
static inline int parse_exact(taas_jdoc *d, const char *s, size_t n, const taas_json_limits *lim, char *err,
                              size_t errlen)
{
    char *copy = malloc(n ? n : 1);
    int r;
    if (!copy)
        abort();
    memcpy(copy, s, n);
    r = taas_json_parse(d, copy, n, lim, err, errlen);
    if (r == 0) {
        /* keep the copy alive as long as the doc: tests free both via done() */
        d->text = copy;
    } else {
        free(copy);
    }
    return r;
}

static inline void done(taas_jdoc *d)
{
    free((void *)d->text);
    taas_json_free(d);
}

/* Parse a C string; returns the code and frees everything. */
static inline int code_of(const char *s)
{
    taas_jdoc d;
    char err[256];
    int r = parse_exact(&d, s, strlen(s), NULL, err, sizeof(err));
    if (r == 0)
        done(&d);
    return r;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
