/*
 * tests/postgres/test_pg_ops.c - what the PostgreSQL backend adds to the
 * store suite (tests/store/test_store_ops.c, which also runs here as
 * pg_store_ops): a bad operation inside a batch, completions and retries,
 * fencing over many claims, progress, recovery, idempotency per principal,
 * order inside a batch, durability across close and reopen, and the
 * group-commit writer on a real server.
 */
#include "pg_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(state) (((pt_fix *)*(state))->s)

static void test_insert_invalid_in_batch(void **state)
{
    taas_store *s = S(state);
    taas_task_rec good, bad_id, nul;
    memset(&good, 0, sizeof(good));
    st_id(good.id);
    good.name = "t";
    good.input = "{}";
    bad_id = good;
    snprintf(bad_id.id, sizeof(bad_id.id), "not-a-uuid");
    /* A NUL byte inside the input: PostgreSQL text cannot hold it, and only
     * this op may fail, not the batch. */
    static const char with_nul[] = "{\"a\":\"x\0y\"}";
    nul = good;
    st_id(nul.id);
    nul.input = (char *)with_nul;
    nul.input_len = sizeof(with_nul) - 1;
    taas_task_rec good2 = good;
    st_id(good2.id);

    taas_store_op o[4];
    memset(o, 0, sizeof(o));
    const taas_task_rec *recs[4] = {&good, &bad_id, &nul, &good2};
    taas_store_op *ops[4];
    for (int i = 0; i < 4; i++) {
        o[i].kind = TAAS_OP_INSERT;
        o[i].u.insert.task = recs[i];
        ops[i] = &o[i];
    }
    assert_int_equal(s->apply(s, ops, 4), 0);
    assert_int_equal(o[0].result, TAAS_STORE_OK);
    assert_int_equal(o[1].result, TAAS_STORE_EINVAL);
    assert_int_equal(o[2].result, TAAS_STORE_EINVAL);
    assert_int_equal(o[3].result, TAAS_STORE_OK);
    taas_task_rec r;
    st_get(s, good.id, &r);
    taas_task_rec_clear(&r);
    st_get(s, good2.id, &r);
    taas_task_rec_clear(&r);
    assert_int_equal(s->get(s, nul.id, &r), TAAS_STORE_ENOTFOUND);

    /* Bytes that are not UTF-8: PostgreSQL refuses them in the grouped
     * statement, the batch is sent again one statement per op, and only
     * that op fails. */
    static const char not_utf8[] = "{\"a\":\"\xff\"}";
    taas_task_rec g3 = good, bad_utf8 = good, g4 = good;
    st_id(g3.id);
    st_id(bad_utf8.id);
    st_id(g4.id);
    bad_utf8.input = (char *)not_utf8;
    bad_utf8.input_len = sizeof(not_utf8) - 1;
    const taas_task_rec *recs2[3] = {&g3, &bad_utf8, &g4};
    memset(o, 0, sizeof(o));
    for (int i = 0; i < 3; i++) {
        o[i].kind = TAAS_OP_INSERT;
        o[i].u.insert.task = recs2[i];
        ops[i] = &o[i];
    }
    assert_int_equal(s->apply(s, ops, 3), 0);
    assert_int_equal(o[0].result, TAAS_STORE_OK);
    assert_int_equal(o[1].result, TAAS_STORE_EINVAL);
    assert_int_equal(o[2].result, TAAS_STORE_OK);
    st_get(s, g3.id, &r);
    taas_task_rec_clear(&r);
    st_get(s, g4.id, &r);
    taas_task_rec_clear(&r);
    assert_int_equal(s->get(s, bad_utf8.id, &r), TAAS_STORE_ENOTFOUND);
    /* Alone, the same. */
    assert_int_equal(st_apply1(s, &(taas_store_op){.kind = TAAS_OP_INSERT,
                                                    .u.insert.task = &bad_utf8}),
                     TAAS_STORE_EINVAL);

    /* The same id twice: the second is a conflict. */
    assert_int_equal(st_apply1(s, &(taas_store_op){.kind = TAAS_OP_INSERT,
                                                    .u.insert.task = &good}),
                     TAAS_STORE_ECONFLICT);
}

