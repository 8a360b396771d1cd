/*
 * tests/schema/suite.h - the shape of one JSON-Schema-Test-Suite keyword file
 * after tests/schema/suite_bundle.py has run every schema through the
 * generator: a group per schema (its tables, or the generator's refusal) and
 * the group's test instances as JSON text.
 */
#ifndef TAAS_TESTS_SCHEMA_SUITE_H
#define TAAS_TESTS_SCHEMA_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/schema.h"

typedef struct suite_test {
    const char *description;
    const char *data; /* the instance, canonical JSON */
    bool valid;
} suite_test;

typedef struct suite_group {
    const char *description;
    const taas_schema *schema; /* NULL when the generator refused the schema */
    const char *refusal;       /* the generator's message when refused */
    const suite_test *tests;
    size_t ntests;
} suite_group;

typedef struct suite_file {
    const char *keyword; /* file stem, e.g. "additionalProperties" */
    const suite_group *groups;
    size_t ngroups;
} suite_file;

extern const suite_file *const suite_files[];
extern const size_t suite_file_count;

#endif
