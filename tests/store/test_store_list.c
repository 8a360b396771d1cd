/*
 * tests/store/test_store_list.c - ListTasks: filters, newest-first order,
 * summaries, page tokens across pages while inserts go on, and refused
 * arguments. Written against store.h only and built twice: store_list runs
 * it on SQLite files, pg_list (ST_BACKEND_PG) on a PostgreSQL schema, so
 * both backends give the same answers.
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

static void free_list(taas_task_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        taas_task_rec_clear(&recs[i]);
    free(recs);
}

static size_t list_all(taas_store *s, taas_task_state st, const char *name, char ids[][37],
                       size_t cap)
{
    taas_list_query q = {.state = st, .name = name, .limit = 1000};
    taas_task_rec *recs;
    size_t n;
    char next[64];
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_string_equal(next, "");
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        if (st) /* a claimed task whose body has not started reads PENDING */
            assert_int_equal(recs[i].state == TAAS_TASK_RUNNING && recs[i].started_ms == 0
                                 ? TAAS_TASK_PENDING : recs[i].state,
                             st);
        if (name)
            assert_string_equal(recs[i].name, name);
        assert_null(recs[i].input); /* summaries */
        assert_null(recs[i].output);
        assert_non_null(recs[i].attempts_json);
        if (i > 0)
            assert_true(strcmp(recs[i - 1].id, recs[i].id) > 0); /* newest first */
        memcpy(ids[i], recs[i].id, 37);
    }
    st_clear_all(recs, (int)n);
    free(recs);
    return n;
}

/* The start mark: a PROGRESS op carrying when the body started. A claimed
 * task is PENDING to readers (and to list filters) until it has one. */
static void mark_started(taas_store *s, const taas_task_rec *t, int64_t when)
{
    taas_store_op op = {.kind = TAAS_OP_PROGRESS};
    op.u.progress.id = t->id;
    op.u.progress.lease_token = t->lease_token;
    op.u.progress.now_ms = when;
    op.u.progress.started_ms = when;
    assert_int_equal(st_apply1(s, &op), 0);
}

/* The state readers see: claimed but not started is PENDING. */
static taas_task_state seen_state(const taas_task_rec *t)
{
    return t->state == TAAS_TASK_RUNNING && t->started_ms == 0 ? TAAS_TASK_PENDING : t->state;
}

