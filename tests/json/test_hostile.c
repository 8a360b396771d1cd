/*
 * tests/json/test_hostile.c - inputs built to hurt a parser: deep nesting,
 * huge strings, broken UTF-8, duplicate keys in small and large objects,
 * "\u0000", huge numbers, every truncation of a document, empty input, and
 * random mutations. Each must be refused with the right code, quickly, and
 * without touching memory it does not own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "test_util.h"

static void test_deep_nesting(void **state)
{
    const size_t n = 100000;
    char *buf = malloc(2 * n);
    taas_jdoc d;
    taas_json_limits lim = {0};
    double t0;
    size_t i;

    assert_non_null(buf);
    memset(buf, '[', n);
    t0 = now_s();
    assert_int_equal(taas_json_parse(&d, buf, n, NULL, NULL, 0), TAAS_JSON_EDEPTH);
    assert_true(now_s() - t0 < 0.5);
    /* objects too, and with the closing brackets present */
    for (i = 0; i + 5 <= n; i += 5)
        memcpy(buf + i, "{\"a\":", 5);
    assert_int_equal(taas_json_parse(&d, buf, n, NULL, NULL, 0), TAAS_JSON_EDEPTH);
    memset(buf, '[', n);
    memset(buf + n, ']', n);
    lim.max_bytes = 4 * n;
    assert_int_equal(taas_json_parse(&d, buf, 2 * n, &lim, NULL, 0), TAAS_JSON_EDEPTH);
    /* A caller who allows the depth gets a correct, iterative parse (kept
     * to 10,000 levels: jsmn matches a bracket in O(depth) steps). */
    memset(buf, '[', n / 10);
    memset(buf + n / 10, ']', n / 10);
    lim.max_depth = (int)n / 10;
    assert_int_equal(taas_json_parse(&d, buf, n / 5, &lim, NULL, 0), 0);
    assert_int_equal(d.ntoks, (int)n / 10);
    assert_int_equal(taas_json_next(&d, 0), (int)n / 10);
    assert_int_equal(taas_json_next(&d, 1), (int)n / 10);
    taas_json_free(&d);
    free(buf);
}

static void test_huge_string(void **state)
{
    const size_t n = 10u << 20;
    char *buf = malloc(n);
    taas_jdoc d;
    taas_json_limits lim = {0};
    double t0;
    char err[256];

    assert_non_null(buf);
    memset(buf, 'a', n);
    buf[0] = '"';
    buf[n - 1] = '"';
    t0 = now_s();
    assert_int_equal(taas_json_parse(&d, buf, n, NULL, err, sizeof(err)), TAAS_JSON_ETOOBIG);
    assert_true(now_s() - t0 < 0.1);
    assert_non_null(strstr(err, "over the limit"));
    /* a per-string cap under a bigger document cap */
    lim.max_bytes = 2 * n;
    lim.max_string_bytes = 1u << 20;
    assert_int_equal(taas_json_parse(&d, buf, n, &lim, NULL, 0), TAAS_JSON_ETOOBIG);
    /* and accepted when both caps allow it */
    lim.max_string_bytes = 0;
    assert_int_equal(taas_json_parse(&d, buf, n, &lim, NULL, 0), 0);
    assert_int_equal(taas_json_str_rawlen(&d, 0), n - 2);
    taas_json_free(&d);
    free(buf);
}

static int str_code(const char *body, size_t n)
{
    char buf[64];
    taas_jdoc d;
    int r;
    buf[0] = '[';
    buf[1] = '"';
    memcpy(buf + 2, body, n);
    buf[n + 2] = '"';
    buf[n + 3] = ']';
    r = parse_exact(&d, buf, n + 4, NULL, NULL, 0);
    if (r == 0)
        done(&d);
    return r;
}

#define S(x) x, sizeof(x) - 1

