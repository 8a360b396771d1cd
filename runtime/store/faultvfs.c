/*
 * runtime/store/faultvfs.c - a SQLite VFS shim that fails chosen writes or
 * syncs, for the storage-fault tests (tests/crash/test_io_faults.py). Only
 * linked into taas-server-fi.
 *
 * Method. As SQLite's own crash tests do (src/test6.c fails the Nth sync),
 * the shim wraps the default VFS (vfs_shim.c) and counts every xWrite and xSync on the
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
#include "store/vfs_shim.h"
#include "util/fault.h"

/* fault.c names store operations by their place in taas_op_kind. */
_Static_assert(TAAS_OP_INSERT == 1 && TAAS_OP_CLAIM == 2 && TAAS_OP_COMPLETE == 3 &&
                   TAAS_OP_PROGRESS == 4 && TAAS_OP_CANCEL == 5 && TAAS_OP_HEARTBEAT == 6 &&
                   TAAS_OP_RECOVER == 7 && TAAS_OP_RELEASE == 8 && TAAS_OP_PRUNE == 9,
               "update the operation names in runtime/util/fault.c");

enum { OP_WRITE = 1, OP_SYNC = 2 };

static taas_vfs_shim g_shim;
static int g_ops;            /* OP_WRITE | OP_SYNC */
static long g_first, g_count;
static bool g_full;
static const char *g_arm;
static atomic_long g_calls;

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

/* The database, its WAL and its journal are counted; the rest pass. */
static bool counted(sqlite3_file *f)
{
    return (taas_vfs_shim_flags(f) &
            (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
}

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    int rc = counted(f) ? inject(OP_WRITE, SQLITE_IOERR_WRITE) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xWrite(real, buf, amt, off);
}

static int f_sync(sqlite3_file *f, int flags)
{
    int rc = counted(f) ? inject(OP_SYNC, SQLITE_IOERR_FSYNC) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xSync(real, flags);
}

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

    if (taas_vfs_shim_init(&g_shim, "taas-fault", 0) != 0) {
        fprintf(stderr, "faultvfs: no usable default VFS\n");
        abort();
    }
    g_shim.methods.xWrite = f_write;
    g_shim.methods.xSync = f_sync;
    if (sqlite3_vfs_register(&g_shim.vfs, 1) != SQLITE_OK) {
        fprintf(stderr, "faultvfs: cannot register the VFS\n");
        abort();
    }
    fprintf(stderr, "faultvfs: %s call %ld..%ld fail with %s%s\n", op, first, first + count - 1,
            g_full ? "SQLITE_FULL" : "SQLITE_IOERR", g_arm ? " once armed" : "");
}
