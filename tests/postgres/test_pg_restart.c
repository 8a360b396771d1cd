/*
 * tests/postgres/test_pg_restart.c - the database goes away and comes back
 * under an open store: while it is down every call fails fast with
 * TAAS_STORE_EBUSY and a message that says so, and once it is back the same
 * store works again, committed data intact, without being reopened.
 */
#include "pg_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_restart(void **state)
{
    pt_fix *f = *state;
    taas_store *s = f->s;
    char before[TAAS_ID_LEN + 1], after[TAAS_ID_LEN + 1];
    pt_insert_simple(s, 0, 0, before);
    taas_task_rec r;
    st_get(s, before, &r); /* a pooled reader exists now */
    taas_task_rec_clear(&r);
    assert_int_equal(taas_pg_wait_notify(s, 10), 1); /* the listener exists now */

    assert_int_equal(pt_cluster("down"), 0);

    /* Writes: the whole batch fails with EBUSY and a clear message. */
    taas_task_rec t;
    memset(&t, 0, sizeof(t));
    st_id(t.id);
    t.name = "t";
    t.input = "{}";
    taas_store_op op = {.kind = TAAS_OP_INSERT};
    op.u.insert.task = &t;
    taas_store_op *ops[1] = {&op};
    for (int i = 0; i < 2; i++) { /* the lost connection, then a failed reconnect */
        assert_int_equal(s->apply(s, ops, 1), TAAS_STORE_EBUSY);
        assert_int_equal(op.result, TAAS_STORE_EBUSY);
        const char *e = s->last_error(s);
        print_message("apply while down: %s\n", e);
        assert_true(strstr(e, "PostgreSQL") != NULL);
        assert_true(strstr(e, "lost") != NULL || strstr(e, "cannot connect") != NULL);
        assert_null(strstr(e, strchr(pt_base_url(), ':') + 3)); /* no user:password */
    }
    /* Reads too. */
    assert_int_equal(s->get(s, before, &r), TAAS_STORE_EBUSY);
    print_message("get while down: %s\n", s->last_error(s));
    taas_list_query q = {.limit = 10};
    taas_task_rec *recs;
    size_t n;
    char next[64];
    assert_int_equal(s->list(s, &q, &recs, &n, next), TAAS_STORE_EBUSY);
    assert_true(taas_pg_wait_notify(s, 100) < 0);

    assert_int_equal(pt_cluster("up"), 0);

    /* Same store, no reopen: everything works again. */
    assert_int_equal(s->apply(s, ops, 1), 0);
    assert_int_equal(op.result, TAAS_STORE_OK);
    st_get(s, t.id, &r);
    taas_task_rec_clear(&r);
    st_get(s, before, &r);
    assert_int_equal(r.state, TAAS_TASK_PENDING);
    taas_task_rec_clear(&r);
    assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        taas_task_rec_clear(&recs[i]);
    free(recs);
    assert_int_equal(taas_pg_wait_notify(s, 1000), 1); /* listening again */
    pt_insert_simple(s, 0, 0, after);
    taas_task_rec out[3];
    assert_int_equal(st_claim(s, "w", 3, 10, 100, out), 3);
    st_clear_all(out, 3);
    taas_pg_stats st;
    taas_pg_get_stats(s, &st);
    assert_true(st.reconnects >= 2);
}

/* A restart between batches, with no call while it was down: the first call
 * afterwards notices the closed connections and succeeds. */
static void test_restart_unnoticed(void **state)
{
    pt_fix *f = *state;
    taas_store *s = f->s;
    char a[TAAS_ID_LEN + 1], b[TAAS_ID_LEN + 1];
    pt_insert_simple(s, 0, 0, a);
    taas_task_rec r;
    st_get(s, a, &r);
    taas_task_rec_clear(&r);
    assert_int_equal(pt_cluster("down"), 0);
    assert_int_equal(pt_cluster("up"), 0);
    pt_insert_simple(s, 0, 0, b);
    st_get(s, a, &r);
    taas_task_rec_clear(&r);
    st_get(s, b, &r);
    taas_task_rec_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart, pt_setup, pt_teardown),
        cmocka_unit_test_setup_teardown(test_restart_unnoticed, pt_setup, pt_teardown),
    };
    return cmocka_run_group_tests_name("pg_restart", tests, NULL, NULL);
}