static void test_complete_and_retry(void **state)
{
    taas_store *s = S(state);
    char id[TAAS_ID_LEN + 1], id2[TAAS_ID_LEN + 1];
    st_task t = {.max_attempts = 3, .idempotent = true, .created_ms = 1};
    assert_int_equal(st_insert(s, &t, id), TAAS_STORE_OK);
    taas_task_rec out[2], r;
    assert_int_equal(st_claim(s, "w", 1, 10, 100, out), 1);
    int64_t tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_progress(s, id, tok, 0.5, "half", 20), TAAS_STORE_OK);
    /* A retryable failure: back to PENDING at run_after, attempt kept. */
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_PENDING, NULL, "boom \"quoted\"\n", 500, 30),
                     TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 1);
    assert_int_equal(r.run_after_ms, 500);
    assert_int_equal(r.finished_ms, 0);
    assert_true(r.progress == 0.0);
    assert_null(r.progress_message);
    assert_null(r.lease_owner);
    assert_int_equal(r.lease_expires_ms, 0);
    assert_string_equal(r.error, "boom \"quoted\"\n");
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"boom \\\"quoted\\\"\\n\",\"finished_ms\":30}]");
    taas_task_rec_clear(&r);
    /* Not runnable before run_after. */
    assert_int_equal(st_claim(s, "w", 1, 499, 100, out), 0);
    assert_int_equal(st_claim(s, "w", 1, 500, 100, out), 1);
    assert_int_equal(out[0].attempt, 2);
    assert_int_equal(out[0].lease_token, 2);
    assert_true(out[0].progress == 0.0);
    tok = out[0].lease_token;
    st_clear_all(out, 1);
    /* The old token is fenced off. */
    assert_int_equal(st_complete(s, id, 1, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 40), TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_SUCCEEDED, "{\"ok\":true}", NULL, 0, 600),
                     TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_SUCCEEDED);
    assert_string_equal(r.output, "{\"ok\":true}");
    assert_int_equal(r.output_len, 11);
    assert_true(r.progress == 1.0);
    assert_int_equal(r.finished_ms, 600);
    assert_int_equal(r.updated_ms, 600);
    assert_null(r.error);
    assert_int_equal(r.lease_token, 2);
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"boom \\\"quoted\\\"\\n\",\"finished_ms\":30}]");
    taas_task_rec_clear(&r);
    /* Finished: a second completion is stale; unknown ids are not found. */
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_FAILED, NULL, "x", 0, 700), TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(s, "0190a000-0000-7000-8000-0000000fffff", 1, TAAS_TASK_FAILED,
                                 NULL, "x", 0, 700),
                     TAAS_STORE_ENOTFOUND);
    /* RUNNING is not a completion state. */
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_RUNNING, NULL, NULL, 0, 700), TAAS_STORE_EINVAL);

    /* A permanent failure records its error; output is dropped unless SUCCEEDED. */
    pt_insert_simple(s, 0, 0, id2);
    assert_int_equal(st_claim(s, "w", 1, 10, 100, out), 1);
    tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_complete(s, id2, tok, TAAS_TASK_FAILED, "{\"x\":1}", "bad input", 0, 50),
                     TAAS_STORE_OK);
    st_get(s, id2, &r);
    assert_int_equal(r.state, TAAS_TASK_FAILED);
    assert_null(r.output);
    assert_string_equal(r.error, "bad input");
    assert_string_equal(r.attempts_json, "[{\"attempt\":1,\"error\":\"bad input\",\"finished_ms\":50}]");
    taas_task_rec_clear(&r);
}

