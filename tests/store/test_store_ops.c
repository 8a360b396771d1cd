/*
 * tests/store/test_store_ops.c - every write operation: insert/get round
 * trip, claim order, fencing, idempotency, cancel, heartbeat, recover,
 * release and prune. Written against store.h only and built twice:
 * store_ops runs it on SQLite files, pg_store_ops (ST_BACKEND_PG) on a
 * PostgreSQL schema.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_suite.h"

static taas_task_state state_of(taas_store *s, const char *id)
{
    taas_task_rec r;
    st_get(s, id, &r);
    taas_task_state st = r.state;
    taas_task_rec_clear(&r);
    return st;
}

static void test_round_trip(void **state)
{
    taas_store *s = S(state);
    const char *input = "{\"text\":\"caf\xc3\xa9 \\\"quoted\\\"\",\"n\":[1,2,3]}";
    taas_task_rec in;
    memset(&in, 0, sizeof(in));
    st_id(in.id);
    in.name = "resize_image";
    in.input = (char *)input;
    in.input_len = strlen(input);
    in.priority = 7;
    in.max_attempts = 3;
    in.timeout_s = 45;
    in.idempotent = true;
    in.idempotency_key = "req-42";
    in.input_hash = "abcdef0123";
    in.created_ms = 1700000000123LL;
    in.run_after_ms = 1700000000500LL;
    taas_store_op op = {.kind = TAAS_OP_INSERT};
    op.u.insert.task = &in;
    assert_int_equal(st_apply1(s, &op), 0);
    assert_false(op.u.insert.duplicate);

    taas_task_rec r;
    st_get(s, in.id, &r);
    assert_string_equal(r.id, in.id);
    assert_string_equal(r.name, "resize_image");
    assert_int_equal(r.input_len, strlen(input));
    assert_memory_equal(r.input, input, strlen(input));
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.priority, 7);
    assert_int_equal(r.attempt, 0);
    assert_int_equal(r.max_attempts, 3);
    assert_int_equal(r.timeout_s, 45);
    assert_true(r.idempotent);
    assert_string_equal(r.idempotency_key, "req-42");
    assert_string_equal(r.input_hash, "abcdef0123");
    assert_int_equal(r.created_ms, 1700000000123LL);
    assert_int_equal(r.updated_ms, 1700000000123LL);
    assert_int_equal(r.run_after_ms, 1700000000500LL);
    assert_int_equal(r.started_ms, 0);
    assert_int_equal(r.finished_ms, 0);
    assert_true(r.progress == 0.0);
    assert_null(r.progress_message);
    assert_null(r.output);
    assert_null(r.error);
    assert_string_equal(r.attempts_json, "[]");
    assert_false(r.cancel_requested);
    assert_null(r.lease_owner);
    assert_int_equal(r.lease_expires_ms, 0);
    assert_int_equal(r.lease_token, 0);
    taas_task_rec_clear(&r);

    /* Claim: the returned record is complete, input included. */
    taas_task_rec c[2];
    int64_t now = 1700000001000LL;
    assert_int_equal(st_claim(s, "node-a/w1", 2, now, 30000, c), 1);
    assert_string_equal(c[0].id, in.id);
    assert_memory_equal(c[0].input, input, strlen(input));
    assert_int_equal(c[0].state, TAAS_TASK_RUNNING);
    assert_int_equal(c[0].attempt, 1);
    assert_int_equal(c[0].lease_token, 1);
    assert_string_equal(c[0].lease_owner, "node-a/w1");
    assert_int_equal(c[0].lease_expires_ms, now + 30000);
    assert_int_equal(c[0].started_ms, 0); /* held: the body has not started */
    assert_int_equal(c[0].updated_ms, now);
    assert_int_equal(c[0].timeout_s, 45);
    int64_t tok = c[0].lease_token;
    st_clear_all(c, 1);

    assert_int_equal(st_progress(s, in.id, tok, 0.25, "quarter", now + 1), 0);
    st_get(s, in.id, &r);
    assert_true(r.progress == 0.25);
    assert_string_equal(r.progress_message, "quarter");
    assert_int_equal(r.updated_ms, now + 1);
    taas_task_rec_clear(&r);
    /* Out-of-range progress is clamped. */
    assert_int_equal(st_progress(s, in.id, tok, 7.0, NULL, now + 2), 0);
    st_get(s, in.id, &r);
    assert_true(r.progress == 1.0);
    assert_null(r.progress_message);
    taas_task_rec_clear(&r);

    assert_int_equal(st_complete(s, in.id, tok, TAAS_TASK_SUCCEEDED, "{\"ok\":true}", NULL, 0,
                                 now + 5),
                     0);
    st_get(s, in.id, &r);
    assert_int_equal(r.state, TAAS_TASK_SUCCEEDED);
    assert_string_equal(r.output, "{\"ok\":true}");
    assert_int_equal(r.output_len, strlen("{\"ok\":true}"));
    assert_int_equal(r.finished_ms, now + 5);
    assert_int_equal(r.updated_ms, now + 5);
    assert_true(r.progress == 1.0);
    assert_null(r.error);
    assert_null(r.lease_owner);
    assert_int_equal(r.lease_expires_ms, 0);
    assert_int_equal(r.lease_token, 1);
    assert_int_equal(r.attempt, 1);
    assert_string_equal(r.attempts_json, "[]");
    taas_task_rec_clear(&r);

    /* Refusals: unknown id, malformed records, a taken id. */
    assert_int_equal(s->get(s, "0190a5b3-0000-7000-8000-ffffffffffff", &r), TAAS_STORE_ENOTFOUND);
    assert_null(r.name);
    taas_task_rec bad = in;
    snprintf(bad.id, sizeof(bad.id), "not-a-uuid");
    op.u.insert.task = &bad;
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_EINVAL);
    bad = in;
    bad.name = NULL;
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_EINVAL);
    bad = in;
    bad.idempotency_key = NULL;
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_ECONFLICT); /* same id */
}

