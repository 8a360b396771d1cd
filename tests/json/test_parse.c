/*
 * tests/json/test_parse.c - taas_json_parse(): the grammar jsmn does not
 * check, error codes, messages with line and column, and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

static void test_accepts_valid(void **state)
{
    static const char *ok[] = {
        "1", " true ", "false", "null", "\"x\"", "-0", "0", "1e5", "1E+5", "-0.5e-3", "123.456",
        "[]", "{}", "[ ]", "{ }", " \t\r\n[1 , 2]\n", "{\"a\":1,\"b\":[true,false,null]}",
        "[[[]],[{}],{\"\":\"\"}]", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD834\\uDD1E\"",
        "{\"a\":{\"b\":{\"c\":[1,{\"d\":2}]}},\"e\":3}", "[\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"]",
        "[1,\"a\",{},[],true]", "\"\x7F\"",
    };
    size_t i;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int r = code_of(ok[i]);
        if (r != 0)
            fail_msg("rejected %s: %d", ok[i], r);
    }
}

static void test_rejects_what_jsmn_accepts(void **state)
{
    static const char *bad[] = {
        "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[tru]", "[01]", "[-]", "[1.]", "[.5]", "[1e]",
        "[1] [2]", "1 2", "\"a\" \"b\"", "[1 2]", "{\"a\":1 \"b\":2}", "[,1]", "{,}", "[1,,2]",
        "{\"a\"::1}", "{1:2}", "[\"a\":1]", "{\"a\":1:2}", "[", "]", "[1}", "{\"a\"}", "nul",
        "truex", "[NaN]", "[Infinity]", "[+1]", "[0x10]", "[1.5e+]", "'a'", "[\"\\x\"]",
        "[\"\\u12\"]", "[\"a\tb\"]", "{\"a\":1}}", "[true false]", "{\"a\":}", "{:1}", "[-01]",
        "[1e+-2]", "[2.e3]", "[-.1]", "{\"a\",1}", "[}", "{]", "[\"a\",]", "[null,]", "[[],]",
        "{\"a\":[],}", "tRue", "[1]x", "x", "[\"\\", "\"abc", "[1,2", "{\"a\":1", "[\xC3\xA9]",
        "[1:2]", "{\"a\":1,\"b\"}", "[\"a\" 1]", "[{} {}]", "[[] []]", "{\"a\":{} \"b\":1}",
        "\"a\"1", "[]1", "1[]", "{}\"a\"", ",", ":", "[,]", "{\"\\u0061\" \"x\"}",
    };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = code_of(bad[i]);
        if (r != TAAS_JSON_ESYNTAX)
            fail_msg("%s: expected ESYNTAX, got %d", bad[i], r);
    }
}

static void test_trailing_nul_rejected(void **state)
{
    taas_jdoc d;
    /* jsmn stops at a NUL byte; the parser must not */
    assert_int_equal(parse_exact(&d, "[1]\0", 4, NULL, NULL, 0), TAAS_JSON_ESYNTAX);
    assert_int_equal(parse_exact(&d, "1\0", 2, NULL, NULL, 0), TAAS_JSON_ESYNTAX);
    assert_int_equal(parse_exact(&d, "\"a\0\"", 4, NULL, NULL, 0), TAAS_JSON_ESYNTAX);
}

static void check_msg(const char *doc, int code, const char *msg)
{
    taas_jdoc d;
    char err[256];
    int r = parse_exact(&d, doc, strlen(doc), NULL, err, sizeof(err));
    assert_int_equal(r, code);
    assert_string_equal(err, msg);
    assert_null(strchr(err, '\n'));
}

static void test_messages(void **state)
{
    check_msg("[1,\n  2,\n  01]", TAAS_JSON_ESYNTAX, "line 3, column 3: invalid number");
    check_msg("{\"a\": tru}", TAAS_JSON_ESYNTAX, "line 1, column 7: invalid literal");
    check_msg("[1,2,]", TAAS_JSON_ESYNTAX, "line 1, column 5: trailing comma");
    check_msg("{\"a\" 1}", TAAS_JSON_ESYNTAX, "line 1, column 6: expected ':' after the key");
    check_msg("[1 2]", TAAS_JSON_ESYNTAX, "line 1, column 4: expected ',' or ']'");
    check_msg("[1] 2", TAAS_JSON_ESYNTAX, "line 1, column 5: unexpected data after the root value");
    check_msg("", TAAS_JSON_ESYNTAX, "line 1, column 1: empty document");
    check_msg("\n  ", TAAS_JSON_ESYNTAX, "line 2, column 3: empty document");
    check_msg("[\"\xC3\xA9\", \"\xFF\"]", TAAS_JSON_EUTF8, "line 1, column 8: invalid UTF-8 in string");
    check_msg("[\"a\\u0000\"]", TAAS_JSON_ENUL, "line 1, column 4: \\u0000 is not allowed in strings");
    check_msg("{\"x\":[{\"y\":1,\"y\":2}]}", TAAS_JSON_EDUPKEY,
              "line 1, column 14: duplicate key \"y\" at /x/0/y");
    check_msg("{\"a/b\":{\"c~\":1,\"c~\":2}}", TAAS_JSON_EDUPKEY,
              "line 1, column 16: duplicate key \"c~\" at /a~1b/c~0");
    check_msg("[[[1]]", TAAS_JSON_ESYNTAX, "line 1, column 7: unexpected end of input");
    check_msg("\xEF\xBB\xBF{}", TAAS_JSON_ESYNTAX, "line 1, column 1: byte order mark (U+FEFF) before the value");
}

