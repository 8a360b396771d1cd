/*
 * tests/tasks/test_config_tasks.c - create_config, validate_config and
 * load_config through their generated entries. Every create_config output
 * is also checked against the shared app_config schema, so the mirror in
 * its spec cannot drift from task-specs/schemas/app_config.yaml.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "create_config.h"
#include "load_config.h"
#include "schema_app_config.h"
#include "tasks_run_util.h"
#include "tasks_test_util.h"
#include "validate_config.h"

static void assert_app_config(const char *json)
{
    taas_schema_errors errs;
    if (schema_app_config_validate(json, strlen(json), &errs) != TAAS_SCHEMA_VALID) {
        char buf[1024];
        fail_msg("not an app_config (%s): %s",
                 errs.count ? taas_error_format(&errs.items[0], buf, sizeof buf) : "?", json);
    }
}

static void expect_outcome(const taas_task_type *type, const char *input, taas_outcome want,
                           const char *needle)
{
    taas_run_result res;
    taas_outcome o = tt_run(type, input, NULL, NULL, &res);
    tt_run_done(&res);
    if (o != want || !strstr(res.error, needle))
        fail_msg("%s %s: outcome %d, error '%s' (want %d with '%s')", type->name, input, (int)o,
                 res.error, (int)want, needle);
}

/* ------------------------------------------------------------------------ */
/* create_config */

static void test_create_defaults(void **state)
{
    (void)state;
    char *out = tt_run_ok(&taas_task_create_config, "{\"app_name\":\"shop\"}");
    tt_assert_json(out, "{\"app_name\":\"shop\",\"environment\":\"development\",\"debug\":false,"
                        "\"port\":8080,\"log_level\":\"info\",\"features\":[]}");
    assert_app_config(out);
    free(out);
}

static void test_create_full(void **state)
{
    (void)state;
    char *out = tt_run_ok(&taas_task_create_config,
                          "{\"app_name\":\"shop-api\",\"environment\":\"production\","
                          "\"debug\":true,\"port\":65535,\"log_level\":\"critical\","
                          "\"features\":[\"metrics\",\"cache\",\"metrics\",\"auth\"]}");
    tt_assert_json(out, "{\"app_name\":\"shop-api\",\"environment\":\"production\","
                        "\"debug\":true,\"port\":65535,\"log_level\":\"critical\","
                        "\"features\":[\"auth\",\"cache\",\"metrics\"]}");
    assert_app_config(out);
    free(out);
}

static void test_create_invalid(void **state)
{
    (void)state;
    const taas_task_type *t = &taas_task_create_config;
    expect_outcome(t, "{}", TAAS_OUTCOME_INVALID_INPUT, "app_name");
    expect_outcome(t, "{\"app_name\":\"\"}", TAAS_OUTCOME_INVALID_INPUT, "/app_name");
    expect_outcome(t, "{\"app_name\":\"1shop\"}", TAAS_OUTCOME_INVALID_INPUT, "/app_name");
    expect_outcome(t, "{\"app_name\":\"s\",\"port\":0}", TAAS_OUTCOME_INVALID_INPUT, "/port");
    expect_outcome(t, "{\"app_name\":\"s\",\"port\":65536}", TAAS_OUTCOME_INVALID_INPUT,
                   "/port");
    expect_outcome(t, "{\"app_name\":\"s\",\"port\":\"80\"}", TAAS_OUTCOME_INVALID_INPUT,
                   "/port");
    expect_outcome(t, "{\"app_name\":\"s\",\"environment\":\"prod\"}",
                   TAAS_OUTCOME_INVALID_INPUT, "/environment");
    expect_outcome(t, "{\"app_name\":\"s\",\"log_level\":\"trace\"}",
                   TAAS_OUTCOME_INVALID_INPUT, "/log_level");
    expect_outcome(t, "{\"app_name\":\"s\",\"debug\":1}", TAAS_OUTCOME_INVALID_INPUT, "/debug");
    expect_outcome(t, "{\"app_name\":\"s\",\"features\":[\"ok\",\"Bad\"]}",
                   TAAS_OUTCOME_INVALID_INPUT, "/features/1");
    expect_outcome(t, "{\"app_name\":\"s\",\"colour\":\"red\"}", TAAS_OUTCOME_INVALID_INPUT,
                   "colour");
}