static void test_claim_order(void **state)
{
    taas_store *s = S(state);
    char a[37], b[37], c[37], d[37], e[37], late[37], early[37];
    int64_t now = 100000;
    assert_int_equal(st_insert(s, &(st_task){.priority = 0}, a), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 5}, b), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 0}, c), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 5, .run_after_ms = now + 10000}, d), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 0}, e), 0);
    /* Within a priority, an earlier run_after goes first even if inserted later. */
    assert_int_equal(st_insert(s, &(st_task){.priority = -1, .run_after_ms = 500}, late), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = -1, .run_after_ms = 100}, early), 0);

    taas_task_rec out[10];
    int n = st_claim(s, "w", 10, now, 1000, out);
    assert_int_equal(n, 6);
    const char *want[] = {b, a, c, e, early, late};
    for (int i = 0; i < n; i++)
        assert_string_equal(out[i].id, want[i]);
    st_clear_all(out, n);
    assert_int_equal(state_of(s, d), TAAS_TASK_PENDING);
    assert_int_equal(st_claim(s, "w", 10, now, 1000, out), 0);
    assert_int_equal(st_claim(s, "w", 10, now + 9999, 1000, out), 0);
    n = st_claim(s, "w", 10, now + 10000, 1000, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, d);
    st_clear_all(out, n);

    /* max is honoured and the rest stays queued in order (FIFO). */
    char ids[5][37];
    for (int i = 0; i < 5; i++)
        assert_int_equal(st_insert(s, &(st_task){.priority = 1}, ids[i]), 0);
    n = st_claim(s, "w", 2, now, 1000, out);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].id, ids[0]);
    assert_string_equal(out[1].id, ids[1]);
    st_clear_all(out, n);
    n = st_claim(s, "w", 10, now, 1000, out);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].id, ids[2]);
    assert_string_equal(out[2].id, ids[4]);
    st_clear_all(out, n);
    assert_int_equal(st_claim(s, "w", 0, now, 1000, out), 0);
}

