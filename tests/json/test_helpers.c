/*
 * tests/json/test_helpers.c - the read helpers on parsed documents:
 * equality, exact integer conversion, strings, lookup, JSON Pointer
 * escaping, and number reading under a non-C locale.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <locale.h>

#include <cmocka.h>

#include "test_util.h"

static int eq(const char *a, const char *b)
{
    taas_jdoc x, y;
    int r;
    assert_int_equal(parse_exact(&x, a, strlen(a), NULL, NULL, 0), 0);
    assert_int_equal(parse_exact(&y, b, strlen(b), NULL, NULL, 0), 0);
    r = taas_json_equal(&x, 0, &y, 0);
    assert_int_equal(r, taas_json_equal(&y, 0, &x, 0));
    done(&x);
    done(&y);
    return r;
}

static void test_equal(void **state)
{
    assert_true(eq("1", "1.0"));
    assert_true(eq("1", "1e0"));
    assert_true(eq("100", "1e2"));
    assert_true(eq("1.5", "15e-1"));
    assert_true(eq("0", "-0"));
    assert_true(eq("0", "0.000e10"));
    assert_true(eq("0.1", "0.10"));
    assert_true(eq("-2.50", "-25e-1"));
    assert_false(eq("1", "2"));
    assert_false(eq("10", "1"));
    assert_false(eq("1", "-1"));
    assert_false(eq("1.000000000000000005", "1"));
    assert_false(eq("12", "21"));
    assert_true(eq("\"A\"", "\"\\u0041\""));
    assert_true(eq("\"\xF0\x9D\x84\x9E\"", "\"\\uD834\\uDD1E\""));
    assert_false(eq("\"a\"", "\"b\""));
    assert_false(eq("\"a\"", "\"ab\""));
    assert_true(eq("{\"a\":1,\"b\":[1,2]}", "{\"b\":[1.0,2],\"a\":1}"));
    assert_false(eq("{\"a\":1,\"b\":[1,2]}", "{\"b\":[2,1],\"a\":1}"));
    assert_false(eq("{\"a\":1}", "{\"a\":1,\"b\":2}"));
    assert_false(eq("{\"a\":1}", "{\"b\":1}"));
    assert_true(eq("{\"x\":{\"y\":[{\"z\":null}]}}", "{\"x\":{\"y\":[{\"z\":null}]}}"));
    assert_false(eq("{\"x\":{\"y\":[{\"z\":null}]}}", "{\"x\":{\"y\":[{\"z\":false}]}}"));
    assert_true(eq("[]", "[]"));
    assert_false(eq("[]", "{}"));
    assert_false(eq("[1]", "[1,1]"));
    assert_false(eq("true", "false"));
    assert_false(eq("null", "false"));
    assert_false(eq("0", "false"));
    assert_false(eq("\"1\"", "1"));
}

static int i64(const char *s, int64_t *v)
{
    taas_jdoc d;
    int r;
    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    r = taas_json_int64(&d, 0, v);
    done(&d);
    return r;
}

static void test_int64(void **state)
{
    int64_t v = 0;
    assert_int_equal(i64("3", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(i64("3.0", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(i64("3e2", &v), 0);
    assert_int_equal(v, 300);
    assert_int_equal(i64("1200e-2", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(i64("-0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(i64("0.000e5", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(i64("1e18", &v), 0);
    assert_int_equal(v, 1000000000000000000);
    assert_int_equal(i64("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(i64("-9223372036854775808.000", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(i64("3.5", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("1e19", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("9223372036854775808", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("-9223372036854775809", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("18446744073709551616", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("123e-2", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("1e-999", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("1e999999999999999999999", &v), TAAS_JSON_ERANGE);
    assert_int_equal(i64("\"3\"", &v), TAAS_JSON_ETYPE);
    assert_int_equal(i64("true", &v), TAAS_JSON_ETYPE);
    assert_int_equal(i64("null", &v), TAAS_JSON_ETYPE);
}

static void test_integral(void **state)
{
    const char *s = "[1.0, 1e2, 1.5, 1e-1, 10e-1, 0.0, -7, \"1\"]";
    static const bool want[] = {true, true, false, false, true, true, true, false};
    taas_jdoc d;
    int i;
    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    for (i = 0; i < 8; i++)
        assert_int_equal(taas_json_is_integral(&d, i + 1), want[i]);
    done(&d);
}

static void test_strings(void **state)
{
    const char *s = "[\"a\\uD834\\uDD1Eb\", \"\xC3\xA9\", \"\\u00e9\", \"\xF0\x9F\x98\x80!\", \"\", "
                    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]";
    taas_jdoc d;
    char out[64];
    size_t n;

    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    assert_int_equal(taas_json_str_codepoints(&d, 1), 3);
    assert_int_equal(taas_json_str_codepoints(&d, 2), 1);
    assert_int_equal(taas_json_str_codepoints(&d, 3), 1);
    assert_int_equal(taas_json_str_codepoints(&d, 4), 2);
    assert_int_equal(taas_json_str_codepoints(&d, 5), 0);
    assert_int_equal(taas_json_str_codepoints(&d, 6), 8);

    n = taas_json_str_decode(&d, 1, out);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "a\xF0\x9D\x84\x9E" "b", 7);
    assert_true(n <= taas_json_str_rawlen(&d, 1));
    n = taas_json_str_decode(&d, 3, out);
    assert_string_equal(out, "\xC3\xA9");
    n = taas_json_str_decode(&d, 6, out);
    assert_int_equal(n, 8);
    assert_string_equal(out, "\"\\/\b\f\n\r\t");
    n = taas_json_str_decode(&d, 5, out);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");

    assert_true(taas_json_str_eq(&d, 3, "\xC3\xA9", 2));
    assert_true(taas_json_str_eq(&d, 2, "\xC3\xA9", 2));
    assert_false(taas_json_str_eq(&d, 2, "\xC3", 1));
    assert_false(taas_json_str_eq(&d, 2, "\xC3\xA9x", 3));
    assert_true(taas_json_str_eq(&d, 6, "\"\\/\b\f\n\r\t", 8));
    assert_true(taas_json_str_eq(&d, 5, "", 0));
    done(&d);
}

static void test_obj_get(void **state)
{
    const char *s = "{\"a\":1,\"\\u0062\":{\"c\":[true]},\"d\":\"x\",\"\":0}";
    taas_jdoc d;
    int b, c;

    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    assert_int_equal(taas_json_obj_get(&d, 0, "a", 1), 2);
    b = taas_json_obj_get(&d, 0, "b", 1);
    assert_int_equal(taas_json_kind_of(&d, b), TAAS_JSON_OBJECT);
    c = taas_json_obj_get(&d, b, "c", 1);
    assert_int_equal(taas_json_kind_of(&d, c), TAAS_JSON_ARRAY);
    assert_true(taas_json_bool(&d, c + 1));
    assert_true(taas_json_str_eq(&d, taas_json_obj_get(&d, 0, "d", 1), "x", 1));
    assert_int_equal(taas_json_kind_of(&d, taas_json_obj_get(&d, 0, "", 0)), TAAS_JSON_NUMBER);
    assert_int_equal(taas_json_obj_get(&d, 0, "c", 1), -1);
    assert_int_equal(taas_json_obj_get(&d, 0, "ab", 2), -1);
    assert_int_equal(taas_json_obj_get(&d, c, "c", 1), -1);
    assert_string_equal(taas_json_kind_name(taas_json_kind_of(&d, 0)), "object");
    assert_string_equal(taas_json_kind_name(taas_json_kind_of(&d, c + 1)), "boolean");
    assert_string_equal(taas_json_kind_name(TAAS_JSON_NULL), "null");
    done(&d);
}

static void test_pointer_escape(void **state)
{
    char out[32];
    assert_int_equal(taas_json_pointer_escape(out, sizeof(out), "a/b~c", 5), 7);
    assert_string_equal(out, "a~1b~0c");
    /* truncation never splits an escape and still reports the full length */
    assert_int_equal(taas_json_pointer_escape(out, 3, "a/b", 3), 4);
    assert_string_equal(out, "a");
    assert_int_equal(taas_json_pointer_escape(NULL, 0, "~~", 2), 4);
}

static void test_locale(void **state)
{
    /* A comma locale must not change how numbers read. Without one
     * installed, the C.UTF-8 run still checks the conversion path. */
    const char *names[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE", "C.UTF-8"};
    const char *s = "[1.5, 2.25e1]";
    taas_jdoc d;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (setlocale(LC_NUMERIC, names[i]))
            break;
    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    assert_true(taas_json_double(&d, 1) == 1.5);
    assert_true(taas_json_double(&d, 2) == 22.5);
    done(&d);
    setlocale(LC_NUMERIC, "C");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_int64),
        cmocka_unit_test(test_integral),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_obj_get),
        cmocka_unit_test(test_pointer_escape),
        cmocka_unit_test(test_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