/* 100 tasks claimed twice: all 100 stale completions refused, all 100 current accepted. */
static void test_fencing_100(void **state)
{
    taas_store *s = S(state);
    enum { N = 100 };
    char ids[N][TAAS_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        st_task t = {.max_attempts = 2, .idempotent = true, .created_ms = 1};
        assert_int_equal(st_insert(s, &t, ids[i]), TAAS_STORE_OK);
    }
    taas_task_rec *out = calloc(N, sizeof(*out));
    assert_int_equal(st_claim(s, "old", N, 10, 100, out), N);
    st_clear_all(out, N);
    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 200;
    assert_int_equal(st_apply1(s, &rec), TAAS_STORE_OK);
    assert_int_equal(rec.u.recover.retried, N);
    assert_int_equal(st_claim(s, "new", N, 300, 1000, out), N);
    int64_t tok[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(out[i].lease_token, 2);
        tok[i] = out[i].lease_token;
    }
    /* One batch: 100 stale completions then 100 current ones. */
    taas_store_op *ops[2 * N];
    taas_store_op *o = calloc(2 * N, sizeof(*o));
    for (int i = 0; i < 2 * N; i++) {
        int k = i % N;
        o[i].kind = TAAS_OP_COMPLETE;
        o[i].u.complete.id = out[k].id;
        o[i].u.complete.lease_token = i < N ? tok[k] - 1 : tok[k];
        o[i].u.complete.state = TAAS_TASK_SUCCEEDED;
        o[i].u.complete.output = i < N ? "{\"by\":\"old\"}" : "{\"by\":\"new\"}";
        o[i].u.complete.now_ms = 400;
        ops[i] = &o[i];
    }
    assert_int_equal(s->apply(s, ops, 2 * N), 0);
    int stale = 0, ok = 0;
    for (int i = 0; i < 2 * N; i++) {
        if (i < N && o[i].result == TAAS_STORE_ESTALE)
            stale++;
        if (i >= N && o[i].result == TAAS_STORE_OK)
            ok++;
    }
    assert_int_equal(stale, N);
    assert_int_equal(ok, N);
    for (int i = 0; i < N; i++) {
        taas_task_rec r;
        st_get(s, ids[i], &r);
        assert_string_equal(r.output, "{\"by\":\"new\"}");
        taas_task_rec_clear(&r);
    }
    st_clear_all(out, N);
    free(out);
    free(o);
}