static void test_filters(void **state)
{
    taas_store *s = S(state);
    char a[6][37], b[4][37], got[32][37];
    for (int i = 0; i < 6; i++)
        assert_int_equal(st_insert(s, &(st_task){.name = "alpha", .priority = 6 - i}, a[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(st_insert(s, &(st_task){.name = "beta"}, b[i]), 0);
    taas_task_rec out[3];
    assert_int_equal(st_claim(s, "w", 3, 10, 1000, out), 3); /* a[0..2] */
    assert_int_equal(st_complete(s, out[0].id, out[0].lease_token, TAAS_TASK_SUCCEEDED,
                                 "{\"big\":\"output\"}", NULL, 0, 20),
                     0);
    /* a[1] and a[2] are claimed; until their bodies start they are PENDING
     * to every filter. */
    assert_int_equal(list_all(s, TAAS_TASK_RUNNING, NULL, got, 32), 0);
    assert_int_equal(list_all(s, TAAS_TASK_PENDING, "alpha", got, 32), 5);
    mark_started(s, &out[1], 21);
    mark_started(s, &out[2], 21);
    st_clear_all(out, 3);

    assert_int_equal(list_all(s, TAAS_TASK_UNSPECIFIED, NULL, got, 32), 10);
    assert_string_equal(got[0], b[3]);
    assert_string_equal(got[9], a[0]);
    assert_int_equal(list_all(s, TAAS_TASK_UNSPECIFIED, "alpha", got, 32), 6);
    assert_string_equal(got[0], a[5]);
    assert_int_equal(list_all(s, TAAS_TASK_UNSPECIFIED, "beta", got, 32), 4);
    assert_int_equal(list_all(s, TAAS_TASK_RUNNING, NULL, got, 32), 2);
    assert_string_equal(got[0], a[2]);
    assert_string_equal(got[1], a[1]);
    assert_int_equal(list_all(s, TAAS_TASK_SUCCEEDED, NULL, got, 32), 1);
    assert_string_equal(got[0], a[0]);
    assert_int_equal(list_all(s, TAAS_TASK_PENDING, "alpha", got, 32), 3);
    assert_int_equal(list_all(s, TAAS_TASK_PENDING, "beta", got, 32), 4);
    assert_int_equal(list_all(s, TAAS_TASK_RUNNING, "beta", got, 32), 0);
    assert_int_equal(list_all(s, TAAS_TASK_UNSPECIFIED, "gamma", got, 32), 0);
}

static void test_pages_with_inserts(void **state)
{
    taas_store *s = S(state);
    enum { N = 250, PAGE = 7 };
    static char ids[N][37];
    for (int i = 0; i < N; i++)
        assert_int_equal(st_insert(s, &(st_task){.name = i % 2 ? "odd" : "even"}, ids[i]), 0);
    char token[64] = "";
    size_t seen = 0, pages = 0;
    char extra[37];
    for (;;) {
        taas_list_query q = {.limit = PAGE, .page_token = token};
        taas_task_rec *recs;
        size_t n;
        char next[64];
        assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
        pages++;
        for (size_t i = 0; i < n; i++) {
            /* Exactly the pre-existing tasks, newest first, no gap, no repeat. */
            assert_true(seen < N);
            assert_string_equal(recs[i].id, ids[N - 1 - seen]);
            seen++;
        }
        st_clear_all(recs, (int)n);
        free(recs);
        /* Newer tasks arrive between pages; they sort before the cursor. */
        assert_int_equal(st_insert(s, &(st_task){.name = "late"}, extra), 0);
        if (!next[0])
            break;
        assert_true(strlen(next) < 64);
        snprintf(token, sizeof(token), "%s", next);
    }
    assert_int_equal(seen, N);
    assert_int_equal(pages, (N + PAGE - 1) / PAGE);

    /* Filtered pagination, with a page size that divides the count exactly. */
    token[0] = '\0';
    seen = 0;
    for (;;) {
        taas_list_query q = {.limit = 25, .name = "odd", .page_token = token};
        taas_task_rec *recs;
        size_t n;
        char next[64];
        assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(recs[i].name, "odd");
            seen++;
        }
        st_clear_all(recs, (int)n);
        free(recs);
        if (!next[0])
            break;
        snprintf(token, sizeof(token), "%s", next);
    }
    assert_int_equal(seen, N / 2);
}

/*
 * Every combination of principal, state and name filters (each picks its own
 * statement and index walk) returns exactly the tasks of the unfiltered list
 * that match, newest first, and the same again when paged two at a time.
 */
static void test_filter_combinations(void **state)
{
    taas_store *s = S(state);
    enum { N = 24 };
    static const char *const principals[] = {"a", "b", ""};
    for (int i = 0; i < N; i++) {
        st_task t = {.name = i % 2 ? "odd" : "even", .principal = principals[i % 3],
                     .created_ms = 1 + i};
        assert_int_equal(st_insert(s, &t, NULL), 0);
    }
    taas_task_rec out[10];
    assert_int_equal(st_claim(s, "w", 10, 1000, 100000, out), 10);
    for (int i = 0; i < 5; i++)
        assert_int_equal(st_complete(s, out[i].id, out[i].lease_token, TAAS_TASK_SUCCEEDED,
                                     "{}", NULL, 0, 1001),
                         0);
    for (int i = 5; i < 8; i++) /* three started, two held */
        mark_started(s, &out[i], 1002);
    st_clear_all(out, 10);

    taas_list_query q = {.limit = 1000};
    taas_task_rec *every;
    size_t n_every;
    char next[64];
    assert_int_equal(s->list(s, &q, &every, &n_every, next), 0);
    assert_int_equal(n_every, N);

    const char *const pf[] = {NULL, "a", "b", ""};
    const char *const nf[] = {NULL, "odd", "even"};
    const taas_task_state sf[] = {TAAS_TASK_UNSPECIFIED, TAAS_TASK_PENDING, TAAS_TASK_RUNNING,
                                  TAAS_TASK_SUCCEEDED};
    int nonempty = 0;
    for (size_t ip = 0; ip < 4; ip++)
        for (size_t in = 0; in < 3; in++)
            for (size_t is = 0; is < 4; is++) {
                const char *want[N];
                size_t n_want = 0;
                for (size_t i = 0; i < n_every; i++)
                    if ((!pf[ip] ||
                         strcmp(every[i].principal ? every[i].principal : "", pf[ip]) == 0) &&
                        (!nf[in] || strcmp(every[i].name, nf[in]) == 0) &&
                        (!sf[is] || seen_state(&every[i]) == sf[is]))
                        want[n_want++] = every[i].id;
                nonempty += n_want > 0;
                char token[64] = "";
                size_t got = 0;
                for (int page = 0; page < N; page++) {
                    q = (taas_list_query){.principal = pf[ip], .name = nf[in], .state = sf[is],
                                          .limit = 2, .page_token = token};
                    taas_task_rec *recs;
                    size_t n;
                    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
                    for (size_t i = 0; i < n; i++) {
                        assert_true(got < n_want);
                        assert_string_equal(recs[i].id, want[got]);
                        got++;
                    }
                    st_clear_all(recs, (int)n);
                    free(recs);
                    if (!next[0])
                        break;
                    snprintf(token, sizeof(token), "%s", next);
                }
                assert_int_equal(got, n_want);
            }
    assert_true(nonempty > 30);
    st_clear_all(every, (int)n_every);
    free(every);
}

static void test_bad_queries(void **state)
{
    taas_store *s = S(state);
    char id[37];
    for (int i = 0; i < 3; i++)
        assert_int_equal(st_insert(s, &(st_task){0}, id), 0);
    taas_task_rec *recs = (taas_task_rec *)1;
    size_t n = 99;
    char next[64];
    taas_list_query q = {.limit = 1};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    char good[64];
    snprintf(good, sizeof(good), "%s", next);
    st_clear_all(recs, 1);
    free(recs);

    const char *bad[] = {"garbage", "0190a5b3-0000-7000-8000-000000000001", "AAAA", good + 1,
                         "MDE5MGE1YjMtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAx!", /* bad char */
                         "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"}; /* not an id */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        q.page_token = bad[i];
        recs = (taas_task_rec *)1;
        n = 99;
        assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
        assert_null(recs);
        assert_int_equal(n, 0);
        assert_non_null(strstr(s->last_error(s), "page token"));
    }
    q.page_token = good;
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    st_clear_all(recs, 1);
    free(recs);
    q.page_token = NULL;
    q.limit = 0;
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    q.limit = 1001;
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    q.limit = 1000;
    q.state = (taas_task_state)9;
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
}

/* Exactly full pages, then one short page; no token after the last. */
static void test_pages_exact(void **state)
{
    taas_store *s = S(state);
    enum { N = 25 };
    char ids[N][TAAS_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        st_task t = {.name = i % 2 ? "odd" : "even", .input = "{\"big\":true}", .created_ms = i};
        assert_int_equal(st_insert(s, &t, ids[i]), TAAS_STORE_OK);
    }
    taas_list_query q = {.limit = 10};
    char tok[64] = "";
    int seen = 0, pages = 0;
    do {
        taas_task_rec *recs;
        size_t n;
        q.page_token = tok;
        char next[64];
        assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
        pages++;
        for (size_t i = 0; i < n; i++) {
            /* newest first */
            assert_string_equal(recs[i].id, ids[N - 1 - seen]);
            assert_null(recs[i].input);
            assert_null(recs[i].output);
            assert_non_null(recs[i].name);
            assert_string_equal(recs[i].attempts_json, "[]");
            assert_int_equal(recs[i].state, TAAS_TASK_PENDING);
            seen++;
        }
        assert_int_equal(n, pages < 3 ? 10 : 5);
        free_list(recs, n);
        snprintf(tok, sizeof(tok), "%s", next);
    } while (tok[0]);
    assert_int_equal(seen, N);
    assert_int_equal(pages, 3);

    /* Exactly one page: no token. */
    q.limit = N;
    q.page_token = NULL;
    taas_task_rec *recs;
    size_t n;
    char next[64];
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, N);
    assert_string_equal(next, "");
    free_list(recs, n);
}