static void test_fencing(void **state)
{
    taas_store *s = S(state);
    char id[37];
    taas_task_rec out[1];
    assert_int_equal(st_insert(s, &(st_task){0}, id), 0);
    assert_int_equal(st_complete(s, id, 0, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 1), TAAS_STORE_ESTALE);
    assert_int_equal(st_claim(s, "w", 1, 1000, 100, out), 1);
    int64_t tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_complete(s, id, tok + 1, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 2), TAAS_STORE_ESTALE);
    assert_int_equal(st_progress(s, id, tok - 1, 0.5, "x", 2), TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(s, "0190a5b3-0000-7000-8000-eeeeeeeeeeee", tok,
                                 TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 2),
                     TAAS_STORE_ENOTFOUND);
    assert_int_equal(st_progress(s, "0190a5b3-0000-7000-8000-eeeeeeeeeeee", tok, 0.5, NULL, 2),
                     TAAS_STORE_ENOTFOUND);
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_RUNNING, NULL, NULL, 0, 2), TAAS_STORE_EINVAL);
    /* The refused calls changed nothing. */
    taas_task_rec r;
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_RUNNING);
    assert_true(r.progress == 0.0);
    taas_task_rec_clear(&r);
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_FAILED, NULL, "bad input", 0, 3), 0);
    /* A second completion of the same attempt is refused. */
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 4), TAAS_STORE_ESTALE);
    assert_int_equal(state_of(s, id), TAAS_TASK_FAILED);

    /* A worker that lost its lease never overwrites the next attempt: 100 of 100. */
    int refused = 0;
    for (int i = 0; i < 100; i++) {
        int64_t t0 = 10000 + i * 1000;
        assert_int_equal(st_insert(s, &(st_task){.idempotent = true, .max_attempts = 2}, id), 0);
        assert_int_equal(st_claim(s, "old", 1, t0, 10, out), 1);
        assert_string_equal(out[0].id, id);
        int64_t old = out[0].lease_token;
        st_clear_all(out, 1);
        taas_store_op rec = {.kind = TAAS_OP_RECOVER};
        rec.u.recover.now_ms = t0 + 20;
        assert_int_equal(st_apply1(s, &rec), 0);
        assert_int_equal(rec.u.recover.retried, 1);
        assert_int_equal(st_claim(s, "new", 1, t0 + 30, 1000, out), 1);
        int64_t cur = out[0].lease_token;
        assert_true(cur > old);
        st_clear_all(out, 1);
        int a = st_complete(s, id, old, TAAS_TASK_SUCCEEDED, "{\"who\":\"old\"}", NULL, 0, t0 + 40);
        int b = st_progress(s, id, old, 0.9, "old", t0 + 40);
        if (a == TAAS_STORE_ESTALE && b == TAAS_STORE_ESTALE)
            refused++;
        assert_int_equal(st_complete(s, id, cur, TAAS_TASK_SUCCEEDED, "{\"who\":\"new\"}", NULL, 0,
                                     t0 + 50),
                         0);
        st_get(s, id, &r);
        assert_string_equal(r.output, "{\"who\":\"new\"}");
        taas_task_rec_clear(&r);
    }
    assert_int_equal(refused, 100);
}

static void test_retry_attempts(void **state)
{
    taas_store *s = S(state);
    char id[37];
    taas_task_rec out[1], r;
    assert_int_equal(st_insert(s, &(st_task){.max_attempts = 3}, id), 0);
    assert_int_equal(st_claim(s, "w", 1, 1000, 100, out), 1);
    int64_t tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_progress(s, id, tok, 0.5, "half", 1500), 0);
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_PENDING, NULL, "boom \"1\"", 7000, 2000), 0);
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.run_after_ms, 7000);
    assert_int_equal(r.finished_ms, 0);
    assert_string_equal(r.error, "boom \"1\"");
    assert_true(r.progress == 0.0);
    assert_null(r.progress_message);
    assert_null(r.lease_owner);
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"boom \\\"1\\\"\",\"finished_ms\":2000}]");
    taas_task_rec_clear(&r);
    assert_int_equal(st_claim(s, "w", 1, 6999, 100, out), 0);
    assert_int_equal(st_claim(s, "w", 1, 7000, 100, out), 1);
    assert_int_equal(out[0].attempt, 2);
    assert_int_equal(out[0].lease_token, 2);
    tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_complete(s, id, tok, TAAS_TASK_FAILED, NULL, "bad", 0, 9000), 0);
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_FAILED);
    assert_int_equal(r.finished_ms, 9000);
    assert_string_equal(r.error, "bad");
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"boom \\\"1\\\"\",\"finished_ms\":2000},"
                        "{\"attempt\":2,\"error\":\"bad\",\"finished_ms\":9000}]");
    taas_task_rec_clear(&r);
}

static void insert_op(taas_store_op *op, taas_task_rec *rec, const char *key, const char *hash)
{
    memset(rec, 0, sizeof(*rec));
    st_id(rec->id);
    rec->name = "email";
    rec->input = "{}";
    rec->idempotency_key = (char *)key;
    rec->input_hash = (char *)hash;
    rec->created_ms = 5;
    memset(op, 0, sizeof(*op));
    op->kind = TAAS_OP_INSERT;
    op->u.insert.task = rec;
}

static size_t count_tasks(taas_store *s, const char *name)
{
    taas_list_query q = {.limit = 1000, .name = name};
    taas_task_rec *recs;
    size_t n;
    char next[64];
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    st_clear_all(recs, (int)n);
    free(recs);
    return n;
}