static void test_progress(void **state)
{
    taas_store *s = S(state);
    char id[TAAS_ID_LEN + 1];
    pt_insert_simple(s, 0, 0, id);
    taas_task_rec out[1], r;
    assert_int_equal(st_progress(s, id, 0, 0.5, "x", 5), TAAS_STORE_ESTALE); /* PENDING */
    assert_int_equal(st_claim(s, "w", 1, 10, 100, out), 1);
    int64_t tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_progress(s, id, tok, 0.25, "a quarter", 20), TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_true(r.progress == 0.25);
    assert_string_equal(r.progress_message, "a quarter");
    assert_int_equal(r.updated_ms, 20);
    taas_task_rec_clear(&r);
    assert_int_equal(st_progress(s, id, tok, 7.0, NULL, 21), TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_true(r.progress == 1.0);
    assert_null(r.progress_message);
    taas_task_rec_clear(&r);
    assert_int_equal(st_progress(s, id, tok, NAN, "nan", 22), TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_true(r.progress == 0.0);
    taas_task_rec_clear(&r);
    assert_int_equal(st_progress(s, id, tok + 1, 0.5, NULL, 23), TAAS_STORE_ESTALE);
    assert_int_equal(st_progress(s, "0190a000-0000-7000-8000-0000000eeeee", 1, 0.5, NULL, 23),
                     TAAS_STORE_ENOTFOUND);
}

static int cancel(taas_store *s, const char *id, int64_t now, taas_task_state *after, int64_t *tok)
{
    taas_store_op op = {.kind = TAAS_OP_CANCEL};
    op.u.cancel.id = id;
    op.u.cancel.now_ms = now;
    int rc = st_apply1(s, &op);
    *after = op.u.cancel.state_after;
    *tok = op.u.cancel.lease_token;
    return rc;
}

static void test_recover(void **state)
{
    taas_store *s = S(state);
    char retry[TAAS_ID_LEN + 1], fail[TAAS_ID_LEN + 1], last[TAAS_ID_LEN + 1],
        canc[TAAS_ID_LEN + 1], alive[TAAS_ID_LEN + 1];
    st_task idem = {.max_attempts = 2, .idempotent = true, .created_ms = 1, .priority = 5};
    st_task once = {.max_attempts = 2, .idempotent = false, .created_ms = 1, .priority = 4};
    st_task idem1 = {.max_attempts = 1, .idempotent = true, .created_ms = 1, .priority = 3};
    st_task idemc = {.max_attempts = 3, .idempotent = true, .created_ms = 1, .priority = 2};
    st_task idema = {.max_attempts = 3, .idempotent = true, .created_ms = 1, .priority = 1};
    assert_int_equal(st_insert(s, &idem, retry), 0);
    assert_int_equal(st_insert(s, &once, fail), 0);
    assert_int_equal(st_insert(s, &idem1, last), 0);
    assert_int_equal(st_insert(s, &idemc, canc), 0);
    assert_int_equal(st_insert(s, &idema, alive), 0);
    taas_task_rec out[5], r;
    assert_int_equal(st_claim(s, "w", 4, 10, 100, out), 4);
    /* The bodies of retry, fail and last started (their start marks). */
    for (int k = 0; k < 3; k++) {
        taas_store_op m = {.kind = TAAS_OP_PROGRESS};
        m.u.progress.id = out[k].id;
        m.u.progress.lease_token = out[k].lease_token;
        m.u.progress.now_ms = 11;
        m.u.progress.started_ms = 11;
        assert_int_equal(st_apply1(s, &m), TAAS_STORE_OK);
    }
    st_clear_all(out, 4);
    assert_int_equal(st_claim(s, "w", 1, 10, 10000, out), 1); /* alive: long lease */
    st_clear_all(out, 1);
    taas_task_state after;
    int64_t tok;
    assert_int_equal(cancel(s, canc, 50, &after, &tok), TAAS_STORE_OK);

    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 110; /* leases end at 110: expired */
    assert_int_equal(st_apply1(s, &rec), TAAS_STORE_OK);
    assert_int_equal(rec.u.recover.retried, 2); /* retry, last */
    assert_int_equal(rec.u.recover.failed, 2);  /* fail, canc */

    /* Idempotent and interrupted: runs again with its attempt given back. */
    st_get(s, retry, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.run_after_ms, 110);
    assert_int_equal(r.attempt, 0);
    assert_string_equal(r.error, "interrupted");
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"interrupted\",\"finished_ms\":110}]");
    assert_null(r.lease_owner);
    taas_task_rec_clear(&r);
    st_get(s, fail, &r);
    assert_int_equal(r.state, TAAS_TASK_FAILED);
    assert_string_equal(r.error, "interrupted");
    assert_int_equal(r.finished_ms, 110);
    taas_task_rec_clear(&r);
    st_get(s, last, &r); /* retries: 0, yet an interruption does not use its attempt */
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    taas_task_rec_clear(&r);
    st_get(s, canc, &r);
    assert_int_equal(r.state, TAAS_TASK_CANCELLED);
    assert_string_equal(r.error, "cancelled");
    taas_task_rec_clear(&r);
    st_get(s, alive, &r);
    assert_int_equal(r.state, TAAS_TASK_RUNNING);
    taas_task_rec_clear(&r);
    /* Nothing more to do. */
    assert_int_equal(st_apply1(s, &rec), TAAS_STORE_OK);
    assert_int_equal(rec.u.recover.retried + rec.u.recover.failed, 0);
}

static void test_idempotency(void **state)
{
    taas_store *s = S(state);
    char first[TAAS_ID_LEN + 1], again[TAAS_ID_LEN + 1], other[TAAS_ID_LEN + 1];
    st_task t = {.name = "email", .key = "order-42", .hash = "h1", .created_ms = 1};
    assert_int_equal(st_insert(s, &t, first), TAAS_STORE_OK);
    /* Same key, same inputs: the original task. */
    assert_int_equal(st_insert(s, &t, again), TAAS_STORE_OK);
    assert_string_equal(again, first);
    /* Same key, other inputs: conflict. */
    st_task t2 = t;
    t2.hash = "h2";
    assert_int_equal(st_insert(s, &t2, NULL), TAAS_STORE_ECONFLICT);
    /* Keys are per task name. */
    st_task t3 = t;
    t3.name = "sms";
    assert_int_equal(st_insert(s, &t3, other), TAAS_STORE_OK);
    assert_string_not_equal(other, first);
    /* Duplicate detection still works after the task finished. */
    taas_task_rec out[2];
    int n = st_claim(s, "w", 2, 10, 100, out);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++)
        assert_int_equal(st_complete(s, out[i].id, out[i].lease_token, TAAS_TASK_SUCCEEDED, "{}",
                                     NULL, 0, 20),
                         TAAS_STORE_OK);
    st_clear_all(out, n);
    assert_int_equal(st_insert(s, &t, again), TAAS_STORE_OK);
    assert_string_equal(again, first);
    assert_int_equal(pt_sql_int("SELECT 1"), 1);

    /* Within one batch: the second insert sees the first. */
    taas_task_rec r1, r2, r3;
    memset(&r1, 0, sizeof(r1));
    st_id(r1.id);
    r1.name = "batch";
    r1.input = "{}";
    r1.idempotency_key = "k";
    r1.input_hash = "same";
    r2 = r1;
    st_id(r2.id);
    r3 = r1;
    st_id(r3.id);
    r3.input_hash = "different";
    taas_store_op o[3];
    memset(o, 0, sizeof(o));
    taas_store_op *ops[3] = {&o[0], &o[1], &o[2]};
    const taas_task_rec *rs[3] = {&r1, &r2, &r3};
    for (int i = 0; i < 3; i++) {
        o[i].kind = TAAS_OP_INSERT;
        o[i].u.insert.task = rs[i];
    }
    assert_int_equal(s->apply(s, ops, 3), 0);
    assert_int_equal(o[0].result, TAAS_STORE_OK);
    assert_false(o[0].u.insert.duplicate);
    assert_int_equal(o[1].result, TAAS_STORE_OK);
    assert_true(o[1].u.insert.duplicate);
    assert_string_equal(o[1].u.insert.existing_id, r1.id);
    assert_int_equal(o[2].result, TAAS_STORE_ECONFLICT);
    taas_task_rec g;
    assert_int_equal(s->get(s, r2.id, &g), TAAS_STORE_ENOTFOUND);
    /* NULL hashes on both sides count as the same inputs. */
    st_task nh = {.name = "nohash", .key = "x", .created_ms = 1};
    assert_int_equal(st_insert(s, &nh, first), TAAS_STORE_OK);
    assert_int_equal(st_insert(s, &nh, again), TAAS_STORE_OK);
    assert_string_equal(first, again);
}

