/*
 * tests/fuzz/fuzz_validators.c - the generated validators on arbitrary
 * JSON: every registered task's parse_input (the submit path's check) and
 * the shared schema app_config through taas_schema_validate.
 *
 * The first byte picks the validator: byte % (taas_registry_count + 1),
 * where the last choice is the shared schema. The rest is the document.
 * Checked: no crash or leak (the arena is freed), the verdict does not
 * depend on how the validator is called (parse_input vs taas_check_input;
 * validate with and without an error list, and on a parsed document), and
 * every error has a message and a path that is empty or a JSON Pointer
 * starting with "/".
 */
#include <stdbool.h>
#include <string.h>

#include "core/run.h"
#include "fuzz.h"
#include "json/json.h"
#include "schema/schema.h"
#include "schema_app_config.h"
#include "taas/registry.h"

static void check_error(const taas_error *e, const char *who)
{
    FUZZ_CHECK(memchr(e->path, '\0', sizeof e->path) != NULL, "%s: path not terminated", who);
    FUZZ_CHECK(memchr(e->message, '\0', sizeof e->message) != NULL,
               "%s: message not terminated", who);
    FUZZ_CHECK(e->path[0] == '\0' || e->path[0] == '/', "%s: path '%s'", who, e->path);
    FUZZ_CHECK(e->message[0] != '\0', "%s: error at '%s' without a message", who, e->path);
    char buf[sizeof e->path + sizeof e->message + 4];
    const char *f = taas_error_format(e, buf, sizeof buf);
    FUZZ_CHECK(f != NULL && strlen(f) < sizeof buf, "%s: format", who);
}

static void fuzz_task(const taas_task_type *type, const char *json, size_t len)
{
    taas_ctx *ctx = taas_ctx_new(NULL);
    FUZZ_CHECK(ctx != NULL, "out of memory");
    void *in = taas_alloc(ctx, type->input_size);
    FUZZ_CHECK(in != NULL, "out of memory");
    taas_error err;
    memset(&err, 0, sizeof err);
    int rc = type->parse_input(ctx, json, len, in, &err);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: parse_input returned %d", type->name, rc);
    if (rc != 0)
        check_error(&err, type->name);
    taas_ctx_free(ctx);

    taas_error err2;
    memset(&err2, 0, sizeof err2);
    int rc2 = taas_check_input(type, json, len, &err2);
    FUZZ_CHECK(rc2 == rc, "%s: parse_input says %d, taas_check_input %d", type->name, rc, rc2);
    if (rc2 != 0) {
        check_error(&err2, type->name);
        FUZZ_CHECK(strcmp(err.path, err2.path) == 0 && strcmp(err.message, err2.message) == 0,
                   "%s: two errors for one document: '%s: %s' and '%s: %s'", type->name,
                   err.path, err.message, err2.path, err2.message);
    }
}

static void fuzz_schema(const char *json, size_t len)
{
    static taas_schema_errors errs; /* ~24 KiB: not on the stack */
    int rc = taas_schema_validate(&taas_schema_app_config, json, len, &errs);
    FUZZ_CHECK(rc == TAAS_SCHEMA_VALID || rc == TAAS_SCHEMA_INVALID || rc == TAAS_SCHEMA_EJSON,
               "validate returned %d", rc);
    FUZZ_CHECK(errs.count <= TAAS_SCHEMA_MAX_ERRORS, "%zu errors", errs.count);
    if (rc == TAAS_SCHEMA_VALID)
        FUZZ_CHECK(errs.count == 0 && !errs.truncated, "valid with %zu errors", errs.count);
    if (rc == TAAS_SCHEMA_INVALID)
        FUZZ_CHECK(errs.count >= 1, "invalid without an error");
    if (rc == TAAS_SCHEMA_EJSON)
        FUZZ_CHECK(errs.count == 1 && errs.items[0].path[0] == '\0', "EJSON: %zu errors",
                   errs.count);
    if (errs.truncated)
        FUZZ_CHECK(errs.count == TAAS_SCHEMA_MAX_ERRORS, "truncated at %zu", errs.count);
    for (size_t i = 0; i < errs.count; i++)
        check_error(&errs.items[i], "app_config");

    int rc2 = taas_schema_validate(&taas_schema_app_config, json, len, NULL);
    FUZZ_CHECK(rc2 == rc, "verdict %d without an error list, %d with", rc2, rc);

    taas_jdoc doc;
    if (taas_json_parse(&doc, json, len, NULL, NULL, 0) == 0) {
        FUZZ_CHECK(rc != TAAS_SCHEMA_EJSON, "EJSON on a document that parses");
        int rc3 = taas_schema_validate_doc(&taas_schema_app_config, &doc, 0, NULL);
        FUZZ_CHECK(rc3 == rc, "verdict %d on the parsed document, %d on the text", rc3, rc);
        taas_json_free(&doc);
    } else {
        FUZZ_CHECK(rc == TAAS_SCHEMA_EJSON, "verdict %d on a document that does not parse", rc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t pick = data[0] % (taas_registry_count + 1);
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    if (pick < taas_registry_count)
        fuzz_task(taas_registry[pick], json, len);
    else
        fuzz_schema(json, len);
    return 0;
}
