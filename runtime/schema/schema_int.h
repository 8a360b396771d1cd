/*
 * runtime/schema/schema_int.h - what the files of the schema walker share,
 * and nothing else includes:
 *
 *   schema.c         the walk: validation keyword by keyword, entry points
 *   schema_regex.c   lazy per-schema state (compiled patterns, parsed
 *                    constants) and pattern matching
 *   schema_unique.c  uniqueItems
 *   schema_bind.c    storing accepted values into a bound struct, and
 *                    serializing a bound struct to JSON
 *
 * Locks: a walker belongs to one call on one thread. The lazy per-schema
 * state is built once under a global lock in schema_regex.c (rt_lock);
 * each thread has its own PCRE2 match data (thread-specific key).
 */
#ifndef TAAS_SCHEMA_INT_H
#define TAAS_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

/* How deep $ref chains and nested applicators may go before we give up. */
#define SCHEMA_MAX_DEPTH 512
/* Backtracking cap for one regex match (catastrophic patterns fail, not hang). */
#define SCHEMA_MATCH_LIMIT 1000000u
#define SCHEMA_DEPTH_LIMIT 10000u
#define PATH_CAP 1024

typedef struct walker {
    const taas_schema *s;
    const taas_jdoc *doc;
    taas_ctx *ctx;             /* for arena allocations; NULL when not binding */
    taas_schema_errors *errs;  /* collect mode when not NULL */
    taas_error *first;         /* first-error mode */
    int silent;
    int depth;
    bool oom;
    size_t plen;
    char path[PATH_CAP];
} walker;

/* ---- schema.c ---------------------------------------------------------- */

int taas_schema__validate(walker *w, int32_t ni, int tok, void *dst);
/* Record a failure (unless silent) and return -1. */
int taas_schema__fail(walker *w, const char *fmt, ...) TAAS_PRINTF(2, 3);
void taas_schema__set_error(taas_error *e, const char *path, const char *msg);
/* The parsed constant `i` of the walker's schema. */
const taas_jdoc *taas_schema__const_doc(const walker *w, int32_t i);
/* n bytes from the task's arena (or the heap when not binding); NULL marks oom. */
void *taas_schema__arena(walker *w, size_t n);
/* Decoded string of a token into `stackbuf` if it fits, else an allocation. */
char *taas_schema__str_get(walker *w, int tok, char *stackbuf, size_t cap, size_t *len,
                           bool *heap);
/* Validate (and bind into dst) in first-error mode. */
int taas_schema__first_walk(const taas_schema *s, taas_ctx *ctx, const taas_jdoc *doc, void *dst,
                            taas_error *err);

/* ---- schema_regex.c ---------------------------------------------------- */

/* Compile the schema's patterns and parse its constants, once; 0 or -1 (oom). */
int taas_schema__rt_init(const taas_schema *s);
/* Does string token `tok` match regex `ri`? 1 yes, 0 no, <0 could not tell. */
int taas_schema__tok_matches(walker *w, int tok, int32_t ri);
/* Report a pattern that could not be evaluated (rc < 0 from tok_matches). */
int taas_schema__regex_fail(walker *w, int32_t ri, int rc);

/* ---- schema_unique.c --------------------------------------------------- */

int taas_schema__check_unique(walker *w, int tok, int size);

/* ---- schema_bind.c ----------------------------------------------------- */

/* Copy the raw text of a value into the arena as a taas_json. */
int taas_schema__bind_raw(walker *w, int tok, taas_json *dst);
/* Store a scalar or raw value that has already been validated. */
int taas_schema__bind_value(walker *w, const taas_schema_node *n, int tok, void *dst);
int taas_schema__bind_default(walker *w, const taas_schema_prop *p, void *dst);

#endif