static void test_filters_with_claim_and_token(void **state)
{
    taas_store *s = S(state);
    char a[TAAS_ID_LEN + 1], b[TAAS_ID_LEN + 1], c[TAAS_ID_LEN + 1];
    st_task ta = {.name = "alpha", .created_ms = 1, .priority = 2};
    st_task tb = {.name = "beta", .created_ms = 2, .priority = 1};
    st_task tc = {.name = "alpha", .created_ms = 3};
    assert_int_equal(st_insert(s, &ta, a), 0);
    assert_int_equal(st_insert(s, &tb, b), 0);
    assert_int_equal(st_insert(s, &tc, c), 0);
    taas_task_rec out[1];
    assert_int_equal(st_claim(s, "w", 1, 10, 100, out), 1); /* a: highest priority */
    assert_string_equal(out[0].id, a);

    taas_task_rec *recs;
    size_t n;
    char next[64];
    /* Claimed, not started: PENDING to the filters until its start mark. */
    taas_list_query q = {.limit = 10, .state = TAAS_TASK_RUNNING};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 0);
    free_list(recs, n);
    q = (taas_list_query){.limit = 10, .state = TAAS_TASK_PENDING, .name = "alpha"};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 2);
    free_list(recs, n);
    mark_started(s, &out[0], 11);
    st_clear_all(out, 1);

    q = (taas_list_query){.limit = 10, .name = "alpha"};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 2);
    assert_string_equal(recs[0].id, c);
    assert_string_equal(recs[1].id, a);
    free_list(recs, n);

    q = (taas_list_query){.limit = 10, .state = TAAS_TASK_RUNNING};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].id, a);
    assert_string_equal(recs[0].lease_owner, "w");
    free_list(recs, n);

    q = (taas_list_query){.limit = 10, .state = TAAS_TASK_PENDING, .name = "alpha"};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].id, c);
    free_list(recs, n);

    q = (taas_list_query){.limit = 10, .state = TAAS_TASK_SUCCEEDED};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 0);
    assert_null(recs);
    assert_string_equal(next, "");

    /* Filters and a token together. */
    q = (taas_list_query){.limit = 1, .name = "alpha"};
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    free_list(recs, n);
    assert_string_not_equal(next, "");
    char tok[64];
    snprintf(tok, sizeof(tok), "%s", next);
    q.page_token = tok;
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].id, a);
    assert_string_equal(next, "");
    free_list(recs, n);
    (void)b;
}

static void test_bad_queries_tokens(void **state)
{
    taas_store *s = S(state);
    taas_task_rec *recs;
    size_t n;
    char next[64];
    taas_list_query q = {.limit = 0};
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    q.limit = 1001;
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    q.limit = 10;
    q.state = (taas_task_state)9;
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    q.state = TAAS_TASK_UNSPECIFIED;
    q.page_token = "not-a-token";
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    assert_non_null(strstr(s->last_error(s), "page token"));
    q.page_token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* decodes to NULs */
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EINVAL);
    assert_int_equal(s->list(s, NULL, &recs, &n, next), TAAS_STORE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_with_inserts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_combinations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_with_claim_and_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_queries_tokens, setup, teardown),
    };
    return cmocka_run_group_tests_name(SUITE_PREFIX "store_list", tests, NULL, NULL);
}
