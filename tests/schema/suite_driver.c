/*
 * tests/schema/suite_driver.c - runs the JSON-Schema-Test-Suite (draft
 * 2020-12) against the tables the generator made of its schemas.
 *
 * Every instance is checked twice, through both entry points: collect mode
 * (taas_schema_validate, as shared schemas are used) and first-error mode
 * (taas_schema_parse with nothing bound, as task inputs are read). Both must
 * agree with the suite. A schema the generator refused is counted as
 * refused, never as passed.
 *
 * Usage: taas-schema-suite [-v] [KEYWORD...]   (all keyword files by default)
 * Exit status: 0 when every test of every accepted schema passes, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "taas/registry.h"

/*
 * This program runs no tasks; taas_core (which provides taas_alloc) expects
 * the registry that generated/registry.c normally supplies, so give it an
 * empty one.
 */
const taas_task_type *const taas_registry[] = {NULL};
const size_t taas_registry_count = 0;

static int verbose;

static int run_file(const suite_file *f, size_t *tot_pass, size_t *tot_fail, size_t *tot_ref)
{
    size_t pass = 0, failn = 0, refused = 0;
    taas_schema_errors *errs = malloc(sizeof *errs);
    if (!errs)
        return 1;
    for (size_t g = 0; g < f->ngroups; g++) {
        const suite_group *grp = &f->groups[g];
        for (size_t t = 0; t < grp->ntests; t++) {
            const suite_test *st = &grp->tests[t];
            if (!grp->schema) {
                refused++;
                if (verbose && t == 0)
                    printf("  refused  %s: %s\n", grp->description, grp->refusal);
                continue;
            }
            size_t len = strlen(st->data);
            int rc = taas_schema_validate(grp->schema, st->data, len, errs);
            taas_error err;
            int rc1 = taas_schema_parse(grp->schema, NULL, st->data, len, NULL, &err);
            bool ok = (rc == TAAS_SCHEMA_VALID) == st->valid && (rc1 == 0) == st->valid &&
                      rc != TAAS_SCHEMA_EJSON;
            /* An invalid verdict must come with at least one located reason. */
            if (ok && !st->valid && (errs->count == 0 || err.message[0] == '\0'))
                ok = false;
            if (ok) {
                pass++;
            } else {
                failn++;
                printf("  FAIL %s / %s / %s: expected %s, got %s (collect) %s (first)",
                       f->keyword, grp->description, st->description,
                       st->valid ? "valid" : "invalid",
                       rc == TAAS_SCHEMA_VALID ? "valid" : rc == TAAS_SCHEMA_EJSON ? "bad-json"
                                                                                   : "invalid",
                       rc1 == 0 ? "valid" : "invalid");
                if (errs->count)
                    printf(" [%s: %s]", errs->items[0].path, errs->items[0].message);
                printf("\n");
            }
        }
    }
    free(errs);
    printf("%-24s passed %4zu  failed %3zu  refused %3zu\n", f->keyword, pass, failn, refused);
    *tot_pass += pass;
    *tot_fail += failn;
    *tot_ref += refused;
    return failn ? 1 : 0;
}

int main(int argc, char **argv)
{
    int argi = 1;
    if (argi < argc && strcmp(argv[argi], "-v") == 0) {
        verbose = 1;
        argi++;
    }
    size_t pass = 0, failn = 0, refused = 0;
    int bad = 0, matched = 0;
    for (size_t i = 0; i < suite_file_count; i++) {
        const suite_file *f = suite_files[i];
        if (argi < argc) {
            int want = 0;
            for (int a = argi; a < argc; a++)
                want |= strcmp(argv[a], f->keyword) == 0;
            if (!want)
                continue;
        }
        matched++;
        bad |= run_file(f, &pass, &failn, &refused);
    }
    if (argi < argc && matched == 0) {
        fprintf(stderr, "no such keyword file in the suite\n");
        return 2;
    }
    printf("%-24s passed %4zu  failed %3zu  refused %3zu\n", "TOTAL", pass, failn, refused);
    return bad;
}
