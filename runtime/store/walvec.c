/*
 * runtime/store/walvec.c - a SQLite VFS shim that writes a commit's WAL
 * frames with one system call instead of one per frame header and page.
 *
 * Why. SQLite appends each frame to the WAL as separate writes (a 24-byte
 * header and the page: about 10 pwrite64 calls for a commit of one task's
 * insert), then syncs. They are consecutive: held back and written as one
 * block just before the sync, they cost one system call.
 *
 * Method. A WAL file's writes that continue the range held so far are
 * copied into a per-file buffer; anything else on that file first writes
 * the buffer out (a write elsewhere, a read, the size, a truncate, a sync,
 * a file control, the close). So does the wal-index barrier (xShmBarrier,
 * called on the database file before a commit's frames are published to
 * other connections), for the WAL this thread wrote last: other
 * connections never see a committed frame that is not in the file, whatever
 * the synchronous setting. The durability is unchanged: the sync that makes
 * a commit durable comes after the block is written, as before.
 *
 * A write error is reported by the call that writes the buffer out (the
 * sync, typically), which SQLite treats as the failed commit it is.
 *
 * On by default; TAAS_SQLITE_WALVEC=0 leaves SQLite's own VFS (for A/B
 * counts). Off when the fault VFS is selected (TAAS_SQLITE_FAULT_VFS), whose
 * tests count SQLite's own writes.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "store/vfs_shim.h"

/* Past this, the held block is written out before taking more. */
#define WALVEC_MAX (4u << 20)
/* Largest write handed down at once: 31 pages of 4 KiB. */
#define WALVEC_CHUNK 0x1f000u

typedef struct walbuf {
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off; /* file offset of buf[0] */
} walbuf;

static taas_vfs_shim g_shim;

/* The WAL file this thread holds frames of, if any. */
static _Thread_local sqlite3_file *tl_pending;

static bool is_wal(sqlite3_file *f)
{
    return (taas_vfs_shim_flags(f) & SQLITE_OPEN_WAL) != 0;
}

static int flush(sqlite3_file *f)
{
    walbuf *b = taas_vfs_shim_extra(f);
    if (tl_pending == f)
        tl_pending = NULL;
    if (b->len == 0)
        return SQLITE_OK;
    size_t len = b->len;
    b->len = 0;
    sqlite3_file *real = taas_vfs_shim_real(f);
    /* In pieces SQLite's unix VFS takes whole: it writes at most 128 KiB
     * less one byte per call (and reports a disk full past that). */
    for (size_t done = 0; done < len;) {
        size_t n = len - done < WALVEC_CHUNK ? len - done : WALVEC_CHUNK;
        int rc = real->pMethods->xWrite(real, b->buf + done, (int)n, b->off + (sqlite3_int64)done);
        if (rc != SQLITE_OK)
            return rc;
        done += n;
    }
    return SQLITE_OK;
}

static int w_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    sqlite3_file *real = taas_vfs_shim_real(f);
    if (!is_wal(f) || amt <= 0)
        return real->pMethods->xWrite(real, data, amt, off);
    walbuf *b = taas_vfs_shim_extra(f);
    if (b->len > 0 && (off != b->off + (sqlite3_int64)b->len || b->len + (size_t)amt > WALVEC_MAX)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (b->len + (size_t)amt > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + (size_t)amt)
            cap *= 2;
        unsigned char *nb = cap <= WALVEC_MAX ? realloc(b->buf, cap) : NULL;
        if (!nb) { /* too large or no memory: write it as SQLite asked */
            int rc = flush(f);
            return rc != SQLITE_OK ? rc : real->pMethods->xWrite(real, data, amt, off);
        }
        b->buf = nb;
        b->cap = cap;
    }
    if (b->len == 0)
        b->off = off;
    memcpy(b->buf + b->len, data, (size_t)amt);
    b->len += (size_t)amt;
    if (tl_pending && tl_pending != f) {
        /* Another WAL of this thread still holds frames: write them now. */
        int rc = flush(tl_pending);
        if (rc != SQLITE_OK)
            return rc;
    }
    tl_pending = f;
    return SQLITE_OK;
}

static int w_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xRead(real, buf, amt, off);
}

static int w_sync(sqlite3_file *f, int flags)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xSync(real, flags);
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xTruncate(real, size);
}

static int w_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xFileSize(real, size);
}

static int w_control(sqlite3_file *f, int op, void *arg)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    sqlite3_file *real = taas_vfs_shim_real(f);
    return rc != SQLITE_OK ? rc : real->pMethods->xFileControl(real, op, arg);
}

static void w_shm_barrier(sqlite3_file *f)
{
    /* A commit's frames are about to be published in the wal-index: they
     * must be in the file first. (A write error here has no caller to go
     * to; the WAL's next read, sync or write reports the same disk.) */
    if (tl_pending)
        (void)flush(tl_pending);
    sqlite3_file *real = taas_vfs_shim_real(f);
    real->pMethods->xShmBarrier(real);
}

static int w_close(sqlite3_file *f)
{
    int rc = is_wal(f) ? flush(f) : SQLITE_OK;
    walbuf *b = taas_vfs_shim_extra(f);
    free(b->buf);
    b->buf = NULL;
    b->cap = 0;
    sqlite3_file *real = taas_vfs_shim_real(f);
    int rc2 = real->pMethods->xClose(real);
    return rc != SQLITE_OK ? rc : rc2;
}

void taas_store__walvec_register(void)
{
    static bool done;
    if (done)
        return;
    done = true; /* the store opens on one thread, at start */
    const char *on = getenv("TAAS_SQLITE_WALVEC");
    const char *fault = getenv("TAAS_SQLITE_FAULT_VFS");
    if ((on && strcmp(on, "0") == 0) || (fault && *fault))
        return;
    if (taas_vfs_shim_init(&g_shim, "taas-walvec", sizeof(walbuf)) != 0)
        return; /* no usable default VFS: SQLite's own writes, one per frame part */
    g_shim.methods.xWrite = w_write;
    g_shim.methods.xRead = w_read;
    g_shim.methods.xSync = w_sync;
    g_shim.methods.xTruncate = w_truncate;
    g_shim.methods.xFileSize = w_size;
    g_shim.methods.xFileControl = w_control;
    g_shim.methods.xShmBarrier = w_shm_barrier;
    g_shim.methods.xClose = w_close;
    if (sqlite3_vfs_register(&g_shim.vfs, 1) != SQLITE_OK)
        fprintf(stderr, "walvec: cannot register the SQLite VFS; WAL frames are written one by one\n");
}
