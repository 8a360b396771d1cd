/*
 * tests/store/store_test.h - shared fixtures for the store tests: a fresh
 * directory per test, time-ordered ids, and one-line wrappers that build and
 * apply a single operation. Everything runs against real SQLite files.
 */
#ifndef TAAS_STORE_TEST_H
#define TAAS_STORE_TEST_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* A new empty directory (mkdtemp); free with st_rmdir, which deletes it and its files. */
char *st_tmpdir(void);
void st_rmdir(char *dir);
/* Open dir/file as sqlite:////abs/path; fails the test on error. */
taas_store *st_open(const char *dir, const char *file);
taas_store *st_open_opts(const char *dir, const char *file, const taas_store_opts *opts);
/* Path of dir/file into buf. */
void st_path(char *buf, size_t len, const char *dir, const char *file);

/* Ids that sort in creation order, as UUIDv7 ids do. */
void st_id(char out[TAAS_ID_LEN + 1]);

/* Apply one op on its own transaction; returns op->result. */
int st_apply1(taas_store *s, taas_store_op *op);

typedef struct st_task {
    const char *name;
    const char *input;
    int priority;
    int max_attempts;
    bool idempotent;
    const char *key;
    const char *hash;
    int64_t created_ms;
    int64_t run_after_ms;
    const char *principal; /* NULL: none (stored as "", read back as NULL) */
} st_task;

/* Insert; id_out gets the new (or, for a duplicate, the existing) id. */
int st_insert(taas_store *s, const st_task *t, char id_out[TAAS_ID_LEN + 1]);
/* Claim up to max for owner at now; returns how many, records in out. */
int st_claim(taas_store *s, const char *owner, int max, int64_t now, int64_t lease_ms,
             taas_task_rec *out);
int st_complete(taas_store *s, const char *id, int64_t token, taas_task_state state,
                const char *output, const char *error, int64_t run_after, int64_t now);
int st_progress(taas_store *s, const char *id, int64_t token, double p, const char *msg,
                int64_t now);
/* get() that fails the test unless the task exists. */
void st_get(taas_store *s, const char *id, taas_task_rec *out);
/* Free claimed records. */
void st_clear_all(taas_task_rec *recs, int n);

#endif