static void test_idempotency(void **state)
{
    taas_store *s = S(state);
    char id1[37], id2[37];
    assert_int_equal(st_insert(s, &(st_task){.name = "email", .key = "k1", .hash = "h1"}, id1), 0);
    taas_store_op op;
    taas_task_rec rec;
    insert_op(&op, &rec, "k1", "h1");
    assert_int_equal(st_apply1(s, &op), 0);
    assert_true(op.u.insert.duplicate);
    assert_string_equal(op.u.insert.existing_id, id1);
    insert_op(&op, &rec, "k1", "h2");
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_ECONFLICT);
    assert_false(op.u.insert.duplicate);
    insert_op(&op, &rec, "k1", NULL);
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_ECONFLICT);
    assert_int_equal(count_tasks(s, "email"), 1);
    /* Keys are per task name. */
    assert_int_equal(st_insert(s, &(st_task){.name = "sms", .key = "k1", .hash = "h9"}, id2), 0);
    assert_string_not_equal(id1, id2);
    /* No hash on either side counts as the same inputs. */
    assert_int_equal(st_insert(s, &(st_task){.name = "email", .key = "k0"}, id1), 0);
    insert_op(&op, &rec, "k0", NULL);
    assert_int_equal(st_apply1(s, &op), 0);
    assert_true(op.u.insert.duplicate);
    assert_string_equal(op.u.insert.existing_id, id1);

    /* Two inserts with one key in one batch. */
    taas_store_op o[4];
    taas_task_rec r[4];
    insert_op(&o[0], &r[0], "k2", "h");
    insert_op(&o[1], &r[1], "k2", "h");
    insert_op(&o[2], &r[2], "k3", "h");
    insert_op(&o[3], &r[3], "k3", "other");
    taas_store_op *batch[4] = {&o[0], &o[1], &o[2], &o[3]};
    assert_int_equal(s->apply(s, batch, 4), 0);
    assert_int_equal(o[0].result, 0);
    assert_false(o[0].u.insert.duplicate);
    assert_int_equal(o[1].result, 0);
    assert_true(o[1].u.insert.duplicate);
    assert_string_equal(o[1].u.insert.existing_id, r[0].id);
    assert_int_equal(o[2].result, 0);
    assert_false(o[2].u.insert.duplicate);
    assert_int_equal(o[3].result, TAAS_STORE_ECONFLICT);
    assert_int_equal(count_tasks(s, "email"), 4); /* keys k1, k0, k2, k3 */
}

static void test_cancel(void **state)
{
    taas_store *s = S(state);
    char p[37], run[37];
    taas_task_rec out[1], r;
    assert_int_equal(st_insert(s, &(st_task){.priority = 1}, run), 0);
    assert_int_equal(st_claim(s, "w", 1, 100, 1000, out), 1);
    int64_t tok = out[0].lease_token;
    st_clear_all(out, 1);
    assert_int_equal(st_insert(s, &(st_task){0}, p), 0);

    taas_store_op op = {.kind = TAAS_OP_CANCEL};
    op.u.cancel.id = p;
    op.u.cancel.now_ms = 200;
    assert_int_equal(st_apply1(s, &op), 0);
    assert_int_equal(op.u.cancel.state_after, TAAS_TASK_CANCELLED);
    /* What the cancel saw, so that nobody reads the task back for it. */
    assert_int_equal(op.u.cancel.state_seen, TAAS_TASK_PENDING);
    st_get(s, p, &r);
    assert_string_equal(op.u.cancel.name, r.name);
    taas_task_rec_clear(&r);
    st_get(s, p, &r);
    assert_int_equal(r.state, TAAS_TASK_CANCELLED);
    assert_int_equal(r.finished_ms, 200);
    taas_task_rec_clear(&r);
    assert_int_equal(st_claim(s, "w", 1, 300, 1000, out), 0);

    op.u.cancel.id = run;
    assert_int_equal(st_apply1(s, &op), 0);
    assert_int_equal(op.u.cancel.state_after, TAAS_TASK_RUNNING);
    assert_int_equal(op.u.cancel.lease_token, tok);
    /* Claimed, but its body has not started (no start mark): PENDING to
     * readers, and so to the cancel. */
    assert_int_equal(op.u.cancel.state_seen, TAAS_TASK_PENDING);
    assert_true(op.u.cancel.name[0] != '\0');
    /* Once the body has started, RUNNING. */
    taas_store_op mark = {.kind = TAAS_OP_PROGRESS};
    mark.u.progress.id = run;
    mark.u.progress.lease_token = tok;
    mark.u.progress.now_ms = 250;
    mark.u.progress.started_ms = 240;
    assert_int_equal(st_apply1(s, &mark), 0);
    assert_int_equal(st_apply1(s, &op), 0);
    assert_int_equal(op.u.cancel.state_after, TAAS_TASK_RUNNING);
    assert_int_equal(op.u.cancel.state_seen, TAAS_TASK_RUNNING);
    st_get(s, run, &r);
    assert_int_equal(r.state, TAAS_TASK_RUNNING);
    assert_true(r.cancel_requested);
    taas_task_rec_clear(&r);
    /* The worker notices and finishes it as cancelled. */
    assert_int_equal(st_complete(s, run, tok, TAAS_TASK_CANCELLED, NULL, "cancelled", 0, 400), 0);

    op.u.cancel.id = run;
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_EFINAL);
    assert_int_equal(op.u.cancel.state_after, TAAS_TASK_CANCELLED);
    assert_int_equal(op.u.cancel.state_seen, TAAS_TASK_CANCELLED);
    op.u.cancel.id = p;
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_EFINAL);
    op.u.cancel.id = "0190a5b3-0000-7000-8000-dddddddddddd";
    assert_int_equal(st_apply1(s, &op), TAAS_STORE_ENOTFOUND);
}

