/*
 * runtime/store/postgres.c - the PostgreSQL backend of the store (store.h),
 * on libpq.
 *
 * Many servers, one database. Any number of taas-server processes share the
 * database: they claim work with FOR UPDATE SKIP LOCKED (two claimers never
 * take the same row and never wait for each other), wake each other with
 * NOTIFY taas_tasks / LISTEN, and recover each other's expired leases. Every
 * operation below is one SQL statement whose own WHERE clause re-checks what
 * it depends on, so the answers stay right when another server changes a row
 * between two batches of ours.
 *
 * Method. One writer connection, used only by apply() on the writer thread,
 * holds every write statement prepared. A batch is sent in libpq pipeline
 * mode as BEGIN, one statement per operation, an optional NOTIFY, COMMIT and
 * one Sync, and its results are read back in order: a whole batch costs one
 * network round trip, however many operations it holds. The semantics are
 * those of sqlite.c, operation by operation, including the order of
 * operations inside a batch (each statement sees the ones before it).
 * Durability comes from the server: COMMIT returns after the WAL is flushed
 * when synchronous_commit is on, and a server where it is off is refused
 * unless the caller accepts losing acknowledged work in a crash.
 *
 * An operation refused on its own merits (stale token, unknown id,
 * idempotency conflict) sets its own result and the transaction goes on. A
 * statement that PostgreSQL rejects because of its data (SQLSTATE classes 22
 * and 23, e.g. a NUL byte in a text) aborts the transaction; that operation
 * is then marked TAAS_STORE_EINVAL and the batch runs again without it, so
 * one bad submit cannot fail the others. Anything else (connection lost,
 * disk full, lock timeout) fails the whole batch with one code.
 *
 * Connections. A lost connection is noticed before use (a server that shut
 * down has said so on the socket) or by the failing call, which returns
 * TAAS_STORE_EBUSY; the next call connects again, so the server rides
 * through a database restart without being restarted itself. One caveat
 * remains with any client/server database: if the connection drops while
 * COMMIT is in flight, the batch may or may not have committed; it is
 * reported as failed, and a retried insert then finds its own id
 * (TAAS_STORE_ECONFLICT) or idempotency key (duplicate).
 *
 * Notifications. Each transaction announces what it did, inside itself, so
 * listeners hear only of commits: NOTIFY taas_tasks when a task may have
 * become claimable, and pg_notify('taas_task_events', ids) with the ids of
 * tasks whose state, progress or cancel request changed - for completions,
 * progress and cancels the ids are known before the batch is sent, so they
 * go in one statement per 200 ids after the operations; claims, recovery and
 * release learn theirs only as they run, so those statements announce their
 * own rows in SQL (NOTIFY_IDS). wait_notify() listens on a connection of its
 * own; when that connection is re-made it reports RESYNC first, since
 * anything sent meanwhile is lost.
 *
 * Readers. get() and list() borrow a connection from a small pool (created
 * on demand, at most max_readers) and give it back; a reused connection that
 * turns out to be dead is replaced and the read retried once.
 *
 * Passwords. The URL may carry a password. It is handed to libpq and never
 * copied into a message: describe() and every error name the target as
 * user@host:port/db.
 */
#include "store/postgres.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA_VERSION 3
/* pg_advisory_xact_lock key serializing migrations: "taas" in ASCII, then 1. */
#define MIGRATION_LOCK_KEY "8386103567981903873"

/* Every column of taas_task_rec, in the order row_to_rec() reads them. */
#define COLS(p)                                                                             \
    p "id, " p "name, " p "input, " p "state, " p "priority, " p "attempt, " p                \
    "max_attempts, " p "timeout_s, " p "idempotent, " p "idempotency_key, " p "input_hash, " p \
    "created_ms, " p "updated_ms, " p "run_after_ms, " p "started_ms, " p "finished_ms, " p   \
    "progress, " p "progress_message, " p "output, " p "error, " p "attempts_json, " p        \
    "cancel_requested, " p "lease_owner, " p "lease_expires_ms, " p "lease_token, " p "principal"
#define TASK_COLS COLS("")
/* The same columns for summaries: no input or output text. */
#define SUMMARY_COLS                                                                        \
    "id, name, NULL, state, priority, attempt, max_attempts, timeout_s, idempotent, "       \
    "idempotency_key, input_hash, created_ms, updated_ms, run_after_ms, started_ms, "       \
    "finished_ms, progress, progress_message, NULL, error, attempts_json, "                 \
    "cancel_requested, lease_owner, lease_expires_ms, lease_token, principal"

static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "tasks table with claim, list, idempotency, lease and prune indexes",
     /* The shape of sqlite.c's table. Ids and names compare bytewise (COLLATE
      * "C") whatever the database's locale, so list order and page tokens
      * are those of SQLite. */
     "CREATE TABLE tasks ("
     " id text COLLATE \"C\" NOT NULL PRIMARY KEY,"
     " name text COLLATE \"C\" NOT NULL,"
     " input text NOT NULL,"
     " state smallint NOT NULL CHECK (state BETWEEN 1 AND 5),"
     " priority integer NOT NULL DEFAULT 0,"
     " attempt integer NOT NULL DEFAULT 0,"
     " max_attempts integer NOT NULL DEFAULT 1,"
     " timeout_s integer NOT NULL DEFAULT 0,"
     " idempotent boolean NOT NULL DEFAULT false,"
     " idempotency_key text COLLATE \"C\","
     " input_hash text,"
     " created_ms bigint NOT NULL,"
     " updated_ms bigint NOT NULL,"
     " run_after_ms bigint NOT NULL DEFAULT 0,"
     " started_ms bigint NOT NULL DEFAULT 0,"
     " finished_ms bigint NOT NULL DEFAULT 0,"
     " progress double precision NOT NULL DEFAULT 0,"
     " progress_message text,"
     " output text,"
     " error text,"
     " attempts_json text NOT NULL DEFAULT '[]',"
     " cancel_requested boolean NOT NULL DEFAULT false,"
     " lease_owner text,"
     " lease_expires_ms bigint NOT NULL DEFAULT 0,"
     " lease_token bigint NOT NULL DEFAULT 0"
     ");"
     "CREATE INDEX tasks_claim ON tasks (priority DESC, run_after_ms, id) WHERE state = 1;"
     "CREATE INDEX tasks_state_id ON tasks (state, id);"
     "CREATE INDEX tasks_name_id ON tasks (name, id);"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     /* Recovery, heartbeat and release all walk the RUNNING rows; one small
      * partial index serves the three, as in sqlite.c. */
     "CREATE INDEX tasks_lease ON tasks (lease_expires_ms) WHERE state = 2;"
     "CREATE INDEX tasks_finished ON tasks (finished_ms) WHERE finished_ms > 0;"},
    {2, "tasks.principal: isolation and idempotency keys per authenticated principal",
     "ALTER TABLE tasks ADD COLUMN principal text COLLATE \"C\" NOT NULL DEFAULT '';"
     "DROP INDEX tasks_idempotency;"
     "CREATE UNIQUE INDEX tasks_idempotency ON tasks (principal, name, idempotency_key)"
     " WHERE idempotency_key IS NOT NULL;"
     "CREATE INDEX tasks_principal_id ON tasks (principal, id);"},
    {3, "drop tasks_lease: tasks_state_id already finds the RUNNING rows",
     /* Every task enters and leaves RUNNING, so this index cost two B-tree
      * writes per task; the (state, id) index reaches the same rows, only
      * those RUNNING, for recovery, heartbeats and release. */
     "DROP INDEX tasks_lease;"},
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == SCHEMA_VERSION, "SCHEMA_VERSION is the last migration");

/*
 * attempts_json gets one {"attempt":N,"error":"...","finished_ms":T} per
 * finished attempt, written as compact JSON text exactly like SQLite's
 * json_insert(..., '$[#]', json_object(...)).
 */
#define APPEND_ATTEMPT(err, when)                                                          \
    "(CASE WHEN attempts_json = '[]' THEN '[' ELSE left(attempts_json, -1) || ',' END"     \
    " || '{\"attempt\":' || attempt || ',\"error\":' || COALESCE(to_json(" err             \
    ")::text, 'null') || ',\"finished_ms\":' || " when " || '}]')"

/*
 * Task events for servers that watch or run a task (TAAS_PG_TASK_CHANNEL):
 * the ids a statement changed, space-separated, at most ID_CHUNK per
 * pg_notify() call so a payload (200 * 37 bytes) stays well under
 * PostgreSQL's 8000-byte limit. `src` is a CTE with an id column; the
 * statement must read from `n` for the calls to run. Queued with the
 * transaction and delivered only when it commits.
 */
#define ID_CHUNK 200
#define ID_CHUNK_S "200"
#define NOTIFY_IDS(src)                                                                    \
    " n AS (SELECT pg_notify('" TAAS_PG_TASK_CHANNEL "', string_agg(id, ' ')) FROM"         \
    " (SELECT id, (row_number() OVER () - 1) / " ID_CHUNK_S " AS g FROM " src ") x"         \
    " GROUP BY g)"
/* A sweep statement: changes rows, announces them, returns how many. */
#define SWEEP(update) "WITH u AS (" update " RETURNING id)," NOTIFY_IDS("u") \
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n)"

