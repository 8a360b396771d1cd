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
 * Fencing. A claim sets lease_token = lease_token + 1 and nothing ever lowers
 * it, so every claim of a task gets a token greater than all earlier ones;
 * COMPLETE and PROGRESS match on (id, state RUNNING, lease_token).
 */
#include "store/store.h"
#include "store/store_int.h"
#include "util/fault.h"

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 3

/* Every column of taas_task_rec, in the order row_to_rec() reads them. */
#define TASK_COLS                                                                          \
    "id, name, input, state, priority, attempt, max_attempts, timeout_s, idempotent, "     \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "      \
    "finished_ms, progress, progress_message, output, error, attempts_json, "              \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal"
/* The same columns for summaries: no input or output text. */
#define SUMMARY_COLS                                                                       \
    "id, name, NULL, state, priority, attempt, max_attempts, timeout_s, idempotent, "      \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "      \
    "finished_ms, progress, progress_message, NULL, error, attempts_json, "                \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal"

static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "tasks table with claim, list, idempotency, lease and prune indexes",
     "CREATE TABLE tasks ("
     " id TEXT NOT NULL PRIMARY KEY,"
     " name TEXT NOT NULL,"
     " input TEXT NOT NULL,"
     " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),"
     " priority INTEGER NOT NULL DEFAULT 0,"
     " attempt INTEGER NOT NULL DEFAULT 0,"
     " max_attempts INTEGER NOT NULL DEFAULT 1,"
     " timeout_s INTEGER NOT NULL DEFAULT 0,"
     " idempotent INTEGER NOT NULL DEFAULT 0,"
     " idempotency_key TEXT,"
     " input_hash TEXT,"
     " created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL,"
     " run_after_ms INTEGER NOT NULL DEFAULT 0,"
     " started_ms INTEGER NOT NULL DEFAULT 0,"
     " finished_ms INTEGER NOT NULL DEFAULT 0,"
     " progress REAL NOT NULL DEFAULT 0,"
     " progress_message TEXT,"
     " output TEXT,"
     " error TEXT,"
     " attempts_json TEXT NOT NULL DEFAULT '[]',"
     " cancel_requested INTEGER NOT NULL DEFAULT 0,"
     " lease_owner TEXT,"
     " lease_expires_ms INTEGER NOT NULL DEFAULT 0,"
     " lease_token INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     /* Claim order; only PENDING rows, so it stays small however many
      * finished tasks are kept. */
     "CREATE INDEX tasks_claim ON tasks (priority DESC, run_after_ms, id) WHERE state = 1;"
     /* ListTasks: newest first (ids are UUIDv7), by state or by name. */
     "CREATE INDEX tasks_state_id ON tasks (state, id);"
     "CREATE INDEX tasks_name_id ON tasks (name, id);"
     /* Idempotency keys are unique per task name. */
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* RUNNING rows only, so as many entries as tasks running on this
      * database's workers: recovery finds expired leases in it, and
      * heartbeat and release walk it for an owner's rows rather than keep
      * one more index up to date on every claim and completion. */
     "CREATE INDEX tasks_lease ON tasks (lease_expires_ms) WHERE state = 2;"
     /* Pruning finds the oldest finished tasks. */
     "CREATE INDEX tasks_finished ON tasks (finished_ms) WHERE finished_ms > 0;"},
    {2, "tasks.principal: isolation and idempotency keys per authenticated principal",
     "ALTER TABLE tasks ADD COLUMN principal TEXT NOT NULL DEFAULT '';"
     "DROP INDEX tasks_idempotency;"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (principal, name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* ListTasks of one principal, newest first. */
     "CREATE INDEX tasks_principal_id ON tasks (principal, id);"},
    {3, "drop tasks_lease: tasks_state_id already finds the RUNNING rows",
     /* Every task enters and leaves RUNNING, so this index cost two B-tree
      * writes per task; the (state, id) index reaches the same rows, only
      * those RUNNING, for recovery, heartbeats and release. */
     "DROP INDEX tasks_lease;"},
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == SCHEMA_VERSION, "SCHEMA_VERSION is the last migration");

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_IDEM_LOOKUP,
    ST_CLAIM,
    ST_COMPLETE,
    ST_LOOKUP,
    ST_PROGRESS,
    ST_CANCEL_PENDING,
    ST_CANCEL_RUNNING,
    ST_HEARTBEAT,
    ST_RECOVER_RETRY,
    ST_RECOVER_FAIL,
    ST_RELEASE_CANCEL,
    ST_RELEASE,
    ST_PRUNE,
    ST_COUNT
};