/* Three tasks, a and b (priority 2) and c (1), claimed at 1000 for lease_ms:
 * a and b by w1, c by w2. Returns a's lease token. */
static int64_t three_claimed(taas_store *s, char a[37], char b[37], char c[37], int64_t lease_ms)
{
    taas_task_rec out[2];
    assert_int_equal(st_insert(s, &(st_task){.priority = 2}, a), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 2}, b), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 1}, c), 0);
    assert_int_equal(st_claim(s, "w1", 2, 1000, lease_ms, out), 2);
    int64_t token = out[0].lease_token;
    assert_string_equal(out[0].id, a);
    st_clear_all(out, 2);
    assert_int_equal(st_claim(s, "w2", 1, 1000, lease_ms, out), 1);
    st_clear_all(out, 1);
    return token;
}

static void test_heartbeat(void **state)
{
    taas_store *s = S(state);
    char a[37], b[37], c[37];
    taas_task_rec r;
    three_claimed(s, a, b, c, 1000);
    taas_store_op hb = {.kind = TAAS_OP_HEARTBEAT};
    hb.u.heartbeat.owner = "w1";
    hb.u.heartbeat.lease_expires_ms = 10000;
    assert_int_equal(st_apply1(s, &hb), 0);
    st_get(s, a, &r);
    assert_int_equal(r.lease_expires_ms, 10000);
    taas_task_rec_clear(&r);
    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 5000;
    assert_int_equal(st_apply1(s, &rec), 0);
    assert_int_equal(rec.u.recover.retried + rec.u.recover.failed, 1);
    assert_int_equal(state_of(s, a), TAAS_TASK_RUNNING);
    assert_int_equal(state_of(s, b), TAAS_TASK_RUNNING);
    /* w2's lease lapsed before its body was marked started: back to PENDING. */
    assert_int_equal(state_of(s, c), TAAS_TASK_PENDING);
}

/* The start mark: a PROGRESS op carrying started_ms (< 0 clears it). */
static void st_mark(taas_store *s, const char *id, int64_t token, int64_t started_ms)
{
    taas_store_op op = {.kind = TAAS_OP_PROGRESS};
    op.u.progress.id = id;
    op.u.progress.lease_token = token;
    op.u.progress.now_ms = started_ms > 0 ? started_ms : 1;
    op.u.progress.started_ms = started_ms;
    assert_int_equal(st_apply1(s, &op), 0);
}