enum {
    ST_INSERT,
    ST_IDEM_LOOKUP,
    ST_CLAIM,
    ST_COMPLETE,
    ST_PROGRESS,
    ST_CANCEL,
    ST_HEARTBEAT,
    ST_RECOVER_RETRY,
    ST_RECOVER_FAIL,
    ST_RELEASE_CANCEL,
    ST_RELEASE,
    ST_PRUNE,
    ST_COUNT
};

static const char *const write_sql[ST_COUNT] = {
    /* Inserts unless the id or (name, key) is taken; when the key is taken,
     * the second branch returns the existing row (rows of earlier statements
     * of this transaction included). */
    [ST_INSERT] =
        "WITH ins AS (INSERT INTO tasks (id, name, input, state, priority, attempt,"
        " max_attempts, timeout_s, idempotent, idempotency_key, input_hash, created_ms,"
        " updated_ms, run_after_ms, principal, lease_owner, lease_expires_ms, lease_token,"
        " started_ms)"
        " VALUES ($1::text, $2::text, $3::text, CASE WHEN $13::text IS NULL THEN 1 ELSE 2 END,"
        " $4::integer, CASE WHEN $13::text IS NULL THEN 0 ELSE 1 END, $5::integer, $6::integer,"
        " $7::boolean, $8::text, $9::text, $10::bigint, $10::bigint, $11::bigint, $12::text,"
        " $13::text, CASE WHEN $13::text IS NULL THEN 0 ELSE $10::bigint + $14::bigint END,"
        " CASE WHEN $13::text IS NULL THEN 0 ELSE 1 END,"
        " CASE WHEN $13::text IS NULL THEN 0 ELSE $10::bigint END)"
        " ON CONFLICT DO NOTHING RETURNING id)"
        " SELECT 1, id, NULL FROM ins"
        " UNION ALL"
        " SELECT 0, t.id, t.input_hash FROM tasks t WHERE $8::text IS NOT NULL"
        " AND t.principal = $12::text AND t.name = $2::text AND t.idempotency_key = $8::text"
        " AND NOT EXISTS (SELECT 1 FROM ins)",
    [ST_IDEM_LOOKUP] = "SELECT id, input_hash FROM tasks WHERE principal = $3::text"
                       " AND name = $1::text AND idempotency_key = $2::text",
    /* One statement: pick in claim order, skip rows another server holds,
     * take them. MATERIALIZED keeps the LIMIT a single evaluation. */
    [ST_CLAIM] =
        "WITH c AS MATERIALIZED (SELECT id FROM tasks WHERE state = 1"
        " AND run_after_ms <= $2::bigint ORDER BY priority DESC, run_after_ms, id"
        " LIMIT $4::integer FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE tasks t SET state = 2, attempt = t.attempt + 1, lease_owner = $1::text,"
        " lease_expires_ms = $2::bigint + $3::bigint, lease_token = t.lease_token + 1,"
        " started_ms = $2::bigint, updated_ms = $2::bigint, progress = 0,"
        " progress_message = NULL"
        " FROM c WHERE t.id = c.id RETURNING " COLS("t.") "),"
        NOTIFY_IDS("u") " SELECT * FROM u WHERE (SELECT count(*) FROM n) >= 0",
    [ST_COMPLETE] =
        "WITH u AS (UPDATE tasks SET state = $3::smallint,"
        " output = CASE WHEN $3::smallint = 3 THEN $4::text ELSE NULL END,"
        " error = $5::text,"
        " attempts_json = CASE WHEN $5::text IS NULL THEN attempts_json"
        "  ELSE " APPEND_ATTEMPT("$5::text", "$7::bigint") " END,"
        " run_after_ms = CASE WHEN $3::smallint = 1 THEN $6::bigint ELSE run_after_ms END,"
        " finished_ms = CASE WHEN $3::smallint = 1 THEN 0 ELSE $7::bigint END,"
        " progress = CASE WHEN $3::smallint = 3 THEN 1.0"
        "  WHEN $3::smallint = 1 THEN 0.0 ELSE progress END,"
        " progress_message = CASE WHEN $3::smallint = 1 THEN NULL ELSE progress_message END,"
        " started_ms = CASE WHEN $8::bigint > 0 THEN $8::bigint ELSE started_ms END,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = $7::bigint"
        " WHERE id = $1::text AND state = 2 AND lease_token = $2::bigint RETURNING 1)"
        " SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)",
    [ST_PROGRESS] =
        "WITH u AS (UPDATE tasks SET progress = $3::double precision,"
        " progress_message = $4::text, updated_ms = $5::bigint"
        " WHERE id = $1::text AND state = 2 AND lease_token = $2::bigint RETURNING 1)"
        " SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)",
    /* Lock the row, read its state, and change it by that state, in one
     * statement; returns the state before (no row: unknown id). */
    [ST_CANCEL] =
        "WITH o AS (SELECT id, state, lease_token FROM tasks WHERE id = $1::text FOR UPDATE),"
        " u AS (UPDATE tasks t SET"
        "  state = CASE WHEN o.state = 1 THEN 5 ELSE t.state END,"
        "  cancel_requested = true,"
        "  error = CASE WHEN o.state = 1 THEN 'cancelled' ELSE t.error END,"
        "  finished_ms = CASE WHEN o.state = 1 THEN $2::bigint ELSE t.finished_ms END,"
        "  updated_ms = $2::bigint"
        "  FROM o WHERE t.id = o.id AND o.state IN (1, 2) RETURNING 1)"
        " SELECT o.state, o.lease_token, (SELECT count(*) FROM u) FROM o",
    [ST_HEARTBEAT] = "UPDATE tasks SET lease_expires_ms = $2::bigint"
                     " WHERE state = 2 AND lease_owner = $1::text",
    [ST_RECOVER_RETRY] = SWEEP(
        "UPDATE tasks SET state = 1, run_after_ms = $1::bigint, error = 'interrupted',"
        " attempts_json = " APPEND_ATTEMPT("'interrupted'::text", "$1::bigint") ","
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = $1::bigint"
        " WHERE state = 2 AND lease_expires_ms <= $1::bigint AND idempotent"
        " AND attempt < max_attempts AND NOT cancel_requested"),
    [ST_RECOVER_FAIL] = SWEEP(
        "UPDATE tasks SET state = CASE WHEN cancel_requested THEN 5 ELSE 4 END,"
        " error = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'interrupted' END,"
        " attempts_json = " APPEND_ATTEMPT("'interrupted'::text", "$1::bigint") ","
        " finished_ms = $1::bigint, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = $1::bigint"
        " WHERE state = 2 AND lease_expires_ms <= $1::bigint"),
    [ST_RELEASE_CANCEL] = SWEEP(
        "UPDATE tasks SET state = 5, error = 'cancelled', finished_ms = $2::bigint,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = $2::bigint"
        " WHERE state = 2 AND lease_owner = $1::text AND cancel_requested"),
    [ST_RELEASE] = SWEEP(
        "UPDATE tasks SET state = 1, attempt = attempt - 1, progress = 0,"
        " progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = $2::bigint WHERE state = 2 AND lease_owner = $1::text"),
    [ST_PRUNE] =
        "WITH c AS MATERIALIZED (SELECT id FROM tasks WHERE finished_ms > 0"
        " AND finished_ms < $1::bigint AND state IN (3, 4, 5) LIMIT $2::integer"
        " FOR UPDATE SKIP LOCKED)"
        " DELETE FROM tasks t USING c WHERE t.id = c.id",
};

static const char *const stmt_names[ST_COUNT] = {
    "taas_insert",         "taas_idem_lookup", "taas_claim",         "taas_complete",
    "taas_progress",       "taas_cancel",      "taas_heartbeat",     "taas_recover_retry",
    "taas_recover_fail",   "taas_release_cancel", "taas_release",    "taas_prune",
};

#define GET_SQL "SELECT " TASK_COLS " FROM tasks WHERE id = $1::text"

/* A pooled read connection; `lists` has a bit per prepared list variant. */
typedef struct reader {
    PGconn *conn;
    unsigned lists;
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

static _Thread_local char tl_error[1024];

/* Messages may be cut at the buffer's end; that is fine for a log line. */
static void tl_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tl_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof(tl_error), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Errors */

/* libpq messages end in newlines and may span lines: one line, no tabs. */
static void one_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
}

static bool sqlstate_is(const char *st, const char *want)
{
    return st && strcmp(st, want) == 0;
}

static bool class_is(const char *st, const char *cls)
{
    return st && strncmp(st, cls, 2) == 0;
}

/* A store code for a failed result (res may be NULL) on conn. */
static int map_error(PGconn *conn, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return TAAS_STORE_EBUSY;
    if (!st)
        return TAAS_STORE_EIO; /* a client-side failure on a live connection */
    if (class_is(st, "08") || sqlstate_is(st, "57P01") || sqlstate_is(st, "57P02") ||
        sqlstate_is(st, "57P03") || sqlstate_is(st, "53300") || sqlstate_is(st, "55P03") ||
        sqlstate_is(st, "40001") || sqlstate_is(st, "40P01") || sqlstate_is(st, "57014") ||
        sqlstate_is(st, "25006"))
        return TAAS_STORE_EBUSY;
    if (sqlstate_is(st, "53100"))
        return TAAS_STORE_EFULL;
    if (sqlstate_is(st, "53200"))
        return TAAS_STORE_ENOMEM;
    return TAAS_STORE_EIO;
}

