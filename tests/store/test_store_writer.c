/*
 * tests/store/test_store_writer.c - the group-commit writer over a real
 * file: durability across close and reopen, callback order, concurrent
 * readers while commits run, and failed transactions (a lock held by another
 * connection, a full database) that report on every op and leave the store
 * working.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Counts callbacks down to zero and remembers their order and results. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int next_seq;
    int bad_order;
    int errors;
} waiter;

typedef struct tracked {
    taas_store_op op;
    taas_task_rec rec;
    int seq;
    waiter *w;
} tracked;

static void waiter_init(waiter *w, int n)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->left = n;
}

static void waiter_wait(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->left > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_done(taas_store_op *op, void *arg)
{
    tracked *t = arg;
    if (&t->op != op) /* not an assert: this runs on the writer thread */
        abort();
    waiter *w = t->w;
    pthread_mutex_lock(&w->mu);
    if (t->seq != w->next_seq)
        w->bad_order++;
    w->next_seq++;
    if (op->result != 0)
        w->errors++;
    w->left--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void make_insert(tracked *t, const char *name, const char *input)
{
    memset(t, 0, sizeof(*t));
    st_id(t->rec.id);
    t->rec.name = (char *)name;
    t->rec.input = (char *)input;
    t->rec.created_ms = 1000;
    t->op.kind = TAAS_OP_INSERT;
    t->op.u.insert.task = &t->rec;
}

typedef struct producer {
    taas_writer *w;
    int n;
    tracked *items;
    int bad_order, errors;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    waiter wt;
    waiter_init(&wt, p->n);
    for (int i = 0; i < p->n; i++) {
        make_insert(&p->items[i], "durable", "{\"payload\":\"0123456789\"}");
        p->items[i].seq = i;
        p->items[i].w = &wt;
        if (taas_writer_enqueue(p->w, &p->items[i].op, on_done, &p->items[i]) != 0)
            abort();
    }
    waiter_wait(&wt);
    p->bad_order = wt.bad_order;
    p->errors = wt.errors;
    return NULL;
}

static void test_durable_through_writer(void **state)
{
    (void)state;
    enum { THREADS = 4, PER = 300 };
    char *dir = st_tmpdir();
    taas_store *s = st_open(dir, "w.db");
    taas_writer *w = taas_writer_start(s, &(taas_writer_opts){.max_batch = 64});
    assert_non_null(w);
    producer p[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (producer){.w = w, .n = PER, .items = calloc(PER, sizeof(tracked))};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].bad_order, 0); /* callbacks in queue order */
        assert_int_equal(p[i].errors, 0);
    }
    /* Claim and finish a third of them through the writer too. */
    enum { DONE = THREADS * PER / 3 };
    taas_task_rec *claimed = calloc(DONE, sizeof(*claimed));
    tracked claim = {.op.kind = TAAS_OP_CLAIM};
    claim.op.u.claim.owner = "w";
    claim.op.u.claim.max = DONE;
    claim.op.u.claim.now_ms = 2000;
    claim.op.u.claim.lease_ms = 60000;
    claim.op.u.claim.out = claimed;
    waiter wt;
    waiter_init(&wt, 1);
    claim.w = &wt;
    assert_int_equal(taas_writer_enqueue(w, &claim.op, on_done, &claim), 0);
    waiter_wait(&wt);
    assert_int_equal(claim.op.result, 0);
    assert_int_equal(claim.op.u.claim.n, DONE);
    tracked *fin = calloc(DONE, sizeof(*fin));
    waiter_init(&wt, DONE);
    for (int i = 0; i < DONE; i++) {
        fin[i].op.kind = TAAS_OP_COMPLETE;
        fin[i].op.u.complete.id = claimed[i].id;
        fin[i].op.u.complete.lease_token = claimed[i].lease_token;
        fin[i].op.u.complete.state = TAAS_TASK_SUCCEEDED;
        fin[i].op.u.complete.output = "{\"ok\":1}";
        fin[i].op.u.complete.now_ms = 3000;
        fin[i].seq = i;
        fin[i].w = &wt;
        assert_int_equal(taas_writer_enqueue(w, &fin[i].op, on_done, &fin[i]), 0);
    }
    waiter_wait(&wt);
    assert_int_equal(wt.errors, 0);

    taas_writer_stats stats;
    taas_writer_get_stats(w, &stats);
    assert_int_equal(stats.ops, THREADS * PER + 1 + DONE);
    assert_int_equal(stats.failed, 0);
    assert_true(stats.batches < stats.ops); /* commits were shared */
    assert_true(stats.max_batch_seen > 1);
    assert_true(stats.max_batch_seen <= 64);
    taas_writer_stop(w);
    s->close(s);

    /* Everything acknowledged is there after reopening. */
    s = st_open(dir, "w.db");
    for (int i = 0; i < THREADS; i++) {
        for (int k = 0; k < PER; k++) {
            taas_task_rec r;
            st_get(s, p[i].items[k].rec.id, &r);
            assert_string_equal(r.name, "durable");
            taas_task_rec_clear(&r);
        }
        free(p[i].items);
    }
    for (int i = 0; i < DONE; i++) {
        taas_task_rec r;
        st_get(s, claimed[i].id, &r);
        assert_int_equal(r.state, TAAS_TASK_SUCCEEDED);
        assert_string_equal(r.output, "{\"ok\":1}");
        taas_task_rec_clear(&r);
    }
    st_clear_all(claimed, DONE);
    free(claimed);
    free(fin);
    s->close(s);
    st_rmdir(dir);
}