/* ------------------------------------------------------------------------ */
/* validate_config */

static bool has_error(const char *out, const char *path, const char *needle)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"path\":\"%s\"", path);
    const char *p = out;
    while ((p = strstr(p, pat)) != NULL) {
        const char *end = strchr(p, '}');
        const char *m = strstr(p, needle);
        if (m && end && m < end)
            return true;
        p++;
    }
    return false;
}

static void test_validate_valid(void **state)
{
    (void)state;
    char *out = tt_run_ok(&taas_task_validate_config,
                          "{\"config\":{\"app_name\":\"shop\",\"environment\":\"staging\","
                          "\"debug\":false,\"port\":443,\"log_level\":\"info\","
                          "\"features\":[\"a\",\"b\"],"
                          "\"database\":{\"url\":\"sqlite:///x.db\",\"pool_size\":5}}}");
    tt_assert_json(out, "{\"valid\":true,\"errors\":[]}");
    free(out);

    /* What create_config makes, validate_config accepts. */
    char *cfg = tt_run_ok(&taas_task_create_config, "{\"app_name\":\"a.b_c-d\",\"port\":1}");
    char input[1024];
    snprintf(input, sizeof input, "{\"config\":%s}", cfg);
    out = tt_run_ok(&taas_task_validate_config, input);
    tt_assert_json(out, "{\"valid\":true,\"errors\":[]}");
    free(out);
    free(cfg);
}

static void test_validate_reports_every_error(void **state)
{
    (void)state;
    /* An invalid configuration is a successful run with valid: false. */
    char *out = tt_run_ok(&taas_task_validate_config,
                          "{\"config\":{\"app_name\":\"1shop\",\"environment\":\"prod\","
                          "\"debug\":\"yes\",\"port\":70000,"
                          "\"features\":[\"a\",\"a\",\"Bad\"],"
                          "\"database\":{\"url\":\"mysql://x\",\"pool_size\":0},"
                          "\"colour\":\"red\"}}");
    assert_false(tt_json_get_bool(out, "valid"));
    const char *paths[] = {"/app_name", "/environment", "/debug", "/port",
                           "/features", "/features/2", "/database/url", "/database/pool_size"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!has_error(out, paths[i], "\"message\""))
            fail_msg("no error at %s in %s", paths[i], out);
    }
    /* The missing log_level and the unknown colour are reported too. */
    if (!strstr(out, "log_level") || !strstr(out, "colour"))
        fail_msg("missing key or extra key not reported: %s", out);
    free(out);

    out = tt_run_ok(&taas_task_validate_config, "{\"config\":{}}");
    assert_false(tt_json_get_bool(out, "valid"));
    assert_true(strstr(out, "app_name") != NULL);
    free(out);
}

static void test_validate_invalid_input(void **state)
{
    (void)state;
    expect_outcome(&taas_task_validate_config, "{}", TAAS_OUTCOME_INVALID_INPUT, "config");
    expect_outcome(&taas_task_validate_config, "{\"config\":[1]}", TAAS_OUTCOME_INVALID_INPUT,
                   "/config");
}

/* ------------------------------------------------------------------------ */
/* load_config */

typedef struct lfix {
    char base[64];
    char root[96];
} lfix;

static int lsetup(void **state)
{
    lfix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->base, "/tmp/taas-load-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    snprintf(f->root, sizeof f->root, "%s/root", f->base);
    tt_mkdirf(f->base, "root");
    tt_mkdirf(f->base, "outside");
    tt_write_file(f->base, "outside/secret.json", "{\"secret\":1}");
    setenv("TAAS_CONFIG_ROOT", f->root, 1);
    *state = f;
    return 0;
}

static int lteardown(void **state)
{
    lfix *f = *state;
    unsetenv("TAAS_CONFIG_ROOT");
    tt_rm_rf(f->base);
    free(f);
    return 0;
}