/* Remember the error of res (or of conn) in this thread's message. */
static void set_error(pg_store *s, const char *what, PGconn *conn, const PGresult *res)
{
    char msg[400];
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(msg, sizeof(msg), "%s", m && *m ? m : "unknown error");
    one_line(msg);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        tl_set(
                 "%s: connection to PostgreSQL %s lost (%s); it is re-established on the "
                 "next call",
                 what, s->target, msg);
    else if (st)
        tl_set("%s: PostgreSQL %s: %s [SQLSTATE %s]", what,
                 s->target, msg, st);
    else
        tl_set("%s: PostgreSQL %s: %s", what, s->target, msg);
}

/* ------------------------------------------------------------------------ */
/* Targets for messages: never the password */

/*
 * user@host:port/db from a live connection. Before there is one, a copy of
 * the URL with the password (URI userinfo, ?password= or password=) masked.
 */
static void target_from_conn(pg_store *s, PGconn *c)
{
    const char *host = PQhost(c);
    snprintf(s->target, sizeof(s->target), "%s@%s:%s/%s", PQuser(c) ? PQuser(c) : "?",
             host && *host ? host : "localhost", PQport(c) ? PQport(c) : "?",
             PQdb(c) ? PQdb(c) : "?");
}

static void redact(const char *url, char *out, size_t len)
{
    size_t o = 0;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (len == 0)
        return;
#define PUT(ch) do { if (o + 1 < len) out[o++] = (ch); } while (0)
    if (scheme) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        for (; *p; p++) {
            if (colon && p == colon + 1) {
                for (const char *m = "***"; *m; m++)
                    PUT(*m);
                p = at - 1;
                continue;
            }
            PUT(*p);
            if ((*p == '?' || *p == '&') && strncmp(p + 1, "password=", 9) == 0) {
                for (const char *m = "password=***"; *m; m++)
                    PUT(*m);
                p += 9;
                while (p[1] && p[1] != '&')
                    p++;
            }
        }
    } else {
        /* keyword form: password = value, value maybe 'quoted' */
        for (; *p; p++) {
            bool at_word = p == url || isspace((unsigned char)p[-1]);
            if (at_word && strncmp(p, "password", 8) == 0) {
                const char *q = p + 8;
                while (isspace((unsigned char)*q))
                    q++;
                if (*q == '=') {
                    for (const char *m = "password=***"; *m; m++)
                        PUT(*m);
                    q++;
                    while (isspace((unsigned char)*q))
                        q++;
                    if (*q == '\'') {
                        for (q++; *q && *q != '\''; q++)
                            if (*q == '\\' && q[1])
                                q++;
                        if (*q)
                            q++;
                    } else {
                        while (*q && !isspace((unsigned char)*q))
                            q++;
                    }
                    p = q - 1;
                    continue;
                }
            }
            PUT(*p);
        }
    }
#undef PUT
    out[o] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Connections */

static PGconn *connect_raw(pg_store *s)
{
    /* Values later in the list win, and the expanded URL comes last, so a
     * connect_timeout or application_name in the URL overrides ours. */
    const char *const keys[] = {"connect_timeout", "application_name", "client_encoding",
                                "dbname", NULL};
    const char *const vals[] = {"10", "taas-server", "UTF8", s->conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* Session settings every connection gets: a bounded wait on row locks. */
static int session_setup(pg_store *s, PGconn *c, const char *what)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", s->lock_timeout_ms);
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        set_error(s, what, c, r);
        rc = map_error(c, r);
    }
    PQclear(r);
    return rc;
}

/* Refuse a server that acknowledges commits before they are on disk. */
static int check_durability(pg_store *s, PGconn *c)
{
    PGresult *r = PQexec(c, "SHOW synchronous_commit");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        set_error(s, "SHOW synchronous_commit", c, r);
        rc = map_error(c, r);
    } else if (strcmp(PQgetvalue(r, 0, 0), "off") == 0 && !s->allow_async_commit) {
        tl_set(
                 "PostgreSQL %s has synchronous_commit = off: a commit would be acknowledged "
                 "before it is durable, and acknowledged tasks could be lost in a crash. Set "
                 "synchronous_commit = on (postgresql.conf, ALTER DATABASE ... SET or ALTER "
                 "ROLE ... SET), or accept the risk with the store option allow_async_commit "
                 "(environment TAAS_ALLOW_ASYNC_COMMIT=1)",
                 s->target);
        rc = TAAS_STORE_EINVAL;
    }
    PQclear(r);
    return rc;
}

static int prepare_writes(pg_store *s, PGconn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        PGresult *r = PQprepare(c, stmt_names[i], write_sql[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char what[64];
            snprintf(what, sizeof(what), "prepare %s", stmt_names[i]);
            set_error(s, what, c, r);
            int rc = map_error(c, r);
            PQclear(r);
            return rc;
        }
        PQclear(r);
    }
    return 0;
}

/*
 * A connection fit for use: connected, and not closed under us. A server that
 * shut down or terminated the session has said so on the socket, which
 * PQconsumeInput notices without a round trip.
 */
static bool conn_alive(PGconn *c)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return false;
    /* A terminated session leaves a FATAL message and then end-of-file on
     * the socket; the first read may take only the message. */
    for (int i = 0; i < 4; i++) {
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        if (pfd.fd < 0)
            return false;
        if (poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
            return false;
    }
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL)
        PQfreemem(n);
    return true;
}

/* Server notices (and the FATAL of a terminated session) would go to
 * stderr; the store reports through last_error() instead. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Open a connection with session settings; NULL with tl_error set. */