static void test_stop_drains(void **state)
{
    (void)state;
    enum { N = 500 };
    char *dir = st_tmpdir();
    taas_store *s = st_open(dir, "w.db");
    taas_writer *w = taas_writer_start(s, NULL);
    tracked *t = calloc(N, sizeof(*t));
    waiter wt;
    waiter_init(&wt, N);
    for (int i = 0; i < N; i++) {
        make_insert(&t[i], "drain", "{}");
        t[i].seq = i;
        t[i].w = &wt;
        assert_int_equal(taas_writer_enqueue(w, &t[i].op, on_done, &t[i]), 0);
    }
    taas_writer_stop(w); /* returns only after every queued op was applied */
    assert_int_equal(wt.left, 0);
    assert_int_equal(wt.errors, 0);
    assert_int_equal(wt.bad_order, 0);
    waiter_wait(&wt);
    taas_task_rec r;
    st_get(s, t[N - 1].rec.id, &r);
    taas_task_rec_clear(&r);
    free(t);
    s->close(s);
    st_rmdir(dir);
}

/* ------------------------------------------------------------------------ */

typedef struct rd_ctx {
    taas_store *s;
    atomic_int *stop;
    const char *known_id;
    long gets, lists, failures;
    char first_error[256];
} rd_ctx;

static void *reader_main(void *arg)
{
    rd_ctx *c = arg;
    while (!atomic_load(c->stop)) {
        taas_task_rec r;
        int rc = c->s->get(c->s, c->known_id, &r);
        if (rc != 0 || strcmp(r.name, "known") != 0) {
            if (!c->failures++)
                snprintf(c->first_error, sizeof(c->first_error), "get: %s %s",
                         taas_store_strerror(rc), c->s->last_error(c->s));
        }
        taas_task_rec_clear(&r);
        c->gets++;
        taas_list_query q = {.limit = 50, .state = (c->gets % 3) ? TAAS_TASK_UNSPECIFIED
                                                                : TAAS_TASK_SUCCEEDED};
        taas_task_rec *recs;
        size_t n;
        char next[64];
        rc = c->s->list(c->s, &q, &recs, &n, next);
        if (rc != 0) {
            if (!c->failures++)
                snprintf(c->first_error, sizeof(c->first_error), "list: %s %s",
                         taas_store_strerror(rc), c->s->last_error(c->s));
        } else {
            st_clear_all(recs, (int)n);
            free(recs);
        }
        c->lists++;
    }
    return NULL;
}

