/*
 * runtime/store/tracevfs.c - a SQLite VFS shim that timestamps the WAL's
 * writes and syncs for the trace (util/trace.h), so bench/trace can tell a
 * commit's WAL write from its fdatasync.
 *
 * Registered (as the default VFS, before the store opens its connections)
 * only when tracing is on; otherwise SQLite's own VFS is used untouched and
 * this file costs nothing. Every method forwards to the VFS that was the
 * default before (vfs_shim.c); xWrite and xSync of a WAL file also record, for each task
 * of the batch the writer thread is applying (taas_trace_set_batch), a
 * "vfs.write" before each write and "vfs.sync" / "vfs.synced" around each
 * sync. Other threads (readers, checkpoints) have no batch and record
 * nothing.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>

#include "store/store_int.h"
#include "store/vfs_shim.h"
#include "util/trace.h"

static taas_vfs_shim g_shim;

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    if (taas_vfs_shim_flags(f) & SQLITE_OPEN_WAL)
        taas_trace_batch("vfs.write");
    sqlite3_file *real = taas_vfs_shim_real(f);
    return real->pMethods->xWrite(real, buf, amt, off);
}

static int f_sync(sqlite3_file *f, int flags)
{
    sqlite3_file *real = taas_vfs_shim_real(f);
    if (!(taas_vfs_shim_flags(f) & SQLITE_OPEN_WAL))
        return real->pMethods->xSync(real, flags);
    taas_trace_batch("vfs.sync");
    int rc = real->pMethods->xSync(real, flags);
    taas_trace_batch("vfs.synced");
    return rc;
}

void taas_store__tracevfs_register(void)
{
    static bool done;
    if (!taas_trace_on || done)
        return;
    done = true; /* the store opens on one thread, at start */
    if (taas_vfs_shim_init(&g_shim, "taas-trace", 0) != 0) {
        fprintf(stderr, "trace: no usable default SQLite VFS; WAL writes are not traced\n");
        return;
    }
    g_shim.methods.xWrite = f_write;
    g_shim.methods.xSync = f_sync;
    if (sqlite3_vfs_register(&g_shim.vfs, 1) != SQLITE_OK)
        fprintf(stderr, "trace: cannot register the SQLite VFS; WAL writes are not traced\n");
}