static PGconn *open_conn(pg_store *s, const char *what, int *err)
{
    PGconn *c = connect_raw(s);
    if (!c) {
        tl_set("%s: out of memory", what);
        *err = TAAS_STORE_ENOMEM;
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        one_line(msg);
        tl_set("%s: cannot connect to PostgreSQL %s: %s", what,
                 s->target, msg);
        PQfinish(c);
        *err = TAAS_STORE_EBUSY;
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    int rc = session_setup(s, c, what);
    if (rc) {
        PQfinish(c);
        *err = rc;
        return NULL;
    }
    return c;
}

/* The writer connection, connected and prepared; 0 or a store code. */
static int writer_ready(pg_store *s)
{
    if (conn_alive(s->w))
        return 0;
    if (s->w) {
        PQfinish(s->w);
        s->w = NULL;
    }
    int err = 0;
    PGconn *c = open_conn(s, "connect", &err);
    if (!c)
        return err;
    err = check_durability(s, c);
    if (!err)
        err = prepare_writes(s, c);
    if (err) {
        PQfinish(c);
        return err;
    }
    s->w = c;
    atomic_fetch_add(&s->reconnects, 1); /* the first connection is made by open */
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Rows */

static int col_dup(const PGresult *r, int row, int col, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (PQgetisnull(r, row, col))
        return 0;
    int n = PQgetlength(r, row, col);
    char *p = malloc((size_t)n + 1);
    if (!p)
        return TAAS_STORE_ENOMEM;
    memcpy(p, PQgetvalue(r, row, col), (size_t)n);
    p[n] = '\0';
    *out = p;
    if (len)
        *len = (size_t)n;
    return 0;
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Fill rec from row `row` (columns in TASK_COLS order). */
static int row_to_rec(const PGresult *res, int row, taas_task_rec *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, 0));
    int rc = col_dup(res, row, 1, &r->name, NULL);
    rc = rc ? rc : col_dup(res, row, 2, &r->input, &r->input_len);
    r->state = (taas_task_state)col_i64(res, row, 3);
    r->priority = (int)col_i64(res, row, 4);
    r->attempt = (int)col_i64(res, row, 5);
    r->max_attempts = (int)col_i64(res, row, 6);
    r->timeout_s = (int)col_i64(res, row, 7);
    r->idempotent = col_bool(res, row, 8);
    rc = rc ? rc : col_dup(res, row, 9, &r->idempotency_key, NULL);
    rc = rc ? rc : col_dup(res, row, 10, &r->input_hash, NULL);
    r->created_ms = col_i64(res, row, 11);
    r->updated_ms = col_i64(res, row, 12);
    r->run_after_ms = col_i64(res, row, 13);
    r->started_ms = col_i64(res, row, 14);
    r->finished_ms = col_i64(res, row, 15);
    r->progress = PQgetisnull(res, row, 16) ? 0.0 : strtod(PQgetvalue(res, row, 16), NULL);
    rc = rc ? rc : col_dup(res, row, 17, &r->progress_message, NULL);
    rc = rc ? rc : col_dup(res, row, 18, &r->output, &r->output_len);
    rc = rc ? rc : col_dup(res, row, 19, &r->error, NULL);
    rc = rc ? rc : col_dup(res, row, 20, &r->attempts_json, NULL);
    r->cancel_requested = col_bool(res, row, 21);
    rc = rc ? rc : col_dup(res, row, 22, &r->lease_owner, NULL);
    r->lease_expires_ms = col_i64(res, row, 23);
    r->lease_token = col_i64(res, row, 24);
    if (!rc && !PQgetisnull(res, row, 25) && *PQgetvalue(res, row, 25))
        rc = col_dup(res, row, 25, &r->principal, NULL);
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
/* Page tokens: base64url of the last id returned, as in sqlite.c, so a
 * token means the same to both backends. */


/* ------------------------------------------------------------------------ */
/* Batches */

/* What a queued statement was for, to read its result back. */
typedef struct slot {
    int op;   /* index into ops, or -1 for BEGIN / NOTIFY / COMMIT */
    int stmt; /* ST_* or -1 */
} slot;

/* Text parameters for one statement; numbers are formatted into bufs. */
typedef struct params {
    const char *v[14];
    int len[14];
    int fmt[14];
    char bufs[14][32];
    int n;
} params;

static void p_text(params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

/* Text with an explicit length, sent in binary format (raw UTF-8 bytes), so
 * it need not be NUL-terminated; PostgreSQL checks the encoding. */
static void p_bytes(params *p, const char *s, size_t len)
{
    if (!s) {
        p_text(p, NULL);
        return;
    }
    p->v[p->n] = s;
    p->len[p->n] = (int)(len ? len : strlen(s));
    p->fmt[p->n] = 1;
    p->n++;
}

static void p_i64(params *p, int64_t x)
{
    snprintf(p->bufs[p->n], sizeof(p->bufs[0]), "%lld", (long long)x);
    p_text(p, p->bufs[p->n]);
}

static void p_f64(params *p, double x)
{
    snprintf(p->bufs[p->n], sizeof(p->bufs[0]), "%.17g", x);
    p_text(p, p->bufs[p->n]);
}

/* Check an operation's arguments before anything is sent; false = refused. */
static bool op_valid(taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_INSERT: {
        const taas_task_rec *t = op->u.insert.task;
        return t && uuid_shaped(t->id) && t->name && *t->name && t->input &&
               t->input_len <= 0x7fffffff &&
               !(op->u.insert.claim_owner && t->run_after_ms > t->created_ms);
    }
    case TAAS_OP_CLAIM:
        return op->u.claim.owner && op->u.claim.out && op->u.claim.max >= 0 &&
               op->u.claim.lease_ms >= 0;
    case TAAS_OP_COMPLETE: {
        taas_task_state to = op->u.complete.state;
        return op->u.complete.id && (to == TAAS_TASK_PENDING || taas_task_state_final(to)) &&
               op->u.complete.output_len <= 0x7fffffff;
    }
    case TAAS_OP_PROGRESS: return op->u.progress.id != NULL;
    case TAAS_OP_CANCEL: return op->u.cancel.id != NULL;
    case TAAS_OP_HEARTBEAT: return op->u.heartbeat.owner != NULL;
    case TAAS_OP_RECOVER: return true;
    case TAAS_OP_RELEASE: return op->u.release.owner != NULL;
    case TAAS_OP_PRUNE: return op->u.prune.limit > 0;
    }
    return false;
}

static bool send_prepared(PGconn *c, int stmt, const params *p)
{
    return PQsendQueryPrepared(c, stmt_names[stmt], p->n, p->v, p->len, p->fmt, 0) == 1;
}

static bool send_plain(PGconn *c, const char *sql)
{
    return PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
}

/* The task an op changes when its id is known before it runs (claims and
 * sweeps announce their own rows in SQL); NULL for the others. */
static const char *op_task_id(const taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_COMPLETE: return op->u.complete.id;
    case TAAS_OP_PROGRESS: return op->u.progress.id;
    case TAAS_OP_CANCEL: return op->u.cancel.id;
    default: return NULL;
    }
}

/*
 * Queue one pg_notify() per ID_CHUNK ids of the batch's completions,
 * progress reports and cancels (skipped ops and ids that cannot name a task
 * left out). Returns the number of statements queued, or -1 on a send
 * failure. An op later refused (a stale token) still announces its id: a
 * listener re-reads the task and finds nothing new.
 */
static int send_task_events(PGconn *c, taas_store_op *ops[], size_t n, const bool *skip)
{
    char payload[ID_CHUNK * (TAAS_ID_LEN + 2) + 1];
    size_t len = 0;
    int ids = 0, sent = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *id = i < n && !skip[i] ? op_task_id(ops[i]) : NULL;
        if (id && !uuid_shaped(id))
            id = NULL;
        if (id) {
            if (len)
                payload[len++] = ' ';
            if (ops[i]->kind == TAAS_OP_CANCEL)
                payload[len++] = '!'; /* the node running it must stop the body */
            memcpy(payload + len, id, TAAS_ID_LEN);
            len += TAAS_ID_LEN;
            ids++;
        }
        if (ids > 0 && (ids == ID_CHUNK || i == n)) {
            payload[len] = '\0';
            const char *v[1] = {payload};
            if (PQsendQueryParams(c, "SELECT pg_notify('" TAAS_PG_TASK_CHANNEL "', $1::text)", 1,
                                  NULL, v, NULL, NULL, 0) != 1)
                return -1;
            sent++;
            len = 0;
            ids = 0;
        }
    }
    return sent;
}

