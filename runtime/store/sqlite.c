/*
 * runtime/store/sqlite.c - the SQLite backend of the store (store.h).
 *
 * Method. One writer connection, used only by apply() on the writer thread,
 * holds every write statement prepared once at open. Each batch of
 * operations runs in one BEGIN IMMEDIATE ... COMMIT transaction; the database
 * is in WAL mode with synchronous=FULL, so a COMMIT returns only after the
 * WAL has been fsync'd and the batch survives a crash or power loss.
 * Operations that are refused on their own merits (a stale lease token, an
 * unknown id, an idempotency conflict) set their own result and leave the
 * transaction going; an SQLite error (disk full, I/O error, lock timeout)
 * rolls the whole batch back and every operation in it gets that code.
 *
 * Readers. get() and list() never touch the writer connection: they borrow a
 * read connection from a small pool (opened on demand, at most max_readers,
 * each with its own prepared statements) and give it back. In WAL mode a
 * reader sees the last committed snapshot and neither waits for the writer
 * nor blocks it. A private in-memory database (sqlite://) cannot be shared
 * between connections, so there the single connection is shared under a
 * mutex; that mode is for tests and tools only.
 *
 * Migrations. schema_migrations records every applied version. At open each
 * missing migration runs in its own transaction (re-reading the version
 * inside it, so two servers starting together apply each step once), and a
 * database written by a newer version of the code is refused rather than
 * guessed at.
 *
 * Files. sqlite_int.h lists the backend's files and their locks: this one
 * opens and closes the store and binds and reads rows; migrations, writes
 * and reads have a file each.
 *
 * Fencing. A claim sets lease_token = lease_token + 1 and nothing ever lowers
 * it, so every claim of a task gets a token greater than all earlier ones;
 * COMPLETE and PROGRESS match on (id, state RUNNING, lease_token).
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local char taas_sq__tl_error[512];

/* SQLite's memory statistics off, for the whole process. Debian's libsqlite3
 * is built with SQLITE_OMIT_LOOKASIDE, so every cursor, record and value
 * buffer of a statement is a malloc and a free; with statistics on (the
 * default) each of them also takes SQLite's one global memory mutex and
 * updates four counters. At C = 64 that was about 32 mallocs and 32 frees
 * per task on the writer thread alone, and the same mutex is taken by the
 * readers and the checkpoint thread. Nothing here reads the statistics
 * (sqlite3_memory_used, sqlite3_status) or sets a soft heap limit, which
 * needs them. sqlite3_config() works only before SQLite initializes, and
 * must not race any other SQLite call: a constructor runs before main and
 * before any thread. When SQLite was initialized first (another
 * constructor registered a VFS), it says SQLITE_MISUSE and the statistics
 * simply stay on. */
__attribute__((constructor)) static void sqlite_memstatus_off(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void taas_sq__set_tl_error(const char *what, sqlite3 *db)
{
    snprintf(taas_sq__tl_error, sizeof(taas_sq__tl_error), "%s: %s", what, db ? sqlite3_errmsg(db) : "no connection");
}

int taas_sq__map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return TAAS_STORE_OK;
    case SQLITE_FULL: return TAAS_STORE_EFULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return TAAS_STORE_EBUSY;
    case SQLITE_NOMEM: return TAAS_STORE_ENOMEM;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH: return TAAS_STORE_EINVAL;
    default: return TAAS_STORE_EIO; /* IOERR, CORRUPT, NOTADB, READONLY, CANTOPEN, ... */
    }
}

/* Run a statement that returns no rows; reset it; 0 or an SQLite code. */
int taas_sq__step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int taas_sq__bind_text(sqlite3_stmt *st, int i, const char *s, size_t len)
{
    if (!s)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text64(st, i, s, len ? len : strlen(s), SQLITE_STATIC, SQLITE_UTF8);
}

int taas_sq__col_dup(sqlite3_stmt *st, int i, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (!t)
        return TAAS_STORE_ENOMEM;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return TAAS_STORE_ENOMEM;
    memcpy(p, t, (size_t)n);
    p[n] = '\0';
    *out = p;
    if (len)
        *len = (size_t)n;
    return 0;
}

