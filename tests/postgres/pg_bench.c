/*
 * tests/postgres/pg_bench.c - throughput of the PostgreSQL store: N tasks
 * inserted, claimed and completed through apply() in batches, as the
 * group-commit writer hands them over. Prints rows/s per phase, tasks/s for
 * the whole life of a task, and network round trips per task.
 *
 *   pg_bench [-n TASKS] [-b BATCH] [-c CLAIM_MAX] URL
 *
 * URL is a postgresql:// URL (scripts/pg-test-cluster.sh start DIR prints
 * one). The run uses a schema of its own, dropped at the end. Not a test.
 */
#include "store/postgres.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int admin(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQclear(PQexec(c, "SET client_min_messages = warning"));
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "pg_bench: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "pg_bench: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

static void apply_or_die(taas_store *s, taas_store_op **ops, size_t n)
{
    int rc = s->apply(s, ops, n);
    if (rc != 0) {
        fprintf(stderr, "pg_bench: apply: %s (%s)\n", taas_store_strerror(rc), s->last_error(s));
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i]->result != 0) {
            fprintf(stderr, "pg_bench: op %zu: %s\n", i, taas_store_strerror(ops[i]->result));
            exit(1);
        }
    }
}

static uint64_t trips(taas_store *s)
{
    taas_pg_stats st;
    taas_pg_get_stats(s, &st);
    return st.round_trips;
}

int main(int argc, char **argv)
{
    int n = 20000, batch = 256, claim_max = 64, opt;
    while ((opt = getopt(argc, argv, "n:b:c:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'c': claim_max = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n TASKS] [-b BATCH] [-c CLAIM_MAX] URL\n", argv[0]);
            return 2;
        }
    }
    if (optind != argc - 1 || n <= 0 || batch <= 0 || claim_max <= 0) {
        fprintf(stderr, "usage: %s [-n TASKS] [-b BATCH] [-c CLAIM_MAX] URL\n", argv[0]);
        return 2;
    }
    const char *base = argv[optind];
    char schema[64], sql[128], url[2048];
    snprintf(schema, sizeof(schema), "bench_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    if (admin(base, sql) != 0)
        return 1;
    snprintf(url, sizeof(url), "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", schema);
    char err[1024];
    taas_store *s = taas_pg_open(url, NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "pg_bench: %s\n", err);
        return 1;
    }
    printf("store: %s\ntasks: %d, ops per apply(): %d, claim size: %d\n", s->describe(s), n,
           batch, claim_max);

    taas_task_rec *recs = calloc((size_t)n, sizeof(*recs));
    /* room for the last apply()'s claims to overshoot n */
    taas_task_rec *claimed = calloc((size_t)n + (size_t)batch + (size_t)claim_max, sizeof(*claimed));
    taas_store_op *o = calloc((size_t)n, sizeof(*o));
    taas_store_op **ops = calloc((size_t)n, sizeof(*ops));
    if (!recs || !claimed || !o || !ops)
        return 1;
    char input[] = "{\"param1\":\"hello\",\"param2\":42}";
    for (int i = 0; i < n; i++) {
        snprintf(recs[i].id, sizeof(recs[i].id), "0190a000-0000-7000-8000-%012x", i);
        recs[i].name = "bench";
        recs[i].input = input;
        recs[i].created_ms = 1;
        recs[i].max_attempts = 1;
    }

    /* Inserts. */
    uint64_t t0 = trips(s);
    double a = now_s();
    for (int i = 0; i < n; i += batch) {
        int k = i + batch <= n ? batch : n - i;
        for (int j = 0; j < k; j++) {
            memset(&o[i + j], 0, sizeof(o[0]));
            o[i + j].kind = TAAS_OP_INSERT;
            o[i + j].u.insert.task = &recs[i + j];
            ops[j] = &o[i + j];
        }
        apply_or_die(s, ops, (size_t)k);
    }
    double ins_s = now_s() - a;
    uint64_t ins_trips = trips(s) - t0;

    /* Claims: batch/claim_max claim operations per apply(). */
    int got = 0, per_apply = batch / claim_max > 0 ? batch / claim_max : 1;
    t0 = trips(s);
    a = now_s();
    while (got < n) {
        int k = 0;
        for (; k < per_apply && got + k * claim_max < n; k++) {
            memset(&o[k], 0, sizeof(o[0]));
            o[k].kind = TAAS_OP_CLAIM;
            o[k].u.claim.owner = "bench";
            o[k].u.claim.max = claim_max;
            o[k].u.claim.now_ms = 10;
            o[k].u.claim.lease_ms = 600000;
            o[k].u.claim.out = &claimed[got + k * claim_max];
            ops[k] = &o[k];
        }
        apply_or_die(s, ops, (size_t)k);
        int before = got;
        for (int j = 0; j < k; j++) {
            /* compact: each claim filled its own slice */
            taas_task_rec *src = &claimed[before + j * claim_max];
            for (int m = 0; m < o[j].u.claim.n; m++)
                if (&claimed[got] != &src[m])
                    claimed[got++] = src[m];
                else
                    got++;
        }
        if (got == before) {
            fprintf(stderr, "pg_bench: claims stopped at %d of %d\n", got, n);
            return 1;
        }
    }
    double claim_s = now_s() - a;
    uint64_t claim_trips = trips(s) - t0;

    /* Completions. */
    t0 = trips(s);
    a = now_s();
    for (int i = 0; i < n; i += batch) {
        int k = i + batch <= n ? batch : n - i;
        for (int j = 0; j < k; j++) {
            taas_store_op *op = &o[i + j];
            memset(op, 0, sizeof(*op));
            op->kind = TAAS_OP_COMPLETE;
            op->u.complete.id = claimed[i + j].id;
            op->u.complete.lease_token = claimed[i + j].lease_token;
            op->u.complete.state = TAAS_TASK_SUCCEEDED;
            op->u.complete.output = "{\"result\":\"ok\"}";
            op->u.complete.now_ms = 20;
            ops[j] = op;
        }
        apply_or_die(s, ops, (size_t)k);
    }
    double done_s = now_s() - a;
    uint64_t done_trips = trips(s) - t0;

    double total = ins_s + claim_s + done_s;
    printf("insert:   %9.0f rows/s  (%.3f s, %.4f round trips/row)\n", n / ins_s, ins_s,
           (double)ins_trips / n);
    printf("claim:    %9.0f rows/s  (%.3f s, %.4f round trips/row)\n", n / claim_s, claim_s,
           (double)claim_trips / n);
    printf("complete: %9.0f rows/s  (%.3f s, %.4f round trips/row)\n", n / done_s, done_s,
           (double)done_trips / n);
    printf("task life (insert + claim + complete): %.0f tasks/s, %.4f round trips/task\n",
           n / total, (double)(ins_trips + claim_trips + done_trips) / n);

    for (int i = 0; i < n; i++)
        taas_task_rec_clear(&claimed[i]);
    s->close(s);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    admin(base, sql);
    free(recs);
    free(claimed);
    free(o);
    free(ops);
    return 0;
}