/* Queue the statement(s) of one op; returns how many, or -1 on a send failure. */
static int send_op(pg_store *s, taas_store_op *op, int idx, slot *slots, int *ns)
{
    PGconn *c = s->w;
    params p;
    p.n = 0;
    switch (op->kind) {
    case TAAS_OP_INSERT: {
        const taas_task_rec *t = op->u.insert.task;
        p_text(&p, t->id);
        p_text(&p, t->name);
        p_bytes(&p, t->input, t->input_len);
        p_i64(&p, t->priority);
        p_i64(&p, t->max_attempts > 0 ? t->max_attempts : 1);
        p_i64(&p, t->timeout_s > 0 ? t->timeout_s : 0);
        p_text(&p, t->idempotent ? "t" : "f");
        p_text(&p, t->idempotency_key);
        p_text(&p, t->input_hash);
        p_i64(&p, t->created_ms);
        p_i64(&p, t->run_after_ms);
        p_text(&p, t->principal ? t->principal : "");
        p_text(&p, op->u.insert.claim_owner);
        p_i64(&p, op->u.insert.lease_ms);
        slots[(*ns)++] = (slot){idx, ST_INSERT};
        return send_prepared(c, ST_INSERT, &p) ? 1 : -1;
    }
    case TAAS_OP_CLAIM:
        if (op->u.claim.max == 0)
            return 0;
        p_text(&p, op->u.claim.owner);
        p_i64(&p, op->u.claim.now_ms);
        p_i64(&p, op->u.claim.lease_ms);
        p_i64(&p, op->u.claim.max);
        slots[(*ns)++] = (slot){idx, ST_CLAIM};
        return send_prepared(c, ST_CLAIM, &p) ? 1 : -1;
    case TAAS_OP_COMPLETE:
        p_text(&p, op->u.complete.id);
        p_i64(&p, op->u.complete.lease_token);
        p_i64(&p, (int)op->u.complete.state);
        p_bytes(&p, op->u.complete.output, op->u.complete.output_len);
        p_text(&p, op->u.complete.error);
        p_i64(&p, op->u.complete.run_after_ms);
        p_i64(&p, op->u.complete.now_ms);
        p_i64(&p, op->u.complete.started_ms);
        slots[(*ns)++] = (slot){idx, ST_COMPLETE};
        return send_prepared(c, ST_COMPLETE, &p) ? 1 : -1;
    case TAAS_OP_PROGRESS: {
        double v = op->u.progress.progress;
        if (!(v >= 0.0)) /* also NaN */
            v = 0.0;
        if (v > 1.0)
            v = 1.0;
        p_text(&p, op->u.progress.id);
        p_i64(&p, op->u.progress.lease_token);
        p_f64(&p, v);
        p_text(&p, op->u.progress.message);
        p_i64(&p, op->u.progress.now_ms);
        slots[(*ns)++] = (slot){idx, ST_PROGRESS};
        return send_prepared(c, ST_PROGRESS, &p) ? 1 : -1;
    }
    case TAAS_OP_CANCEL:
        p_text(&p, op->u.cancel.id);
        p_i64(&p, op->u.cancel.now_ms);
        slots[(*ns)++] = (slot){idx, ST_CANCEL};
        return send_prepared(c, ST_CANCEL, &p) ? 1 : -1;
    case TAAS_OP_HEARTBEAT:
        p_text(&p, op->u.heartbeat.owner);
        p_i64(&p, op->u.heartbeat.lease_expires_ms);
        slots[(*ns)++] = (slot){idx, ST_HEARTBEAT};
        return send_prepared(c, ST_HEARTBEAT, &p) ? 1 : -1;
    case TAAS_OP_RECOVER:
        p_i64(&p, op->u.recover.now_ms);
        slots[(*ns)++] = (slot){idx, ST_RECOVER_RETRY};
        if (!send_prepared(c, ST_RECOVER_RETRY, &p))
            return -1;
        slots[(*ns)++] = (slot){idx, ST_RECOVER_FAIL};
        return send_prepared(c, ST_RECOVER_FAIL, &p) ? 2 : -1;
    case TAAS_OP_RELEASE:
        p_text(&p, op->u.release.owner);
        p_i64(&p, op->u.release.now_ms);
        slots[(*ns)++] = (slot){idx, ST_RELEASE_CANCEL};
        if (!send_prepared(c, ST_RELEASE_CANCEL, &p))
            return -1;
        slots[(*ns)++] = (slot){idx, ST_RELEASE};
        return send_prepared(c, ST_RELEASE, &p) ? 2 : -1;
    case TAAS_OP_PRUNE:
        p_i64(&p, op->u.prune.finished_before_ms);
        p_i64(&p, op->u.prune.limit);
        slots[(*ns)++] = (slot){idx, ST_PRUNE};
        return send_prepared(c, ST_PRUNE, &p) ? 1 : -1;
    }
    return 0;
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

static bool same_hash(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * Read one statement's successful result into its op. Returns 0, or
 * TAAS_STORE_ENOMEM. *notify is set when the statement made a task runnable;
 * *unresolved when an insert needs the follow-up lookup.
 */
static int take_result(taas_store_op *op, int stmt, PGresult *r, bool *notify, bool *unresolved)
{
    int rows = PQntuples(r);
    const char *tuples = PQcmdTuples(r);
    int changed = tuples && *tuples ? atoi(tuples) : 0;
    if (stmt == ST_RECOVER_RETRY || stmt == ST_RECOVER_FAIL || stmt == ST_RELEASE_CANCEL ||
        stmt == ST_RELEASE)
        changed = rows == 1 ? (int)col_i64(r, 0, 0) : 0; /* SWEEP(): the count of rows changed */
    switch (stmt) {
    case ST_INSERT:
        if (rows == 0) {
            /* Neither inserted nor a matching key seen by this statement. */
            if (op->u.insert.task->idempotency_key)
                *unresolved = true;
            else
                op->result = TAAS_STORE_ECONFLICT; /* the id is taken */
        } else if (PQgetvalue(r, 0, 0)[0] == '1') {
            if (!op->u.insert.claim_owner) /* a claimed one is nobody else's work */
                *notify = true;
        } else if (same_hash(PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2),
                             op->u.insert.task->input_hash)) {
            op->u.insert.duplicate = true;
            snprintf(op->u.insert.existing_id, sizeof(op->u.insert.existing_id), "%s",
                     PQgetvalue(r, 0, 1));
        } else {
            op->result = TAAS_STORE_ECONFLICT;
        }
        return 0;
    case ST_CLAIM:
        for (int i = 0; i < rows && op->u.claim.n < op->u.claim.max; i++) {
            int rc = row_to_rec(r, i, &op->u.claim.out[op->u.claim.n]);
            if (rc)
                return rc;
            op->u.claim.n++;
        }
        /* RETURNING yields rows in no particular order; give them in claim order. */
        qsort(op->u.claim.out, (size_t)op->u.claim.n, sizeof(taas_task_rec), claim_cmp);
        return 0;
    case ST_COMPLETE:
    case ST_PROGRESS:
        if (rows == 1 && col_i64(r, 0, 0) == 0)
            op->result = col_bool(r, 0, 1) ? TAAS_STORE_ESTALE : TAAS_STORE_ENOTFOUND;
        else if (stmt == ST_COMPLETE && op->u.complete.state == TAAS_TASK_PENDING)
            *notify = true;
        return 0;
    case ST_CANCEL: {
        if (rows == 0) {
            op->result = TAAS_STORE_ENOTFOUND;
            return 0;
        }
        taas_task_state cur = (taas_task_state)col_i64(r, 0, 0);
        if (taas_task_state_final(cur)) {
            op->u.cancel.state_after = cur;
            op->result = TAAS_STORE_EFINAL;
        } else if (cur == TAAS_TASK_PENDING) {
            op->u.cancel.state_after = TAAS_TASK_CANCELLED;
        } else {
            op->u.cancel.state_after = TAAS_TASK_RUNNING;
            op->u.cancel.lease_token = col_i64(r, 0, 1);
        }
        return 0;
    }
    case ST_RECOVER_RETRY:
        op->u.recover.retried = changed;
        if (changed > 0)
            *notify = true;
        return 0;
    case ST_RECOVER_FAIL: op->u.recover.failed = changed; return 0;
    case ST_RELEASE:
        op->u.release.released = changed;
        if (changed > 0)
            *notify = true;
        return 0;
    case ST_PRUNE: op->u.prune.deleted = changed; return 0;
    default: return 0;
    }
}


/* Leave pipeline mode, dropping the connection if that is not possible. */
static void pipeline_end(pg_store *s)
{
    if (s->w && PQpipelineStatus(s->w) != PQ_PIPELINE_OFF && !PQexitPipelineMode(s->w)) {
        PQfinish(s->w);
        s->w = NULL;
    }
}

/* After a failed batch: end the aborted transaction, or drop a broken connection. */
static void rollback(pg_store *s)
{
    pipeline_end(s);
    if (!s->w)
        return;
    if (PQstatus(s->w) != CONNECTION_OK) {
        PQfinish(s->w);
        s->w = NULL;
        return;
    }
    if (PQtransactionStatus(s->w) != PQTRANS_IDLE) {
        PGresult *r = PQexec(s->w, "ROLLBACK");
        atomic_fetch_add(&s->round_trips, 1);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok || PQtransactionStatus(s->w) != PQTRANS_IDLE) {
            PQfinish(s->w);
            s->w = NULL;
        }
    }
}

enum { BATCH_OK = 0, BATCH_BAD_OP = 1 };

/*
 * Send the batch (ops with skip[i] false) as one pipelined transaction and
 * read every result. Returns BATCH_OK when committed, BATCH_BAD_OP with
 * *bad_op set when one op's data aborted the transaction, or a negative store
 * code for a failed batch. *follow lists inserts to resolve after the commit.
 */
static int run_batch(pg_store *s, taas_store_op *ops[], size_t n, const bool *skip, slot *slots,
                     bool *follow, size_t *bad_op)
{
    PGconn *c = s->w;
    int ns = 0, err = 0;
    bool may_notify = false;
    if (!PQenterPipelineMode(c)) {
        set_error(s, "pipeline", c, NULL);
        return map_error(c, NULL);
    }
    bool sent = send_plain(c, "BEGIN");
    slots[ns++] = (slot){-1, -1};
    for (size_t i = 0; sent && i < n; i++) {
        if (skip[i])
            continue;
        int k = send_op(s, ops[i], (int)i, slots, &ns);
        if (k < 0)
            sent = false;
        taas_op_kind kind = ops[i]->kind;
        if ((kind == TAAS_OP_INSERT && !ops[i]->u.insert.claim_owner) ||
            kind == TAAS_OP_RECOVER || kind == TAAS_OP_RELEASE ||
            (kind == TAAS_OP_COMPLETE && ops[i]->u.complete.state == TAAS_TASK_PENDING))
            may_notify = true;
    }
    /*
     * Whether anything became runnable is known only from the results, but
     * the NOTIFY must be inside the transaction: queue it when the batch can
     * make a task runnable. Delivered only on commit; a spurious wake-up
     * (a duplicate submit, a sweep that found nothing) costs a listener one
     * empty claim.
     */
    if (sent) {
        int k = send_task_events(c, ops, n, skip);
        if (k < 0)
            sent = false;
        for (int j = 0; j < k; j++)
            slots[ns++] = (slot){-1, -1};
    }
    int notify_slot = -1;
    if (sent && may_notify) {
        notify_slot = ns;
        slots[ns++] = (slot){-1, -1};
        sent = send_plain(c, "NOTIFY " TAAS_PG_CHANNEL);
    }
    int commit_slot = ns;
    if (sent) {
        slots[ns++] = (slot){-1, -1};
        sent = send_plain(c, "COMMIT") && PQpipelineSync(c) == 1;
    }
    atomic_fetch_add(&s->statements, (uint64_t)ns);
    if (!sent) {
        set_error(s, "send batch", c, NULL);
        return map_error(c, NULL);
    }
    atomic_fetch_add(&s->round_trips, 1);

    bool notify = false;
    int failed_slot = -1;
    (void)notify_slot;
    for (int k = 0; k < ns; k++) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            set_error(s, "batch", c, NULL);
            return map_error(c, NULL);
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR && failed_slot < 0) {
            failed_slot = k;
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (slots[k].op >= 0 && (class_is(state, "22") || class_is(state, "23"))) {
                *bad_op = (size_t)slots[k].op;
                err = BATCH_BAD_OP;
                tl_set("%s", PQresultErrorMessage(r));
                one_line(tl_error);
            } else {
                set_error(s, k == commit_slot ? "commit" : "batch", c, r);
                err = map_error(c, r);
            }
        } else if (failed_slot < 0 && slots[k].op >= 0 &&
                   (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
            bool unresolved = false;
            int rc = take_result(ops[slots[k].op], slots[k].stmt, r, &notify, &unresolved);
            if (unresolved)
                follow[slots[k].op] = true;
            if (rc) {
                /* Out of memory reading a result: the statements are already on
                 * the server; the op reports it and its claim, if any, returns
                 * to the queue when the lease expires. */
                ops[slots[k].op]->result = rc;
            }
        }
        PQclear(r);
        /* Each query's results end with a NULL. */
        r = PQgetResult(c);
        if (r) {
            PQclear(r);
            set_error(s, "batch", c, NULL);
            tl_set("batch: unexpected extra result");
            return TAAS_STORE_EIO;
        }
    }
    PGresult *sync = PQgetResult(c);
    bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced) {
        set_error(s, "batch sync", c, NULL);
        return err ? err : map_error(c, NULL);
    }
    if (!PQexitPipelineMode(c)) {
        set_error(s, "pipeline exit", c, NULL);
        return err ? err : TAAS_STORE_EIO;
    }
    if (failed_slot < 0)
        atomic_fetch_add(&s->transactions, 1);
    return err;
}