#define APPEND_ATTEMPT(err, when)                                                      \
    "json_insert(attempts_json, '$[#]', json_object('attempt', attempt, 'error', " err \
    ", 'finished_ms', " when "))"

/* The hot statements name their index (INDEXED BY): without statistics the
 * planner prefers tasks_state_id for "state = 1" and sorts every pending row
 * in a temporary B-tree on each claim; a named index keeps each plan a
 * bounded index walk, and fails loudly at prepare time if the index is gone. */
static const char *const write_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] =
        "INSERT INTO tasks (id, name, input, state, priority, attempt, max_attempts, timeout_s,"
        " idempotent, idempotency_key, input_hash, created_ms, updated_ms, run_after_ms,"
        " principal, lease_owner, lease_expires_ms, lease_token, started_ms)"
        " VALUES (?1, ?2, ?3, CASE WHEN ?13 IS NULL THEN 1 ELSE 2 END, ?4,"
        " ?13 IS NOT NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13,"
        " CASE WHEN ?13 IS NULL THEN 0 ELSE ?10 + ?14 END, ?13 IS NOT NULL,"
        " CASE WHEN ?13 IS NULL THEN 0 ELSE ?10 END)",
    [ST_IDEM_LOOKUP] = "SELECT id, input_hash FROM tasks"
                       " WHERE principal = ?3 AND name = ?1 AND idempotency_key = ?2",
    [ST_CLAIM] =
        "UPDATE tasks SET state = 2, attempt = attempt + 1, lease_owner = ?1,"
        " lease_expires_ms = ?2 + ?3, lease_token = lease_token + 1, started_ms = ?2,"
        " updated_ms = ?2, progress = 0, progress_message = NULL"
        " WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_claim"
        " WHERE state = 1 AND run_after_ms <= ?2"
        " ORDER BY priority DESC, run_after_ms, id LIMIT ?4)"
        " RETURNING " TASK_COLS,
    [ST_COMPLETE] =
        "UPDATE tasks SET state = ?3,"
        " output = CASE WHEN ?3 = 3 THEN ?4 ELSE NULL END,"
        " error = ?5,"
        " attempts_json = CASE WHEN ?5 IS NULL THEN attempts_json"
        "  ELSE " APPEND_ATTEMPT("?5", "?7") " END,"
        " run_after_ms = CASE WHEN ?3 = 1 THEN ?6 ELSE run_after_ms END,"
        " finished_ms = CASE WHEN ?3 = 1 THEN 0 ELSE ?7 END,"
        " progress = CASE WHEN ?3 = 3 THEN 1.0 WHEN ?3 = 1 THEN 0.0 ELSE progress END,"
        " progress_message = CASE WHEN ?3 = 1 THEN NULL ELSE progress_message END,"
        " started_ms = CASE WHEN ?8 > 0 THEN ?8 ELSE started_ms END,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = ?7"
        " WHERE id = ?1 AND state = 2 AND lease_token = ?2",
    [ST_LOOKUP] = "SELECT state, lease_token FROM tasks WHERE id = ?1",
    [ST_PROGRESS] = "UPDATE tasks SET progress = ?3, progress_message = ?4, updated_ms = ?5"
                    " WHERE id = ?1 AND state = 2 AND lease_token = ?2",
    [ST_CANCEL_PENDING] =
        "UPDATE tasks SET state = 5, cancel_requested = 1, error = 'cancelled',"
        " finished_ms = ?2, updated_ms = ?2 WHERE id = ?1 AND state = 1",
    [ST_CANCEL_RUNNING] = "UPDATE tasks SET cancel_requested = 1, updated_ms = ?2"
                          " WHERE id = ?1 AND state = 2",
    [ST_HEARTBEAT] = "UPDATE tasks INDEXED BY tasks_state_id SET lease_expires_ms = ?2"
                     " WHERE state = 2 AND lease_owner = ?1",
    [ST_RECOVER_RETRY] =
        "UPDATE tasks INDEXED BY tasks_state_id SET state = 1, run_after_ms = ?1,"
        " error = 'interrupted',"
        " attempts_json = " APPEND_ATTEMPT("'interrupted'", "?1") ","
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = ?1"
        " WHERE state = 2 AND lease_expires_ms <= ?2 AND idempotent = 1"
        " AND attempt < max_attempts AND cancel_requested = 0",
    [ST_RECOVER_FAIL] =
        "UPDATE tasks INDEXED BY tasks_state_id"
        " SET state = CASE WHEN cancel_requested = 1 THEN 5 ELSE 4 END,"
        " error = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'interrupted' END,"
        " attempts_json = " APPEND_ATTEMPT("'interrupted'", "?1") ","
        " finished_ms = ?1, lease_owner = NULL, lease_expires_ms = 0, updated_ms = ?1"
        " WHERE state = 2 AND lease_expires_ms <= ?2",
    [ST_RELEASE_CANCEL] =
        "UPDATE tasks INDEXED BY tasks_state_id SET state = 5, error = 'cancelled', finished_ms = ?2,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = ?2"
        " WHERE state = 2 AND lease_owner = ?1 AND cancel_requested = 1",
    [ST_RELEASE] =
        "UPDATE tasks INDEXED BY tasks_state_id SET state = 1, attempt = attempt - 1, progress = 0,"
        " progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0, updated_ms = ?2"
        " WHERE state = 2 AND lease_owner = ?1",
    [ST_PRUNE] = "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_finished"
                 " WHERE finished_ms > 0 AND finished_ms < ?1 AND state IN (3, 4, 5)"
                 " ORDER BY finished_ms LIMIT ?2)",
};

