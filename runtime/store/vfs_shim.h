/*
 * runtime/store/vfs_shim.h - the base of every SQLite VFS shim here: a VFS
 * that forwards every call to the VFS that was SQLite's default when it was
 * set up, and that a shim changes by replacing only the methods it is about.
 *
 * Users: tracevfs.c (times the WAL's writes and syncs), faultvfs.c (fails
 * chosen writes and syncs), tests/store/test_store_checkpoint.c (counts the
 * database file's writes), and any shim to come (one that reshapes the
 * WAL's writes, say). Shims stack: each wraps whatever was the default when
 * it was initialised.
 *
 * Use:
 *
 *     static taas_vfs_shim g_shim;                  // lives as long as the process
 *     static int my_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
 *     {
 *         if (taas_vfs_shim_flags(f) & SQLITE_OPEN_WAL) { ... }
 *         return taas_vfs_shim_real(f)->pMethods->xWrite(taas_vfs_shim_real(f), b, n, off);
 *     }
 *     ...
 *     if (taas_vfs_shim_init(&g_shim, "my-shim", 0) != 0) ...no default VFS...
 *     g_shim.methods.xWrite = my_write;             // file methods: replace any
 *     g_shim.vfs.xOpen = ...;                       // VFS methods too, if needed
 *     sqlite3_vfs_register(&g_shim.vfs, 1);         // 1: the new default
 *
 * Files. Every file the shim opens is a taas_vfs_shim_file followed by
 * `file_extra` bytes for the shim's own per-file state
 * (taas_vfs_shim_extra) and then the real VFS's file. The open flags are
 * kept (taas_vfs_shim_flags) so a method can tell the main database from
 * its WAL or journal.
 */
#ifndef TAAS_STORE_VFS_SHIM_H
#define TAAS_STORE_VFS_SHIM_H

#include <sqlite3.h>
#include <stddef.h>

typedef struct taas_vfs_shim {
    sqlite3_vfs vfs;             /* pAppData points back at this shim */
    sqlite3_io_methods methods;  /* the open files' methods: pass-through until replaced */
    sqlite3_vfs *real;           /* the VFS every call forwards to */
    size_t file_extra;           /* per-file bytes for the shim, rounded up to 8 */
    void *arg;                   /* the shim's own, untouched here */
} taas_vfs_shim;

typedef struct taas_vfs_shim_file {
    sqlite3_file base;           /* pMethods = &shim->methods once open */
    taas_vfs_shim *shim;
    int flags;                   /* xOpen's flags (SQLITE_OPEN_MAIN_DB, _WAL, ...) */
    sqlite3_file *real;          /* the real VFS's file, at the end of this one */
} taas_vfs_shim_file;

/*
 * Fill `v` as a pass-through named `name` (a static string) over the
 * current default VFS, with `file_extra` bytes of per-file state. Returns 0,
 * or -1 when there is no default VFS of version 2 or later. Does not
 * register it.
 */
int taas_vfs_shim_init(taas_vfs_shim *v, const char *name, size_t file_extra);

/* The real file under a shim's file, its open flags, its shim, its extra bytes. */
static inline sqlite3_file *taas_vfs_shim_real(sqlite3_file *f)
{
    return ((taas_vfs_shim_file *)f)->real;
}
static inline int taas_vfs_shim_flags(sqlite3_file *f)
{
    return ((taas_vfs_shim_file *)f)->flags;
}
static inline taas_vfs_shim *taas_vfs_shim_of(sqlite3_file *f)
{
    return ((taas_vfs_shim_file *)f)->shim;
}
static inline void *taas_vfs_shim_extra(sqlite3_file *f)
{
    return (taas_vfs_shim_file *)f + 1;
}

#endif