/* Inserts whose statement saw neither its row nor its key: a concurrent
 * transaction committed the key after our statement began. Look again. */
static void resolve_inserts(pg_store *s, taas_store_op *ops[], size_t n, const bool *follow)
{
    for (size_t i = 0; i < n; i++) {
        if (!follow[i])
            continue;
        taas_store_op *op = ops[i];
        const taas_task_rec *t = op->u.insert.task;
        const char *v[3] = {t->name, t->idempotency_key, t->principal ? t->principal : ""};
        PGresult *r = s->w ? PQexecPrepared(s->w, stmt_names[ST_IDEM_LOOKUP], 3, v, NULL, NULL, 0)
                           : NULL;
        atomic_fetch_add(&s->round_trips, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            set_error(s, "idempotency lookup", s->w, r);
            op->result = map_error(s->w, r);
        } else if (PQntuples(r) == 0) {
            op->result = TAAS_STORE_ECONFLICT; /* the id is taken */
        } else if (same_hash(PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1),
                             op->u.insert.task->input_hash)) {
            op->u.insert.duplicate = true;
            snprintf(op->u.insert.existing_id, sizeof(op->u.insert.existing_id), "%s",
                     PQgetvalue(r, 0, 0));
        } else {
            op->result = TAAS_STORE_ECONFLICT;
        }
        PQclear(r);
    }
}

static int pg_apply(taas_store *base, taas_store_op *ops[], size_t n)
{
    pg_store *s = (pg_store *)base;
    if (n == 0)
        return 0;
    bool *skip = calloc(n, sizeof(bool));
    bool *follow = calloc(n, sizeof(bool));
    /* BEGIN, up to two statements per op, the task events, NOTIFY, COMMIT. */
    slot *slots = calloc(2 * n + n / ID_CHUNK + 5, sizeof(slot));
    int err = 0;
    if (!skip || !follow || !slots) {
        tl_set("apply: out of memory");
        err = TAAS_STORE_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        taas_store__reset_outputs(ops[i]);
        if (!op_valid(ops[i])) {
            ops[i]->result = TAAS_STORE_EINVAL;
            skip[i] = true;
        }
    }
    for (;;) {
        err = writer_ready(s);
        if (err)
            goto fail;
        size_t bad = 0;
        memset(follow, 0, n * sizeof(bool));
        err = run_batch(s, ops, n, skip, slots, follow, &bad);
        if (err == BATCH_OK)
            break;
        rollback(s);
        for (size_t i = 0; i < n; i++)
            if (!skip[i])
                taas_store__discard_outputs(ops[i]);
        if (err != BATCH_BAD_OP)
            goto fail;
        /* That op's data was refused: run the batch again without it. */
        skip[bad] = true;
        ops[bad]->result = TAAS_STORE_EINVAL;
    }
    resolve_inserts(s, ops, n, follow);
    free(skip);
    free(follow);
    free(slots);
    return 0;

fail:
    for (size_t i = 0; i < n; i++) {
        taas_store__discard_outputs(ops[i]);
        ops[i]->result = err;
    }
    free(skip);
    free(follow);
    free(slots);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Readers */

static reader *reader_acquire(pg_store *s, bool fresh, int *err)
{
    reader *r = NULL;
    pthread_mutex_lock(&s->pool_mu);
    while (!fresh && !s->free_readers && s->n_readers >= s->max_readers)
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    if (!fresh && s->free_readers) {
        r = s->free_readers;
        s->free_readers = r->next;
        pthread_mutex_unlock(&s->pool_mu);
        if (conn_alive(r->conn))
            return r;
        /* Closed under us (server restart): replace it, keeping its place. */
        PQfinish(r->conn);
        r->conn = NULL;
        r->lists = 0;
        atomic_fetch_add(&s->reconnects, 1);
    } else {
        if (!fresh)
            s->n_readers++;
        pthread_mutex_unlock(&s->pool_mu);
        r = calloc(1, sizeof(*r));
        if (!r) {
            tl_set("read: out of memory");
            *err = TAAS_STORE_ENOMEM;
            goto undo;
        }
    }
    r->conn = open_conn(s, "read", err);
    if (r->conn) {
        PGresult *res = PQprepare(r->conn, "taas_get", GET_SQL, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            set_error(s, "prepare get", r->conn, res);
            *err = map_error(r->conn, res);
            PQfinish(r->conn);
            r->conn = NULL;
        }
        PQclear(res);
    }
    if (r->conn)
        return r;
    free(r);
undo:
    if (!fresh) {
        pthread_mutex_lock(&s->pool_mu);
        s->n_readers--;
        pthread_cond_signal(&s->pool_cv);
        pthread_mutex_unlock(&s->pool_mu);
    }
    return NULL;
}

/* Give r back; a broken connection is dropped and its place freed. */
static void reader_release(pg_store *s, reader *r)
{
    bool ok = r->conn && PQstatus(r->conn) == CONNECTION_OK &&
              PQtransactionStatus(r->conn) == PQTRANS_IDLE;
    if (!ok) {
        PQfinish(r->conn);
        free(r);
    }
    pthread_mutex_lock(&s->pool_mu);
    if (ok) {
        r->next = s->free_readers;
        s->free_readers = r;
    } else {
        s->n_readers--;
    }
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* Run a read on a pooled connection; if that connection turns out to be
 * dead, run it once more on a new one (a read is safe to repeat). */
typedef int (*read_fn)(pg_store *s, reader *r, void *arg);

static int with_reader(pg_store *s, read_fn fn, void *arg)
{
    int err = 0;
    reader *r = reader_acquire(s, false, &err);
    if (!r)
        return err;
    err = fn(s, r, arg);
    if (err == TAAS_STORE_EBUSY && PQstatus(r->conn) != CONNECTION_OK) {
        PQfinish(r->conn);
        r->conn = NULL;
        r->lists = 0;
        atomic_fetch_add(&s->reconnects, 1);
        int e2 = 0;
        reader *fresh = reader_acquire(s, true, &e2);
        if (fresh) {
            free(r);
            r = fresh;
            err = fn(s, r, arg);
        }
        /* else: keep err; r (no connection) is dropped by release */
    }
    reader_release(s, r);
    return err;
}

struct get_args {
    const char *id;
    taas_task_rec *out;
};

static int do_get(pg_store *s, reader *r, void *arg)
{
    struct get_args *a = arg;
    const char *v[1] = {a->id};
    PGresult *res = PQexecPrepared(r->conn, "taas_get", 1, v, NULL, NULL, 0);
    int err;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        set_error(s, "get", r->conn, res);
        err = class_is(st, "22") ? TAAS_STORE_ENOTFOUND : map_error(r->conn, res);
    } else if (PQntuples(res) == 0) {
        err = TAAS_STORE_ENOTFOUND;
    } else {
        err = row_to_rec(res, 0, a->out);
    }
    PQclear(res);
    return err;
}

static int pg_get(taas_store *base, const char *id, taas_task_rec *out)
{
    pg_store *s = (pg_store *)base;
    if (!out)
        return TAAS_STORE_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!id)
        return TAAS_STORE_EINVAL;
    struct get_args a = {id, out};
    return with_reader(s, do_get, &a);
}

/* LQ_LIVE: the state asked for is PENDING or RUNNING. */
enum { LQ_STATE = 1, LQ_NAME = 2, LQ_AFTER = 4, LQ_PRINCIPAL = 8, LQ_LIVE = 16 };

struct list_args {
    const taas_list_query *q;
    int v;
    const char *after;
    taas_task_rec *recs;
    size_t got;
    bool more;
};