static void test_recover(void **state)
{
    taas_store *s = S(state);
    char idem[37], plain[37], fresh[37], canc[37];
    taas_task_rec out[4], r;
    assert_int_equal(st_insert(s, &(st_task){.priority = 4, .idempotent = true, .max_attempts = 2}, idem), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 3, .max_attempts = 3}, plain), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 2, .max_attempts = 1}, fresh), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 1, .idempotent = true, .max_attempts = 5}, canc), 0);
    assert_int_equal(st_claim(s, "w", 4, 1000, 500, out), 4);
    /* idem and plain started (marked); fresh was only held; canc is asked to stop. */
    st_mark(s, idem, out[0].lease_token, 1010);
    st_mark(s, plain, out[1].lease_token, 1010);
    st_clear_all(out, 4);
    taas_store_op cop = {.kind = TAAS_OP_CANCEL};
    cop.u.cancel.id = canc;
    cop.u.cancel.now_ms = 1100;
    assert_int_equal(st_apply1(s, &cop), 0);

    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 1499; /* not expired yet */
    assert_int_equal(st_apply1(s, &rec), 0);
    assert_int_equal(rec.u.recover.retried, 0);
    assert_int_equal(rec.u.recover.failed, 0);
    rec.u.recover.now_ms = 1500;
    assert_int_equal(st_apply1(s, &rec), 0);
    assert_int_equal(rec.u.recover.retried, 2); /* idem, fresh */
    assert_int_equal(rec.u.recover.failed, 2);  /* plain, canc */

    /* Idempotent, interrupted mid-run: runs again, the attempt given back. */
    st_get(s, idem, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_int_equal(r.run_after_ms, 1500);
    assert_null(r.lease_owner);
    assert_string_equal(r.error, "interrupted");
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"interrupted\",\"finished_ms\":1500}]");
    taas_task_rec_clear(&r);
    /* Not idempotent and started: never again (at most once). */
    st_get(s, plain, &r);
    assert_int_equal(r.state, TAAS_TASK_FAILED);
    assert_string_equal(r.error, "interrupted");
    assert_int_equal(r.finished_ms, 1500);
    assert_string_equal(r.attempts_json,
                        "[{\"attempt\":1,\"error\":\"interrupted\",\"finished_ms\":1500}]");
    taas_task_rec_clear(&r);
    /* Not idempotent, never started: PENDING, no attempt used, nothing recorded. */
    st_get(s, fresh, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_null(r.error);
    assert_string_equal(r.attempts_json, "[]");
    taas_task_rec_clear(&r);
    st_get(s, canc, &r);
    assert_int_equal(r.state, TAAS_TASK_CANCELLED); /* it was asked to stop */
    taas_task_rec_clear(&r);

    /* The never-started one, held and lost again and again, stays free. */
    for (int k = 0; k < TAAS_GIVEBACK_MAX + 2; k++) {
        int64_t t0 = 10000 + 1000 * k;
        assert_int_equal(st_claim(s, "w", 2, t0, 500, out), 2);
        bool first_is_idem = strcmp(out[0].id, idem) == 0;
        taas_task_rec *ri = first_is_idem ? &out[0] : &out[1];
        taas_task_rec *rf = first_is_idem ? &out[1] : &out[0];
        assert_string_equal(rf->id, fresh);
        assert_int_equal(rf->attempt, 1);
        st_mark(s, idem, ri->lease_token, t0 + 1);
        int attempt = ri->attempt;
        st_clear_all(out, 2);
        rec.u.recover.now_ms = t0 + 500;
        assert_int_equal(st_apply1(s, &rec), 0);
        st_get(s, idem, &r);
        /* The idempotent one: given back GIVEBACK_MAX times in all (once
         * above), then each interruption uses an attempt, then it fails. */
        if (k < TAAS_GIVEBACK_MAX - 1) {
            assert_int_equal(attempt, 1);
            assert_int_equal(r.state, TAAS_TASK_PENDING);
            assert_int_equal(r.attempt, 0);
        } else if (k == TAAS_GIVEBACK_MAX - 1) {
            assert_int_equal(attempt, 1);
            assert_int_equal(r.state, TAAS_TASK_PENDING);
            assert_int_equal(r.attempt, 1); /* used: attempt 2 of 2 is left */
        } else {
            assert_int_equal(attempt, 2);
            assert_int_equal(r.state, TAAS_TASK_FAILED);
            assert_string_equal(r.error, "interrupted");
            taas_task_rec_clear(&r);
            break;
        }
        taas_task_rec_clear(&r);
    }
    st_get(s, fresh, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_string_equal(r.attempts_json, "[]");
    taas_task_rec_clear(&r);
}

/* Claims a server gives back unstarted (RELEASE by id) are not re-runs: an
 * idempotent task given back more than GIVEBACK_MAX times still runs again
 * after a crash interrupts its body, without using an attempt. */
static void test_give_back_is_not_a_rerun(void **state)
{
    taas_store *s = S(state);
    char id[37];
    taas_task_rec out[1], r;
    assert_int_equal(st_insert(s, &(st_task){.idempotent = true, .max_attempts = 1}, id), 0);
    for (int k = 0; k < TAAS_GIVEBACK_MAX + 2; k++) {
        assert_int_equal(st_claim(s, "w", 1, 1000 + k, 60000, out), 1);
        taas_store_op rel = {.kind = TAAS_OP_RELEASE};
        rel.u.release.owner = "w";
        rel.u.release.now_ms = 1000 + k;
        rel.u.release.id = id;
        rel.u.release.lease_token = out[0].lease_token;
        st_clear_all(out, 1);
        assert_int_equal(st_apply1(s, &rel), 0);
        assert_int_equal(rel.u.release.released, 1);
    }
    /* Claimed once more, started, and its server dies. */
    assert_int_equal(st_claim(s, "w", 1, 2000, 500, out), 1);
    assert_int_equal(out[0].attempt, 1);
    st_mark(s, id, out[0].lease_token, 2001);
    st_clear_all(out, 1);
    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 2500;
    assert_int_equal(st_apply1(s, &rec), 0);
    assert_int_equal(rec.u.recover.retried, 1);
    st_get(s, id, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0); /* the attempt given back: it runs again */
    taas_task_rec_clear(&r);
}

/* RELEASE leaves a non-idempotent task whose body may have started (marked)
 * to its lease: it must never run again. A cleared mark releases it. */
static void test_release_marked(void **state)
{
    taas_store *s = S(state);
    char m[37], c[37], i[37];
    taas_task_rec out[3], r;
    assert_int_equal(st_insert(s, &(st_task){.priority = 3}, m), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 2}, c), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 1, .idempotent = true}, i), 0);
    assert_int_equal(st_claim(s, "w1", 3, 1000, 60000, out), 3);
    st_mark(s, m, out[0].lease_token, 1001);
    st_mark(s, c, out[1].lease_token, 1001);
    st_mark(s, c, out[1].lease_token, -1); /* marked, then not started after all */
    st_mark(s, i, out[2].lease_token, 1001);
    st_clear_all(out, 3);
    taas_store_op rel = {.kind = TAAS_OP_RELEASE};
    rel.u.release.owner = "w1";
    rel.u.release.now_ms = 2000;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 2);
    assert_int_equal(state_of(s, m), TAAS_TASK_RUNNING);
    st_get(s, c, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_int_equal(r.started_ms, 0);
    taas_task_rec_clear(&r);
    assert_int_equal(state_of(s, i), TAAS_TASK_PENDING);
    /* Its lease lapses: recovery fails it. */
    taas_store_op rec = {.kind = TAAS_OP_RECOVER};
    rec.u.recover.now_ms = 70000;
    assert_int_equal(st_apply1(s, &rec), 0);
    assert_int_equal(state_of(s, m), TAAS_TASK_FAILED);
}