static void test_load_inline(void **state)
{
    (void)state;
    char *out = tt_run_ok(&taas_task_load_config,
                          "{\"config\":{\"port\":8080,\"app_name\":\"shop\",\"Z\":null,"
                          "\"nested\":{\"b\":1}}}");
    tt_assert_json(out, "{\"config\":{\"port\":8080,\"app_name\":\"shop\",\"Z\":null,"
                        "\"nested\":{\"b\":1}},\"source\":\"inline\","
                        "\"keys\":[\"Z\",\"app_name\",\"nested\",\"port\"]}");
    free(out);
    out = tt_run_ok(&taas_task_load_config, "{\"config\":{}}");
    tt_assert_json(out, "{\"config\":{},\"source\":\"inline\",\"keys\":[]}");
    free(out);
}

static void test_load_file(void **state)
{
    lfix *f = *state;
    tt_mkdirf(f->root, "prod");
    tt_write_file(f->root, "prod/shop.json",
                  "{\n  \"port\": 443,\n  \"app_name\": \"shop\",\n  \"k\\u00e9y\": [1, 2]\n}\n");
    char *out = tt_run_ok(&taas_task_load_config, "{\"path\":\"prod/shop.json\"}");
    tt_assert_json(out, "{\"config\":{\"port\":443,\"app_name\":\"shop\",\"k\\u00e9y\":[1,2]},"
                        "\"source\":\"file:prod/shop.json\","
                        "\"keys\":[\"app_name\",\"k\\u00e9y\",\"port\"]}");
    free(out);
}

static void test_load_file_failures(void **state)
{
    lfix *f = *state;
    const taas_task_type *t = &taas_task_load_config;
    tt_write_file(f->root, "array.json", "[1,2]");
    tt_write_file(f->root, "number.json", "42");
    tt_write_file(f->root, "broken.json", "{\"a\":");
    tt_write_file(f->root, "empty.json", "");
    tt_symlinkf("../outside/secret.json", f->root, "escape.json");
    tt_symlinkf("../outside", f->root, "escdir");
    tt_symlinkf("/etc/hostname", f->root, "abs.json");
    tt_mkdirf(f->root, "dir.json");
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo.json", f->root);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    /* Over the cap: 1 MiB of a valid object plus one byte. */
    size_t big = ((size_t)1 << 20) + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    tt_write_bytes(f->root, "big.json", text, big);
    free(text);

    expect_outcome(t, "{\"path\":\"missing.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "does not exist");
    expect_outcome(t, "{\"path\":\"no/such/dir.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "does not exist");
    expect_outcome(t, "{\"path\":\"array.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "is an array, not an object");
    expect_outcome(t, "{\"path\":\"number.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "not an object");
    expect_outcome(t, "{\"path\":\"broken.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "not valid JSON");
    expect_outcome(t, "{\"path\":\"empty.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "not valid JSON");
    expect_outcome(t, "{\"path\":\"big.json\"}", TAAS_OUTCOME_FAILED_PERMANENT, "limit");
    expect_outcome(t, "{\"path\":\"escape.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "symbolic link");
    expect_outcome(t, "{\"path\":\"escdir/secret.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "symbolic link");
    expect_outcome(t, "{\"path\":\"abs.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "symbolic link");
    expect_outcome(t, "{\"path\":\"../outside/secret.json\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "'..'");
    expect_outcome(t, "{\"path\":\"/etc/hostname\"}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "absolute");
    expect_outcome(t, "{\"path\":\"dir.json\"}", TAAS_OUTCOME_FAILED_PERMANENT, "directory");
    expect_outcome(t, "{\"path\":\"fifo.json\"}", TAAS_OUTCOME_FAILED_PERMANENT, "FIFO");
    /* Exactly one source. */
    expect_outcome(t, "{}", TAAS_OUTCOME_FAILED_PERMANENT, "exactly one");
    expect_outcome(t, "{\"path\":\"a.json\",\"config\":{}}", TAAS_OUTCOME_FAILED_PERMANENT,
                   "exactly one");
    expect_outcome(t, "{\"config\":\"x\"}", TAAS_OUTCOME_INVALID_INPUT, "/config");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_create_full),
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_validate_valid),
        cmocka_unit_test(test_validate_reports_every_error),
        cmocka_unit_test(test_validate_invalid_input),
        cmocka_unit_test(test_load_inline),
        cmocka_unit_test_setup_teardown(test_load_file, lsetup, lteardown),
        cmocka_unit_test_setup_teardown(test_load_file_failures, lsetup, lteardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
