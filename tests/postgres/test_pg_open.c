/*
 * tests/postgres/test_pg_open.c - opening the PostgreSQL store: the URL
 * forms libpq accepts, passwords kept out of every message, clear errors for
 * a wrong password, an unreachable server and a malformed URL, refusal of a
 * server with synchronous_commit = off unless allowed, versioned migrations
 * (several servers starting at once, a newer schema refused), and the
 * LISTEN/NOTIFY wake-up.
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

/* The password and port of the test cluster's URL. */
static void url_parts(char pw[128], char port[16])
{
    const char *u = pt_base_url(); /* postgresql://user:pw@127.0.0.1:port/taas_test */
    const char *c = strchr(u + strlen("postgresql://"), ':');
    const char *at = strchr(u, '@');
    assert_non_null(c);
    assert_non_null(at);
    snprintf(pw, 128, "%.*s", (int)(at - c - 1), c + 1);
    const char *p = strchr(at, ':');
    assert_non_null(p);
    snprintf(port, 16, "%.*s", (int)strcspn(p + 1, "/"), p + 1);
}

static void test_url_forms(void **state)
{
    (void)state;
    char schema[64], url[1024], pw[128], port[16], alt[1200];
    pt_schema(schema, url);
    url_parts(pw, port);
    taas_store *s = pt_open(url);
    assert_string_equal(s->backend, "postgresql");
    const char *d = s->describe(s);
    assert_non_null(strstr(d, "postgresql://"));
    assert_non_null(strstr(d, "synchronous_commit=on"));
    assert_null(strstr(d, pw));
    s->close(s);

    /* Through the store's front door, when the backend is built into it. */
    char derr[512];
    taas_store *fd = taas_store_open(url, NULL, derr, sizeof(derr));
    if (fd) {
        assert_string_equal(fd->backend, "postgresql");
        fd->close(fd);
    } else {
        assert_non_null(strstr(derr, "not built into this server"));
        assert_null(strstr(derr, pw));
    }

    /* postgres:// is the same. */
    snprintf(alt, sizeof(alt), "postgres://%s", url + strlen("postgresql://"));
    s = pt_open(alt);
    s->close(s);

    /* libpq keyword form. */
    snprintf(alt, sizeof(alt),
             "host=127.0.0.1 port=%s dbname=taas_test user=postgres password='%s' "
             "options='-csearch_path=%s'",
             port, pw, schema);
    char err[512];
    s = taas_pg_open(alt, NULL, err, sizeof(err));
    if (!s && strstr(err, "role \"postgres\" does not exist"))
        skip(); /* a cluster initialized by a non-root user names its superuser after it */
    assert_non_null(s);
    assert_null(strstr(s->describe(s), pw));
    s->close(s);
    pt_drop_schema(schema);
}