/* One read connection and its statements. list[] is indexed by which
 * filters a query uses (LQ_* below), prepared on first use. */
typedef struct reader {
    sqlite3 *db;
    sqlite3_stmt *get;
    sqlite3_stmt *list[32];
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
} sq_store;

static _Thread_local char tl_error[512];

static void set_tl_error(const char *what, sqlite3 *db)
{
    snprintf(tl_error, sizeof(tl_error), "%s: %s", what, db ? sqlite3_errmsg(db) : "no connection");
}

static int map_rc(int rc)
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
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s, size_t len)
{
    if (!s)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text64(st, i, s, len ? len : strlen(s), SQLITE_STATIC, SQLITE_UTF8);
}

static int col_dup(sqlite3_stmt *st, int i, char **out, size_t *len)
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
static int row_to_rec(sqlite3_stmt *st, taas_task_rec *r)
{
    memset(r, 0, sizeof(*r));
    const unsigned char *id = sqlite3_column_text(st, 0);
    if (id)
        snprintf(r->id, sizeof(r->id), "%s", (const char *)id);
    int rc = col_dup(st, 1, &r->name, NULL);
    rc = rc ? rc : col_dup(st, 2, &r->input, &r->input_len);
    r->state = (taas_task_state)sqlite3_column_int(st, 3);
    r->priority = sqlite3_column_int(st, 4);
    r->attempt = sqlite3_column_int(st, 5);
    r->max_attempts = sqlite3_column_int(st, 6);
    r->timeout_s = sqlite3_column_int(st, 7);
    r->idempotent = sqlite3_column_int(st, 8) != 0;
    rc = rc ? rc : col_dup(st, 9, &r->idempotency_key, NULL);
    rc = rc ? rc : col_dup(st, 10, &r->input_hash, NULL);
    r->created_ms = sqlite3_column_int64(st, 11);
    r->updated_ms = sqlite3_column_int64(st, 12);
    r->run_after_ms = sqlite3_column_int64(st, 13);
    r->started_ms = sqlite3_column_int64(st, 14);
    r->finished_ms = sqlite3_column_int64(st, 15);
    r->progress = sqlite3_column_double(st, 16);
    rc = rc ? rc : col_dup(st, 17, &r->progress_message, NULL);
    rc = rc ? rc : col_dup(st, 18, &r->output, &r->output_len);
    rc = rc ? rc : col_dup(st, 19, &r->error, NULL);
    rc = rc ? rc : col_dup(st, 20, &r->attempts_json, NULL);
    r->cancel_requested = sqlite3_column_int(st, 21) != 0;
    rc = rc ? rc : col_dup(st, 22, &r->lease_owner, NULL);
    r->lease_expires_ms = sqlite3_column_int64(st, 23);
    r->lease_token = sqlite3_column_int64(st, 24);
    const unsigned char *who = sqlite3_column_text(st, 25);
    if (who && *who && !rc)
        rc = col_dup(st, 25, &r->principal, NULL);
    if (!rc && !r->attempts_json && !(r->attempts_json = strdup("[]")))
        rc = TAAS_STORE_ENOMEM;
    if (rc)
        taas_task_rec_clear(r);
    return rc;
}

static bool uuid_shaped(const char *s)
{
    if (!s || strlen(s) != TAAS_ID_LEN)
        return false;
    for (int i = 0; i < TAAS_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}


/* ------------------------------------------------------------------------ */
/* Operations. Each returns 0 when the operation was decided (op->result
 * says how) or a negative TAAS_STORE_E* code that aborts the transaction. */

static int fatal(sq_store *s, int rc, const char *what)
{
    set_tl_error(what, s->db);
    return map_rc(rc);
}

/* After an UPDATE that matched nothing: is the id unknown, or the token stale? */
static int stale_or_missing(sq_store *s, const char *id, taas_store_op *op)
{
    sqlite3_stmt *st = s->st[ST_LOOKUP];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_ROW)
        op->result = TAAS_STORE_ESTALE;
    else if (rc == SQLITE_DONE)
        op->result = TAAS_STORE_ENOTFOUND;
    else
        return fatal(s, rc, "lookup");
    return 0;
}