static void test_release(void **state)
{
    taas_store *s = S(state);
    char a[37], b[37], c[37];
    taas_task_rec out[2], r;
    int64_t old = three_claimed(s, a, b, c, 60000);
    taas_store_op rel = {.kind = TAAS_OP_RELEASE};
    rel.u.release.owner = "w1";
    rel.u.release.now_ms = 2000;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 2);
    st_get(s, a, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_null(r.lease_owner);
    assert_int_equal(r.updated_ms, 2000);
    taas_task_rec_clear(&r);
    assert_int_equal(state_of(s, c), TAAS_TASK_RUNNING);
    /* Released work is claimed again at once, as a first attempt with a new token. */
    assert_int_equal(st_claim(s, "w3", 2, 2001, 60000, out), 2);
    assert_string_equal(out[0].id, a);
    assert_int_equal(out[0].attempt, 1);
    assert_true(out[0].lease_token > old);
    int64_t cur = out[0].lease_token;
    st_clear_all(out, 2);
    assert_int_equal(st_complete(s, a, old, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 3000), TAAS_STORE_ESTALE);
    assert_int_equal(st_complete(s, a, cur, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 3000), 0);
    rel.u.release.owner = "nobody";
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 0);
}

/* A release of one task (id and token): a task held but never started goes
 * back to the queue with its attempt given back; one that started, one
 * claimed again since (another token) and an unknown one are left alone;
 * one with a cancel request becomes CANCELLED. */
static void test_give_back(void **state)
{
    taas_store *s = S(state);
    char a[37], b[37], c[37];
    taas_task_rec out[3], r;
    assert_int_equal(st_insert(s, &(st_task){.priority = 3}, a), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 2}, b), 0);
    assert_int_equal(st_insert(s, &(st_task){.priority = 1}, c), 0);
    assert_int_equal(st_claim(s, "w1", 3, 1000, 60000, out), 3);
    int64_t ta = out[0].lease_token, tb = out[1].lease_token, tc = out[2].lease_token;
    st_clear_all(out, 3);
    st_mark(s, c, tc, 1001);
    taas_store_op rel = {.kind = TAAS_OP_RELEASE};
    rel.u.release.owner = "w1";
    rel.u.release.now_ms = 2000;
    rel.u.release.id = a;
    rel.u.release.lease_token = ta;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 1);
    st_get(s, a, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_null(r.lease_owner);
    assert_int_equal(r.updated_ms, 2000);
    assert_string_equal(r.attempts_json, "[]");
    taas_task_rec_clear(&r);
    assert_int_equal(st_apply1(s, &rel), 0); /* no longer held */
    assert_int_equal(rel.u.release.released, 0);
    rel.u.release.id = c; /* started */
    rel.u.release.lease_token = tc;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 0);
    assert_int_equal(state_of(s, c), TAAS_TASK_RUNNING);
    rel.u.release.id = b; /* not this claim's token */
    rel.u.release.lease_token = tb + 1;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 0);
    assert_int_equal(state_of(s, b), TAAS_TASK_RUNNING);
    taas_store_op cancel = {.kind = TAAS_OP_CANCEL};
    cancel.u.cancel.id = b;
    cancel.u.cancel.now_ms = 2100;
    assert_int_equal(st_apply1(s, &cancel), 0);
    rel.u.release.lease_token = tb;
    rel.u.release.now_ms = 2200;
    assert_int_equal(st_apply1(s, &rel), 0);
    assert_int_equal(rel.u.release.released, 1);
    st_get(s, b, &r);
    assert_int_equal(r.state, TAAS_TASK_CANCELLED);
    assert_int_equal(r.finished_ms, 2200);
    assert_null(r.lease_owner);
    taas_task_rec_clear(&r);
    /* The task given back is claimed again first, as a first attempt with
     * a new token; the old one is fenced. */
    assert_int_equal(st_claim(s, "w2", 3, 3000, 60000, out), 1);
    assert_string_equal(out[0].id, a);
    assert_int_equal(out[0].attempt, 1);
    assert_true(out[0].lease_token > ta);
    st_clear_all(out, 1);
    assert_int_equal(st_complete(s, a, ta, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 3001),
                     TAAS_STORE_ESTALE);
}

