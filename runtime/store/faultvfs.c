/*
 * runtime/store/faultvfs.c - a SQLite VFS shim that fails chosen writes or
 * syncs, for the storage-fault tests (tests/crash/test_io_faults.py). Only
 * linked into taas-server-fi.
 *
 * Method. As SQLite's own crash tests do (src/test6.c fails the Nth sync),
 * the shim wraps the default VFS and counts every xWrite and xSync on the
 * database, its WAL and its journal; the Nth one (and the COUNT-1 after it)
 * returns an error instead of reaching the disk; later ones go through
 * again, which is how a fault "clears" (space freed, the disk back). The
 * shared-memory index is passed through untouched: SQLite keeps it in
 * memory-mapped pages, not through xWrite.
 *
 * Selected by the environment, before main() runs:
 *
 *   TAAS_SQLITE_FAULT_VFS=OP:N:COUNT:ERR
 *       OP     write | sync | any        which calls are counted
 *       N      the first call to fail (1-based)
 *       COUNT  how many calls fail from there (default 1)
 *       ERR    ioerr | full              SQLITE_IOERR_WRITE / _FSYNC, or SQLITE_FULL
 *   TAAS_SQLITE_FAULT_ARM=PATH
 *       count only while the file PATH exists, so a test can let the server
 *       start cleanly and arm the fault at the moment it chooses
 *
 * The shim becomes the default VFS, so the store opens every connection
 * through it without knowing. Each injected failure is logged on stderr
 * ("faultvfs: write 7 -> full").
 */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/fault.h"

/* fault.c names store operations by their place in taas_op_kind. */
_Static_assert(TAAS_OP_INSERT == 1 && TAAS_OP_CLAIM == 2 && TAAS_OP_COMPLETE == 3 &&
                   TAAS_OP_PROGRESS == 4 && TAAS_OP_CANCEL == 5 && TAAS_OP_HEARTBEAT == 6 &&
                   TAAS_OP_RECOVER == 7 && TAAS_OP_RELEASE == 8 && TAAS_OP_PRUNE == 9,
               "update the operation names in runtime/util/fault.c");

enum { OP_WRITE = 1, OP_SYNC = 2 };

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static sqlite3_io_methods g_methods;
static int g_ops;            /* OP_WRITE | OP_SYNC */
static long g_first, g_count;
static bool g_full;
static const char *g_arm;
static atomic_long g_calls;

typedef struct ffile {
    sqlite3_file base;       /* pMethods = &g_methods */
    bool counted;            /* main database, WAL or journal */
    sqlite3_file *real;      /* follows this struct */
} ffile;

/* Whether this call fails, and with which code. */
static int inject(int op, int ioerr)
{
    if (!(g_ops & op))
        return SQLITE_OK;
    if (g_arm && access(g_arm, F_OK) != 0)
        return SQLITE_OK;
    long n = atomic_fetch_add(&g_calls, 1) + 1;
    if (n < g_first || n >= g_first + g_count)
        return SQLITE_OK;
    int rc = g_full ? SQLITE_FULL : ioerr;
    fprintf(stderr, "faultvfs: %s %ld -> %s\n", op == OP_WRITE ? "write" : "sync", n,
            g_full ? "full" : "ioerr");
    return rc;
}

static int f_close(sqlite3_file *f)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xClose(p->real);
}
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    ffile *p = (ffile *)f;
    int rc = p->counted ? inject(OP_WRITE, SQLITE_IOERR_WRITE) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : p->real->pMethods->xWrite(p->real, buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xTruncate(p->real, size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    ffile *p = (ffile *)f;
    int rc = p->counted ? inject(OP_SYNC, SQLITE_IOERR_FSYNC) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : p->real->pMethods->xSync(p->real, flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}
static int f_lock(sqlite3_file *f, int l)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xLock(p->real, l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xUnlock(p->real, l);
}
static int f_check_lock(sqlite3_file *f, int *out)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}
static int f_sector(sqlite3_file *f)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xSectorSize(p->real);
}
static int f_devchar(sqlite3_file *f)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xShmMap(p->real, pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xShmLock(p->real, off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    ffile *p = (ffile *)f;
    p->real->pMethods->xShmBarrier(p->real);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xShmUnmap(p->real, del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xFetch(p->real, off, amt, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *pg)
{
    ffile *p = (ffile *)f;
    return p->real->pMethods->xUnfetch(p->real, off, pg);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    ffile *p = (ffile *)f;
    p->real = (sqlite3_file *)(p + 1);
    p->counted = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
    int rc = g_real->xOpen(g_real, name, p->real, flags, out_flags);
    /* SQLite reads pMethods even after a failed open: NULL means "nothing to close". */
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

static void faultvfs_register(void) __attribute__((constructor));
static void faultvfs_register(void)
{
    const char *spec = getenv("TAAS_SQLITE_FAULT_VFS");
    if (!spec || !*spec)
        return;
    char op[16] = "", err[16] = "";
    long first = 0, count = 1;
    if (sscanf(spec, "%15[a-z]:%ld:%ld:%15[a-z]", op, &first, &count, err) != 4 || first < 1 ||
        count < 1) {
        fprintf(stderr, "faultvfs: TAAS_SQLITE_FAULT_VFS=%s: expected OP:N:COUNT:ERR "
                        "(OP write|sync|any, ERR ioerr|full)\n", spec);
        abort();
    }
    g_ops = !strcmp(op, "write") ? OP_WRITE : !strcmp(op, "sync") ? OP_SYNC : OP_WRITE | OP_SYNC;
    g_full = strcmp(err, "full") == 0;
    g_first = first;
    g_count = count;
    g_arm = getenv("TAAS_SQLITE_FAULT_ARM");
    if (g_arm && !*g_arm)
        g_arm = NULL;
    atomic_init(&g_calls, 0);

    g_real = sqlite3_vfs_find(NULL);
    if (!g_real || g_real->iVersion < 2) {
        fprintf(stderr, "faultvfs: no usable default VFS\n");
        abort();
    }
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
        .szOsFile = (int)sizeof(ffile) + g_real->szOsFile,
        .mxPathname = g_real->mxPathname,
        .zName = "taas-fault",
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_fullpath, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_random,
        .xSleep = v_sleep, .xCurrentTime = v_time, .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    if (sqlite3_vfs_register(&g_vfs, 1) != SQLITE_OK) {
        fprintf(stderr, "faultvfs: cannot register the VFS\n");
        abort();
    }
    fprintf(stderr, "faultvfs: %s call %ld..%ld fail with %s%s\n", op, first, first + count - 1,
            g_full ? "SQLITE_FULL" : "SQLITE_IOERR", g_arm ? " once armed" : "");
}