static int op_insert(sq_store *s, taas_store_op *op)
{
    const taas_task_rec *t = op->u.insert.task;
    if (!t || !uuid_shaped(t->id) || !t->name || !*t->name || !t->input ||
        (op->u.insert.claim_owner && t->run_after_ms > t->created_ms)) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    if (t->idempotency_key) {
        sqlite3_stmt *st = s->st[ST_IDEM_LOOKUP];
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->idempotency_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->principal ? t->principal : "", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *h = (const char *)sqlite3_column_text(st, 1);
            bool same = (!h && !t->input_hash) || (h && t->input_hash && !strcmp(h, t->input_hash));
            if (same) {
                op->u.insert.duplicate = true;
                snprintf(op->u.insert.existing_id, sizeof(op->u.insert.existing_id), "%s",
                         (const char *)sqlite3_column_text(st, 0));
            } else {
                op->result = TAAS_STORE_ECONFLICT;
            }
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc == SQLITE_ROW)
            return 0;
        if (rc != SQLITE_DONE)
            return fatal(s, rc, "idempotency lookup");
    }
    sqlite3_stmt *st = s->st[ST_INSERT];
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    bind_text(st, 3, t->input, t->input_len);
    sqlite3_bind_int(st, 4, t->priority);
    sqlite3_bind_int(st, 5, t->max_attempts > 0 ? t->max_attempts : 1);
    sqlite3_bind_int(st, 6, t->timeout_s > 0 ? t->timeout_s : 0);
    sqlite3_bind_int(st, 7, t->idempotent ? 1 : 0);
    bind_text(st, 8, t->idempotency_key, 0);
    bind_text(st, 9, t->input_hash, 0);
    sqlite3_bind_int64(st, 10, t->created_ms);
    sqlite3_bind_int64(st, 11, t->run_after_ms);
    sqlite3_bind_text(st, 12, t->principal ? t->principal : "", -1, SQLITE_STATIC);
    bind_text(st, 13, op->u.insert.claim_owner, 0);
    sqlite3_bind_int64(st, 14, op->u.insert.lease_ms);
    int rc = step_done(st);
    if (rc == SQLITE_OK)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) { /* the id is taken */
        op->result = TAAS_STORE_ECONFLICT;
        return 0;
    }
    if ((rc & 0xff) == SQLITE_TOOBIG) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    return fatal(s, rc, "insert");
}

static int claim_cmp(const void *a, const void *b)
{
    const taas_task_rec *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->run_after_ms != y->run_after_ms)
        return x->run_after_ms < y->run_after_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int op_claim(sq_store *s, taas_store_op *op)
{
    if (!op->u.claim.owner || !op->u.claim.out || op->u.claim.max < 0 || op->u.claim.lease_ms < 0) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    if (op->u.claim.max == 0)
        return 0;
    sqlite3_stmt *st = s->st[ST_CLAIM];
    sqlite3_bind_text(st, 1, op->u.claim.owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->u.claim.now_ms);
    sqlite3_bind_int64(st, 3, op->u.claim.lease_ms);
    sqlite3_bind_int(st, 4, op->u.claim.max);
    int rc, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (op->u.claim.n >= op->u.claim.max)
            continue; /* cannot happen: LIMIT; finish the statement anyway */
        err = row_to_rec(st, &op->u.claim.out[op->u.claim.n]);
        if (err)
            break;
        op->u.claim.n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) {
        snprintf(tl_error, sizeof(tl_error), "claim: out of memory");
        return err;
    }
    if (rc != SQLITE_DONE)
        return fatal(s, rc, "claim");
    /* RETURNING yields rows in no particular order; give them in claim order. */
    qsort(op->u.claim.out, (size_t)op->u.claim.n, sizeof(taas_task_rec), claim_cmp);
    return 0;
}