static void finish_one(taas_store *s, int64_t finished, const char *key, char id[37])
{
    taas_task_rec out[1];
    assert_int_equal(st_insert(s, &(st_task){.priority = 100, .key = key, .name = "p"}, id), 0);
    assert_int_equal(st_claim(s, "w", 1, finished, 1000, out), 1);
    assert_string_equal(out[0].id, id);
    assert_int_equal(st_complete(s, id, out[0].lease_token, TAAS_TASK_SUCCEEDED, "{}", NULL, 0,
                                 finished),
                     0);
    st_clear_all(out, 1);
}

static void test_prune(void **state)
{
    taas_store *s = S(state);
    char id[37], pend[3][37], late[2][37], keyed[37];
    for (int i = 0; i < 24; i++)
        finish_one(s, 1000 + i, NULL, id);
    finish_one(s, 1100, "once", keyed);
    for (int i = 0; i < 2; i++)
        finish_one(s, 50000, NULL, late[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st_insert(s, &(st_task){.name = "p", .run_after_ms = 999999}, pend[i]), 0);
    assert_int_equal(count_tasks(s, "p"), 30);
    taas_store_op pr = {.kind = TAAS_OP_PRUNE};
    pr.u.prune.finished_before_ms = 10000;
    pr.u.prune.limit = 10;
    int want[] = {10, 10, 5, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(st_apply1(s, &pr), 0);
        assert_int_equal(pr.u.prune.deleted, want[i]);
    }
    assert_int_equal(count_tasks(s, "p"), 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(s, pend[i]), TAAS_TASK_PENDING);
    for (int i = 0; i < 2; i++)
        assert_int_equal(state_of(s, late[i]), TAAS_TASK_SUCCEEDED);
    taas_task_rec r;
    assert_int_equal(s->get(s, keyed, &r), TAAS_STORE_ENOTFOUND);
    /* A pruned task's idempotency key is free again. */
    taas_store_op op = {.kind = TAAS_OP_INSERT};
    taas_task_rec t = {.name = "p", .input = "{}", .idempotency_key = "once", .created_ms = 1};
    st_id(t.id);
    op.u.insert.task = &t;
    assert_int_equal(st_apply1(s, &op), 0);
    assert_false(op.u.insert.duplicate);
    pr.u.prune.limit = 0;
    assert_int_equal(st_apply1(s, &pr), TAAS_STORE_EINVAL);
}

/* Inserting with defaults, and reading ids that do not exist. */
static void test_defaults_and_unknown_ids(void **state)
{
    taas_store *s = S(state);
    char id[TAAS_ID_LEN + 1];
    taas_task_rec r;
    /* No key, max_attempts 0 -> 1. */
    st_task d = {.name = "plain", .created_ms = 5};
    assert_int_equal(st_insert(s, &d, id), TAAS_STORE_OK);
    st_get(s, id, &r);
    assert_int_equal(r.max_attempts, 1);
    assert_false(r.idempotent);
    assert_null(r.idempotency_key);
    assert_null(r.input_hash);
    taas_task_rec_clear(&r);

    assert_int_equal(s->get(s, "0190a000-0000-7000-8000-ffffffffffff", &r), TAAS_STORE_ENOTFOUND);
    assert_int_equal(s->get(s, "not an id", &r), TAAS_STORE_ENOTFOUND);
    assert_int_equal(s->get(s, NULL, &r), TAAS_STORE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_unknown_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fencing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_back_is_not_a_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
    };
    return cmocka_run_group_tests_name(SUITE_PREFIX "store_ops", tests, NULL, NULL);
}
