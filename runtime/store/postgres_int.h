/*
 * runtime/store/postgres_int.h - what the files of the PostgreSQL backend
 * share, and nothing else includes:
 *
 *   postgres.c          open and close, connections, errors, rows
 *   postgres_migrate.c  the schema migrations
 *   postgres_write.c    apply(): the write statements and the pipelined batch
 *                       (inserts, claims, completions, progress, cancels,
 *                       heartbeats, recovery, release, pruning)
 *   postgres_read.c     get() and list() on a pool of read connections
 *   postgres_notify.c   wait_notify(): LISTEN for other servers' commits
 *
 * Threads and locks: the writer connection `w` is used only by apply(), on
 * the writer thread, and needs no lock; pool_mu guards the reader pool
 * (free_readers, n_readers) and pool_cv waits for a free reader; listen_mu
 * guards the LISTEN connection and its state. The counters are atomic.
 * Error messages go to a thread-local buffer (taas_pg__tl_error), so each
 * thread reads its own last error.
 */
#ifndef TAAS_POSTGRES_INT_H
#define TAAS_POSTGRES_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "store/postgres.h"
#include "store/store.h"
#include "store/store_int.h"
#include <stdint.h>

/* Every column of taas_task_rec, in the order taas_pg__row_to_rec() reads them. */
#define COLS(p)                                                                             \
    p "id, " p "name, " p "input, " p "state, " p "priority, " p "attempt, " p                \
    "max_attempts, " p "timeout_s, " p "idempotent, " p "idempotency_key, " p "input_hash, " p \
    "created_ms, " p "updated_ms, " p "run_after_ms, " p "started_ms, " p "finished_ms, " p   \
    "progress, " p "progress_message, " p "output, " p "error, " p "attempts_json, " p        \
    "cancel_requested, " p "lease_owner, " p "lease_expires_ms, " p "lease_token, " p "principal, " \
    p "parent_id"
#define TASK_COLS COLS("")
/* The same columns for summaries: no input or output text. */
#define SUMMARY_COLS                                                                        \
    "id, name, NULL, state, priority, attempt, max_attempts, timeout_s, idempotent, "       \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "       \
    "finished_ms, progress, progress_message, NULL, error, attempts_json, "                 \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal, parent_id"

/* A pooled read connection; `lists` has a bit per prepared list variant. */
typedef struct reader {
    PGconn *conn;
    bool lists[128]; /* prepared list variants, by LQ_* bits */
    struct reader *next;
} reader;

typedef struct pg_store {
    taas_store parent; /* first: a taas_store * is a pg_store * */
    char *conninfo;    /* as given; may hold a password, never printed */
    char target[256];  /* user@host:port/db, for messages */
    char describe[512];
    int lock_timeout_ms;
    bool allow_async_commit;
    PGconn *w; /* the writer connection; NULL while down */

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    reader *free_readers;
    int n_readers, max_readers;

    pthread_mutex_t listen_mu;
    PGconn *listen;   /* LISTEN connection, opened by the first wait */
    bool listened;    /* it was open once: opening it again is a reconnect */
    bool listen_down; /* the loss was logged; the return will be */

    atomic_uint_fast64_t round_trips, transactions, statements, reconnects;
} pg_store;

/* ---- postgres.c -------------------------------------------------------- */

/* This thread's last error message. */
extern _Thread_local char taas_pg__tl_error[1024];
/* Set this thread's message; it may be cut at the buffer's end. */
void taas_pg__tl_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Join a multi-line libpq message into one line, in place. */
void taas_pg__one_line(char *s);
/* Whether a SQLSTATE is in class `cls` (its first two characters). */
bool taas_pg__class_is(const char *st, const char *cls);
/* A store code for a failed result (res may be NULL) on conn. */
int taas_pg__map_error(PGconn *conn, const PGresult *res);
/* Remember the error of res (or of conn) in this thread's message. */
void taas_pg__set_error(pg_store *s, const char *what, PGconn *conn, const PGresult *res);
/* Run one statement with text parameters v[0..n) on c. On failure: the
 * message (prefixed `what`) set, a store code returned. On success 0, and
 * the result in *keep (the caller clears it) or cleared when keep is NULL. */
int taas_pg__exec(pg_store *s, PGconn *c, const char *what, const char *sql, int n,
                  const char *const *v, PGresult **keep);
/* Open a connection with session settings; NULL with the message set. */
PGconn *taas_pg__open_conn(pg_store *s, const char *what, int *err);
/* A connection fit for use (connected, not closed under us). */
bool taas_pg__conn_alive(PGconn *c);
/* The writer connection, connected and prepared; 0 or a store code. */
int taas_pg__writer_ready(pg_store *s);
int64_t taas_pg__col_i64(const PGresult *r, int row, int col);
bool taas_pg__col_bool(const PGresult *r, int row, int col);
/* Fill rec from row `row` (columns in TASK_COLS order); 0 or a store code. */
int taas_pg__row_to_rec(const PGresult *res, int row, taas_task_rec *r);

/* ---- postgres_migrate.c ------------------------------------------------ */

/* Bring the schema to the latest version in one transaction; 0 or a store code. */
int taas_pg__migrate(pg_store *s, PGconn *c, char *err, size_t errlen);

/* ---- postgres_write.c -------------------------------------------------- */

/* Prepare every write statement on c; 0 or a store code. */
int taas_pg__prepare_writes(pg_store *s, PGconn *c);
int taas_pg__apply(taas_store *base, taas_store_op *ops[], size_t n);

/* ---- postgres_read.c --------------------------------------------------- */

int taas_pg__get(taas_store *base, const char *id, taas_task_rec *out);
/* Run fn on a pooled read connection (once more on a fresh one if that
 * connection was dead); fn's result. */
int taas_pg__with_reader(pg_store *s, int (*fn)(pg_store *s, reader *r, void *arg), void *arg);
int taas_pg__count_live(taas_store *base, int64_t counts[6]);
int taas_pg__list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
                  char next_token[64]);

/* ---- postgres_schedule.c ----------------------------------------------- */

/* One TAAS_OP_SCHED_* in a transaction of its own on the writer connection;
 * the outcome in op->result. */
void taas_pg__sched_apply(pg_store *s, taas_store_op *op);
int taas_pg__sched_get(taas_store *base, const char *id, taas_schedule_rec *out);
int taas_pg__sched_list(taas_store *base, const char *principal, int limit,
                        const char *page_token, taas_schedule_rec **out, size_t *n,
                        char next_token[64]);
int taas_pg__sched_due(taas_store *base, int64_t now_ms, int limit, taas_schedule_rec **out,
                       size_t *n);

/* ---- postgres_notify.c ------------------------------------------------- */

int taas_pg__wait_notify(taas_store *base, int timeout_ms,
                         void (*on_event)(void *arg, int kind, const char *id), void *arg);

#endif