static int do_list(pg_store *s, reader *r, void *arg)
{
    struct list_args *a = arg;
    const taas_list_query *q = a->q;
    char name[16];
    snprintf(name, sizeof(name), "taas_list%d", a->v);
    if (!(r->lists & (1u << a->v))) {
        char sql[1024];
        int k = 0;
        char cs[64] = "", cn[64] = "", ca[24] = "", cp[64] = "";
        /*
         * The index walked is fixed, as in sqlite.c: tasks_state_id for
         * PENDING or RUNNING, else tasks_name_id when the query has a name,
         * else tasks_state_id, else tasks_principal_id, else the primary
         * key; other filters are checked row by row. With
         * "state = $1 ORDER BY id DESC" the planner treats state as a
         * constant, so the primary key gives the same order, and from the
         * statistics it often prefers walking it and filtering: at 10 million
         * rows a page of FAILED tasks then read 21,000 rows (200 ms) when the
         * newest tasks had all succeeded. Written as "= ANY (ARRAY[$1])"
         * with the column leading the ORDER BY, the filter is no longer a
         * constant, only that column's index gives the order, and the page
         * costs `limit` index entries and rows however the states are spread.
         */
        const char *order = "id DESC";
        int walk = (a->v & LQ_LIVE) ? LQ_STATE : (a->v & LQ_NAME) ? LQ_NAME
                 : (a->v & LQ_STATE) ? LQ_STATE : (a->v & LQ_PRINCIPAL) ? LQ_PRINCIPAL : 0;
        if (a->v & LQ_PRINCIPAL)
            snprintf(cp, sizeof(cp),
                     walk == LQ_PRINCIPAL ? " AND principal = ANY (ARRAY[$%d::text])"
                                          : " AND principal = $%d", ++k);
        if (a->v & LQ_STATE)
            snprintf(cs, sizeof(cs),
                     walk == LQ_STATE ? " AND state = ANY (ARRAY[$%d::smallint])"
                                      : " AND state = $%d", ++k);
        if (a->v & LQ_NAME)
            snprintf(cn, sizeof(cn),
                     walk == LQ_NAME ? " AND name = ANY (ARRAY[$%d::text])"
                                     : " AND name = $%d", ++k);
        if (a->v & LQ_AFTER)
            snprintf(ca, sizeof(ca), " AND id < $%d", ++k);
        if (walk == LQ_NAME)
            order = "name DESC, id DESC";
        else if (walk == LQ_STATE)
            order = "state DESC, id DESC";
        else if (walk == LQ_PRINCIPAL)
            order = "principal DESC, id DESC";
        snprintf(sql, sizeof(sql),
                 "SELECT " SUMMARY_COLS " FROM tasks WHERE true%s%s%s%s ORDER BY %s LIMIT $%d",
                 cp, cs, cn, ca, order, k + 1);
        PGresult *res = PQprepare(r->conn, name, sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            set_error(s, "list prepare", r->conn, res);
            int err = map_error(r->conn, res);
            PQclear(res);
            return err;
        }
        PQclear(res);
        r->lists |= 1u << a->v;
    }
    const char *v[5];
    char bs[16], bl[16];
    int k = 0;
    if (a->v & LQ_PRINCIPAL)
        v[k++] = q->principal;
    if (a->v & LQ_STATE) {
        snprintf(bs, sizeof(bs), "%d", (int)q->state);
        v[k++] = bs;
    }
    if (a->v & LQ_NAME)
        v[k++] = q->name;
    if (a->v & LQ_AFTER)
        v[k++] = a->after;
    snprintf(bl, sizeof(bl), "%d", q->limit + 1);
    v[k++] = bl;
    PGresult *res = PQexecPrepared(r->conn, name, k, v, NULL, NULL, 0);
    int err = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_error(s, "list", r->conn, res);
        err = map_error(r->conn, res);
        PQclear(res);
        return err;
    }
    int rows = PQntuples(res);
    a->got = 0;
    a->more = rows > q->limit;
    for (int i = 0; i < rows && i < q->limit; i++) {
        err = row_to_rec(res, i, &a->recs[a->got]);
        if (err)
            break;
        a->got++;
    }
    PQclear(res);
    if (err) {
        for (size_t i = 0; i < a->got; i++)
            taas_task_rec_clear(&a->recs[i]);
        a->got = 0;
    }
    return err;
}

static int pg_list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
                   char next_token[64])
{
    pg_store *s = (pg_store *)base;
    char after[TAAS_ID_LEN + 1];
    if (!out || !n || !next_token)
        return TAAS_STORE_EINVAL;
    *out = NULL;
    *n = 0;
    next_token[0] = '\0';
    if (!q || q->limit < 1 || q->limit > 1000 || q->state < TAAS_TASK_UNSPECIFIED ||
        q->state > TAAS_TASK_CANCELLED) {
        tl_set("list: limit must be 1..1000 and state valid");
        return TAAS_STORE_EINVAL;
    }
    struct list_args a = {.q = q};
    if (q->state != TAAS_TASK_UNSPECIFIED)
        a.v |= LQ_STATE;
    if (q->state == TAAS_TASK_PENDING || q->state == TAAS_TASK_RUNNING)
        a.v |= LQ_LIVE;
    if (q->name)
        a.v |= LQ_NAME;
    if (q->principal)
        a.v |= LQ_PRINCIPAL;
    if (q->page_token && *q->page_token) {
        if (taas_store__token_decode(q->page_token, after) != 0) {
            tl_set("list: malformed page token");
            return TAAS_STORE_EINVAL;
        }
        a.v |= LQ_AFTER;
        a.after = after;
    }
    a.recs = calloc((size_t)q->limit, sizeof(*a.recs));
    if (!a.recs)
        return TAAS_STORE_ENOMEM;
    int err = with_reader(s, do_list, &a);
    if (err) {
        free(a.recs);
        return err;
    }
    if (a.more && a.got > 0)
        taas_store__token_encode(a.recs[a.got - 1].id, next_token);
    if (a.got == 0) {
        free(a.recs);
        a.recs = NULL;
    }
    *out = a.recs;
    *n = a.got;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Notifications */

/* Records what a listen_wait() call delivered, for taas_pg_wait_notify(). */
typedef struct legacy_wake {
    bool woken;
} legacy_wake;

/*
 * (Re)open the listening connection: LISTEN on both channels. Logs the loss
 * and the return of the listener once each, not on every retry in between.
 */
static int listen_connect(pg_store *s)
{
    int err = 0;
    PGconn *c = open_conn(s, "listen", &err);
    if (c) {
        PGresult *r = PQexec(c, "LISTEN " TAAS_PG_CHANNEL "; LISTEN " TAAS_PG_TASK_CHANNEL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            set_error(s, "LISTEN", c, r);
            err = map_error(c, r);
            PQfinish(c);
            c = NULL;
        }
        PQclear(r);
    }
    if (!c) {
        if (!s->listen_down) {
            s->listen_down = true;
            taas_log(TAAS_LOG_WARN, "store.listen_down", "error=\"%s\"", tl_error);
        }
        return err;
    }
    if (s->listened) {
        atomic_fetch_add(&s->reconnects, 1);
        taas_log(TAAS_LOG_INFO, "store.listen_restored", "target=%s", s->target);
    }
    s->listen_down = false;
    s->listened = true;
    s->listen = c;
    return 0;
}

static void listen_lost(pg_store *s, const char *what)
{
    set_error(s, what, s->listen, NULL);
    PQfinish(s->listen);
    s->listen = NULL;
    if (!s->listen_down) {
        s->listen_down = true;
        taas_log(TAAS_LOG_WARN, "store.listen_down", "error=\"%s\"", tl_error);
    }
}

/* Hand out what has arrived; returns how many events were delivered. */
static int deliver(pg_store *s, void (*on_event)(void *, int, const char *), void *arg)
{
    int n = 0;
    bool runnable = false;
    PGnotify *nt;
    while ((nt = PQnotifies(s->listen)) != NULL) {
        if (strcmp(nt->relname, TAAS_PG_TASK_CHANNEL) == 0) {
            /* Payload: task ids separated by single spaces; "!" before the
             * id of a cancel request. */
            const char *p = nt->extra;
            while (p && *p) {
                size_t len = strcspn(p, " ");
                bool cancel = len == TAAS_ID_LEN + 1 && p[0] == '!';
                if (len == TAAS_ID_LEN || cancel) {
                    char id[TAAS_ID_LEN + 1];
                    memcpy(id, p + cancel, TAAS_ID_LEN);
                    id[TAAS_ID_LEN] = '\0';
                    on_event(arg, cancel ? TAAS_NOTIFY_CANCEL : TAAS_NOTIFY_TASK, id);
                    n++;
                }
                p += len;
                while (*p == ' ')
                    p++;
            }
        } else {
            runnable = true; /* many wake-ups fold into one */
        }
        PQfreemem(nt);
    }
    if (runnable) {
        on_event(arg, TAAS_NOTIFY_RUNNABLE, NULL);
        n++;
    }
    return n;
}

static int listen_wait(pg_store *s, int timeout_ms, void (*on_event)(void *, int, const char *),
                       void *arg)
{
    if (!s->listen || PQstatus(s->listen) != CONNECTION_OK) {
        if (s->listen)
            listen_lost(s, "listen");
        int err = listen_connect(s);
        if (err)
            return err;
        /* Anything sent while nobody listened is lost: look at everything. */
        on_event(arg, TAAS_NOTIFY_RESYNC, NULL);
        return 1;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (!PQconsumeInput(s->listen) || PQstatus(s->listen) != CONNECTION_OK) {
            listen_lost(s, "listen");
            return TAAS_STORE_EBUSY;
        }
        int got = deliver(s, on_event, arg);
        if (got)
            return got;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long elapsed = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (timeout_ms >= 0 && elapsed >= timeout_ms)
            return 0;
        struct pollfd pfd = {.fd = PQsocket(s->listen), .events = POLLIN};
        if (pfd.fd < 0) {
            listen_lost(s, "listen");
            return TAAS_STORE_EBUSY;
        }
        int rc = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)(timeout_ms - elapsed));
        if (rc < 0 && errno != EINTR) {
            tl_set("listen: poll: %s", strerror(errno));
            return TAAS_STORE_EIO;
        }
    }
}

