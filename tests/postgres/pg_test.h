/*
 * tests/postgres/pg_test.h - shared fixtures for the PostgreSQL store tests.
 *
 * The server is the throwaway cluster that the pg_cluster_start fixture
 * started; its URL is in the file named by TAAS_PG_URL_FILE. Each test gets
 * a schema of its own in that server (the URL's options set search_path), so
 * tests never see each other's rows, and the schema is dropped afterwards.
 */
#ifndef TAAS_PG_TEST_H
#define TAAS_PG_TEST_H

#include "store/postgres.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The cluster's URL (with its password); fails the test if there is none. */
const char *pt_base_url(void);
/* A connection to the base URL for test set-up; fails the test on error. */
PGconn *pt_admin(void);
/* Run SQL on a fresh admin connection; fails the test on error. */
void pt_sql(const char *sql);
/* Run SQL and return the first value as an integer. */
long long pt_sql_int(const char *sql);

/* A new empty schema; url gets the base URL with search_path set to it. */
void pt_schema(char schema[64], char url[1024]);
void pt_drop_schema(const char *schema);

/* Open url; fails the test on error. */
taas_store *pt_open(const char *url);

/* Run scripts/pg-test-cluster.sh CMD on the test cluster ("down", "up"). */
int pt_cluster(const char *cmd);

/* Per-test state for cmocka setup/teardown: a schema and a store on it. */
typedef struct pt_fix {
    char schema[64];
    char url[1024];
    taas_store *s;
} pt_fix;
int pt_setup(void **state);
int pt_teardown(void **state);

/* Ids that sort in creation order, as UUIDv7 ids do. */
void pt_id(char out[TAAS_ID_LEN + 1]);

/* Apply one op in its own transaction; returns op->result (fails the test
 * if the transaction itself failed). */
int pt_apply1(taas_store *s, taas_store_op *op);

typedef struct pt_task {
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
} pt_task;

/* Insert; id_out gets the new (or, for a duplicate, the existing) id. */
int pt_insert(taas_store *s, const pt_task *t, char id_out[TAAS_ID_LEN + 1]);
/* A default task: name "t", input "{}". */
void pt_insert_simple(taas_store *s, int priority, int64_t run_after, char id_out[TAAS_ID_LEN + 1]);
int pt_claim(taas_store *s, const char *owner, int max, int64_t now, int64_t lease_ms,
             taas_task_rec *out);
int pt_complete(taas_store *s, const char *id, int64_t token, taas_task_state state,
                const char *output, const char *error, int64_t run_after, int64_t now);
int pt_progress(taas_store *s, const char *id, int64_t token, double p, const char *msg,
                int64_t now);
/* get() that fails the test unless the task exists. */
void pt_get(taas_store *s, const char *id, taas_task_rec *out);
void pt_clear_all(taas_task_rec *recs, int n);

#endif
