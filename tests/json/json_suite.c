/*
 * tests/json/json_suite.c - JSONTestSuite (github.com/nst/JSONTestSuite)
 * run against taas_json_parse().
 *
 *   json_suite parsing   DATA_DIR   every y_ accepted, every n_ rejected,
 *                                   every i_ decided without a crash; prints
 *                                   the counts and each i_ decision
 *   json_suite transform DATA_DIR   the test_transform edge cases against the
 *                                   decisions documented in docs/json.md
 *   json_suite table     DATA_DIR   the i_ decisions as a Markdown table
 *
 * DATA_DIR holds JSONTestSuite/. When it is absent the test exits 77, which
 * ctest reports as skipped. Accepted documents are also walked with every
 * read helper, so the sanitizer builds see them touched.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

#define SKIP 77

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* Touch every token through the helpers. */
static void exercise(const taas_jdoc *d)
{
    int i;
    for (i = 0; i < d->ntoks; i++) {
        taas_json_kind k = taas_json_kind_of(d, i);
        int64_t v;
        (void)taas_json_next(d, i);
        (void)taas_json_kind_name(k);
        if (k == TAAS_JSON_NUMBER) {
            (void)taas_json_double(d, i);
            (void)taas_json_int64(d, i, &v);
            (void)taas_json_is_integral(d, i);
        } else if (k == TAAS_JSON_STRING) {
            char *s = malloc(taas_json_str_rawlen(d, i) + 1);
            if (s) {
                size_t n = taas_json_str_decode(d, i, s);
                if (!taas_json_str_eq(d, i, s, n) || taas_json_str_codepoints(d, i) > n) {
                    fprintf(stderr, "string helpers disagree on token %d\n", i);
                    abort();
                }
                free(s);
            }
        }
        if (!taas_json_equal(d, i, d, i)) {
            fprintf(stderr, "token %d not equal to itself\n", i);
            abort();
        }
    }
}

/*
 * y_ files that TaaS rejects on purpose (docs/json.md, "Deliberate
 * deviations"): RFC 8259 allows duplicate keys and "\u0000", TaaS does not,
 * because task inputs become C structs with NUL-terminated strings and one
 * value per field. Each must fail with exactly this code.
 */
static const struct {
    const char *file;
    int code;
} policy[] = {
    {"y_object_duplicated_key.json", TAAS_JSON_EDUPKEY},
    {"y_object_duplicated_key_and_value.json", TAAS_JSON_EDUPKEY},
    {"y_object_escaped_null_in_key.json", TAAS_JSON_ENUL},
    {"y_string_null_escape.json", TAAS_JSON_ENUL},
};

static int policy_code(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
        if (strcmp(policy[i].file, name) == 0)
            return policy[i].code;
    return 0;
}

static int names(const char *dir, struct dirent ***out)
{
    return scandir(dir, out, NULL, alphasort);
}

