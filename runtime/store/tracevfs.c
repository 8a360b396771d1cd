/*
 * runtime/store/tracevfs.c - a SQLite VFS shim that timestamps the WAL's
 * writes and syncs for the trace (util/trace.h), so bench/trace can tell a
 * commit's WAL write from its fdatasync.
 *
 * Registered (as the default VFS, before the store opens its connections)
 * only when tracing is on; otherwise SQLite's own VFS is used untouched and
 * this file costs nothing. Every method forwards to the VFS that was the
 * default before; xWrite and xSync of a WAL file also record, for each task
 * of the batch the writer thread is applying (taas_trace_set_batch), a
 * "vfs.write" before each write and "vfs.sync" / "vfs.synced" around each
 * sync. Other threads (readers, checkpoints) have no batch and record
 * nothing.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>

#include "store/store_int.h"
#include "util/trace.h"

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static sqlite3_io_methods g_methods;

typedef struct tfile {
    sqlite3_file base;       /* pMethods = &g_methods */
    bool wal;                /* a WAL file */
    sqlite3_file *real;      /* follows this struct */
} tfile;

static int f_close(sqlite3_file *f)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xClose(p->real);
}
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    tfile *p = (tfile *)f;
    if (p->wal)
        taas_trace_batch("vfs.write");
    return p->real->pMethods->xWrite(p->real, buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xTruncate(p->real, size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    tfile *p = (tfile *)f;
    if (!p->wal)
        return p->real->pMethods->xSync(p->real, flags);
    taas_trace_batch("vfs.sync");
    int rc = p->real->pMethods->xSync(p->real, flags);
    taas_trace_batch("vfs.synced");
    return rc;
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}
static int f_lock(sqlite3_file *f, int l)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xLock(p->real, l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xUnlock(p->real, l);
}
static int f_check_lock(sqlite3_file *f, int *out)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}
static int f_sector(sqlite3_file *f)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xSectorSize(p->real);
}
static int f_devchar(sqlite3_file *f)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xShmMap(p->real, pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xShmLock(p->real, off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    tfile *p = (tfile *)f;
    p->real->pMethods->xShmBarrier(p->real);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xShmUnmap(p->real, del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xFetch(p->real, off, amt, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *pg)
{
    tfile *p = (tfile *)f;
    return p->real->pMethods->xUnfetch(p->real, off, pg);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    tfile *p = (tfile *)f;
    p->real = (sqlite3_file *)(p + 1);
    p->wal = (flags & SQLITE_OPEN_WAL) != 0;
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


void taas_store__tracevfs_register(void)
{
    static bool done;
    if (!taas_trace_on || done)
        return;
    done = true; /* the store opens on one thread, at start */
    g_real = sqlite3_vfs_find(NULL);
    if (!g_real || g_real->iVersion < 2) {
        fprintf(stderr, "trace: no usable default SQLite VFS; WAL writes are not traced\n");
        return;
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
        .szOsFile = (int)sizeof(tfile) + g_real->szOsFile,
        .mxPathname = g_real->mxPathname,
        .zName = "taas-trace",
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_fullpath, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_random,
        .xSleep = v_sleep, .xCurrentTime = v_time, .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    if (sqlite3_vfs_register(&g_vfs, 1) != SQLITE_OK)
        fprintf(stderr, "trace: cannot register the SQLite VFS; WAL writes are not traced\n");
}