static void concurrent_readers(const char *url_file, bool memory)
{
    enum { READERS = 4, ROUNDS = 40, PER_ROUND = 50 };
    char *dir = st_tmpdir();
    char err[256];
    taas_store *s = memory ? taas_store_open("sqlite://", &(taas_store_opts){.max_readers = 2},
                                             err, sizeof(err))
                           : st_open_opts(dir, url_file, &(taas_store_opts){.max_readers = 2});
    assert_non_null(s);
    char known[37];
    assert_int_equal(st_insert(s, &(st_task){.name = "known"}, known), 0);
    taas_writer *w = taas_writer_start(s, NULL);
    atomic_int stop = 0;
    rd_ctx ctx[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        ctx[i] = (rd_ctx){.s = s, .stop = &stop, .known_id = known};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &ctx[i]), 0);
    }
    /* Rounds of insert -> claim -> complete, each a stream of commits. */
    tracked *t = calloc(PER_ROUND, sizeof(*t));
    taas_task_rec *claimed = calloc(PER_ROUND, sizeof(*claimed));
    for (int round = 0; round < ROUNDS; round++) {
        waiter wt;
        waiter_init(&wt, PER_ROUND);
        for (int i = 0; i < PER_ROUND; i++) {
            make_insert(&t[i], "busy", "{\"n\":1}");
            t[i].seq = i;
            t[i].w = &wt;
            assert_int_equal(taas_writer_enqueue(w, &t[i].op, on_done, &t[i]), 0);
        }
        waiter_wait(&wt);
        assert_int_equal(wt.errors, 0);
        tracked c = {.op.kind = TAAS_OP_CLAIM};
        c.op.u.claim.owner = "w";
        c.op.u.claim.max = PER_ROUND;
        c.op.u.claim.now_ms = 5000;
        c.op.u.claim.lease_ms = 1000;
        c.op.u.claim.out = claimed;
        waiter_init(&wt, 1);
        c.w = &wt;
        assert_int_equal(taas_writer_enqueue(w, &c.op, on_done, &c), 0);
        waiter_wait(&wt);
        int n = c.op.u.claim.n;
        /* FIFO: the "known" task, older, is claimed in the first round. */
        assert_int_equal(n, PER_ROUND);
        if (round == 0)
            assert_string_equal(claimed[0].id, known);
        waiter_init(&wt, n);
        for (int i = 0; i < n; i++) {
            memset(&t[i], 0, sizeof(t[i]));
            t[i].op.kind = TAAS_OP_COMPLETE;
            t[i].op.u.complete.id = claimed[i].id;
            t[i].op.u.complete.lease_token = claimed[i].lease_token;
            t[i].op.u.complete.state = TAAS_TASK_SUCCEEDED;
            t[i].op.u.complete.output = "{}";
            t[i].op.u.complete.now_ms = 6000;
            t[i].seq = i;
            t[i].w = &wt;
            assert_int_equal(taas_writer_enqueue(w, &t[i].op, on_done, &t[i]), 0);
        }
        waiter_wait(&wt);
        assert_int_equal(wt.errors, 0);
        st_clear_all(claimed, n);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        if (ctx[i].failures)
            fail_msg("reader %d: %ld failures, first: %s", i, ctx[i].failures, ctx[i].first_error);
        assert_true(ctx[i].gets > 0);
        assert_true(ctx[i].lists > 0);
    }
    taas_writer_stop(w);
    free(t);
    free(claimed);
    s->close(s);
    st_rmdir(dir);
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    concurrent_readers("r.db", false);
}

static void test_concurrent_readers_memory(void **state)
{
    (void)state;
    concurrent_readers(NULL, true);
}

/* ------------------------------------------------------------------------ */

static void test_locked_by_another_connection(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], before[37];
    st_path(path, sizeof(path), dir, "lock.db");
    taas_store *s = st_open_opts(dir, "lock.db", &(taas_store_opts){.busy_timeout_ms = 50});
    assert_int_equal(st_insert(s, &(st_task){.name = "before"}, before), 0);

    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    tracked a, b;
    make_insert(&a, "locked", "{}");
    make_insert(&b, "locked", "{}");
    taas_task_rec out[2];
    taas_store_op c = {.kind = TAAS_OP_CLAIM};
    c.u.claim.owner = "w";
    c.u.claim.max = 2;
    c.u.claim.now_ms = 5000;
    c.u.claim.lease_ms = 10;
    c.u.claim.out = out;
    taas_store_op *ops[3] = {&a.op, &c, &b.op};
    assert_int_equal(s->apply(s, ops, 3), TAAS_STORE_EBUSY);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ops[i]->result, TAAS_STORE_EBUSY);
    assert_int_equal(c.u.claim.n, 0);
    assert_non_null(strstr(s->last_error(s), "lock"));
    /* Readers are not blocked by the other connection's write lock. */
    taas_task_rec r;
    st_get(s, before, &r);
    taas_task_rec_clear(&r);

    /* Through the writer: every callback sees the failure. */
    taas_writer *w = taas_writer_start(s, NULL);
    waiter wt;
    waiter_init(&wt, 2);
    tracked d, e;
    make_insert(&d, "locked", "{}");
    make_insert(&e, "locked", "{}");
    d.w = e.w = &wt;
    e.seq = 1;
    assert_int_equal(taas_writer_enqueue(w, &d.op, on_done, &d), 0);
    assert_int_equal(taas_writer_enqueue(w, &e.op, on_done, &e), 0);
    waiter_wait(&wt);
    assert_int_equal(d.op.result, TAAS_STORE_EBUSY);
    assert_int_equal(e.op.result, TAAS_STORE_EBUSY);
    taas_writer_stats stats;
    taas_writer_get_stats(w, &stats);
    assert_true(stats.failed >= 1);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    /* The store works again, and the failed batches left nothing behind. */
    waiter_init(&wt, 1);
    tracked f;
    make_insert(&f, "after", "{}");
    f.w = &wt;
    assert_int_equal(taas_writer_enqueue(w, &f.op, on_done, &f), 0);
    waiter_wait(&wt);
    assert_int_equal(f.op.result, 0);
    taas_writer_stop(w);
    const char *gone[] = {a.rec.id, b.rec.id, d.rec.id, e.rec.id};
    for (int i = 0; i < 4; i++)
        assert_int_equal(s->get(s, gone[i], &r), TAAS_STORE_ENOTFOUND);
    assert_int_equal(st_claim(s, "w", 5, 5000, 10, out), 2); /* before, after */
    st_clear_all(out, 2);
    s->close(s);
    st_rmdir(dir);
}

