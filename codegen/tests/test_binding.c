/*
 * codegen/tests/test_binding.c - the generated code, compiled and run.
 *
 * codegen/tests/specs/kitchen_sink.yaml uses every schema-to-C mapping; the
 * build generates it into the build tree and links it here with the schema
 * runtime. Each check feeds JSON through the generated parse/serialize
 * functions and compares struct fields, error paths and messages exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run.h"
#include "kitchen_sink.h"
#include "schema_settings.h"

static int failures;
static int checks;

#define CHECK(cond)                                                           \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                     \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        checks++;                                                             \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || strcmp(a_, b_) != 0) {                                     \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
                    a_ ? a_ : "(null)", b_);                                  \
        }                                                                     \
    } while (0)

/* The body: greets, sums, echoes. */
int kitchen_sink_execute(taas_ctx *ctx, const kitchen_sink_input *in, kitchen_sink_output *out)
{
    out->greeting = taas_printf(ctx, "hi %s", in->name);
    out->total = in->count + (int64_t)in->tags.len;
    out->has_level = true;
    out->level = in->mode == KITCHEN_SINK_INPUT_MODE_FAST ? KITCHEN_SINK_OUTPUT_LEVEL_HIGH
                                                          : KITCHEN_SINK_OUTPUT_LEVEL_LOW;
    return 0;
}

static int parse(taas_ctx *ctx, const char *json, kitchen_sink_input *in, taas_error *err)
{
    memset(in, 0, sizeof *in);
    memset(err, 0, sizeof *err);
    return kitchen_sink_parse_input(ctx, json, strlen(json), in, err);
}

static void expect_error(taas_ctx *ctx, const char *json, const char *path, const char *msg)
{
    kitchen_sink_input in;
    taas_error err;
    int rc = parse(ctx, json, &in, &err);
    CHECK(rc == -1);
    CHECK_STR(err.path, path);
    CHECK_STR(err.message, msg);
}

static void test_full_input(taas_ctx *ctx)
{
    kitchen_sink_input in;
    taas_error err;
    const char *json =
        "{\"name\":\"abc\",\"count\":3,\"ratio\":0.5,\"verbose\":true,\"mode\":\"fast\","
        "\"inner\":{\"depth\":2},\"tags\":[\"a\",\"b\\u00e9\"],\"where\":{\"x\":1,\"y\":2.5},"
        "\"path\":[{\"x\":0,\"y\":0},{\"x\":-1,\"y\":3e2}],\"config\":{\"k\":[1,2]},"
        "\"either\":\"s\",\"anything\":null}";
    CHECK(parse(ctx, json, &in, &err) == 0);
    CHECK_STR(in.name, "abc");
    CHECK(in.count == 3);
    CHECK(in.has_ratio && in.ratio == 0.5);
    CHECK(in.has_verbose && in.verbose);
    CHECK(in.mode == KITCHEN_SINK_INPUT_MODE_FAST);
    CHECK(in.has_inner && in.inner.depth == 2);
    CHECK_STR(in.inner.label, "none"); /* default of a nested property */
    CHECK(in.has_tags && in.tags.len == 2);
    CHECK_STR(in.tags.items[1], "b\xc3\xa9");
    CHECK(in.has_where && in.where.x == 1 && in.where.y == 2.5);
    CHECK(in.has_path && in.path.len == 2 && in.path.items[1].x == -1 &&
          in.path.items[1].y == 300);
    CHECK(in.has_config && in.config.len == 11);
    CHECK_STR(in.config.text, "{\"k\":[1,2]}");
    CHECK(in.has_either);
    CHECK_STR(in.either.text, "\"s\"");
    CHECK(in.has_anything);
    CHECK_STR(in.anything.text, "null");
}

static void test_defaults_and_absence(taas_ctx *ctx)
{
    kitchen_sink_input in;
    taas_error err;
    CHECK(parse(ctx, "{\"name\":\"z\"}", &in, &err) == 0);
    CHECK(in.count == 7);
    CHECK(in.mode == KITCHEN_SINK_INPUT_MODE_SLOW_AND_STEADY);
    CHECK(!in.has_ratio && !in.has_verbose && !in.has_inner && !in.has_tags);
    CHECK(!in.has_where && !in.has_path && !in.has_config && !in.has_either);
    CHECK(in.tags.len == 0 && in.tags.items == NULL);
}

