/*
 * tests/postgres/pg_test.c - fixtures shared by the PostgreSQL store tests.
 */
#include "pg_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base_url[1024];

const char *pt_base_url(void)
{
    if (base_url[0])
        return base_url;
    const char *file = getenv("TAAS_PG_URL_FILE");
    if (!file || !*file)
        fail_msg("TAAS_PG_URL_FILE is not set: run these tests through ctest, whose "
                 "pg_cluster_start fixture starts the PostgreSQL test cluster");
    FILE *f = fopen(file, "r");
    if (!f)
        fail_msg("no PostgreSQL test cluster (%s is missing): the pg_cluster_start fixture "
                 "failed or did not run; see its output",
                 file);
    if (!fgets(base_url, sizeof(base_url), f))
        base_url[0] = '\0';
    fclose(f);
    base_url[strcspn(base_url, "\r\n")] = '\0';
    if (!base_url[0])
        fail_msg("%s is empty", file);
    return base_url;
}

PGconn *pt_admin(void)
{
    PGconn *c = PQconnectdb(pt_base_url());
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("cannot connect to the test cluster: %s", msg);
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

void pt_sql(const char *sql)
{
    PGconn *c = pt_admin();
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(r);
    PQfinish(c);
}

long long pt_sql_int(const char *sql)
{
    PGconn *c = pt_admin();
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail_msg("%s: %s", sql, msg);
    }
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

void pt_schema(char schema[64], char url[1024])
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(schema, 64, "t_%d_%u_%ld", (int)getpid(), ++counter, (long)(ts.tv_nsec % 100000));
    char sql[160];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    pt_sql(sql);
    const char *b = pt_base_url();
    snprintf(url, 1024, "%s%soptions=-csearch_path%%3D%s", b, strchr(b, '?') ? "&" : "?", schema);
}

void pt_drop_schema(const char *schema)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    pt_sql(sql);
}

taas_store *pt_open(const char *url)
{
    char err[512];
    taas_store *s = taas_pg_open(url, NULL, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

int pt_cluster(const char *cmd)
{
    const char *script = getenv("TAAS_PG_CLUSTER");
    const char *dir = getenv("TAAS_PG_DIR");
    if (!script || !dir)
        fail_msg("TAAS_PG_CLUSTER and TAAS_PG_DIR must be set (ctest sets them)");
    char line[2048];
    snprintf(line, sizeof(line), "sh '%s' %s '%s'", script, cmd, dir);
    int rc = system(line);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int pt_setup(void **state)
{
    pt_fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pt_schema(f->schema, f->url);
    f->s = pt_open(f->url);
    *state = f;
    return 0;
}

int pt_teardown(void **state)
{
    pt_fix *f = *state;
    if (!f)
        return 0;
    if (f->s)
        f->s->close(f->s);
    pt_drop_schema(f->schema);
    free(f);
    return 0;
}

void pt_insert_simple(taas_store *s, int priority, int64_t run_after, char id_out[TAAS_ID_LEN + 1])
{
    st_task t = {.priority = priority, .run_after_ms = run_after, .created_ms = 1000};
    assert_int_equal(st_insert(s, &t, id_out), TAAS_STORE_OK);
}