static void test_full(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    taas_store *s = st_open_opts(dir, "full.db", &(taas_store_opts){.max_bytes = 256 * 1024});
    char kept[37];
    assert_int_equal(st_insert(s, &(st_task){.name = "kept"}, kept), 0);
    enum { N = 12 };
    size_t big_len = 40 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, 'x', big_len);
    big[0] = '"';
    big[big_len - 1] = '"';
    big[big_len] = '\0';
    tracked t[N];
    taas_store_op *ops[N];
    for (int i = 0; i < N; i++) {
        make_insert(&t[i], "huge", big);
        ops[i] = &t[i].op;
    }
    assert_int_equal(s->apply(s, ops, N), TAAS_STORE_EFULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(ops[i]->result, TAAS_STORE_EFULL);
    taas_task_rec r;
    for (int i = 0; i < N; i++)
        assert_int_equal(s->get(s, t[i].rec.id, &r), TAAS_STORE_ENOTFOUND);
    /* Smaller work still fits: the failed batch was rolled back whole. */
    char small[37];
    assert_int_equal(st_insert(s, &(st_task){.name = "small"}, small), 0);
    for (int i = 0; i < 2; i++) {
        make_insert(&t[i], "huge", big);
        ops[i] = &t[i].op;
    }
    assert_int_equal(s->apply(s, ops, 2), 0);
    st_get(s, kept, &r);
    taas_task_rec_clear(&r);
    st_get(s, t[1].rec.id, &r);
    assert_int_equal(r.input_len, big_len);
    taas_task_rec_clear(&r);
    free(big);
    s->close(s);
    st_rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Once stop has begun, enqueue refuses (and never calls back), while every
 * op accepted before is still applied. The first op's callback keeps
 * enqueuing until it is refused; another thread calls stop meanwhile. */

enum { REFUSE_POOL = 2000 };

typedef struct refuse_ctx {
    taas_writer *w;
    tracked first;
    tracked pool[REFUSE_POOL];
    int accepted;
    int refused_rc;
    atomic_int entered;
    atomic_int callbacks;
} refuse_ctx;

static void count_done(taas_store_op *op, void *arg)
{
    (void)op;
    refuse_ctx *c = arg;
    atomic_fetch_add(&c->callbacks, 1);
}

static void first_done(taas_store_op *op, void *arg)
{
    (void)op;
    refuse_ctx *c = arg;
    atomic_store(&c->entered, 1);
    c->refused_rc = 0;
    while (c->accepted < REFUSE_POOL) {
        tracked *t = &c->pool[c->accepted];
        make_insert(t, "late", "{}");
        int rc = taas_writer_enqueue(c->w, &t->op, count_done, c);
        if (rc != 0) {
            c->refused_rc = rc;
            break;
        }
        c->accepted++;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void *stopper(void *arg)
{
    refuse_ctx *c = arg;
    while (!atomic_load(&c->entered)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    taas_writer_stop(c->w);
    return NULL;
}

static void test_enqueue_after_stop(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    taas_store *s = st_open(dir, "stop.db");
    refuse_ctx *c = calloc(1, sizeof(*c));
    c->w = taas_writer_start(s, NULL);
    make_insert(&c->first, "first", "{}");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, c), 0);
    assert_int_equal(taas_writer_enqueue(c->w, &c->first.op, first_done, c), 0);
    pthread_join(th, NULL);
    assert_int_equal(c->refused_rc, TAAS_STORE_EINVAL);
    assert_true(c->accepted < REFUSE_POOL);
    assert_int_equal(atomic_load(&c->callbacks), c->accepted);
    taas_task_rec r;
    for (int i = 0; i < c->accepted; i++) {
        st_get(s, c->pool[i].rec.id, &r);
        taas_task_rec_clear(&r);
    }
    /* The refused op was never applied. */
    assert_int_equal(s->get(s, c->pool[c->accepted].rec.id, &r), TAAS_STORE_ENOTFOUND);
    free(c);
    s->close(s);
    st_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_through_writer),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_enqueue_after_stop),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_concurrent_readers_memory),
        cmocka_unit_test(test_locked_by_another_connection),
        cmocka_unit_test(test_full),
    };
    return cmocka_run_group_tests_name("store_writer", tests, NULL, NULL);
}
