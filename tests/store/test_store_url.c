/*
 * tests/store/test_store_url.c - DATABASE_URL forms, state names, errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void insert_and_get(taas_store *s)
{
    char id[TAAS_ID_LEN + 1];
    st_task t = {.name = "url_check"};
    assert_int_equal(st_insert(s, &t, id), 0);
    taas_task_rec r;
    st_get(s, id, &r);
    assert_string_equal(r.name, "url_check");
    taas_task_rec_clear(&r);
}

static void test_relative(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char old[PATH_MAX], err[512];
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(dir), 0);
    taas_store *s = taas_store_open("sqlite:///sub.db", NULL, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s->backend, "sqlite");
    assert_int_equal(s->version, TAAS_STORE_VERSION);
    assert_non_null(strstr(s->describe(s), "sqlite:///sub.db"));
    assert_non_null(strstr(s->describe(s), "WAL"));
    insert_and_get(s);
    s->close(s);
    struct stat sb;
    assert_int_equal(stat("sub.db", &sb), 0); /* relative to the working directory */
    assert_int_equal(chdir(old), 0);
    st_rmdir(dir);
}

static void test_absolute(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char url[1024], path[1024], err[512];
    snprintf(url, sizeof(url), "sqlite:///%s/abs.db", dir);
    assert_non_null(strstr(url, "sqlite:////"));
    taas_store *s = taas_store_open(url, NULL, err, sizeof(err));
    assert_non_null(s);
    insert_and_get(s);
    s->close(s);
    struct stat sb;
    st_path(path, sizeof(path), dir, "abs.db");
    assert_int_equal(stat(path, &sb), 0);
    st_rmdir(dir);
}

static void test_memory(void **state)
{
    (void)state;
    const char *urls[] = {"sqlite://", "sqlite:///:memory:"};
    for (size_t i = 0; i < 2; i++) {
        char err[512];
        taas_store *s = taas_store_open(urls[i], NULL, err, sizeof(err));
        assert_non_null(s);
        assert_non_null(strstr(s->describe(s), "in memory"));
        insert_and_get(s);
        /* A second in-memory store is a different database. */
        taas_store *s2 = taas_store_open(urls[i], NULL, err, sizeof(err));
        assert_non_null(s2);
        taas_task_rec *recs;
        size_t n;
        char next[64];
        taas_list_query q = {.limit = 10};
        assert_int_equal(s2->list(s2, &q, &recs, &n, next), 0);
        assert_int_equal(n, 0);
        assert_int_equal(s->list(s, &q, &recs, &n, next), 0);
        assert_int_equal(n, 1);
        st_clear_all(recs, (int)n);
        free(recs);
        s2->close(s2);
        s->close(s);
    }
}

static void expect_error(const char *url, const char *needle)
{
    char err[512] = "";
    taas_store *s = taas_store_open(url, NULL, err, sizeof(err));
    if (s) {
        s->close(s);
        fail_msg("%s opened", url ? url : "(null)");
    }
    if (!strstr(err, needle))
        fail_msg("%s: message \"%s\" lacks \"%s\"", url ? url : "(null)", err, needle);
}

static void test_bad(void **state)
{
    (void)state;
    expect_error(NULL, "sqlite:///");
    expect_error("", "sqlite:///");
    expect_error("mysql://u:secret@h/db", "unsupported DATABASE_URL scheme \"mysql\"");
    expect_error("mysql://u:secret@h/db", "sqlite:////absolute/path.db");
    expect_error("taas.db", "not a URL");
    expect_error("sqlite:/taas.db", "not a URL");
    expect_error("sqlite://host/taas.db", "no host");
    expect_error("sqlite:///", "names no file");
    expect_error("sqlite:///taas.db?mode=ro", "query parameters");
    expect_error("sqlite:////tmp/", "directory");
    expect_error("sqlite:////nonexistent-dir-taas/x/y.db", "cannot open");
    /* The password is never echoed back. */
    char err[512];
    assert_null(taas_store_open("mysql://u:secret@h/db", NULL, err, sizeof(err)));
    assert_null(strstr(err, "secret"));
}

/* Without the PostgreSQL backend both spellings get a clear refusal; with it,
 * they reach the backend (nothing listens on port 1, so the open fails). The
 * password is never in the message. */
static void test_postgres(void **state)
{
    (void)state;
    const char *urls[] = {"postgresql://u:hunter2@127.0.0.1:1/taas?connect_timeout=2",
                          "postgres://u:hunter2@127.0.0.1:1/taas?connect_timeout=2"};
    for (size_t i = 0; i < 2; i++) {
        char err[512] = "";
        assert_null(taas_store_open(urls[i], NULL, err, sizeof(err)));
#ifdef TAAS_STORE_POSTGRES
        assert_null(strstr(err, "not built into this server"));
        assert_true(strlen(err) > 0);
#else
        assert_non_null(strstr(err, "PostgreSQL backend is not built into this server"));
#endif
        assert_null(strstr(err, "hunter2"));
    }
}

static void test_names(void **state)
{
    (void)state;
    for (int s = TAAS_TASK_PENDING; s <= TAAS_TASK_CANCELLED; s++) {
        const char *n = taas_task_state_name((taas_task_state)s);
        assert_int_equal(taas_task_state_parse(n), s);
        char lower[32];
        size_t i;
        for (i = 0; n[i] && i < sizeof(lower) - 1; i++)
            lower[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
        lower[i] = '\0';
        assert_int_equal(taas_task_state_parse(lower), s);
    }
    assert_string_equal(taas_task_state_name(TAAS_TASK_SUCCEEDED), "SUCCEEDED");
    assert_int_equal(taas_task_state_parse("bogus"), TAAS_TASK_UNSPECIFIED);
    assert_int_equal(taas_task_state_parse(NULL), TAAS_TASK_UNSPECIFIED);
    assert_string_equal(taas_task_state_name((taas_task_state)42), "UNSPECIFIED");
    assert_true(taas_task_state_final(TAAS_TASK_CANCELLED));
    assert_false(taas_task_state_final(TAAS_TASK_RUNNING));
    for (int c = TAAS_STORE_EINVAL; c <= 0; c++)
        assert_null(strstr(taas_store_strerror(c), "unknown"));
    assert_non_null(strstr(taas_store_strerror(-100), "unknown"));
    taas_task_rec r;
    memset(&r, 0, sizeof(r));
    r.name = strdup("x");
    r.error = strdup("y");
    taas_task_rec_clear(&r);
    assert_null(r.name);
    assert_null(r.error);
    taas_task_rec_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relative), cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_memory),   cmocka_unit_test(test_bad),
        cmocka_unit_test(test_postgres), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("store_url", tests, NULL, NULL);
}
