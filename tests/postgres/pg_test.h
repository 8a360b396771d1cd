/*
 * tests/postgres/pg_test.h - the PostgreSQL server set-up for the store tests;
 * the operations themselves go through tests/store/store_test.h.
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
#include "store_test.h" /* the backend-neutral helpers: st_insert, st_claim, ... */

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

/* A default task (name "t", input "{}") inserted with st_insert. */
void pt_insert_simple(taas_store *s, int priority, int64_t run_after, char id_out[TAAS_ID_LEN + 1]);

#endif
