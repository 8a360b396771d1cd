/*
 * tests/json/test_write.c - the taas_jw writer: structure and commas,
 * escaping (checked by parsing the output back), shortest round-trip
 * doubles, errors for bad input and misuse, and the size cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "test_util.h"

static char *take_ok(taas_jw *w, size_t *len)
{
    char *s;
    assert_int_equal(w->err, 0);
    s = taas_jw_take(w, len);
    assert_non_null(s);
    return s;
}

static void test_structure(void **state)
{
    taas_jw w;
    size_t len;
    char *s;

    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "a");
    taas_jw_int64(&w, INT64_MIN);
    taas_jw_key(&w, "b");
    taas_jw_arr_begin(&w);
    taas_jw_bool(&w, true);
    taas_jw_bool(&w, false);
    taas_jw_null(&w);
    taas_jw_str(&w, NULL);
    taas_jw_arr_begin(&w);
    taas_jw_arr_end(&w);
    taas_jw_obj_begin(&w);
    taas_jw_obj_end(&w);
    taas_jw_raw(&w, "{\"x\":1}", 7);
    taas_jw_arr_end(&w);
    taas_jw_keyn(&w, "c\"d", 3);
    taas_jw_str(&w, "x");
    taas_jw_obj_end(&w);
    s = take_ok(&w, &len);
    assert_string_equal(s, "{\"a\":-9223372036854775808,\"b\":[true,false,null,null,[],{},{\"x\":1}],\"c\\\"d\":\"x\"}");
    assert_int_equal(len, strlen(s));
    assert_int_equal(code_of(s), 0);
    free(s);
    /* the writer is reset by take and reusable */
    taas_jw_int64(&w, 7);
    s = take_ok(&w, &len);
    assert_string_equal(s, "7");
    free(s);
    taas_jw_free(&w);
}