/* A batch's inserts and completions go as one statement each (unnest):
 * every op still gets its own outcome, as when sent one by one. */
static void test_many_in_one_statement(void **state)
{
    taas_store *s = S(state);
    char keyed[TAAS_ID_LEN + 1];
    st_task k = {.name = "t", .key = "kept", .hash = "h", .created_ms = 1};
    assert_int_equal(st_insert(s, &k, keyed), TAAS_STORE_OK);

    /* Inserts: three new ones (one with quotes and a backslash in its
     * input, one with a key), an id already taken, a key already used with
     * the same inputs and with other inputs. */
    enum { NI = 6 };
    taas_task_rec r[NI];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < NI; i++) {
        st_id(r[i].id);
        r[i].name = "t";
        r[i].input = "{}";
        r[i].created_ms = 2;
    }
    r[1].input = "{\"q\":\"a \\\"quoted\\\" \\\\ {x,y} NULL\"}";
    r[2].idempotency_key = "new-key";
    r[2].input_hash = "n";
    snprintf(r[3].id, sizeof(r[3].id), "%s", keyed);
    r[4].idempotency_key = "kept";
    r[4].input_hash = "h";
    r[5].idempotency_key = "kept";
    r[5].input_hash = "other";
    taas_store_op o[NI];
    taas_store_op *ops[NI];
    memset(o, 0, sizeof(o));
    for (int i = 0; i < NI; i++) {
        o[i].kind = TAAS_OP_INSERT;
        o[i].u.insert.task = &r[i];
        ops[i] = &o[i];
    }
    assert_int_equal(s->apply(s, ops, NI), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].result, TAAS_STORE_OK);
        assert_false(o[i].u.insert.duplicate);
    }
    assert_int_equal(o[3].result, TAAS_STORE_ECONFLICT);
    assert_int_equal(o[4].result, TAAS_STORE_OK);
    assert_true(o[4].u.insert.duplicate);
    assert_string_equal(o[4].u.insert.existing_id, keyed);
    assert_int_equal(o[5].result, TAAS_STORE_ECONFLICT);
    taas_task_rec g;
    st_get(s, r[1].id, &g);
    assert_string_equal(g.input, r[1].input);
    taas_task_rec_clear(&g);

    /* Completions: success, a stale token, an unknown id, a retry. */
    taas_task_rec out[4];
    int n = st_claim(s, "w", 4, 10, 100, out);
    assert_int_equal(n, 4);
    taas_store_op c[4];
    taas_store_op *cops[4];
    memset(c, 0, sizeof(c));
    char unknown[TAAS_ID_LEN + 1];
    st_id(unknown);
    for (int i = 0; i < 4; i++) {
        c[i].kind = TAAS_OP_COMPLETE;
        c[i].u.complete.id = out[i].id;
        c[i].u.complete.lease_token = out[i].lease_token;
        c[i].u.complete.state = TAAS_TASK_SUCCEEDED;
        c[i].u.complete.output = "{\"ok\":\"\\\"yes\\\"\"}";
        c[i].u.complete.now_ms = 20;
        cops[i] = &c[i];
    }
    c[1].u.complete.lease_token = out[1].lease_token - 1;
    c[2].u.complete.id = unknown;
    c[3].u.complete.state = TAAS_TASK_PENDING;
    c[3].u.complete.output = NULL;
    c[3].u.complete.error = "try \"again\"";
    c[3].u.complete.run_after_ms = 30;
    assert_int_equal(s->apply(s, cops, 4), 0);
    assert_int_equal(c[0].result, TAAS_STORE_OK);
    assert_int_equal(c[1].result, TAAS_STORE_ESTALE);
    assert_int_equal(c[2].result, TAAS_STORE_ENOTFOUND);
    assert_int_equal(c[3].result, TAAS_STORE_OK);
    st_get(s, out[0].id, &g);
    assert_int_equal(g.state, TAAS_TASK_SUCCEEDED);
    assert_string_equal(g.output, c[0].u.complete.output);
    taas_task_rec_clear(&g);
    st_get(s, out[1].id, &g);
    assert_int_equal(g.state, TAAS_TASK_RUNNING);
    taas_task_rec_clear(&g);
    st_get(s, out[3].id, &g);
    assert_int_equal(g.state, TAAS_TASK_PENDING);
    assert_int_equal(g.run_after_ms, 30);
    assert_string_equal(g.error, "try \"again\"");
    assert_non_null(strstr(g.attempts_json, "try \\\"again\\\""));
    taas_task_rec_clear(&g);
    st_clear_all(out, n);
}

