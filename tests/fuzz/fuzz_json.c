/*
 * tests/fuzz/fuzz_json.c - the JSON tokenizer (runtime/json) on arbitrary
 * bytes.
 *
 * Every input is parsed twice: with the default limits and with tight ones
 * (depth 4, 64 tokens, 32-byte strings, 256 bytes). A document that parses
 * is walked token by token with every read helper, and written back out
 * with the writer; the written text must parse again and be equal
 * (taas_json_equal) to the original. A document the tight limits accept
 * must also be accepted by the defaults.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "json/json.h"

static void write_value(taas_jw *w, const taas_jdoc *d, int t, char *scratch);

/* The writer prints a finite double with digits that read back to it. */
static void double_round_trip(double v)
{
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_jw_double(&w, v);
    size_t len = 0;
    char *out = taas_jw_take(&w, &len);
    FUZZ_CHECK(out != NULL, "writer refused the finite double %.17g", v);
    taas_jdoc d;
    int rc = taas_json_parse(&d, out, len, NULL, NULL, 0);
    FUZZ_CHECK(rc == 0, "written double '%s' does not parse", out);
    double back = taas_json_double(&d, 0);
    FUZZ_CHECK(back == v && signbit(back) == signbit(v), "%.17g written as '%s' reads %.17g", v,
               out, back);
    taas_json_free(&d);
    free(out);
    taas_jw_free(&w);
}

/* Check every helper on token t and its subtree; returns the next token. */
static int walk(const taas_jdoc *d, int t, int depth, char *scratch)
{
    FUZZ_CHECK(t >= 0 && t < d->ntoks, "token %d of %d", t, d->ntoks);
    taas_json_kind k = taas_json_kind_of(d, t);
    FUZZ_CHECK(taas_json_kind_name(k) != NULL, "kind %d", (int)k);
    FUZZ_CHECK(taas_json_equal(d, t, d, t), "token %d differs from itself", t);
    int next = taas_json_next(d, t);
    FUZZ_CHECK(next > t && next <= d->ntoks, "next(%d) = %d", t, next);

    switch (k) {
    case TAAS_JSON_NULL:
        break;
    case TAAS_JSON_BOOL: {
        bool b = taas_json_bool(d, t);
        FUZZ_CHECK(d->text[d->toks[t].start] == (b ? 't' : 'f'), "bool");
        break;
    }
    case TAAS_JSON_NUMBER: {
        double v = taas_json_double(d, t);
        FUZZ_CHECK(!isnan(v), "number is NaN");
        if (isfinite(v))
            double_round_trip(v);
        int64_t i;
        int rc = taas_json_int64(d, t, &i);
        FUZZ_CHECK(rc == 0 || rc == TAAS_JSON_ERANGE, "int64 rc %d", rc);
        if (rc == 0)
            FUZZ_CHECK(taas_json_is_integral(d, t), "int64 accepted a non-integral number");
        break;
    }
    case TAAS_JSON_STRING: {
        size_t raw = taas_json_str_rawlen(d, t);
        size_t n = taas_json_str_decode(d, t, scratch);
        FUZZ_CHECK(n <= raw, "decoded %zu > raw %zu", n, raw);
        FUZZ_CHECK(scratch[n] == '\0', "decode did not terminate");
        FUZZ_CHECK(memchr(scratch, '\0', n) == NULL, "decoded string holds NUL");
        FUZZ_CHECK(taas_json_str_eq(d, t, scratch, n), "str_eq(decode) is false");
        if (n > 0)
            FUZZ_CHECK(!taas_json_str_eq(d, t, scratch, n - 1), "str_eq of a prefix is true");
        size_t cps = taas_json_str_codepoints(d, t);
        FUZZ_CHECK(cps <= n, "%zu code points in %zu bytes", cps, n);
        char esc[64];
        size_t full = taas_json_pointer_escape(esc, sizeof esc, scratch, n);
        FUZZ_CHECK(full >= n, "pointer escape shorter than its input");
        FUZZ_CHECK(strlen(esc) <= full && strlen(esc) < sizeof esc, "pointer escape overflow");
        break;
    }
    case TAAS_JSON_ARRAY: {
        int j = t + 1;
        for (int i = 0; i < d->toks[t].size; i++)
            j = walk(d, j, depth + 1, scratch);
        FUZZ_CHECK(j == next, "array items end at %d, next says %d", j, next);
        break;
    }
    case TAAS_JSON_OBJECT: {
        int j = t + 1;
        for (int i = 0; i < d->toks[t].size; i++) {
            FUZZ_CHECK(taas_json_kind_of(d, j) == TAAS_JSON_STRING, "key is not a string");
            size_t n = taas_json_str_decode(d, j, scratch);
            /* No duplicate keys: the lookup finds exactly this member. */
            int v = taas_json_obj_get(d, t, scratch, n);
            FUZZ_CHECK(v == j + 1, "obj_get found %d, member value is %d", v, j + 1);
            j = walk(d, j + 1, depth + 1, scratch);
        }
        FUZZ_CHECK(j == next, "members end at %d, next says %d", j, next);
        break;
    }
    }
    return next;
}