static int pg_wait_notify(taas_store *base, int timeout_ms,
                          void (*on_event)(void *arg, int kind, const char *id), void *arg)
{
    pg_store *s = (pg_store *)base;
    if (!on_event)
        return TAAS_STORE_EINVAL;
    pthread_mutex_lock(&s->listen_mu);
    int rc = listen_wait(s, timeout_ms, on_event, arg);
    pthread_mutex_unlock(&s->listen_mu);
    return rc;
}

static void legacy_event(void *arg, int kind, const char *id)
{
    (void)id;
    if (kind != TAAS_NOTIFY_TASK)
        ((legacy_wake *)arg)->woken = true;
}

int taas_pg_wait_notify(taas_store *base, int timeout_ms)
{
    pg_store *s = (pg_store *)base;
    if (!s || strcmp(s->parent.backend, "postgresql") != 0)
        return TAAS_STORE_EINVAL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&s->listen_mu);
    int rc;
    for (;;) {
        legacy_wake w = {false};
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long elapsed = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        long left = timeout_ms < 0 ? -1 : timeout_ms - elapsed;
        if (timeout_ms >= 0 && left < 0)
            left = 0;
        rc = listen_wait(s, (int)left, legacy_event, &w);
        if (rc <= 0 || w.woken) {
            rc = rc < 0 ? rc : w.woken ? 1 : 0;
            break;
        }
        /* Only task events came: keep waiting for a wake-up until the timeout. */
    }
    pthread_mutex_unlock(&s->listen_mu);
    return rc;
}

void taas_pg_get_stats(taas_store *base, taas_pg_stats *out)
{
    pg_store *s = (pg_store *)base;
    out->round_trips = atomic_load(&s->round_trips);
    out->transactions = atomic_load(&s->transactions);
    out->statements = atomic_load(&s->statements);
    out->reconnects = atomic_load(&s->reconnects);
}

/* ------------------------------------------------------------------------ */
/* Open, migrate, close */

static const char *pg_describe(taas_store *base)
{
    return ((pg_store *)base)->describe;
}

static const char *pg_last_error(taas_store *base)
{
    (void)base;
    return tl_error;
}

static void pg_close(taas_store *base)
{
    pg_store *s = (pg_store *)base;
    if (!s)
        return;
    reader *r = s->free_readers;
    while (r) {
        reader *next = r->next;
        PQfinish(r->conn);
        free(r);
        r = next;
    }
    PQfinish(s->w);
    PQfinish(s->listen);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->listen_mu);
    free(s->conninfo);
    free(s);
}

/* Run one command in the migration transaction; 0 or a store code. */
static int mexec(pg_store *s, PGconn *c, const char *sql, int nparams, const char *const *v,
                 PGresult **keep)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_error(s, "migrate", c, r);
        int err = map_error(c, r);
        PQclear(r);
        return err;
    }
    if (keep)
        *keep = r;
    else
        PQclear(r);
    return 0;
}

/*
 * Bring the schema to SCHEMA_VERSION in one transaction. The advisory lock
 * makes servers that start together take turns: the first migrates, the
 * others then find the work done.
 */
static int migrate(pg_store *s, PGconn *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = mexec(s, c, "BEGIN", 0, NULL, NULL);
    rc = rc ? rc : mexec(s, c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, NULL);
    rc = rc ? rc
            : mexec(s, c,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " description text NOT NULL,"
                    " applied_ms bigint NOT NULL)",
                    0, NULL, NULL);
    rc = rc ? rc : mexec(s, c, "SELECT COALESCE(max(version), 0) FROM schema_migrations", 0, NULL, &r);
    if (rc) {
        taas_store__seterr(err, errlen, "cannot read the schema version: %s", tl_error);
        goto fail;
    }
    long cur = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (cur > SCHEMA_VERSION) {
        taas_store__seterr(err, errlen,
                           "PostgreSQL %s has schema version %ld, newer than this server knows "
                           "(%d): run a newer taas-server, or restore a backup",
                           s->target, cur, SCHEMA_VERSION);
        rc = TAAS_STORE_EINVAL;
        goto fail;
    }
    for (long v = cur; v < SCHEMA_VERSION; v++) {
        const struct migration *m = &migrations[v]; /* versions are 1..N in order */
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        const char *pv[2] = {ver, m->description};
        PGresult *mr = PQexec(c, m->sql);
        if (PQresultStatus(mr) != PGRES_COMMAND_OK) {
            set_error(s, "migrate", c, mr);
            rc = map_error(c, mr);
        }
        PQclear(mr);
        rc = rc ? rc
                : mexec(s, c,
                        "INSERT INTO schema_migrations (version, description, applied_ms)"
                        " VALUES ($1::integer, $2::text,"
                        " (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                        2, pv, NULL);
        if (rc) {
            taas_store__seterr(err, errlen, "migration %d (%s) failed: %s", m->version,
                               m->description, tl_error);
            goto fail;
        }
    }
    rc = mexec(s, c, "COMMIT", 0, NULL, NULL);
    if (rc) {
        taas_store__seterr(err, errlen, "migration commit failed: %s", tl_error);
        return rc;
    }
    return 0;
fail:
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

taas_store *taas_pg_open_ex(const char *url, const taas_store_opts *opts,
                            const taas_pg_opts *pgopts, char *err, size_t errlen)
{
    taas_store__seterr(err, errlen, "%s", "");
    if (!url || !*url) {
        taas_store__seterr(err, errlen, "empty PostgreSQL URL");
        return NULL;
    }
    pg_store *s = calloc(1, sizeof(*s));
    if (!s) {
        taas_store__seterr(err, errlen, "out of memory");
        return NULL;
    }
    s->parent.version = TAAS_STORE_VERSION;
    s->parent.backend = "postgresql";
    s->parent.apply = pg_apply;
    s->parent.get = pg_get;
    s->parent.list = pg_list;
    s->parent.describe = pg_describe;
    s->parent.last_error = pg_last_error;
    s->parent.close = pg_close;
    s->parent.wait_notify = pg_wait_notify;
    s->lock_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    /* Each reader is a server process; a few serve get/list well. */
    s->max_readers = opts && opts->max_readers > 0 ? opts->max_readers : 4;
    s->allow_async_commit = (pgopts && pgopts->allow_async_commit) ||
                            (opts && opts->allow_async_commit);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->listen_mu, NULL);
    atomic_init(&s->round_trips, 0);
    atomic_init(&s->transactions, 0);
    atomic_init(&s->statements, 0);
    atomic_init(&s->reconnects, 0);
    redact(url, s->target, sizeof(s->target));
    s->conninfo = strdup(url);
    if (!s->conninfo) {
        taas_store__seterr(err, errlen, "out of memory");
        goto fail;
    }

    /* A malformed URL is an argument error, not a connection failure. */
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(url, &perr);
    if (!parsed) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", perr ? perr : "out of memory");
        one_line(msg);
        taas_store__seterr(err, errlen,
                           "invalid PostgreSQL URL %s: %s (use postgresql://user:pass@host:5432/db "
                           "or \"host=... dbname=...\")",
                           s->target, msg);
        PQfreemem(perr);
        goto fail;
    }
    PQconninfoFree(parsed);

    int rc = 0;
    PGconn *c = open_conn(s, "connect", &rc);
    if (!c) {
        taas_store__seterr(err, errlen, "%s", tl_error);
        goto fail;
    }
    target_from_conn(s, c);
    if (PQserverVersion(c) < 90500) {
        taas_store__seterr(err, errlen,
                           "PostgreSQL %s is version %d; TaaS needs 9.5 or newer (SKIP LOCKED, "
                           "ON CONFLICT)", s->target, PQserverVersion(c));
        PQfinish(c);
        goto fail;
    }
    if (check_durability(s, c) != 0) {
        taas_store__seterr(err, errlen, "%s", tl_error);
        PQfinish(c);
        goto fail;
    }
    if (migrate(s, c, err, errlen) != 0) {
        PQfinish(c);
        goto fail;
    }
    if (prepare_writes(s, c) != 0) {
        taas_store__seterr(err, errlen, "%s", tl_error);
        PQfinish(c);
        goto fail;
    }
    s->w = c;
    PGresult *r = PQexec(c, "SHOW synchronous_commit");
    snprintf(s->describe, sizeof(s->describe),
             "postgresql://%s (server %d, synchronous_commit=%s, %d read connections)",
             s->target, PQserverVersion(c),
             PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?", s->max_readers);
    PQclear(r);
    return &s->parent;

fail:
    pg_close(&s->parent);
    return NULL;
}

taas_store *taas_pg_open(const char *url, const taas_store_opts *opts, char *err, size_t errlen)
{
    return taas_pg_open_ex(url, opts, NULL, err, errlen);
}