/* Several kinds in one transaction, each seeing the ones before it. */
static void test_batch_order(void **state)
{
    taas_store *s = S(state);
    taas_task_rec t;
    memset(&t, 0, sizeof(t));
    st_id(t.id);
    t.name = "t";
    t.input = "{}";
    t.created_ms = 1;
    taas_task_rec out[2];
    taas_store_op ins = {.kind = TAAS_OP_INSERT}, cl = {.kind = TAAS_OP_CLAIM},
                  pr = {.kind = TAAS_OP_PROGRESS}, ca = {.kind = TAAS_OP_CANCEL};
    ins.u.insert.task = &t;
    cl.u.claim.owner = "w";
    cl.u.claim.max = 2;
    cl.u.claim.now_ms = 10;
    cl.u.claim.lease_ms = 100;
    cl.u.claim.out = out;
    pr.u.progress.id = t.id;
    pr.u.progress.lease_token = 1;
    pr.u.progress.progress = 0.5;
    pr.u.progress.now_ms = 11;
    ca.u.cancel.id = t.id;
    ca.u.cancel.now_ms = 12;
    taas_store_op *ops[4] = {&ins, &cl, &pr, &ca};
    assert_int_equal(s->apply(s, ops, 4), 0);
    assert_int_equal(ins.result, 0);
    assert_int_equal(cl.result, 0);
    assert_int_equal(cl.u.claim.n, 1);
    assert_string_equal(out[0].id, t.id);
    assert_int_equal(pr.result, 0);
    assert_int_equal(ca.result, 0);
    assert_int_equal(ca.u.cancel.state_after, TAAS_TASK_RUNNING);
    assert_int_equal(ca.u.cancel.lease_token, 1);
    st_clear_all(out, 1);
    taas_task_rec r;
    st_get(s, t.id, &r);
    assert_true(r.progress == 0.5);
    assert_true(r.cancel_requested);
    taas_task_rec_clear(&r);
}

