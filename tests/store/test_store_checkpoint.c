/*
 * tests/store/test_store_checkpoint.c - WAL checkpoints run off the commit
 * path: thousands of commits from one thread (the writer's place) leave the
 * WAL bounded; at a low rate none of that thread's commits copies pages
 * into the database file, another thread (the store's checkpointer) does.
 *
 * A VFS shim counts writes to the main database file, and which of them the
 * committing thread made. With SQLite's automatic checkpoint the committing
 * thread makes them all; without any checkpoint there are none and the WAL
 * holds every commit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

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

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static sqlite3_io_methods g_methods;
static atomic_long g_db_writes, g_db_writes_committer;
static pthread_t g_committer;

typedef struct cfile {
    sqlite3_file base;
    bool main_db;
    sqlite3_file *real; /* follows this struct */
} cfile;

static int f_close(sqlite3_file *f)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xClose(p->real);
}
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    cfile *p = (cfile *)f;
    if (p->main_db) {
        atomic_fetch_add(&g_db_writes, 1);
        if (pthread_equal(pthread_self(), g_committer))
            atomic_fetch_add(&g_db_writes_committer, 1);
    }
    return p->real->pMethods->xWrite(p->real, buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xTruncate(p->real, size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xSync(p->real, flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}
static int f_lock(sqlite3_file *f, int l)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xLock(p->real, l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xUnlock(p->real, l);
}
static int f_check_lock(sqlite3_file *f, int *out)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}
static int f_sector(sqlite3_file *f)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xSectorSize(p->real);
}
static int f_devchar(sqlite3_file *f)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xShmMap(p->real, pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xShmLock(p->real, off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    cfile *p = (cfile *)f;
    p->real->pMethods->xShmBarrier(p->real);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xShmUnmap(p->real, del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xFetch(p->real, off, amt, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *pg)
{
    cfile *p = (cfile *)f;
    return p->real->pMethods->xUnfetch(p->real, off, pg);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    cfile *p = (cfile *)f;
    p->real = (sqlite3_file *)(p + 1);
    p->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = g_real->xOpen(g_real, name, p->real, flags, out_flags);
    p->base.pMethods = p->real->pMethods ? &g_methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return g_real->xDelete(g_real, n, sync); }
static int v_access(sqlite3_vfs *v, const char *n, int fl, int *out) { (void)v; return g_real->xAccess(g_real, n, fl, out); }
static int v_fullpath(sqlite3_vfs *v, const char *n, int cap, char *out) { (void)v; return g_real->xFullPathname(g_real, n, cap, out); }
static void *v_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return g_real->xDlOpen(g_real, n); }
static void v_dlerror(sqlite3_vfs *v, int cap, char *out) { (void)v; g_real->xDlError(g_real, cap, out); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return g_real->xDlSym(g_real, h, s); }
static void v_dlclose(sqlite3_vfs *v, void *h) { (void)v; g_real->xDlClose(g_real, h); }
static int v_random(sqlite3_vfs *v, int n, char *out) { (void)v; return g_real->xRandomness(g_real, n, out); }
static int v_sleep(sqlite3_vfs *v, int us) { (void)v; return g_real->xSleep(g_real, us); }
static int v_time(sqlite3_vfs *v, double *out) { (void)v; return g_real->xCurrentTime(g_real, out); }
static int v_lasterr(sqlite3_vfs *v, int n, char *out) { (void)v; return g_real->xGetLastError(g_real, n, out); }
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return g_real->xCurrentTimeInt64(g_real, out); }

static void register_vfs(void)
{
    if (g_real)
        return;
    g_real = sqlite3_vfs_find(NULL);
    assert_non_null(g_real);
    g_methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = f_close, .xRead = f_read, .xWrite = f_write, .xTruncate = f_truncate,
        .xSync = f_sync, .xFileSize = f_size, .xLock = f_lock, .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_lock, .xFileControl = f_control,
        .xSectorSize = f_sector, .xDeviceCharacteristics = f_devchar,
        .xShmMap = f_shm_map, .xShmLock = f_shm_lock, .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap, .xFetch = f_fetch, .xUnfetch = f_unfetch,
    };
    g_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(cfile) + g_real->szOsFile,
        .mxPathname = g_real->mxPathname,
        .zName = "ckpt-count",
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_fullpath, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_random,
        .xSleep = v_sleep, .xCurrentTime = v_time, .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    assert_int_equal(sqlite3_vfs_register(&g_vfs, 1), SQLITE_OK);
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