static int op_complete(sq_store *s, taas_store_op *op)
{
    taas_task_state to = op->u.complete.state;
    if (!op->u.complete.id || !(to == TAAS_TASK_PENDING || taas_task_state_final(to))) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st = s->st[ST_COMPLETE];
    sqlite3_bind_text(st, 1, op->u.complete.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->u.complete.lease_token);
    sqlite3_bind_int(st, 3, (int)to);
    bind_text(st, 4, op->u.complete.output, op->u.complete.output_len);
    bind_text(st, 5, op->u.complete.error, 0);
    sqlite3_bind_int64(st, 6, op->u.complete.run_after_ms);
    sqlite3_bind_int64(st, 7, op->u.complete.now_ms);
    sqlite3_bind_int64(st, 8, op->u.complete.started_ms);
    int rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "complete");
    if (sqlite3_changes(s->db) == 0)
        return stale_or_missing(s, op->u.complete.id, op);
    return 0;
}

static int op_progress(sq_store *s, taas_store_op *op)
{
    if (!op->u.progress.id) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    double p = op->u.progress.progress;
    if (!(p >= 0.0)) /* also NaN */
        p = 0.0;
    if (p > 1.0)
        p = 1.0;
    sqlite3_stmt *st = s->st[ST_PROGRESS];
    sqlite3_bind_text(st, 1, op->u.progress.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->u.progress.lease_token);
    sqlite3_bind_double(st, 3, p);
    bind_text(st, 4, op->u.progress.message, 0);
    sqlite3_bind_int64(st, 5, op->u.progress.now_ms);
    int rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "progress");
    if (sqlite3_changes(s->db) == 0)
        return stale_or_missing(s, op->u.progress.id, op);
    return 0;
}

static int op_cancel(sq_store *s, taas_store_op *op)
{
    if (!op->u.cancel.id) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st = s->st[ST_LOOKUP];
    sqlite3_bind_text(st, 1, op->u.cancel.id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    taas_task_state cur = TAAS_TASK_UNSPECIFIED;
    int64_t token = 0;
    if (rc == SQLITE_ROW) {
        cur = (taas_task_state)sqlite3_column_int(st, 0);
        token = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) {
        op->result = TAAS_STORE_ENOTFOUND;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return fatal(s, rc, "cancel lookup");
    if (taas_task_state_final(cur)) {
        op->u.cancel.state_after = cur;
        op->result = TAAS_STORE_EFINAL;
        return 0;
    }
    st = s->st[cur == TAAS_TASK_PENDING ? ST_CANCEL_PENDING : ST_CANCEL_RUNNING];
    sqlite3_bind_text(st, 1, op->u.cancel.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->u.cancel.now_ms);
    rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "cancel");
    if (cur == TAAS_TASK_PENDING) {
        op->u.cancel.state_after = TAAS_TASK_CANCELLED;
    } else {
        op->u.cancel.state_after = TAAS_TASK_RUNNING;
        op->u.cancel.lease_token = token;
    }
    return 0;
}

static int op_heartbeat(sq_store *s, taas_store_op *op)
{
    if (!op->u.heartbeat.owner) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st = s->st[ST_HEARTBEAT];
    sqlite3_bind_text(st, 1, op->u.heartbeat.owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, op->u.heartbeat.lease_expires_ms);
    int rc = step_done(st);
    return rc == SQLITE_OK ? 0 : fatal(s, rc, "heartbeat");
}

static int op_recover(sq_store *s, taas_store_op *op)
{
    int64_t cutoff = op->u.recover.lease_cutoff_ms ? op->u.recover.lease_cutoff_ms
                                                    : op->u.recover.now_ms;
    sqlite3_stmt *st = s->st[ST_RECOVER_RETRY];
    sqlite3_bind_int64(st, 1, op->u.recover.now_ms);
    sqlite3_bind_int64(st, 2, cutoff);
    int rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "recover");
    op->u.recover.retried = sqlite3_changes(s->db);
    st = s->st[ST_RECOVER_FAIL];
    sqlite3_bind_int64(st, 1, op->u.recover.now_ms);
    sqlite3_bind_int64(st, 2, cutoff);
    rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "recover");
    op->u.recover.failed = sqlite3_changes(s->db);
    return 0;
}

static int op_release(sq_store *s, taas_store_op *op)
{
    if (!op->u.release.owner) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    for (int k = ST_RELEASE_CANCEL; k <= ST_RELEASE; k++) {
        sqlite3_stmt *st = s->st[k];
        sqlite3_bind_text(st, 1, op->u.release.owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.release.now_ms);
        int rc = step_done(st);
        if (rc != SQLITE_OK)
            return fatal(s, rc, "release");
    }
    op->u.release.released = sqlite3_changes(s->db);
    return 0;
}

static int op_prune(sq_store *s, taas_store_op *op)
{
    if (op->u.prune.limit <= 0) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st = s->st[ST_PRUNE];
    sqlite3_bind_int64(st, 1, op->u.prune.finished_before_ms);
    sqlite3_bind_int(st, 2, op->u.prune.limit);
    int rc = step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "prune");
    op->u.prune.deleted = sqlite3_changes(s->db);
    return 0;
}