static void test_escaping_roundtrip(void **state)
{
    char in[200], out[1200];
    size_t n = 0, len, m;
    unsigned c;
    taas_jw w;
    taas_jdoc d;
    char *s;

    for (c = 1; c < 0x80; c++)
        in[n++] = (char)c;
    memcpy(in + n, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBF\xF4\x8F\xBF\xBF", 16);
    n += 16;
    taas_jw_init(&w, 0);
    taas_jw_strn(&w, in, n);
    s = take_ok(&w, &len);
    /* control characters appear escaped, never raw; UTF-8 is kept as is */
    for (m = 0; m < len; m++)
        assert_true((unsigned char)s[m] >= 0x20);
    assert_non_null(strstr(s, "\\u0001"));
    assert_non_null(strstr(s, "\\u001f"));
    assert_non_null(strstr(s, "\\n"));
    assert_non_null(strstr(s, "\\\""));
    assert_non_null(strstr(s, "\\\\"));
    assert_non_null(strstr(s, "\xF0\x9F\x98\x80"));
    assert_null(strstr(s, "\\/"));
    assert_int_equal(parse_exact(&d, s, len, NULL, NULL, 0), 0);
    m = taas_json_str_decode(&d, 0, out);
    assert_int_equal(m, n);
    assert_memory_equal(out, in, n);
    done(&d);
    free(s);

    taas_jw_init(&w, 0);
    taas_jw_escape(&w, "a\tb", 3);
    s = take_ok(&w, &len);
    assert_string_equal(s, "a\\tb");
    free(s);
}

static void test_bad_strings(void **state)
{
    static const char *bad[] = {"\xFF", "a\xC3", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80"};
    size_t i;
    taas_jw w;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        taas_jw_init(&w, 0);
        taas_jw_arr_begin(&w);
        taas_jw_str(&w, "ok");
        taas_jw_str(&w, bad[i]);
        assert_int_equal(w.err, TAAS_JSON_EUTF8);
        /* nothing of the bad string reached the buffer */
        assert_null(memchr(w.buf, bad[i][0], w.len));
        taas_jw_arr_end(&w);
        assert_null(taas_jw_take(&w, NULL));
        taas_jw_free(&w);
    }
    taas_jw_init(&w, 0);
    taas_jw_strn(&w, "a\0b", 3);
    assert_int_equal(w.err, TAAS_JSON_ENUL);
    taas_jw_free(&w);
    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_keyn(&w, "\xFF", 1);
    assert_int_equal(w.err, TAAS_JSON_EUTF8);
    taas_jw_free(&w);
}

static void check_double(double v, const char *want)
{
    taas_jw w;
    size_t len;
    char *s;
    taas_jdoc d;
    double back;

    taas_jw_init(&w, 0);
    taas_jw_double(&w, v);
    s = take_ok(&w, &len);
    if (want)
        assert_string_equal(s, want);
    if (parse_exact(&d, s, len, NULL, NULL, 0) != 0)
        fail_msg("not JSON: %s", s);
    back = taas_json_double(&d, 0);
    if (memcmp(&back, &v, sizeof(v)) != 0)
        fail_msg("%s read back differently (%a vs %a)", s, back, v);
    done(&d);
    free(s);
}

static void test_doubles(void **state)
{
    uint64_t x = 0x9E3779B97F4A7C15u;
    int i, n = 0;

    check_double(0.1, "0.1");
    check_double(1e300, "1e+300");
    check_double(-0.0, "-0");
    check_double(0.0, "0");
    check_double(5e-324, "4.94065645841247e-324");
    check_double(1.0 / 3.0, "0.3333333333333333");
    check_double(100.0, "100");
    check_double(1.7976931348623157e308, "1.7976931348623157e+308");
    check_double(2.2250738585072014e-308, NULL);
    check_double(123456789012345678.0, NULL);
    check_double(0.30000000000000004, "0.30000000000000004");
    for (i = 0; i < 100000; i++) {
        double v;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        check_double(v, NULL);
        n++;
    }
    assert_true(n > 90000);
}

static void test_non_finite(void **state)
{
    taas_jw w;
    double vals[] = {NAN, INFINITY, -INFINITY};
    size_t i;
    for (i = 0; i < 3; i++) {
        taas_jw_init(&w, 0);
        taas_jw_double(&w, vals[i]);
        assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
        assert_null(taas_jw_take(&w, NULL));
    }
}

static void test_misuse(void **state)
{
    taas_jw w;
    int i;

    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_int64(&w, 1); /* no key */
    assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
    taas_jw_free(&w);

    taas_jw_init(&w, 0);
    taas_jw_int64(&w, 1);
    taas_jw_int64(&w, 2); /* a second root */
    assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
    taas_jw_free(&w);

    taas_jw_init(&w, 0);
    taas_jw_arr_begin(&w);
    taas_jw_key(&w, "a"); /* key in an array */
    assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
    taas_jw_free(&w);

    taas_jw_init(&w, 0);
    taas_jw_arr_begin(&w);
    taas_jw_obj_end(&w); /* mismatched end */
    assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
    taas_jw_free(&w);

    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "a");
    taas_jw_obj_end(&w); /* key without value */
    assert_int_equal(w.err, TAAS_JSON_ESYNTAX);
    taas_jw_free(&w);

    taas_jw_init(&w, 0);
    taas_jw_arr_begin(&w); /* unfinished */
    assert_null(taas_jw_take(&w, NULL));
    assert_int_equal(w.err, 0); /* reset */

    for (i = 0; i < TAAS_JW_MAX_DEPTH - 1; i++)
        taas_jw_arr_begin(&w);
    assert_int_equal(w.err, 0);
    taas_jw_arr_begin(&w);
    assert_int_equal(w.err, TAAS_JSON_EDEPTH);
    taas_jw_free(&w);
}

static void test_cap(void **state)
{
    taas_jw w;
    size_t len;
    char *s;
    int i;

    taas_jw_init(&w, 9);
    taas_jw_str(&w, "1234567"); /* 9 bytes with quotes: exactly the cap */
    s = take_ok(&w, &len);
    assert_int_equal(len, 9);
    free(s);

    taas_jw_init(&w, 9);
    taas_jw_str(&w, "12345678");
    assert_int_equal(w.err, TAAS_JSON_ETOOBIG);
    assert_null(taas_jw_take(&w, &len));
    assert_int_equal(len, 0);

    taas_jw_init(&w, 1000);
    taas_jw_arr_begin(&w);
    for (i = 0; i < 1000; i++)
        taas_jw_int64(&w, i);
    assert_int_equal(w.err, TAAS_JSON_ETOOBIG);
    assert_true(w.len <= 1000);
    taas_jw_arr_end(&w);
    assert_null(taas_jw_take(&w, NULL));
    taas_jw_free(&w);

    /* escaping counts toward the cap */
    taas_jw_init(&w, 10);
    taas_jw_strn(&w, "\x01\x01", 2);
    assert_int_equal(w.err, TAAS_JSON_ETOOBIG);
    taas_jw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_escaping_roundtrip),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
