/*
 * runtime/store/vfs_shim.c - the pass-through SQLite VFS under every shim
 * (see vfs_shim.h): each method finds the real file or VFS and forwards.
 */
#include "store/vfs_shim.h"

#include <string.h>

#define REAL(f) (((taas_vfs_shim_file *)(f))->real)
#define SHIM(v) ((taas_vfs_shim *)(v)->pAppData)

static int f_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_check_lock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *pg)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, pg);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    taas_vfs_shim *v = SHIM(vfs);
    taas_vfs_shim_file *p = (taas_vfs_shim_file *)f;
    p->shim = v;
    p->flags = flags;
    p->real = (sqlite3_file *)((char *)(p + 1) + v->file_extra);
    if (v->file_extra)
        memset(p + 1, 0, v->file_extra);
    int rc = v->real->xOpen(v->real, name, p->real, flags, out_flags);
    /* SQLite reads pMethods even after a failed open: NULL means "nothing to close". */
    p->base.pMethods = p->real->pMethods ? &v->methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    return SHIM(v)->real->xDelete(SHIM(v)->real, n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int fl, int *out)
{
    return SHIM(v)->real->xAccess(SHIM(v)->real, n, fl, out);
}
static int v_fullpath(sqlite3_vfs *v, const char *n, int cap, char *out)
{
    return SHIM(v)->real->xFullPathname(SHIM(v)->real, n, cap, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    return SHIM(v)->real->xDlOpen(SHIM(v)->real, n);
}
static void v_dlerror(sqlite3_vfs *v, int cap, char *out)
{
    SHIM(v)->real->xDlError(SHIM(v)->real, cap, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    return SHIM(v)->real->xDlSym(SHIM(v)->real, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h) { SHIM(v)->real->xDlClose(SHIM(v)->real, h); }
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    return SHIM(v)->real->xRandomness(SHIM(v)->real, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us) { return SHIM(v)->real->xSleep(SHIM(v)->real, us); }
static int v_time(sqlite3_vfs *v, double *out)
{
    return SHIM(v)->real->xCurrentTime(SHIM(v)->real, out);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    return SHIM(v)->real->xGetLastError(SHIM(v)->real, n, out);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return SHIM(v)->real->xCurrentTimeInt64(SHIM(v)->real, out);
}

int taas_vfs_shim_init(taas_vfs_shim *v, const char *name, size_t file_extra)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || real->iVersion < 2)
        return -1;
    memset(v, 0, sizeof *v);
    v->real = real;
    v->file_extra = (file_extra + 7) & ~(size_t)7; /* keeps the real file aligned */
    v->methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = f_close, .xRead = f_read, .xWrite = f_write, .xTruncate = f_truncate,
        .xSync = f_sync, .xFileSize = f_size, .xLock = f_lock, .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_lock, .xFileControl = f_control,
        .xSectorSize = f_sector, .xDeviceCharacteristics = f_devchar,
        .xShmMap = f_shm_map, .xShmLock = f_shm_lock, .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap, .xFetch = f_fetch, .xUnfetch = f_unfetch,
    };
    v->vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(sizeof(taas_vfs_shim_file) + v->file_extra) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = name,
        .pAppData = v,
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_fullpath, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_random,
        .xSleep = v_sleep, .xCurrentTime = v_time, .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    return 0;
}
