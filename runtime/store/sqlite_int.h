/*
 * runtime/store/sqlite_int.h - what the files of the SQLite backend share,
 * and nothing else includes:
 *
 *   sqlite.c          open and close, errors, binding and reading rows
 *   sqlite_migrate.c  the schema migrations
 *   sqlite_write.c    apply(): the write statements and one function per
 *                     operation (inserts, claims, completions, progress,
 *                     cancels, heartbeats, recovery, release, pruning)
 *   sqlite_read.c     get() and list() on a pool of read connections
 *
 * Threads and locks: the writer connection `db` and its statements `st` are
 * used only by apply(), on the writer thread, and at open; they need no
 * lock. pool_mu guards the reader pool (free_readers, n_readers) and
 * pool_cv waits for a free reader. In memory (sqlite://) there is one
 * connection, and mem_mu serializes the reads on it. Error messages go to a
 * thread-local buffer (taas_sq__tl_error), so each thread reads its own.
 */
#ifndef TAAS_SQLITE_INT_H
#define TAAS_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_int.h"

/* Every column of taas_task_rec, in the order taas_sq__row_to_rec() reads them. */
#define TASK_COLS                                                                          \
    "id, name, input, state, priority, attempt, max_attempts, timeout_s, idempotent, "     \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "      \
    "finished_ms, progress, progress_message, output, error, attempts_json, "              \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal, parent_id"
/* The same columns for summaries: no input or output text. */
#define SUMMARY_COLS                                                                       \
    "id, name, NULL, state, priority, attempt, max_attempts, timeout_s, idempotent, "      \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "      \
    "finished_ms, progress, progress_message, NULL, error, attempts_json, "                \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal, parent_id"

/* The writer's prepared statements (sqlite_write.c holds their SQL). */

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_IDEM_LOOKUP,
    ST_CLAIM,
    ST_COMPLETE,
    ST_LOOKUP,
    ST_CANCEL_LOOKUP,
    ST_PROGRESS,
    ST_CANCEL_PENDING,
    ST_CANCEL_RUNNING,
    ST_HEARTBEAT,
    ST_RECOVER_RETRY,
    ST_RECOVER_FAIL,
    ST_RELEASE_CANCEL,
    ST_RELEASE,
    ST_PRUNE,
    ST_GIVE_BACK,
    ST_COUNT
};

/* One read connection and its statements. list[] is indexed by which
 * filters a query uses (LQ_* below), prepared on first use. */
typedef struct reader {
    sqlite3 *db;
    sqlite3_stmt *get;
    sqlite3_stmt *list[128];
    struct reader *next;
} reader;

typedef struct sq_store {
    taas_store parent; /* first: a taas_store * is a sq_store * */
    char *url;
    char *path; /* NULL in memory */
    char describe[512];
    int busy_timeout_ms;
    sqlite3 *db; /* the writer connection */
    sqlite3_stmt *st[ST_COUNT];

    /* read pool */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    reader *free_readers;
    int n_readers, max_readers;

    /* in memory: one connection for everything, under mem_mu */
    pthread_mutex_t mem_mu;
    reader mem_reader;

    /* the checkpoint thread (sqlite_checkpoint.c); files only */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted, ckpt_stopping, ckpt_init, ckpt_running;
    int ckpt_next; /* WAL frames at which to wake the thread again (hook only) */
    int64_t ckpt_last_commit_us; /* when the last commit ended (hook only) */
} sq_store;

/* ---- sqlite.c ---------------------------------------------------------- */

/* This thread's last error message. */
extern _Thread_local char taas_sq__tl_error[512];
/* Set this thread's message to "what: <the connection's error>". */
void taas_sq__set_tl_error(const char *what, sqlite3 *db);
/* A store code for an SQLite result code. */
int taas_sq__map_rc(int rc);
/* Run a statement that returns no rows; reset it; 0 or an SQLite code. */
int taas_sq__step_done(sqlite3_stmt *st);
/* Bind text (NULL binds NULL); an SQLite code. */
int taas_sq__bind_text(sqlite3_stmt *st, int i, const char *s, size_t len);
/* Fill r from the current row (columns in TASK_COLS order); 0 or a store code. */
int taas_sq__row_to_rec(sqlite3_stmt *st, taas_task_rec *r);
/* A malloc'd, NUL-terminated copy of text column i into *out (NULL for SQL
 * NULL) and its length into *len (when not NULL); 0 or TAAS_STORE_ENOMEM. */
int taas_sq__col_dup(sqlite3_stmt *st, int i, char **out, size_t *len);

/* ---- sqlite_migrate.c -------------------------------------------------- */

/* Apply every missing migration, each in its own transaction; 0 or a store code. */
int taas_sq__migrate(sq_store *s, char *err, size_t errlen);
/* The first column of the first row of sql (0 when none); an SQLite code. */
int taas_sq__query_int(sqlite3 *db, const char *sql, int64_t *out);

/* ---- sqlite_write.c ---------------------------------------------------- */

/* Prepare the writer's statements (s->st); an SQLite code, or SQLITE_OK. */
int taas_sq__prepare_writes(sq_store *s, int *failed);
int taas_sq__apply(taas_store *base, taas_store_op *ops[], size_t n);
/* INSERT of one task inside apply()'s transaction (op->u.insert). */
int taas_sq__op_insert(sq_store *s, taas_store_op *op);

/* ---- sqlite_checkpoint.c ---------------------------------------------- */

/* Move WAL checkpoints off the writer's commits onto a thread with its own
 * connection; an SQLite code. Stop (idempotent, also after a failed start)
 * before closing the writer connection. */
int taas_sq__checkpointer_start(sq_store *s);
void taas_sq__checkpointer_stop(sq_store *s);

/* ---- sqlite_read.c ----------------------------------------------------- */

/* Run statements that return no rows (pragmas, BEGIN/COMMIT); an SQLite code. */
int taas_sq__exec_pragma(sqlite3 *db, const char *sql);
/* Prepare a read connection's get statement; an SQLite code. */
int taas_sq__reader_prepare(reader *r);
void taas_sq__reader_free_stmts(reader *r);
int taas_sq__get(taas_store *base, const char *id, taas_task_rec *out);
int taas_sq__count_live(taas_store *base, int64_t counts[6]);
int taas_sq__list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
                  char next_token[64]);
/* A read connection from the pool (waits for one); NULL with *err set. */
reader *taas_sq__reader_acquire(sq_store *s, int *err);
void taas_sq__reader_release(sq_store *s, reader *r);

/* ---- sqlite_schedule.c ------------------------------------------------- */

/* TAAS_OP_SCHED_* inside apply()'s transaction. */
int taas_sq__sched_apply(sq_store *s, taas_store_op *op);
int taas_sq__sched_get(taas_store *base, const char *id, taas_schedule_rec *out);
int taas_sq__sched_list(taas_store *base, const char *principal, int limit,
                        const char *page_token, taas_schedule_rec **out, size_t *n,
                        char next_token[64]);
int taas_sq__sched_due(taas_store *base, int64_t now_ms, int limit, taas_schedule_rec **out,
                       size_t *n);

#endif
