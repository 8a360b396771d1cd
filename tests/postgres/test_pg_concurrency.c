/*
 * tests/postgres/test_pg_concurrency.c - several servers on one database:
 * concurrent claimers never get the same task and never wait on each other's
 * locked rows (SKIP LOCKED), a lease recovered by another server fences the
 * first one off, and get()/list() run on many threads while the writer
 * commits.
 */
#include "pg_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NTASKS = 2000, NCLAIMERS = 4, PER_CLAIM = 7 };

struct claimer {
    taas_store *s;
    char owner[16];
    char (*ids)[TAAS_ID_LEN + 1];
    int n;
    int err;
};

static void *claim_loop(void *arg)
{
    struct claimer *c = arg;
    taas_task_rec out[PER_CLAIM];
    for (;;) {
        taas_store_op op = {.kind = TAAS_OP_CLAIM};
        op.u.claim.owner = c->owner;
        op.u.claim.max = PER_CLAIM;
        op.u.claim.now_ms = 100;
        op.u.claim.lease_ms = 60000;
        op.u.claim.out = out;
        taas_store_op *ops[1] = {&op};
        if (c->s->apply(c->s, ops, 1) != 0 || op.result != 0) {
            c->err = op.result;
            return NULL;
        }
        if (op.u.claim.n == 0)
            return NULL;
        for (int i = 0; i < op.u.claim.n; i++) {
            memcpy(c->ids[c->n++], out[i].id, TAAS_ID_LEN + 1);
            taas_task_rec_clear(&out[i]);
        }
    }
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_claimers_never_share(void **state)
{
    pt_fix *f = *state;
    /* Insert in big batches. */
    taas_task_rec *recs = calloc(NTASKS, sizeof(*recs));
    taas_store_op *o = calloc(NTASKS, sizeof(*o));
    taas_store_op **ops = calloc(NTASKS, sizeof(*ops));
    for (int i = 0; i < NTASKS; i++) {
        st_id(recs[i].id);
        recs[i].name = "q";
        recs[i].input = "{}";
        recs[i].priority = i % 3;
        o[i].kind = TAAS_OP_INSERT;
        o[i].u.insert.task = &recs[i];
        ops[i] = &o[i];
    }
    for (int i = 0; i < NTASKS; i += 250)
        assert_int_equal(f->s->apply(f->s, ops + i, 250), 0);

    struct claimer c[NCLAIMERS];
    pthread_t th[NCLAIMERS];
    for (int k = 0; k < NCLAIMERS; k++) {
        c[k] = (struct claimer){.s = pt_open(f->url)}; /* one server each */
        snprintf(c[k].owner, sizeof(c[k].owner), "node%d", k);
        c[k].ids = calloc(NTASKS, sizeof(*c[k].ids));
        assert_int_equal(pthread_create(&th[k], NULL, claim_loop, &c[k]), 0);
    }
    char (*all)[TAAS_ID_LEN + 1] = calloc(NTASKS + 1, sizeof(*all));
    int total = 0;
    for (int k = 0; k < NCLAIMERS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(c[k].err, 0);
        assert_true(total + c[k].n <= NTASKS);
        memcpy(all[total], c[k].ids, (size_t)c[k].n * sizeof(*all));
        total += c[k].n;
        print_message("%s claimed %d\n", c[k].owner, c[k].n);
        free(c[k].ids);
        c[k].s->close(c[k].s);
    }
    assert_int_equal(total, NTASKS);
    qsort(all, (size_t)total, sizeof(*all), cmp_id);
    for (int i = 1; i < total; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.tasks WHERE state = 2 AND lease_token = 1",
             f->schema);
    assert_int_equal(pt_sql_int(sql), NTASKS);
    free(all);
    free(recs);
    free(o);
    free(ops);
}

/* Rows locked by another transaction are skipped at once, not waited for. */
static void test_skip_locked(void **state)
{
    pt_fix *f = *state;
    char a[TAAS_ID_LEN + 1], b[TAAS_ID_LEN + 1], sql[256];
    pt_insert_simple(f->s, 9, 0, a); /* first in claim order */
    pt_insert_simple(f->s, 0, 0, b);
    PGconn *other = pt_admin();
    PGresult *r = PQexec(other, "BEGIN");
    PQclear(r);
    snprintf(sql, sizeof(sql), "SELECT id FROM %s.tasks WHERE id = '%s' FOR UPDATE", f->schema, a);
    r = PQexec(other, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    taas_task_rec out[2];
    int n = st_claim(f->s, "w", 2, 10, 100, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, b);
    st_clear_all(out, n);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 1000.0); /* the lock timeout is 5 s: no waiting happened */

    PQclear(PQexec(other, "ROLLBACK"));
    PQfinish(other);
    n = st_claim(f->s, "w", 2, 10, 100, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, a);
    st_clear_all(out, n);
}

/* Server A's lease expires; server B recovers and re-runs the task; A's late
 * completion and progress are refused, B's is kept. */
static void test_fencing_across_servers(void **state)
{
    pt_fix *f = *state;
    taas_store *a = f->s, *b = pt_open(f->url);
    char id[TAAS_ID_LEN + 1];
    st_task t = {.max_attempts = 3, .idempotent = true, .created_ms = 1};
    assert_int_equal(st_insert(a, &t, id), 0);
    taas_task_rec out[1];
    assert_int_equal(st_claim(a, "A", 1, 10, 100, out), 1);
    int64_t ta = out[0].lease_token;
    st_clear_all(out, 1);
    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 500;
    assert_int_equal(st_apply1(b, &rec), 0);
    assert_int_equal(rec.u.recover.retried, 1);
    assert_int_equal(st_claim(b, "B", 1, 500, 1000, out), 1);
    int64_t tb = out[0].lease_token;
    st_clear_all(out, 1);
    assert_true(tb > ta);
    assert_int_equal(st_progress(a, id, ta, 0.9, "late", 600), TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(a, id, ta, TAAS_TASK_SUCCEEDED, "{\"by\":\"A\"}", NULL, 0, 600),
                     TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(b, id, tb, TAAS_TASK_SUCCEEDED, "{\"by\":\"B\"}", NULL, 0, 700),
                     TAAS_STORE_OK);
    taas_task_rec r;
    st_get(a, id, &r);
    assert_string_equal(r.output, "{\"by\":\"B\"}");
    /* A's claim, interrupted, was given back (an idempotent task's lost
     * lease uses no attempt): B's run is the first attempt. */
    assert_int_equal(r.attempt, 1);
    taas_task_rec_clear(&r);
    b->close(b);
}

struct reader_arg {
    taas_store *s;
    const char *id;
    int errors;
    int iterations;
};

static void *read_loop(void *arg)
{
    struct reader_arg *ra = arg;
    for (int i = 0; i < ra->iterations; i++) {
        taas_task_rec r;
        if (ra->s->get(ra->s, ra->id, &r) != 0)
            ra->errors++;
        taas_task_rec_clear(&r);
        taas_list_query q = {.limit = 5};
        taas_task_rec *recs;
        size_t n;
        char next[64];
        if (ra->s->list(ra->s, &q, &recs, &n, next) != 0)
            ra->errors++;
        for (size_t k = 0; k < n; k++)
            taas_task_rec_clear(&recs[k]);
        free(recs);
    }
    return NULL;
}

static void test_readers_in_parallel(void **state)
{
    pt_fix *f = *state;
    char url[1024];
    snprintf(url, sizeof(url), "%s", f->url);
    f->s->close(f->s);
    taas_store_opts opts = {.max_readers = 2};
    char err[512];
    f->s = taas_pg_open(url, &opts, err, sizeof(err));
    assert_non_null(f->s);
    char id[TAAS_ID_LEN + 1];
    pt_insert_simple(f->s, 0, 0, id);
    enum { NT = 6 };
    pthread_t th[NT];
    struct reader_arg ra[NT];
    for (int i = 0; i < NT; i++) {
        ra[i] = (struct reader_arg){.s = f->s, .id = id, .iterations = 50};
        assert_int_equal(pthread_create(&th[i], NULL, read_loop, &ra[i]), 0);
    }
    /* The writer keeps committing meanwhile. */
    for (int i = 0; i < 50; i++) {
        char x[TAAS_ID_LEN + 1];
        pt_insert_simple(f->s, 0, 0, x);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ra[i].errors, 0);
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taas-server'"
             " AND datname = 'taas_test'");
    /* writer + at most 2 readers */
    assert_true(pt_sql_int(sql) <= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claimers_never_share, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_skip_locked, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_fencing_across_servers, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_readers_in_parallel, pt_setup, pt_teardown),
    };
    return cmocka_run_group_tests_name("pg_concurrency", tests, NULL, NULL);
}