static int run_parsing(const char *dir, int table)
{
    struct dirent **ents;
    int n = names(dir, &ents), i, failures = 0;
    int y = 0, yok = 0, ypol = 0, nn = 0, nok = 0, ii = 0, iacc = 0;

    if (n < 0) {
        printf("JSONTestSuite not found at %s (%s): skipping\n", dir, strerror(errno));
        return SKIP;
    }
    if (table) {
        printf("| file | decision | reason |\n| --- | --- | --- |\n");
    }
    for (i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char path[4096], err[256];
        size_t len = 0;
        char *text;
        taas_jdoc d;
        int r;

        if (strlen(name) < 3 || name[1] != '_' || !strstr(name, ".json")) {
            free(ents[i]);
            continue;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
            text = NULL;
        else
            text = slurp(path, &len);
        if (!text) {
            printf("FAIL %s: cannot read\n", name);
            failures++;
            free(ents[i]);
            continue;
        }
        r = taas_json_parse(&d, text, len, NULL, err, sizeof(err));
        if (r == 0) {
            exercise(&d);
            taas_json_free(&d);
        }
        switch (name[0]) {
        case 'y':
            y++;
            if (policy_code(name)) {
                if (r == policy_code(name))
                    ypol++;
                else if (!table) {
                    printf("FAIL %s: expected deliberate rejection %d, got %d %s\n", name, policy_code(name), r, err);
                    failures++;
                }
            } else if (r == 0)
                yok++;
            else if (!table) {
                printf("FAIL %s: rejected: %s\n", name, err);
                failures++;
            }
            break;
        case 'n':
            nn++;
            if (r != 0)
                nok++;
            else if (!table) {
                printf("FAIL %s: accepted\n", name);
                failures++;
            }
            break;
        default:
            ii++;
            iacc += r == 0;
            if (table)
                printf("| `%s` | %s | %s |\n", name, r == 0 ? "accepted" : "rejected", r == 0 ? "" : err);
            else
                printf("%s: %s%s%s\n", name, r == 0 ? "accepted" : "rejected", r == 0 ? "" : ": ",
                       r == 0 ? "" : err);
            break;
        }
        free(text);
        free(ents[i]);
    }
    free(ents);
    if (!table) {
        printf("y_: %d of %d accepted, %d rejected by documented policy\n", yok, y, ypol);
        printf("n_: %d of %d rejected\n", nok, nn);
        printf("i_: %d decided (%d accepted, %d rejected)\n", ii, iacc, ii - iacc);
    }
    if (y == 0 || nn == 0) {
        printf("FAIL: no y_ or n_ files in %s\n", dir);
        failures++;
    }
    return failures ? 1 : 0;
}

/*
 * test_transform: each file and what TaaS decides. `code` is the parse
 * result; for accepted numbers, `irc`/`ival` are taas_json_int64() of the
 * first array item and `dval` its double.
 */
static const struct {
    const char *file;
    int code;
    int irc;
    int64_t ival;
    double dval;
    int nkeys;
} transform[] = {
    {"number_-9223372036854775808.json", 0, 0, INT64_MIN, -9223372036854775808.0, 0},
    {"number_-9223372036854775809.json", 0, TAAS_JSON_ERANGE, 0, -9223372036854775809.0, 0},
    {"number_1.0.json", 0, 0, 1, 1.0, 0},
    {"number_1.000000000000000005.json", 0, TAAS_JSON_ERANGE, 0, 1.0, 0},
    {"number_1000000000000000.json", 0, 0, 1000000000000000, 1e15, 0},
    {"number_10000000000000000999.json", 0, TAAS_JSON_ERANGE, 0, 1e19, 0},
    {"number_1e-999.json", 0, TAAS_JSON_ERANGE, 0, 0.0, 0},
    {"number_1e6.json", 0, 0, 1000000, 1e6, 0},
    {"number_9223372036854775807.json", 0, 0, INT64_MAX, 9223372036854775807.0, 0},
    {"number_9223372036854775808.json", 0, TAAS_JSON_ERANGE, 0, 9223372036854775808.0, 0},
    {"object_key_nfc_nfd.json", 0, 0, 0, 0, 2},
    {"object_key_nfd_nfc.json", 0, 0, 0, 0, 2},
    {"object_same_key_different_values.json", TAAS_JSON_EDUPKEY, 0, 0, 0, 0},
    {"object_same_key_same_value.json", TAAS_JSON_EDUPKEY, 0, 0, 0, 0},
    {"object_same_key_unclear_values.json", TAAS_JSON_EDUPKEY, 0, 0, 0, 0},
    {"string_1_escaped_invalid_codepoint.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_1_invalid_codepoint.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_2_escaped_invalid_codepoints.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_2_invalid_codepoints.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_3_escaped_invalid_codepoints.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_3_invalid_codepoints.json", TAAS_JSON_EUTF8, 0, 0, 0, 0},
    {"string_with_escaped_NULL.json", TAAS_JSON_ENUL, 0, 0, 0, 0},
};

static int run_transform(const char *dir)
{
    size_t i;
    int failures = 0, seen = 0;
    DIR *probe = opendir(dir);

    if (!probe) {
        printf("JSONTestSuite not found at %s (%s): skipping\n", dir, strerror(errno));
        return SKIP;
    }
    closedir(probe);
    for (i = 0; i < sizeof(transform) / sizeof(transform[0]); i++) {
        char path[4096], err[256] = "";
        size_t len = 0;
        char *text;
        taas_jdoc d;
        int r, ok = 1;

        if (snprintf(path, sizeof(path), "%s/%s", dir, transform[i].file) >= (int)sizeof(path))
            text = NULL;
        else
            text = slurp(path, &len);
        if (!text) {
            printf("FAIL %s: cannot read\n", transform[i].file);
            failures++;
            continue;
        }
        seen++;
        r = taas_json_parse(&d, text, len, NULL, err, sizeof(err));
        if (r != transform[i].code) {
            ok = 0;
        } else if (r == 0 && d.toks[0].type == JSMN_ARRAY) {
            int64_t v = 0;
            int irc = taas_json_int64(&d, 1, &v);
            double dv = taas_json_double(&d, 1);
            if (irc != transform[i].irc || (irc == 0 && v != transform[i].ival) || dv != transform[i].dval)
                ok = 0;
        } else if (r == 0) {
            ok = d.toks[0].type == JSMN_OBJECT && d.toks[0].size == transform[i].nkeys;
        }
        printf("%s %s: %s%s%s\n", ok ? "ok  " : "FAIL", transform[i].file, r == 0 ? "accepted" : "rejected",
               r == 0 ? "" : ": ", err);
        failures += !ok;
        if (r == 0)
            taas_json_free(&d);
        free(text);
    }
    printf("%d of %zu transform cases as documented\n", seen - failures, sizeof(transform) / sizeof(transform[0]));
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    char dir[2048];

    if (argc != 3) {
        fprintf(stderr, "usage: %s parsing|transform|table DATA_DIR\n", argv[0]);
        return 2;
    }
    if (strlen(argv[2]) > sizeof(dir) - 64) {
        fprintf(stderr, "data directory path too long\n");
        return 2;
    }
    if (strcmp(argv[1], "transform") == 0) {
        snprintf(dir, sizeof(dir), "%s/JSONTestSuite/test_transform", argv[2]);
        return run_transform(dir);
    }
    snprintf(dir, sizeof(dir), "%s/JSONTestSuite/test_parsing", argv[2]);
    return run_parsing(dir, strcmp(argv[1], "table") == 0);
}
