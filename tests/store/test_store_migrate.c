/*
 * tests/store/test_store_migrate.c - versioned migrations at open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_fresh(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024];
    st_path(path, sizeof(path), dir, "m.db");
    taas_store *s = st_open(dir, "m.db");
    s->close(s);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_migrations"), 6);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM schema_migrations"), 6);
    assert_true(raw_int(path, "SELECT applied_ms FROM schema_migrations") > 1600000000000LL);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                                   " AND name = 'tasks'"), 1);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
                                   " AND name IN ('tasks_claim', 'tasks_state_id', 'tasks_name_id',"
                                   " 'tasks_idempotency', 'tasks_finished', 'tasks_principal_id')"),
                     6);
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
                                   " AND name = 'tasks_lease'"), 0);
    /* WAL mode is a property of the file. */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    st_rmdir(dir);
}

static void test_reopen(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], id[TAAS_ID_LEN + 1];
    st_path(path, sizeof(path), dir, "m.db");
    taas_store *s = st_open(dir, "m.db");
    st_task t = {.name = "kept"};
    assert_int_equal(st_insert(s, &t, id), 0);
    s->close(s);
    for (int i = 0; i < 3; i++) {
        s = st_open(dir, "m.db");
        taas_task_rec r;
        st_get(s, id, &r);
        assert_string_equal(r.name, "kept");
        taas_task_rec_clear(&r);
        s->close(s);
    }
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM schema_migrations"), 6);
    st_rmdir(dir);
}

/* A database of the schema before given_back (version 5) with a task in it
 * is brought to the current version on open, the task kept as it was. */
static void test_upgrade_from_5(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], id[TAAS_ID_LEN + 1];
    st_path(path, sizeof(path), dir, "m.db");
    taas_store *s = st_open(dir, "m.db");
    st_task t = {.name = "old", .idempotent = true};
    assert_int_equal(st_insert(s, &t, id), 0);
    s->close(s);
    raw_exec(path, "ALTER TABLE tasks DROP COLUMN given_back;"
                   "DELETE FROM schema_migrations WHERE version = 6;");
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_migrations"), 5);
    s = st_open(dir, "m.db");
    taas_task_rec r;
    st_get(s, id, &r);
    assert_string_equal(r.name, "old");
    assert_true(r.idempotent);
    taas_task_rec_clear(&r);
    s->close(s);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_migrations"), 6);
    assert_int_equal(raw_int(path, "SELECT given_back FROM tasks"), 0);
    st_rmdir(dir);
}

static void test_newer_refused(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], url[1200], err[512];
    st_path(path, sizeof(path), dir, "m.db");
    taas_store *s = st_open(dir, "m.db");
    s->close(s);
    raw_exec(path, "INSERT INTO schema_migrations VALUES (99, 'from the future', 0)");
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    s = taas_store_open(url, NULL, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(err, "newer than this server knows"));
    /* Refusing did not change the file. */
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_migrations"), 99);
    st_rmdir(dir);
}

static void test_not_a_database(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], url[1200], err[512];
    st_path(path, sizeof(path), dir, "junk.db");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file at all\n", f);
    fclose(f);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    assert_null(taas_store_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a database"));
    st_rmdir(dir);
}

/* Another database: a table of the same name with different columns is not
 * silently used as ours. */
static void test_foreign_tasks_table(void **state)
{
    (void)state;
    char *dir = st_tmpdir();
    char path[1024], url[1200], err[512];
    st_path(path, sizeof(path), dir, "other.db");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE tasks (title TEXT)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    assert_null(taas_store_open(url, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "migration 1"));
    /* The failed migration left nothing behind. */
    assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master"
                                   " WHERE name = 'schema_migrations'"), 0);
    st_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_upgrade_from_5),
        cmocka_unit_test(test_newer_refused),
        cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_foreign_tasks_table),
    };
    return cmocka_run_group_tests_name("store_migrate", tests, NULL, NULL);
}
