/*
 * tests/postgres/test_pg_list.c - list(): newest first, pagination with
 * opaque tokens, filters by state and name, summaries without input/output,
 * and refused arguments; the same answers as the SQLite backend.
 */
#include "pg_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(state) (((pt_fix *)*(state))->s)

static void free_list(taas_task_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        taas_task_rec_clear(&recs[i]);
    free(recs);
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
    assert_int_equal(pt_apply1(s, &op), 0);
}

/* The state readers see: claimed but not started is PENDING. */
static taas_task_state seen_state(const taas_task_rec *t)
{
    return t->state == TAAS_TASK_RUNNING && t->started_ms == 0 ? TAAS_TASK_PENDING : t->state;
}

static void test_pages(void **state)
{
    taas_store *s = S(state);
    enum { N = 25 };
    char ids[N][TAAS_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        pt_task t = {.name = i % 2 ? "odd" : "even", .input = "{\"big\":true}", .created_ms = i};
        assert_int_equal(pt_insert(s, &t, ids[i]), TAAS_STORE_OK);
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

static void test_filters(void **state)
{
    taas_store *s = S(state);
    char a[TAAS_ID_LEN + 1], b[TAAS_ID_LEN + 1], c[TAAS_ID_LEN + 1];
    pt_task ta = {.name = "alpha", .created_ms = 1, .priority = 2};
    pt_task tb = {.name = "beta", .created_ms = 2, .priority = 1};
    pt_task tc = {.name = "alpha", .created_ms = 3};
    assert_int_equal(pt_insert(s, &ta, a), 0);
    assert_int_equal(pt_insert(s, &tb, b), 0);
    assert_int_equal(pt_insert(s, &tc, c), 0);
    taas_task_rec out[1];
    assert_int_equal(pt_claim(s, "w", 1, 10, 100, out), 1); /* a: highest priority */
    assert_string_equal(out[0].id, a);
    {   /* claimed, not started: PENDING to the filters until its start mark */
        taas_task_rec *r0;
        size_t n0;
        char nx[64];
        taas_list_query q0 = {.limit = 10, .state = TAAS_TASK_RUNNING};
        assert_int_equal(s->list(s, &q0, &r0, &n0, nx), 0);
        assert_int_equal(n0, 0);
        free_list(r0, n0);
    }
    mark_started(s, &out[0], 11);
    pt_clear_all(out, 1);

    taas_task_rec *recs;
    size_t n;
    char next[64];
    taas_list_query q = {.limit = 10, .name = "alpha"};
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
        pt_task t = {.name = i % 2 ? "odd" : "even", .principal = principals[i % 3],
                     .created_ms = 1 + i};
        assert_int_equal(pt_insert(s, &t, NULL), 0);
    }
    taas_task_rec out[10];
    assert_int_equal(pt_claim(s, "w", 10, 1000, 100000, out), 10);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pt_complete(s, out[i].id, out[i].lease_token, TAAS_TASK_SUCCEEDED,
                                     "{}", NULL, 0, 1001),
                         0);
    for (int i = 5; i < 8; i++) /* three started, two held */
        mark_started(s, &out[i], 1002);
    pt_clear_all(out, 10);

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
                    pt_clear_all(recs, (int)n);
                    free(recs);
                    if (!next[0])
                        break;
                    snprintf(token, sizeof(token), "%s", next);
                }
                assert_int_equal(got, n_want);
            }
    assert_true(nonempty > 30);
    pt_clear_all(every, (int)n_every);
    free(every);
}

static void test_bad_queries(void **state)
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
        cmocka_unit_test_setup_teardown(test_pages, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_filters, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_queries, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_filter_combinations, pt_setup, pt_teardown),
    };
    return cmocka_run_group_tests_name("pg_list", tests, NULL, NULL);
}