static void test_durable_reopen(void **state)
{
    pt_fix *f = *state;
    char id[TAAS_ID_LEN + 1];
    st_task t = {.name = "keep", .input = "{\"n\":1}", .created_ms = 77};
    assert_int_equal(st_insert(f->s, &t, id), TAAS_STORE_OK);
    f->s->close(f->s);
    f->s = pt_open(f->url); /* migrations find the schema current */
    taas_task_rec r;
    st_get(f->s, id, &r);
    assert_string_equal(r.input, "{\"n\":1}");
    assert_int_equal(r.created_ms, 77);
    taas_task_rec_clear(&r);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.schema_migrations", f->schema);
    assert_int_equal(pt_sql_int(sql), 6); /* every migration once */
    /* Committed means visible to any other connection at once. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.tasks WHERE id = '%s'", f->schema, id);
    assert_int_equal(pt_sql_int(sql), 1);
}

/* Operations through the group-commit writer land in few transactions. */
struct wctx {
    pthread_mutex_t mu;
    int done, ok;
};

static void on_done(taas_store_op *op, void *arg)
{
    struct wctx *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done++;
    if (op->result == TAAS_STORE_OK)
        w->ok++;
    pthread_mutex_unlock(&w->mu);
}

static void test_writer(void **state)
{
    taas_store *s = S(state);
    enum { N = 500 };
    taas_writer *w = taas_writer_start(s, NULL);
    assert_non_null(w);
    taas_task_rec *recs = calloc(N, sizeof(*recs));
    taas_store_op *ops = calloc(N, sizeof(*ops));
    struct wctx c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < N; i++) {
        st_id(recs[i].id);
        recs[i].name = "w";
        recs[i].input = "{}";
        recs[i].created_ms = i;
        ops[i].kind = TAAS_OP_INSERT;
        ops[i].u.insert.task = &recs[i];
        assert_int_equal(taas_writer_enqueue(w, &ops[i], on_done, &c), 0);
    }
    taas_writer_stop(w);
    assert_int_equal(c.done, N);
    assert_int_equal(c.ok, N);
    taas_pg_stats st;
    taas_pg_get_stats(s, &st);
    assert_true(st.transactions < N); /* grouped */
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.tasks WHERE name = 'w'",
             ((pt_fix *)*state)->schema);
    assert_int_equal(pt_sql_int(sql), N);
    free(recs);
    free(ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_invalid_in_batch, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_complete_and_retry, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_fencing_100, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_progress, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_recover, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_many_in_one_statement, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_batch_order, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_durable_reopen, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_writer, pt_setup, pt_teardown),
    };
    return cmocka_run_group_tests_name("pg_ops", tests, NULL, NULL);
}