static void test_errors_hide_password(void **state)
{
    (void)state;
    char pw[128], port[16], url[512], err[512];
    url_parts(pw, port);
    /* Wrong password. */
    snprintf(url, sizeof(url), "postgresql://postgres:wrong-%s@127.0.0.1:%s/taas_test", pw, port);
    assert_null(taas_pg_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot connect"));
    assert_non_null(strstr(err, "password authentication failed"));
    assert_null(strstr(err, pw));
    assert_non_null(strstr(err, "***"));
    /* Nothing listens there. */
    snprintf(url, sizeof(url), "postgresql://postgres:%s@127.0.0.1:1/taas_test", pw);
    assert_null(taas_pg_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot connect"));
    assert_null(strstr(err, pw));
    /* Keyword form. */
    snprintf(url, sizeof(url), "host=127.0.0.1 port=1 dbname=x password=%s connect_timeout=2", pw);
    assert_null(taas_pg_open(url, NULL, err, sizeof(err)));
    assert_null(strstr(err, pw));
    /* Malformed. */
    snprintf(url, sizeof(url), "postgresql://postgres:%s@127.0.0.1:%s/taas_test?nonsense=1", pw,
             port);
    assert_null(taas_pg_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid PostgreSQL URL"));
    assert_null(strstr(err, pw));
    assert_null(taas_pg_open("", NULL, err, sizeof(err)));
}

static void test_async_commit_refused(void **state)
{
    (void)state;
    char schema[64], url[1024], off[1200], err[1024];
    pt_schema(schema, url);
    /* The session default comes from the server's settings; options= stands
     * in for a postgresql.conf with synchronous_commit = off. */
    snprintf(off, sizeof(off), "%s%%20-csynchronous_commit%%3Doff", url);
    assert_null(taas_pg_open(off, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "synchronous_commit = off"));
    assert_non_null(strstr(err, "allow_async_commit"));
    taas_pg_opts po = {.allow_async_commit = true};
    taas_store *s = taas_pg_open_ex(off, NULL, &po, err, sizeof(err));
    assert_non_null(s);
    assert_non_null(strstr(s->describe(s), "synchronous_commit=off"));
    s->close(s);
    /* "local" and "remote_write" still wait for the local flush: accepted. */
    snprintf(off, sizeof(off), "%s%%20-csynchronous_commit%%3Dlocal", url);
    s = taas_pg_open(off, NULL, err, sizeof(err));
    assert_non_null(s);
    s->close(s);
    pt_drop_schema(schema);
}

struct opener {
    const char *url;
    taas_store *s;
    char err[512];
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    o->s = taas_pg_open(o->url, NULL, o->err, sizeof(o->err));
    return NULL;
}

static void test_concurrent_migrations(void **state)
{
    (void)state;
    enum { N = 6 };
    char schema[64], url[1024];
    pt_schema(schema, url);
    pthread_t th[N];
    struct opener o[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.url = url};
        assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        if (!o[i].s)
            fail_msg("open %d: %s", i, o[i].err);
        o[i].s->close(o[i].s);
    }
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.schema_migrations", schema);
    assert_int_equal(pt_sql_int(sql), 6); /* every migration once */
    pt_drop_schema(schema);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    char schema[64], url[1024], sql[256], err[512];
    pt_schema(schema, url);
    taas_store *s = pt_open(url);
    s->close(s);
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.schema_migrations VALUES (99, 'from the future', 0)", schema);
    pt_sql(sql);
    assert_null(taas_pg_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(err, "newer"));
    pt_drop_schema(schema);
}

static void test_notify(void **state)
{
    (void)state;
    char schema[64], url[1024];
    pt_schema(schema, url);
    taas_store *a = pt_open(url), *b = pt_open(url);
    /* First call: just started listening, so look for work. */
    assert_int_equal(taas_pg_wait_notify(a, 1000), 1);
    assert_int_equal(taas_pg_wait_notify(a, 50), 0);
    /* Another server's submit wakes us. */
    char id[TAAS_ID_LEN + 1];
    pt_insert_simple(b, 0, 0, id);
    assert_int_equal(taas_pg_wait_notify(a, 5000), 1);
    assert_int_equal(taas_pg_wait_notify(a, 50), 0);
    /* A claim and a final completion make nothing runnable: no wake-up. */
    taas_task_rec out[1];
    assert_int_equal(st_claim(b, "w", 1, 10, 100, out), 1);
    assert_int_equal(st_complete(b, id, out[0].lease_token, TAAS_TASK_SUCCEEDED, "{}", NULL, 0, 20),
                     TAAS_STORE_OK);
    st_clear_all(out, 1);
    assert_int_equal(taas_pg_wait_notify(a, 200), 0);
    /* A refused insert commits nothing runnable either. */
    taas_task_rec bad;
    memset(&bad, 0, sizeof(bad));
    snprintf(bad.id, sizeof(bad.id), "bad");
    bad.name = "t";
    bad.input = "{}";
    taas_store_op op = {.kind = TAAS_OP_INSERT};
    op.u.insert.task = &bad;
    assert_int_equal(st_apply1(b, &op), TAAS_STORE_EINVAL);
    assert_int_equal(taas_pg_wait_notify(a, 200), 0);
    /* A retry does. */
    pt_insert_simple(b, 0, 0, id);
    assert_int_equal(taas_pg_wait_notify(a, 5000), 1);
    assert_int_equal(st_claim(b, "w", 1, 10, 100, out), 1);
    assert_int_equal(st_complete(b, id, out[0].lease_token, TAAS_TASK_PENDING, NULL, "again", 0, 20),
                     TAAS_STORE_OK);
    st_clear_all(out, 1);
    assert_int_equal(taas_pg_wait_notify(a, 5000), 1);
    a->close(a);
    b->close(b);
    pt_drop_schema(schema);
}

/* What s->wait_notify delivered, in order. */
typedef struct events {
    int runnable, resync, tasks;
    int cancels; /* of tasks: TAAS_NOTIFY_CANCEL */
    char ids[300][TAAS_ID_LEN + 1];
} events;

static void on_event(void *arg, int kind, const char *id)
{
    events *ev = arg;
    if (kind == TAAS_NOTIFY_RUNNABLE) {
        assert_null(id);
        ev->runnable++;
    } else if (kind == TAAS_NOTIFY_RESYNC) {
        assert_null(id);
        ev->resync++;
    } else {
        assert_true(kind == TAAS_NOTIFY_TASK || kind == TAAS_NOTIFY_CANCEL);
        if (kind == TAAS_NOTIFY_CANCEL)
            ev->cancels++;
        assert_non_null(id);
        assert_int_equal(strlen(id), TAAS_ID_LEN);
        if (ev->tasks < 300)
            snprintf(ev->ids[ev->tasks], TAAS_ID_LEN + 1, "%s", id);
        ev->tasks++;
    }
}

/* Collect events until `want` task events came or timeout_ms passed. */
static void collect(taas_store *s, events *ev, int want, int timeout_ms)
{
    memset(ev, 0, sizeof(*ev));
    for (int waited = 0; waited < timeout_ms && ev->tasks < want; waited += 100)
        assert_true(s->wait_notify(s, 100, on_event, ev) >= 0);
}

static bool has_id(const events *ev, const char *id)
{
    for (int i = 0; i < ev->tasks && i < 300; i++)
        if (strcmp(ev->ids[i], id) == 0)
            return true;
    return false;
}

static void test_task_events(void **state)
{
    (void)state;
    char schema[64], url[1024];
    pt_schema(schema, url);
    taas_store *a = pt_open(url), *b = pt_open(url);
    assert_non_null(a->wait_notify);
    events ev;
    /* First call: the listener is new, so re-check everything. */
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(a->wait_notify(a, 1000, on_event, &ev), 1);
    assert_int_equal(ev.resync, 1);
    assert_int_equal(a->wait_notify(a, 50, on_event, &ev), 0);

    /* A submit elsewhere: runnable, no task event. */
    char id[TAAS_ID_LEN + 1];
    pt_insert_simple(b, 0, 0, id);
    collect(a, &ev, 1, 500);
    assert_int_equal(ev.runnable, 1);
    assert_int_equal(ev.tasks, 0);

    /* Claim, progress, cancel request and completion each name the task. */
    taas_task_rec out[1];
    assert_int_equal(st_claim(b, "w", 1, 10, 100, out), 1);
    collect(a, &ev, 1, 5000);
    assert_int_equal(ev.tasks, 1);
    assert_string_equal(ev.ids[0], id);
    assert_int_equal(ev.runnable, 0);
    assert_int_equal(st_progress(b, id, out[0].lease_token, 0.5, "half", 11), TAAS_STORE_OK);
    collect(a, &ev, 1, 5000);
    assert_int_equal(ev.tasks, 1);
    assert_string_equal(ev.ids[0], id);
    taas_store_op op = {.kind = TAAS_OP_CANCEL};
    op.u.cancel.id = id;
    op.u.cancel.now_ms = 12;
    assert_int_equal(st_apply1(b, &op), TAAS_STORE_OK);
    collect(a, &ev, 1, 5000);
    assert_int_equal(ev.tasks, 1);
    assert_int_equal(ev.cancels, 1); /* the node running it must stop the body */
    assert_string_equal(ev.ids[0], id);
    assert_int_equal(st_complete(b, id, out[0].lease_token, TAAS_TASK_CANCELLED, NULL, "cancelled",
                                 0, 20),
                     TAAS_STORE_OK);
    st_clear_all(out, 1);
    collect(a, &ev, 1, 5000);
    assert_int_equal(ev.tasks, 1);
    assert_int_equal(ev.cancels, 0);
    assert_string_equal(ev.ids[0], id);

    /* Recovery of an expired lease names the task, and makes it runnable. */
    st_task t = {.name = "t", .input = "{}", .max_attempts = 3, .idempotent = true};
    assert_int_equal(st_insert(b, &t, id), TAAS_STORE_OK);
    assert_int_equal(st_claim(b, "gone", 1, 10, 100, out), 1);
    st_clear_all(out, 1);
    collect(a, &ev, 1, 5000);
    taas_store_op rc = {.kind = TAAS_OP_RECOVER};
    rc.u.recover.now_ms = 1000;
    assert_int_equal(st_apply1(b, &rc), TAAS_STORE_OK);
    assert_int_equal(rc.u.recover.retried, 1);
    collect(a, &ev, 1, 5000);
    assert_true(has_id(&ev, id));
    assert_true(ev.runnable >= 1 || a->wait_notify(a, 1000, on_event, &ev) == 1);

    /* Release gives it back, named. */
    assert_int_equal(st_claim(b, "leaving", 1, 2000, 100000, out), 1);
    st_clear_all(out, 1);
    collect(a, &ev, 1, 5000);
    taas_store_op rel = {.kind = TAAS_OP_RELEASE};
    rel.u.release.owner = "leaving";
    rel.u.release.now_ms = 2001;
    assert_int_equal(st_apply1(b, &rel), TAAS_STORE_OK);
    assert_int_equal(rel.u.release.released, 1);
    collect(a, &ev, 1, 5000);
    assert_true(has_id(&ev, id));

    /* 250 claims in one statement: more ids than one payload holds. */
    enum { MANY = 250 };
    char ids[MANY][TAAS_ID_LEN + 1];
    for (int i = 0; i < MANY; i++)
        pt_insert_simple(b, 0, 0, ids[i]);
    while (a->wait_notify(a, 200, on_event, &ev) > 0)
        ; /* drain the wake-ups of those inserts */
    taas_task_rec *many = calloc(MANY + 1, sizeof(*many));
    assert_non_null(many);
    assert_int_equal(st_claim(b, "w", MANY + 1, 3000, 100000, many), MANY + 1);
    collect(a, &ev, MANY + 1, 5000);
    assert_int_equal(ev.tasks, MANY + 1);
    for (int i = 0; i < MANY; i++)
        assert_true(has_id(&ev, ids[i]));
    /* And as many completions in one batch. */
    taas_store_op *cops = calloc(MANY + 1, sizeof(*cops));
    taas_store_op **pops = calloc(MANY + 1, sizeof(*pops));
    assert_non_null(cops);
    assert_non_null(pops);
    for (int i = 0; i <= MANY; i++) {
        cops[i].kind = TAAS_OP_COMPLETE;
        cops[i].u.complete.id = many[i].id;
        cops[i].u.complete.lease_token = many[i].lease_token;
        cops[i].u.complete.state = TAAS_TASK_SUCCEEDED;
        cops[i].u.complete.output = "{}";
        cops[i].u.complete.now_ms = 3001;
        pops[i] = &cops[i];
    }
    assert_int_equal(b->apply(b, pops, MANY + 1), 0);
    for (int i = 0; i <= MANY; i++)
        assert_int_equal(cops[i].result, TAAS_STORE_OK);
    collect(a, &ev, MANY + 1, 5000);
    assert_int_equal(ev.tasks, MANY + 1);
    for (int i = 0; i < MANY; i++)
        assert_true(has_id(&ev, ids[i]));
    st_clear_all(many, MANY + 1);
    free(many);
    free(cops);
    free(pops);

    /* The listening connection is killed: an error, then a RESYNC once it
     * is back, without reopening the store. */
    pt_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
           " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
    memset(&ev, 0, sizeof(ev));
    int r = 0;
    for (int i = 0; i < 50 && ev.resync == 0; i++) {
        r = a->wait_notify(a, 100, on_event, &ev);
        assert_true(r >= TAAS_STORE_EINVAL);
    }
    assert_int_equal(ev.resync, 1);
    pt_insert_simple(b, 0, 0, id);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(a->wait_notify(a, 5000, on_event, &ev), 1);
    assert_int_equal(ev.runnable, 1);

    a->close(a);
    b->close(b);
    pt_drop_schema(schema);
}

/* The front door takes the keyword form, and TAAS_ALLOW_ASYNC_COMMIT=1 is
 * the operator's override of the synchronous_commit refusal. */
static void test_front_door(void **state)
{
    (void)state;
    char schema[64], url[1024], pw[128], port[16], alt[1200], err[1024];
    pt_schema(schema, url);
    url_parts(pw, port);
    const char *user = strstr(url, "://") + 3;
    int ulen = (int)strcspn(user, ":");
    snprintf(alt, sizeof(alt),
             "host=127.0.0.1 port=%s dbname=taas_test user=%.*s password='%s' "
             "options='-csearch_path=%s'",
             port, ulen, user, pw, schema);
    taas_store *s = taas_store_open(alt, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s->backend, "postgresql");
    assert_null(strstr(s->describe(s), pw));
    s->close(s);
    /* Not a keyword form, not a URL. */
    assert_null(taas_store_open("host", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a URL"));

    snprintf(alt, sizeof(alt), "%s%%20-csynchronous_commit%%3Doff", url);
    unsetenv("TAAS_ALLOW_ASYNC_COMMIT");
    assert_null(taas_store_open(alt, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "TAAS_ALLOW_ASYNC_COMMIT=1"));
    setenv("TAAS_ALLOW_ASYNC_COMMIT", "0", 1);
    assert_null(taas_store_open(alt, NULL, err, sizeof(err)));
    taas_store_opts o = {.allow_async_commit = true};
    s = taas_store_open(alt, &o, err, sizeof(err));
    assert_non_null(s);
    s->close(s);
    setenv("TAAS_ALLOW_ASYNC_COMMIT", "1", 1);
    s = taas_store_open(alt, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_non_null(strstr(s->describe(s), "synchronous_commit=off"));
    s->close(s);
    unsetenv("TAAS_ALLOW_ASYNC_COMMIT");
    pt_drop_schema(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_errors_hide_password),
        cmocka_unit_test(test_async_commit_refused),
        cmocka_unit_test(test_concurrent_migrations),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_task_events),
        cmocka_unit_test(test_front_door),
    };
    return cmocka_run_group_tests_name("pg_open", tests, NULL, NULL);
}
