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
    };
    return cmocka_run_group_tests_name("pg_list", tests, NULL, NULL);
}