/* Fill r from the current row (columns in TASK_COLS order). */
int taas_sq__row_to_rec(sqlite3_stmt *st, taas_task_rec *r)
{
    memset(r, 0, sizeof(*r));
    const unsigned char *id = sqlite3_column_text(st, 0);
    if (id)
        snprintf(r->id, sizeof(r->id), "%s", (const char *)id);
    int rc = taas_sq__col_dup(st, 1, &r->name, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 2, &r->input, &r->input_len);
    r->state = (taas_task_state)sqlite3_column_int(st, 3);
    r->priority = sqlite3_column_int(st, 4);
    r->attempt = sqlite3_column_int(st, 5);
    r->max_attempts = sqlite3_column_int(st, 6);
    r->timeout_s = sqlite3_column_int(st, 7);
    r->idempotent = sqlite3_column_int(st, 8) != 0;
    rc = rc ? rc : taas_sq__col_dup(st, 9, &r->idempotency_key, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 10, &r->input_hash, NULL);
    r->created_ms = sqlite3_column_int64(st, 11);
    r->updated_ms = sqlite3_column_int64(st, 12);
    r->run_after_ms = sqlite3_column_int64(st, 13);
    r->started_ms = sqlite3_column_int64(st, 14);
    r->finished_ms = sqlite3_column_int64(st, 15);
    r->progress = sqlite3_column_double(st, 16);
    rc = rc ? rc : taas_sq__col_dup(st, 17, &r->progress_message, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 18, &r->output, &r->output_len);
    rc = rc ? rc : taas_sq__col_dup(st, 19, &r->error, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 20, &r->attempts_json, NULL);
    r->cancel_requested = sqlite3_column_int(st, 21) != 0;
    rc = rc ? rc : taas_sq__col_dup(st, 22, &r->lease_owner, NULL);
    r->lease_expires_ms = sqlite3_column_int64(st, 23);
    r->lease_token = sqlite3_column_int64(st, 24);
    const unsigned char *who = sqlite3_column_text(st, 25);
    if (who && *who && !rc)
        rc = taas_sq__col_dup(st, 25, &r->principal, NULL);
    if (!rc && sqlite3_column_type(st, 26) != SQLITE_NULL)
        rc = taas_sq__col_dup(st, 26, &r->parent_id, NULL);
    if (!rc && !r->attempts_json && !(r->attempts_json = strdup("[]")))
        rc = TAAS_STORE_ENOMEM;
    if (rc)
        taas_task_rec_clear(r);
    return rc;
}

static const char *sq_describe(taas_store *base)
{
    return ((sq_store *)base)->describe;
}

static const char *sq_last_error(taas_store *base)
{
    (void)base;
    return taas_sq__tl_error;
}

static void sq_close(taas_store *base)
{
    sq_store *s = (sq_store *)base;
    if (!s)
        return;
    taas_sq__checkpointer_stop(s);
    reader *r = s->free_readers;
    while (r) {
        reader *next = r->next;
        taas_sq__reader_free_stmts(r);
        sqlite3_close(r->db);
        free(r);
        r = next;
    }
    taas_sq__reader_free_stmts(&s->mem_reader);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->mem_mu);
    free(s->url);
    free(s->path);
    free(s);
}

taas_store *taas_store__sqlite_open(const char *url, const char *path,
                                    const taas_store_opts *opts, char *err, size_t errlen)
{
    sq_store *s = calloc(1, sizeof(*s));
    if (!s) {
        taas_store__seterr(err, errlen, "out of memory");
        return NULL;
    }
    s->parent.version = TAAS_STORE_VERSION;
    s->parent.backend = "sqlite";
    s->parent.apply = taas_sq__apply;
    s->parent.get = taas_sq__get;
    s->parent.count_live = taas_sq__count_live;
    s->parent.list = taas_sq__list;
    s->parent.sched_get = taas_sq__sched_get;
    s->parent.sched_list = taas_sq__sched_list;
    s->parent.sched_due = taas_sq__sched_due;
    s->parent.describe = sq_describe;
    s->parent.last_error = sq_last_error;
    s->parent.close = sq_close;
    s->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    s->max_readers = opts && opts->max_readers > 0 ? opts->max_readers : 16;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->mem_mu, NULL);
    s->url = strdup(url);
    s->path = path ? strdup(path) : NULL;
    if (!s->url || (path && !s->path)) {
        taas_store__seterr(err, errlen, "out of memory");
        goto fail;
    }

    int rc = sqlite3_open_v2(path ? path : ":memory:", &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        taas_store__seterr(err, errlen, "cannot open %s: %s", url,
                           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
    if (path) {
        sqlite3_stmt *st;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
            rc = mode && strcmp((const char *)mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
            sqlite3_finalize(st);
        }
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot put %s in WAL mode: %s", url,
                               sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    rc = taas_sq__exec_pragma(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK && opts && opts->max_bytes > 0) {
        int64_t page = 4096;
        rc = taas_sq__query_int(s->db, "PRAGMA page_size", &page);
        if (rc == SQLITE_OK) {
            char sql[64];
            int64_t pages = page > 0 ? opts->max_bytes / page : 1;
            snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
                     (long long)(pages > 0 ? pages : 1));
            rc = taas_sq__exec_pragma(s->db, sql);
        }
    }
    if (rc != SQLITE_OK) {
        taas_store__seterr(err, errlen, "cannot configure %s: %s", url, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (taas_sq__migrate(s, err, errlen) != 0)
        goto fail;
    int failed = 0;
    rc = taas_sq__prepare_writes(s, &failed);
    if (rc != SQLITE_OK) {
        taas_store__seterr(err, errlen, "cannot prepare statement %d on %s: %s", failed, url,
                           sqlite3_errmsg(s->db));
        goto fail;
    }
    if (!path) {
        s->mem_reader.db = s->db;
        if (taas_sq__reader_prepare(&s->mem_reader) != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot prepare reads on %s: %s", url,
                               sqlite3_errmsg(s->db));
            goto fail;
        }
        snprintf(s->describe, sizeof(s->describe), "%s (in memory, not durable)", url);
    } else {
        rc = taas_sq__checkpointer_start(s);
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot start the checkpoint thread of %s: %s", url,
                               s->ckpt_db ? sqlite3_errmsg(s->ckpt_db) : sqlite3_errstr(rc));
            goto fail;
        }
        snprintf(s->describe, sizeof(s->describe), "%s (WAL, synchronous=FULL)", url);
    }
    return &s->parent;

fail:
    sq_close(&s->parent);
    return NULL;
}