static void test_invalid_utf8(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {S("\xC0\x80")},             /* overlong NUL */
        {S("\xC1\xBF")},             /* overlong 2-byte */
        {S("\xE0\x80\x80")},         /* overlong 3-byte */
        {S("\xE0\x9F\xBF")},         /* overlong U+07FF */
        {S("\xF0\x8F\xBF\xBF")},     /* overlong U+FFFF */
        {S("\xED\xA0\x80")},         /* encoded surrogate U+D800 */
        {S("\xED\xBF\xBF")},         /* encoded surrogate U+DFFF */
        {S("\xED\xA0\xBD\xED\xB8\x80")}, /* CESU-8 pair */
        {S("\xF4\x90\x80\x80")},     /* U+110000 */
        {S("\xF5\x80\x80\x80")},     /* lead byte past U+10FFFF */
        {S("\xF8\x88\x80\x80\x80")}, /* 5-byte form */
        {S("\xFC\x84\x80\x80\x80\x80")}, /* 6-byte form */
        {S("\xFE")},
        {S("\xFF")},
        {S("\x80")},                 /* lone continuation */
        {S("a\xBF")},
        {S("\xC3")},                 /* truncated before the quote */
        {S("\xE2\x82")},
        {S("\xF0\x9F\x98")},
        {S("\xC3\x28")},             /* bad continuation */
        {S("\xE2\x28\xA1")},
        {S("\xF0\x28\x8C\x28")},
        {S("\\uD800")},              /* lone high surrogate escape */
        {S("\\uDC00")},              /* lone low surrogate escape */
        {S("\\uD800\\u0041")},       /* high then not-low */
        {S("\\uD800\\uD800")},
        {S("\\uDC00\\uD800")},       /* inverted pair */
        {S("\\uD834x\\uDD1E")},
    };
    static const struct {
        const char *s;
        size_t n;
    } good[] = {
        {S("\xC2\x80")}, {S("\xDF\xBF")}, {S("\xE0\xA0\x80")}, {S("\xED\x9F\xBF")},
        {S("\xEE\x80\x80")}, {S("\xEF\xBF\xBF")}, {S("\xF0\x90\x80\x80")}, {S("\xF4\x8F\xBF\xBF")},
        {S("\\uD834\\uDD1E")}, {S("\\uDBFF\\uDFFF")}, {S("\\uFFFF")}, {S("\\u0001")},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (str_code(bad[i].s, bad[i].n) != TAAS_JSON_EUTF8)
            fail_msg("bad case %zu accepted or misreported: %d", i, str_code(bad[i].s, bad[i].n));
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (str_code(good[i].s, good[i].n) != 0)
            fail_msg("good case %zu rejected: %d", i, str_code(good[i].s, good[i].n));
    /* outside strings, any non-ASCII byte is a syntax error */
    assert_int_equal(code_of("[\xC3\xA9]"), TAAS_JSON_ESYNTAX);
    assert_int_equal(code_of("\xFF"), TAAS_JSON_ESYNTAX);
}

static void test_nul_escape(void **state)
{
    assert_int_equal(code_of("[\"\\u0000\"]"), TAAS_JSON_ENUL);
    assert_int_equal(code_of("{\"a\\u0000\":1}"), TAAS_JSON_ENUL);
    assert_int_equal(code_of("\"\\u0000\""), TAAS_JSON_ENUL);
    assert_int_equal(code_of("[\"\\u0001\"]"), 0);
    assert_int_equal(code_of("[\"\\\\u0000\"]"), 0); /* an escaped backslash, then text */
}