static int apply_one(sq_store *s, taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_INSERT: return op_insert(s, op);
    case TAAS_OP_CLAIM: return op_claim(s, op);
    case TAAS_OP_COMPLETE: return op_complete(s, op);
    case TAAS_OP_PROGRESS: return op_progress(s, op);
    case TAAS_OP_CANCEL: return op_cancel(s, op);
    case TAAS_OP_HEARTBEAT: return op_heartbeat(s, op);
    case TAAS_OP_RECOVER: return op_recover(s, op);
    case TAAS_OP_RELEASE: return op_release(s, op);
    case TAAS_OP_PRUNE: return op_prune(s, op);
    }
    op->result = TAAS_STORE_EINVAL;
    return 0;
}

static int sq_apply(taas_store *base, taas_store_op *ops[], size_t n)
{
    sq_store *s = (sq_store *)base;
    int err = 0, rc;
    if (n == 0)
        return 0;
    if (!s->path)
        pthread_mutex_lock(&s->mem_mu);
    for (size_t i = 0; i < n; i++)
        taas_store__reset_outputs(ops[i]);
    rc = step_done(s->st[ST_BEGIN]);
    if (rc != SQLITE_OK) {
        err = fatal(s, rc, "begin");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        err = apply_one(s, ops[i]);
        TAAS_FAULT_POINT_OP("store.txn", ops[i]->kind); /* applied, not committed */
        if (err)
            goto fail;
    }
    rc = step_done(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK) {
        err = fatal(s, rc, "commit");
        goto fail;
    }
    if (!s->path)
        pthread_mutex_unlock(&s->mem_mu);
    return 0;

fail:
    /* SQLite may already have rolled back (SQLITE_FULL, some I/O errors). */
    if (!sqlite3_get_autocommit(s->db))
        step_done(s->st[ST_ROLLBACK]);
    for (size_t i = 0; i < n; i++) {
        taas_store__discard_outputs(ops[i]);
        ops[i]->result = err;
    }
    if (!s->path)
        pthread_mutex_unlock(&s->mem_mu);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Readers */

static int exec_pragma(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void reader_free_stmts(reader *r)
{
    sqlite3_finalize(r->get);
    for (size_t i = 0; i < sizeof(r->list) / sizeof(r->list[0]); i++)
        sqlite3_finalize(r->list[i]);
    r->get = NULL;
    memset(r->list, 0, sizeof(r->list));
}

static int reader_prepare(reader *r)
{
    int rc = sqlite3_prepare_v3(r->db, "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->get, NULL);
    return rc;
}

static reader *reader_open(sq_store *s, int *err)
{
    reader *r = calloc(1, sizeof(*r));
    if (!r) {
        *err = TAAS_STORE_ENOMEM;
        return NULL;
    }
    int rc = sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(r->db, 1);
        sqlite3_busy_timeout(r->db, s->busy_timeout_ms);
        rc = exec_pragma(r->db, "PRAGMA query_only = ON");
    }
    if (rc == SQLITE_OK)
        rc = reader_prepare(r);
    if (rc != SQLITE_OK) {
        set_tl_error("open read connection", r->db);
        *err = map_rc(rc);
        reader_free_stmts(r);
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    return r;
}

static reader *reader_acquire(sq_store *s, int *err)
{
    if (!s->path) {
        pthread_mutex_lock(&s->mem_mu);
        return &s->mem_reader;
    }
    pthread_mutex_lock(&s->pool_mu);
    while (!s->free_readers && s->n_readers >= s->max_readers)
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    reader *r = s->free_readers;
    if (r) {
        s->free_readers = r->next;
        pthread_mutex_unlock(&s->pool_mu);
        return r;
    }
    s->n_readers++;
    pthread_mutex_unlock(&s->pool_mu);
    r = reader_open(s, err);
    if (!r) {
        pthread_mutex_lock(&s->pool_mu);
        s->n_readers--;
        pthread_cond_signal(&s->pool_cv);
        pthread_mutex_unlock(&s->pool_mu);
    }
    return r;
}

static void reader_release(sq_store *s, reader *r)
{
    if (!s->path) {
        pthread_mutex_unlock(&s->mem_mu);
        return;
    }
    pthread_mutex_lock(&s->pool_mu);
    r->next = s->free_readers;
    s->free_readers = r;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

static int sq_get(taas_store *base, const char *id, taas_task_rec *out)
{
    sq_store *s = (sq_store *)base;
    int err = 0;
    if (!out)
        return TAAS_STORE_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!id)
        return TAAS_STORE_EINVAL;
    reader *r = reader_acquire(s, &err);
    if (!r)
        return err;
    sqlite3_bind_text(r->get, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(r->get);
    if (rc == SQLITE_ROW)
        err = row_to_rec(r->get, out);
    else if (rc == SQLITE_DONE)
        err = TAAS_STORE_ENOTFOUND;
    else {
        set_tl_error("get", r->db);
        err = map_rc(rc);
    }
    sqlite3_reset(r->get);
    sqlite3_clear_bindings(r->get);
    reader_release(s, r);
    return err;
}

/* LQ_LIVE: the state asked for is PENDING or RUNNING. */
enum { LQ_STATE = 1, LQ_NAME = 2, LQ_AFTER = 4, LQ_PRINCIPAL = 8, LQ_LIVE = 16 };

static int sq_list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
                   char next_token[64])
{
    sq_store *s = (sq_store *)base;
    char after[TAAS_ID_LEN + 1];
    int err = 0, rc;
    if (!out || !n || !next_token)
        return TAAS_STORE_EINVAL;
    *out = NULL;
    *n = 0;
    next_token[0] = '\0';
    if (!q || q->limit < 1 || q->limit > 1000 || q->state < TAAS_TASK_UNSPECIFIED ||
        q->state > TAAS_TASK_CANCELLED) {
        snprintf(tl_error, sizeof(tl_error), "list: limit must be 1..1000 and state valid");
        return TAAS_STORE_EINVAL;
    }
    int v = 0;
    if (q->state != TAAS_TASK_UNSPECIFIED)
        v |= LQ_STATE;
    if (q->state == TAAS_TASK_PENDING || q->state == TAAS_TASK_RUNNING)
        v |= LQ_LIVE;
    if (q->name)
        v |= LQ_NAME;
    if (q->principal)
        v |= LQ_PRINCIPAL;
    if (q->page_token && *q->page_token) {
        if (taas_store__token_decode(q->page_token, after) != 0) {
            snprintf(tl_error, sizeof(tl_error), "list: malformed page token");
            return TAAS_STORE_EINVAL;
        }
        v |= LQ_AFTER;
    }
    taas_task_rec *recs = calloc((size_t)q->limit, sizeof(*recs));
    if (!recs)
        return TAAS_STORE_ENOMEM;
    reader *r = reader_acquire(s, &err);
    if (!r) {
        free(recs);
        return err;
    }
    if (!r->list[v]) {
        char sql[1024];
        /* The walk is named (INDEXED BY): the state index for PENDING or
         * RUNNING (those hold only the queue and the running tasks), else
         * the name index when the query has a name, else the state index,
         * else the principal index, else the primary key; any other filter
         * is checked row by row. Each single filter so costs `limit` index
         * entries and rows however many tasks are stored, and a
         * statistics-driven planner cannot swap it for a primary-key walk
         * that filters (unbounded when the state asked for is rare among the
         * newest tasks). docs/storage.md, Listing. */
        snprintf(sql, sizeof(sql), "SELECT " SUMMARY_COLS " FROM tasks%s WHERE 1%s%s%s%s"
                 " ORDER BY id DESC LIMIT :limit",
                 (v & LQ_LIVE)        ? " INDEXED BY tasks_state_id"
                 : (v & LQ_NAME)      ? " INDEXED BY tasks_name_id"
                 : (v & LQ_STATE)     ? " INDEXED BY tasks_state_id"
                 : (v & LQ_PRINCIPAL) ? " INDEXED BY tasks_principal_id"
                                      : "",
                 (v & LQ_PRINCIPAL) ? " AND principal = :principal" : "",
                 (v & LQ_STATE) ? " AND state = :state" : "",
                 (v & LQ_NAME) ? " AND name = :name" : "",
                 (v & LQ_AFTER) ? " AND id < :after" : "");
        rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->list[v], NULL);
        if (rc != SQLITE_OK) {
            set_tl_error("list prepare", r->db);
            reader_release(s, r);
            free(recs);
            return map_rc(rc);
        }
    }
    sqlite3_stmt *st = r->list[v];
    if (v & LQ_STATE)
        sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":state"), (int)q->state);
    if (v & LQ_NAME)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":name"), q->name, -1, SQLITE_STATIC);
    if (v & LQ_PRINCIPAL)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":principal"), q->principal, -1,
                          SQLITE_STATIC);
    if (v & LQ_AFTER)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":after"), after, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), q->limit + 1);
    size_t got = 0;
    bool more = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == (size_t)q->limit) {
            more = true;
            continue;
        }
        err = row_to_rec(st, &recs[got]);
        if (err)
            break;
        got++;
    }
    if (!err && rc != SQLITE_DONE) {
        set_tl_error("list", r->db);
        err = map_rc(rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    reader_release(s, r);
    if (err) {
        for (size_t i = 0; i < got; i++)
            taas_task_rec_clear(&recs[i]);
        free(recs);
        return err;
    }
    if (more && got > 0)
        taas_store__token_encode(recs[got - 1].id, next_token);
    if (got == 0) {
        free(recs);
        recs = NULL;
    }
    *out = recs;
    *n = got;
    return 0;
}

static const char *sq_describe(taas_store *base)
{
    return ((sq_store *)base)->describe;
}

static const char *sq_last_error(taas_store *base)
{
    (void)base;
    return tl_error;
}

static void sq_close(taas_store *base)
{
    sq_store *s = (sq_store *)base;
    if (!s)
        return;
    reader *r = s->free_readers;
    while (r) {
        reader *next = r->next;
        reader_free_stmts(r);
        sqlite3_close(r->db);
        free(r);
        r = next;
    }
    reader_free_stmts(&s->mem_reader);
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

/* ------------------------------------------------------------------------ */
/* Open and migrate */

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int migrate(sq_store *s, char *err, size_t errlen)
{
    sqlite3 *db = s->db;
    for (;;) {
        int64_t cur = 0;
        int rc = exec_pragma(db, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            rc = exec_pragma(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 " version INTEGER PRIMARY KEY,"
                                 " description TEXT NOT NULL,"
                                 " applied_ms INTEGER NOT NULL)");
        if (rc == SQLITE_OK)
            rc = query_int(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &cur);
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot read the schema version of %s: %s", s->url,
                               sqlite3_errmsg(db));
            exec_pragma(db, "ROLLBACK");
            return map_rc(rc);
        }
        if (cur > SCHEMA_VERSION) {
            exec_pragma(db, "ROLLBACK");
            taas_store__seterr(err, errlen,
                               "database %s has schema version %lld, newer than this server "
                               "knows (%d): run a newer taas-server, or restore a backup",
                               s->url, (long long)cur, SCHEMA_VERSION);
            return TAAS_STORE_EINVAL;
        }
        if (cur == SCHEMA_VERSION) {
            exec_pragma(db, "COMMIT");
            return 0;
        }
        const struct migration *m = &migrations[cur]; /* versions are 1..N in order */
        rc = exec_pragma(db, m->sql);
        if (rc == SQLITE_OK) {
            sqlite3_stmt *st;
            rc = sqlite3_prepare_v2(db,
                                    "INSERT INTO schema_migrations (version, description, applied_ms)"
                                    " VALUES (?1, ?2, CAST((julianday('now') - 2440587.5)"
                                    " * 86400000 AS INTEGER))",
                                    -1, &st, NULL);
            if (rc == SQLITE_OK) {
                sqlite3_bind_int(st, 1, m->version);
                sqlite3_bind_text(st, 2, m->description, -1, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
                sqlite3_finalize(st);
            }
        }
        if (rc == SQLITE_OK)
            rc = exec_pragma(db, "COMMIT");
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "migration %d (%s) of %s failed: %s", m->version,
                               m->description, s->url, sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                exec_pragma(db, "ROLLBACK");
            return map_rc(rc);
        }
    }
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
    s->parent.apply = sq_apply;
    s->parent.get = sq_get;
    s->parent.list = sq_list;
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
    rc = exec_pragma(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK && opts && opts->max_bytes > 0) {
        int64_t page = 4096;
        rc = query_int(s->db, "PRAGMA page_size", &page);
        if (rc == SQLITE_OK) {
            char sql[64];
            int64_t pages = page > 0 ? opts->max_bytes / page : 1;
            snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
                     (long long)(pages > 0 ? pages : 1));
            rc = exec_pragma(s->db, sql);
        }
    }
    if (rc != SQLITE_OK) {
        taas_store__seterr(err, errlen, "cannot configure %s: %s", url, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (migrate(s, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, write_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot prepare statement %d on %s: %s", i, url,
                               sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (!path) {
        s->mem_reader.db = s->db;
        if (reader_prepare(&s->mem_reader) != SQLITE_OK) {
            taas_store__seterr(err, errlen, "cannot prepare reads on %s: %s", url,
                               sqlite3_errmsg(s->db));
            goto fail;
        }
        snprintf(s->describe, sizeof(s->describe), "%s (in memory, not durable)", url);
    } else {
        snprintf(s->describe, sizeof(s->describe), "%s (WAL, synchronous=FULL)", url);
    }
    return &s->parent;

fail:
    sq_close(&s->parent);
    return NULL;
}
