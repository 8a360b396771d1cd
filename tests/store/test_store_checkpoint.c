/*
 * tests/store/test_store_checkpoint.c - WAL checkpoints run off the commit
 * path: thousands of commits from one thread (the writer's place) leave the
 * WAL bounded; at a low rate none of that thread's commits copies pages
 * into the database file, another thread (the store's checkpointer) does.
 *
 * A VFS shim (on runtime/store/vfs_shim.h) counts writes to the main
 * database file, and which of them the committing thread made. With
 * SQLite's automatic checkpoint the committing thread makes them all;
 * without any checkpoint there are none and the WAL holds every commit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/vfs_shim.h"
#include "store_test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static taas_vfs_shim g_shim;
static bool g_registered;
static atomic_long g_db_writes, g_db_writes_committer;
static pthread_t g_committer;

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    if (taas_vfs_shim_flags(f) & SQLITE_OPEN_MAIN_DB) {
        atomic_fetch_add(&g_db_writes, 1);
        if (pthread_equal(pthread_self(), g_committer))
            atomic_fetch_add(&g_db_writes_committer, 1);
    }
    sqlite3_file *real = taas_vfs_shim_real(f);
    return real->pMethods->xWrite(real, buf, amt, off);
}

static void register_vfs(void)
{
    if (g_registered)
        return;
    assert_int_equal(taas_vfs_shim_init(&g_shim, "ckpt-count", 0), 0);
    g_shim.methods.xWrite = f_write;
    assert_int_equal(sqlite3_vfs_register(&g_shim.vfs, 1), SQLITE_OK);
    g_registered = true;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* n commits of one insert each, pause_us apart; then the database writes
 * (all, and the committing thread's) and the WAL's size. */
static void run_commits(int n, long pause_us, long *db_writes, long *committer_writes,
                        long *wal_bytes)
{
    char *dir = st_tmpdir();
    taas_store *s = st_open(dir, "t.db");
    g_committer = pthread_self();
    atomic_store(&g_db_writes, 0);
    atomic_store(&g_db_writes_committer, 0);
    /* A 2 KiB input: about one more page per row. */
    char big[2048];
    memcpy(big, "{\"pad\":\"", 8);
    memset(big + 8, 'x', sizeof big - 11);
    memcpy(big + sizeof big - 3, "\"}", 3);
    for (int i = 0; i < n; i++) {
        char id[TAAS_ID_LEN + 1];
        st_task t = {.name = "demo", .input = big};
        assert_int_equal(st_insert(s, &t, id), 0);
        if (pause_us > 0) {
            struct timespec ts = {0, pause_us * 1000L};
            nanosleep(&ts, NULL);
        }
    }
    /* The checkpointer runs on its own time: wait for it (a loaded machine
     * may be slow, but not this slow). */
    for (int i = 0; i < 200 && atomic_load(&g_db_writes) == 0; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char wal[1024];
    st_path(wal, sizeof wal, dir, "t.db-wal");
    *wal_bytes = file_size(wal);
    *db_writes = atomic_load(&g_db_writes);
    *committer_writes = atomic_load(&g_db_writes_committer);
    print_message("%d commits %ld us apart: database writes %ld, by the committing thread %ld; "
                  "WAL %ld bytes\n", n, pause_us, *db_writes, *committer_writes, *wal_bytes);
    s->close(s);
    st_rmdir(dir);
}

/* Spaced commits (a low rate): the checkpoint thread does all the copying
 * and the WAL starts over about every 1,000 frames. */
static void test_spaced_commits(void **state)
{
    (void)state;
    long db, mine, wal;
    /* ~5 frames per commit: 1,000 commits are ~5,000 frames, past the
     * writer's own checkpoint at 4,000 if the thread never caught up.
     * 2.5 ms apart: 200 tasks/s are two commits every 5 ms. */
    run_commits(1000, 2500, &db, &mine, &wal);
    assert_true(db > 0);        /* checkpoints ran */
    assert_int_equal(mine, 0);  /* none inside a commit */
    /* Without checkpoints: ~30 MiB. */
    assert_true(wal > 0 && wal < 12L * 1024 * 1024);
}

/* Back-to-back commits: the thread does most of the copying; the WAL stays
 * bounded by the writer's own checkpoint of what is left. */
static void test_back_to_back_commits(void **state)
{
    (void)state;
    long db, mine, wal;
    run_commits(3000, 0, &db, &mine, &wal);
    assert_true(db > 0);
    assert_true(mine * 2 < db); /* SQLite's automatic checkpoint: all of them */
    /* Without checkpoints: ~60 MiB. */
    assert_true(wal > 0 && wal < 30L * 1024 * 1024);
}

int main(void)
{
    register_vfs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spaced_commits),
        cmocka_unit_test(test_back_to_back_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