static void test_null_err_buffer(void **state)
{
    taas_jdoc d;
    char tiny[8];
    assert_int_equal(parse_exact(&d, "[01]", 4, NULL, NULL, 0), TAAS_JSON_ESYNTAX);
    assert_int_equal(parse_exact(&d, "[01]", 4, NULL, tiny, sizeof(tiny)), TAAS_JSON_ESYNTAX);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    assert_null(d.toks);
    assert_int_equal(d.ntoks, 0);
}

static void test_limits(void **state)
{
    taas_jdoc d;
    taas_json_limits lim = {0};
    char err[256];

    lim.max_bytes = 8;
    assert_int_equal(parse_exact(&d, "[1,2,3]", 7, &lim, err, sizeof(err)), 0);
    done(&d);
    assert_int_equal(parse_exact(&d, "[1,2,3,4]", 9, &lim, err, sizeof(err)), TAAS_JSON_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_tokens = 4;
    assert_int_equal(parse_exact(&d, "[1,2,3]", 7, &lim, err, sizeof(err)), 0);
    done(&d);
    assert_int_equal(parse_exact(&d, "[1,2,3,4]", 9, &lim, err, sizeof(err)), TAAS_JSON_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_string_bytes = 3;
    assert_int_equal(parse_exact(&d, "[\"abc\"]", 7, &lim, err, sizeof(err)), 0);
    done(&d);
    assert_int_equal(parse_exact(&d, "[\"abcd\"]", 8, &lim, err, sizeof(err)), TAAS_JSON_ETOOBIG);
    assert_int_equal(parse_exact(&d, "{\"abcd\":1}", 10, &lim, err, sizeof(err)), TAAS_JSON_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_depth = 2;
    assert_int_equal(parse_exact(&d, "[[1]]", 5, &lim, err, sizeof(err)), 0);
    done(&d);
    assert_int_equal(parse_exact(&d, "[[[1]]]", 7, &lim, err, sizeof(err)), TAAS_JSON_EDEPTH);
    assert_int_equal(parse_exact(&d, "[{\"a\":{}}]", 10, &lim, err, sizeof(err)), TAAS_JSON_EDEPTH);
    /* brackets inside strings do not count */
    assert_int_equal(parse_exact(&d, "[\"[[[[{{{{\"]", 12, &lim, err, sizeof(err)), 0);
    done(&d);
}

static void test_default_depth(void **state)
{
    char buf[2 * TAAS_JSON_DEFAULT_MAX_DEPTH + 4];
    int n;
    for (n = TAAS_JSON_DEFAULT_MAX_DEPTH; n <= TAAS_JSON_DEFAULT_MAX_DEPTH + 1; n++) {
        memset(buf, '[', (size_t)n);
        memset(buf + n, ']', (size_t)n);
        buf[2 * n] = '\0';
        assert_int_equal(code_of(buf), n == TAAS_JSON_DEFAULT_MAX_DEPTH ? 0 : TAAS_JSON_EDEPTH);
    }
}

static void test_token_tree(void **state)
{
    const char *s = "{\"a\":[1,2],\"b\":{\"c\":null},\"d\":\"x\"}";
    taas_jdoc d;
    int a, b, c;

    assert_int_equal(parse_exact(&d, s, strlen(s), NULL, NULL, 0), 0);
    assert_int_equal(d.ntoks, 11);
    assert_int_equal(d.toks[0].type, JSMN_OBJECT);
    assert_int_equal(d.toks[0].size, 3);
    a = taas_json_obj_get(&d, 0, "a", 1);
    assert_int_equal(a, 2);
    assert_int_equal(taas_json_next(&d, a), 5);
    b = taas_json_obj_get(&d, 0, "b", 1);
    assert_int_equal(b, 6);
    c = taas_json_obj_get(&d, b, "c", 1);
    assert_int_equal(taas_json_kind_of(&d, c), TAAS_JSON_NULL);
    assert_int_equal(taas_json_next(&d, 0), d.ntoks);
    assert_int_equal(taas_json_next(&d, b), 9);
    done(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_valid),
        cmocka_unit_test(test_rejects_what_jsmn_accepts),
        cmocka_unit_test(test_trailing_nul_rejected),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_null_err_buffer),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_depth),
        cmocka_unit_test(test_token_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