static void write_value(taas_jw *w, const taas_jdoc *d, int t, char *scratch)
{
    const jsmntok_t *tok = &d->toks[t];
    switch (taas_json_kind_of(d, t)) {
    case TAAS_JSON_NULL:
        taas_jw_null(w);
        break;
    case TAAS_JSON_BOOL:
        taas_jw_bool(w, taas_json_bool(d, t));
        break;
    case TAAS_JSON_NUMBER: {
        int64_t i;
        /* Equality is exact decimal: a double would lose digits, so the
         * text itself unless the value is an int64 (double_round_trip
         * checks the writer's doubles on their own). */
        if (taas_json_int64(d, t, &i) == 0)
            taas_jw_int64(w, i);
        else
            taas_jw_raw(w, d->text + tok->start, (size_t)(tok->end - tok->start));
        break;
    }
    case TAAS_JSON_STRING: {
        size_t n = taas_json_str_decode(d, t, scratch);
        taas_jw_strn(w, scratch, n);
        break;
    }
    case TAAS_JSON_ARRAY: {
        taas_jw_arr_begin(w);
        int j = t + 1;
        for (int i = 0; i < tok->size; i++) {
            write_value(w, d, j, scratch);
            j = taas_json_next(d, j);
        }
        taas_jw_arr_end(w);
        break;
    }
    case TAAS_JSON_OBJECT: {
        taas_jw_obj_begin(w);
        int j = t + 1;
        for (int i = 0; i < tok->size; i++) {
            size_t n = taas_json_str_decode(d, j, scratch);
            taas_jw_keyn(w, scratch, n);
            write_value(w, d, j + 1, scratch);
            j = taas_json_next(d, j + 1);
        }
        taas_jw_obj_end(w);
        break;
    }
    }
}

static void round_trip(const taas_jdoc *d, char *scratch)
{
    taas_jw w;
    taas_jw_init(&w, 0);
    write_value(&w, d, 0, scratch);
    FUZZ_CHECK(w.err == 0, "writer error %d", w.err);
    size_t len = 0;
    char *out = taas_jw_take(&w, &len);
    FUZZ_CHECK(out != NULL, "writer returned nothing");
    FUZZ_CHECK(strlen(out) == len, "written length %zu, strlen %zu", len, strlen(out));

    taas_jdoc again;
    char err[256];
    taas_json_limits lim = {.max_bytes = len + 1, .max_depth = TAAS_JSON_DEFAULT_MAX_DEPTH};
    int rc = taas_json_parse(&again, out, len, &lim, err, sizeof err);
    FUZZ_CHECK(rc == 0, "written JSON does not re-parse (%s): %.200s", err, out);
    FUZZ_CHECK(taas_json_equal(d, 0, &again, 0), "round trip differs: %.200s", out);
    FUZZ_CHECK(taas_json_equal(&again, 0, d, 0), "round trip differs (reversed): %.200s", out);
    taas_json_free(&again);
    free(out);
    taas_jw_free(&w);
}

static int parse_and_check(const uint8_t *data, size_t size, const taas_json_limits *lim)
{
    taas_jdoc d;
    char err[256];
    err[0] = '\0';
    int rc = taas_json_parse(&d, (const char *)data, size, lim, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc >= TAAS_JSON_ETYPE && rc < 0, "parse rc %d", rc);
        FUZZ_CHECK(err[0] != '\0', "parse failed (%d) without a message", rc);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
        return rc;
    }
    FUZZ_CHECK(d.ntoks >= 1, "no tokens");
    char *scratch = malloc(size + 1);
    FUZZ_CHECK(scratch != NULL, "out of memory");
    int end = walk(&d, 0, 0, scratch);
    FUZZ_CHECK(end == d.ntoks, "root ends at %d of %d tokens", end, d.ntoks);
    round_trip(&d, scratch);
    free(scratch);
    taas_json_free(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const taas_json_limits tight = {
        .max_bytes = 256, .max_tokens = 64, .max_string_bytes = 32, .max_depth = 4};
    int rc_default = parse_and_check(data, size, NULL);
    int rc_tight = parse_and_check(data, size, &tight);
    if (rc_tight == 0)
        FUZZ_CHECK(rc_default == 0, "tight limits accept what the defaults refuse (%d)",
                   rc_default);
    return 0;
}