static void test_errors(taas_ctx *ctx)
{
    expect_error(ctx, "{}", "/name", "required property is missing");
    expect_error(ctx, "{\"name\":1}", "/name", "expected string, got integer");
    expect_error(ctx, "{\"name\":\"a\",\"count\":\"3\"}", "/count", "expected integer, got string");
    expect_error(ctx, "{\"name\":\"a\",\"count\":1.5}", "/count", "expected integer, got number");
    expect_error(ctx, "{\"name\":\"a\",\"count\":101}", "/count", "must be <= 100");
    expect_error(ctx, "{\"name\":\"a\",\"ratio\":1}", "/ratio", "must be < 1");
    expect_error(ctx, "{\"name\":\"\"}", "/name", "must be at least 1 characters long");
    expect_error(ctx, "{\"name\":\"aB\"}", "/name", "does not match pattern \"^[a-z]+$\"");
    expect_error(ctx, "{\"name\":\"a\",\"mode\":\"medium\"}", "/mode",
                 "value is not one of the allowed values");
    expect_error(ctx, "{\"name\":\"a\",\"inner\":{}}", "/inner/depth",
                 "required property is missing");
    expect_error(ctx, "{\"name\":\"a\",\"tags\":[\"ok\",\"long\"]}", "/tags/1",
                 "must be at most 3 characters long");
    expect_error(ctx, "{\"name\":\"a\",\"tags\":[1,2,3,4,5]}", "/tags", "must have at most 4 items");
    expect_error(ctx, "{\"name\":\"a\",\"path\":[{\"x\":1,\"y\":1},{\"x\":1}]}", "/path/1/y",
                 "required property is missing");
    expect_error(ctx, "{\"name\":\"a\",\"either\":true}", "/either",
                 "expected string or integer, got boolean");
    expect_error(ctx, "{\"name\":\"a\",\"a/b~\":1}", "/a~1b~0", "property is not allowed");
    expect_error(ctx, "{\"name\":\"a\",\"count\":1e30}", "/count", "must be <= 100");
    expect_error(ctx, "[1]", "", "expected object, got array");
    kitchen_sink_input in;
    taas_error err;
    /* A path longer than taas_error.path is cut, marked, and stays a C string. */
    char longkey[2100];
    int n = snprintf(longkey, sizeof longkey, "{\"name\":\"a\",\"");
    memset(longkey + n, 'k', 2000);
    snprintf(longkey + n + 2000, sizeof longkey - (size_t)n - 2000, "\":1}");
    CHECK(parse(ctx, longkey, &in, &err) == -1);
    CHECK(strlen(err.path) == sizeof err.path - 1);
    CHECK(strncmp(err.path, "/kkkk", 5) == 0);
    CHECK(strcmp(err.path + sizeof err.path - 4, "...") == 0);
    CHECK_STR(err.message, "property is not allowed");
    CHECK(parse(ctx, "{\"name\":", &in, &err) == -1);
    CHECK_STR(err.path, "");
    CHECK(strncmp(err.message, "invalid JSON: ", 14) == 0);
    char buf[600];
    CHECK(parse(ctx, "{\"name\":\"a\",\"count\":\"x\"}", &in, &err) == -1);
    CHECK_STR(taas_error_format(&err, buf, sizeof buf), "/count: expected integer, got string");
}

static void test_output(taas_ctx *ctx)
{
    kitchen_sink_output out;
    memset(&out, 0, sizeof out);
    taas_error err;
    char *json = NULL;
    size_t len = 0;
    out.greeting = "hello \"you\"";
    out.total = 3;
    out.has_level = true;
    out.level = KITCHEN_SINK_OUTPUT_LEVEL_HIGH;
    int64_t row0[] = {1, 2};
    struct {
        size_t len;
        int64_t *items;
    } rows[2] = {{2, row0}, {0, NULL}};
    out.has_matrix = true;
    out.matrix.len = 2;
    out.matrix.items = (void *)rows;
    out.has_extra = true;
    out.extra.text = "{\"a\": [true]}";
    out.extra.len = strlen(out.extra.text);
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == 0);
    CHECK_STR(json, "{\"greeting\":\"hello \\\"you\\\"\",\"total\":3,\"level\":\"high\","
                    "\"matrix\":[[1,2],[]],\"extra\":{\"a\": [true]}}");
    CHECK(json && len == strlen(json));
    free(json);

    /* An output that breaks its schema is refused with the path. */
    out.total = -1;
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == -1);
    CHECK(json == NULL);
    CHECK_STR(err.path, "/total");
    CHECK_STR(err.message, "must be >= 0");
    out.total = 1;
    out.greeting = NULL;
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == -1);
    CHECK_STR(err.path, "/greeting");
    CHECK_STR(err.message, "expected string, got null");
    out.greeting = "g";
    out.extra.text = "{nope";
    out.extra.len = 5;
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == -1);
    CHECK_STR(err.path, "/extra");
    out.has_extra = false;
    out.matrix.items = NULL;
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == -1);
    CHECK_STR(err.path, "/matrix");
    out.has_matrix = false;
    out.level = 7;
    CHECK(kitchen_sink_serialize_output(ctx, &out, &json, &len, &err) == -1);
    CHECK_STR(err.path, "/level");
}