static void test_duplicate_small(void **state)
{
    assert_int_equal(code_of("{\"a\":1,\"a\":1}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("{\"a\":1,\"b\":2,\"a\":3}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("{\"a\":1,\"\\u0061\":2}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("{\"\\/\":1,\"/\":2}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("{\"\\uD834\\uDD1E\":1,\"\xF0\x9D\x84\x9E\":2}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("{\"\":1,\"\":2}"), TAAS_JSON_EDUPKEY);
    assert_int_equal(code_of("[{\"a\":1},{\"a\":2}]"), 0);
    assert_int_equal(code_of("{\"a\":{\"a\":1}}"), 0);
    assert_int_equal(code_of("{\"a\":{\"b\":1},\"b\":{\"a\":1}}"), 0);
    assert_int_equal(code_of("{\"a\":1,\"A\":2,\"a \":3,\"\\u00e9\":4,\"e\\u0301\":5}"), 0);
    assert_int_equal(code_of("{\"a\":[{\"x\":1,\"y\":{\"x\":2}}],\"b\":{\"x\":3,\"x\":4}}"), TAAS_JSON_EDUPKEY);
}

/* An object of n keys "k0".."k{n-1}", optionally with key `dup` repeated
 * at the end; escape_dup writes that copy with \u escapes. */
static char *big_object(size_t n, long dup, int escape_dup, size_t *len)
{
    size_t cap = n * 24 + 64, o = 0, i;
    char *s = malloc(cap);
    assert_non_null(s);
    s[o++] = '{';
    for (i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    if (dup >= 0)
        o += (size_t)snprintf(s + o, cap - o, escape_dup ? ",\"\\u006b%ld\":0" : ",\"k%ld\":0", dup);
    s[o++] = '}';
    *len = o;
    return s;
}

static void test_duplicate_large(void **state)
{
    size_t len;
    taas_jdoc d;
    taas_json_limits lim = {0};
    double t0;
    char *s;
    char err[256];
    const size_t n = 100000;

    lim.max_bytes = 8u << 20;
    s = big_object(n, -1, 0, &len);
    t0 = now_s();
    assert_int_equal(taas_json_parse(&d, s, len, &lim, err, sizeof(err)), 0);
    /* quadratic checking would take minutes here */
    assert_true(now_s() - t0 < 5.0);
    assert_int_equal(d.toks[0].size, (int)n);
    assert_int_equal(taas_json_obj_get(&d, 0, "k99999", 6), 2 * (int)n);
    taas_json_free(&d);
    free(s);

    s = big_object(n, 4242, 0, &len);
    assert_int_equal(taas_json_parse(&d, s, len, &lim, err, sizeof(err)), TAAS_JSON_EDUPKEY);
    assert_non_null(strstr(err, "duplicate key \"k4242\" at /k4242"));
    free(s);

    s = big_object(n, 7, 1, &len);
    assert_int_equal(taas_json_parse(&d, s, len, &lim, err, sizeof(err)), TAAS_JSON_EDUPKEY);
    free(s);

    /* just over the pairwise threshold */
    s = big_object(17, 0, 0, &len);
    assert_int_equal(taas_json_parse(&d, s, len, &lim, err, sizeof(err)), TAAS_JSON_EDUPKEY);
    free(s);
    s = big_object(17, -1, 0, &len);
    assert_int_equal(taas_json_parse(&d, s, len, &lim, err, sizeof(err)), 0);
    taas_json_free(&d);
    free(s);
}

static void test_huge_numbers(void **state)
{
    taas_jdoc d;
    int64_t v;
    size_t n = 100000;
    char *s = malloc(n + 2);
    const char *e = "[1e999999999999999999999, -1e400, 1e-99999, 123456789012345678901234567890]";

    assert_int_equal(parse_exact(&d, e, strlen(e), NULL, NULL, 0), 0);
    assert_true(isinf(taas_json_double(&d, 1)) && taas_json_double(&d, 1) > 0);
    assert_true(isinf(taas_json_double(&d, 2)) && taas_json_double(&d, 2) < 0);
    assert_true(taas_json_double(&d, 3) == 0.0);
    assert_int_equal(taas_json_int64(&d, 1, &v), TAAS_JSON_ERANGE);
    assert_int_equal(taas_json_int64(&d, 3, &v), TAAS_JSON_ERANGE);
    assert_int_equal(taas_json_int64(&d, 4, &v), TAAS_JSON_ERANGE);
    assert_true(taas_json_is_integral(&d, 1));
    assert_false(taas_json_is_integral(&d, 3));
    done(&d);

    /* a 100,000-digit root number at the very end of the buffer */
    assert_non_null(s);
    memset(s, '7', n);
    assert_int_equal(parse_exact(&d, s, n, NULL, NULL, 0), 0);
    assert_true(isinf(taas_json_double(&d, 0)));
    assert_int_equal(taas_json_int64(&d, 0, &v), TAAS_JSON_ERANGE);
    done(&d);
    free(s);
}

static void test_truncated(void **state)
{
    static const char doc[] =
        "{\"a\":[1,-2.5e+3,true,false,null],\"b\\u00e9\":{\"c\":\"x\\n\\uD834\\uDD1E\xC3\xA9\"},\"d\":[]}";
    size_t n = sizeof(doc) - 1, k;
    taas_jdoc d;

    assert_int_equal(parse_exact(&d, doc, n, NULL, NULL, 0), 0);
    done(&d);
    for (k = 0; k < n; k++) {
        int r = parse_exact(&d, doc, k, NULL, NULL, 0);
        if (r == 0)
            fail_msg("prefix of %zu bytes accepted", k);
        assert_true(r == TAAS_JSON_ESYNTAX || r == TAAS_JSON_EUTF8);
    }
}

static void test_empty(void **state)
{
    taas_jdoc d;
    char err[128];
    assert_int_equal(taas_json_parse(&d, NULL, 0, NULL, err, sizeof(err)), TAAS_JSON_ESYNTAX);
    assert_int_equal(taas_json_parse(&d, "", 0, NULL, err, sizeof(err)), TAAS_JSON_ESYNTAX);
    assert_string_equal(err, "line 1, column 1: empty document");
    assert_int_equal(code_of(" \n\t\r "), TAAS_JSON_ESYNTAX);
}

/* Random byte edits of a valid document: no crash, no leak, no hang. */
static void test_mutations(void **state)
{
    static const char seed[] =
        "{\"name\":\"t\\u00e9st\",\"n\":[0,-1.5e3,1e-2,true,null],\"o\":{\"k\":\"\\uD834\\uDD1E\"},\"e\":\"\xE2\x82\xAC\"}";
    static const char alphabet[] = "{}[]\",:\\u0123456789eE+-.tfn \t\n\xC3\xA9\xED\xF4\x80\xBF";
    char buf[sizeof(seed) + 8];
    unsigned long x = 88172645463325252UL;
    int i, accepted = 0;

    for (i = 0; i < 200000; i++) {
        size_t n = sizeof(seed) - 1, j;
        int edits;
        taas_jdoc d;
        memcpy(buf, seed, n);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        edits = 1 + (int)(x % 3);
        for (j = 0; j < (size_t)edits; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] = alphabet[(x >> 20) % (sizeof(alphabet) - 1)];
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x % 4 == 0)
            n = (size_t)(x >> 8) % n;
        if (parse_exact(&d, buf, n, NULL, NULL, 0) == 0) {
            int t;
            accepted++;
            for (t = 0; t < d.ntoks; t++) {
                if (taas_json_kind_of(&d, t) == TAAS_JSON_STRING) {
                    char out[sizeof(seed)];
                    size_t m = taas_json_str_decode(&d, t, out);
                    assert_true(taas_json_str_eq(&d, t, out, m));
                }
                assert_true(taas_json_equal(&d, t, &d, t));
            }
            done(&d);
        }
    }
    print_message("mutations: %d of 200000 still valid JSON\n", accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_string),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_escape),
        cmocka_unit_test(test_duplicate_small),
        cmocka_unit_test(test_duplicate_large),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