static void test_registry_entry(void)
{
    const taas_task_type *t = &taas_task_kitchen_sink;
    CHECK(t->abi_version == TAAS_TASK_TYPE_VERSION);
    CHECK_STR(t->name, "kitchen_sink");
    CHECK_STR(t->version, "1.2.3-rc.1+build.5");
    CHECK(t->idempotent && t->retries == 2 && t->timeout_s == 30);
    CHECK(t->input_size == sizeof(kitchen_sink_input));
    CHECK(strstr(t->output_schema, "\"required\":[\"greeting\",\"total\"]") != NULL);
    CHECK(taas_registry_count == 1 && taas_registry[0] == t);

    taas_run_opts opts;
    memset(&opts, 0, sizeof opts);
    taas_run_result res;
    const char *input = "{\"name\":\"q\",\"tags\":[\"x\"],\"mode\":\"fast\"}";
    CHECK(taas_run(t, input, strlen(input), &opts, &res) == 0);
    CHECK_STR(res.output, "{\"greeting\":\"hi q\",\"total\":8,\"level\":\"high\"}");
    free(res.output);
    CHECK(taas_run(t, "{}", 2, &opts, &res) == -1);
    CHECK(res.outcome == TAAS_OUTCOME_INVALID_INPUT);
    CHECK(strstr(res.error, "/name: required property is missing") != NULL);
}

static void test_shared_schema(void)
{
    taas_schema_errors *errs = malloc(sizeof *errs);
    const char *ok = "{\"port\":80,\"host\":\"h\",\"tags\":[\"a\"]}";
    CHECK(schema_settings_validate(ok, strlen(ok), errs) == TAAS_SCHEMA_VALID);
    CHECK(errs->count == 0 && !errs->truncated);
    const char *bad = "{\"port\":0,\"tags\":[\"A\",\"b\",\"C\"],\"x\":1}";
    CHECK(schema_settings_validate(bad, strlen(bad), errs) == TAAS_SCHEMA_INVALID);
    CHECK(errs->count == 5);
    if (errs->count == 5) {
        CHECK_STR(errs->items[0].path, "/host");
        CHECK_STR(errs->items[0].message, "required property is missing");
        CHECK_STR(errs->items[1].path, "/port");
        CHECK_STR(errs->items[1].message, "must be >= 1");
        CHECK_STR(errs->items[2].path, "/tags/0");
        CHECK_STR(errs->items[3].path, "/tags/2");
        CHECK_STR(errs->items[4].path, "/x");
        CHECK_STR(errs->items[4].message, "property is not allowed");
    }
    /* More errors than the cap: the first TAAS_SCHEMA_MAX_ERRORS, then truncated. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"port\":1,\"host\":\"h\",\"tags\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"X\"", i ? "," : "");
    n += (size_t)snprintf(big + n, sizeof big - n, "]}");
    CHECK(schema_settings_validate(big, n, errs) == TAAS_SCHEMA_INVALID);
    CHECK(errs->count == TAAS_SCHEMA_MAX_ERRORS && errs->truncated);
    /* uniqueItems on a long array (the hashed path): decoded strings compare equal. */
    n = (size_t)snprintf(big, sizeof big, "{\"port\":1,\"host\":\"h\",\"tags\":[");
    for (int i = 0; i < 30; i++) {
        const char *sep = i ? "," : "";
        if (i == 27)
            n += (size_t)snprintf(big + n, sizeof big - n, "%s\"\\u0066a\"", sep);
        else
            n += (size_t)snprintf(big + n, sizeof big - n, "%s\"%c%c\"", sep, 'a' + i % 26,
                                  'a' + i / 26);
    }
    n += (size_t)snprintf(big + n, sizeof big - n, "]}");
    CHECK(schema_settings_validate(big, n, errs) == TAAS_SCHEMA_INVALID);
    CHECK(errs->count == 1);
    CHECK_STR(errs->items[0].path, "/tags");
    CHECK_STR(errs->items[0].message, "items 5 and 27 are equal");
    CHECK(schema_settings_validate("{", 1, errs) == TAAS_SCHEMA_EJSON);
    CHECK(errs->count == 1 && errs->items[0].path[0] == '\0');
    CHECK(schema_settings_validate(ok, strlen(ok), NULL) == TAAS_SCHEMA_VALID);
    free(errs);
}

int main(void)
{
    taas_run_opts opts;
    memset(&opts, 0, sizeof opts);
    taas_ctx *ctx = taas_ctx_new(&opts);
    if (!ctx)
        return 1;
    test_full_input(ctx);
    test_defaults_and_absence(ctx);
    test_errors(ctx);
    test_output(ctx);
    taas_ctx_free(ctx);
    test_registry_entry();
    test_shared_schema();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
