/*
 * runtime/store/postgres_write.c - apply() for PostgreSQL: the prepared write
 * statements and the batch that sends them.
 *
 * Runs only on the writer thread, on the writer connection (s->w), with no
 * lock: nothing else touches that connection. A batch goes in pipeline
 * mode as BEGIN, one statement per operation, the task events, COMMIT and
 * one Sync (see postgres.c for the method and the error rules).
 */
#include "store/postgres_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

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
/* A recovered claim that costs no attempt (see sqlite_write.c). */
#define RECOVER_FREE                                                                   \
    "((NOT idempotent AND started_ms = 0) OR (idempotent AND"                          \
    " lease_token - attempt - given_back < " TAAS_STR(TAAS_GIVEBACK_MAX) "))"
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
    ST_GIVE_BACK,
    ST_COUNT
};

static const char *const write_sql[ST_COUNT] = {
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
        " started_ms = 0, updated_ms = $2::bigint, progress = 0,"
        " progress_message = NULL"
        " FROM c WHERE t.id = c.id RETURNING " COLS("t.") "),"
        NOTIFY_IDS("u") " SELECT * FROM u WHERE (SELECT count(*) FROM n) >= 0",
    [ST_PROGRESS] =
        "WITH u AS (UPDATE tasks SET progress = $3::double precision,"
        " progress_message = $4::text, updated_ms = $5::bigint,"
        " started_ms = CASE WHEN $6::bigint > 0 THEN $6::bigint WHEN $6::bigint < 0 THEN 0"
        "  ELSE started_ms END"
        " WHERE id = $1::text AND state = 2 AND lease_token = $2::bigint RETURNING 1)"
        " SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)",
    /* Lock the row, read its state, and change it by that state, in one
     * statement; returns the state before (no row: unknown id), the state
     * readers saw (claimed, not started: PENDING) and the name. */
    [ST_CANCEL] =
        "WITH o AS (SELECT id, state, lease_token, started_ms, name FROM tasks WHERE id = $1::text"
        " AND ($3::text IS NULL OR principal = $3::text) FOR UPDATE),"
        " u AS (UPDATE tasks t SET"
        "  state = CASE WHEN o.state = 1 THEN 5 ELSE t.state END,"
        "  cancel_requested = true,"
        "  error = CASE WHEN o.state = 1 THEN 'cancelled' ELSE t.error END,"
        "  finished_ms = CASE WHEN o.state = 1 THEN $2::bigint ELSE t.finished_ms END,"
        "  updated_ms = $2::bigint"
        "  FROM o WHERE t.id = o.id AND o.state IN (1, 2) RETURNING 1)"
        " SELECT o.state, o.lease_token, (SELECT count(*) FROM u),"
        " CASE WHEN o.state = 2 AND o.started_ms = 0 THEN 1 ELSE o.state END, o.name FROM o",
    [ST_HEARTBEAT] = "UPDATE tasks SET lease_expires_ms = $2::bigint"
                     " WHERE state = 2 AND lease_owner = $1::text",
    /* As SQLite's (sqlite_write.c): never-started and idempotent tasks go
     * back to PENDING, an attempt given back when RECOVER_FREE. */
    [ST_RECOVER_RETRY] = SWEEP(
        "UPDATE tasks SET state = 1, run_after_ms = $1::bigint,"
        " attempt = CASE WHEN " RECOVER_FREE " THEN attempt - 1 ELSE attempt END,"
        " error = CASE WHEN started_ms = 0 AND " RECOVER_FREE " THEN error"
        "  ELSE 'interrupted' END,"
        " attempts_json = CASE WHEN started_ms = 0 AND " RECOVER_FREE " THEN attempts_json"
        "  ELSE " APPEND_ATTEMPT("'interrupted'::text", "$1::bigint") " END,"
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = $1::bigint"
        " WHERE state = 2 AND lease_expires_ms <= $1::bigint AND NOT cancel_requested"
        " AND (" RECOVER_FREE " OR (idempotent AND attempt < max_attempts))"),
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
        " updated_ms = $2::bigint WHERE state = 2 AND lease_owner = $1::text"
        " AND (started_ms = 0 OR idempotent)"),
    [ST_PRUNE] =
        "WITH c AS MATERIALIZED (SELECT id FROM tasks WHERE finished_ms > 0"
        " AND finished_ms < $1::bigint AND state IN (3, 4, 5) LIMIT $2::integer"
        " FOR UPDATE SKIP LOCKED)"
        " DELETE FROM tasks t USING c WHERE t.id = c.id",
    /* One task held but never started, back to the queue (as sqlite_write.c). */
    [ST_GIVE_BACK] = SWEEP(
        "UPDATE tasks SET state = CASE WHEN cancel_requested THEN 5 ELSE 1 END,"
        " attempt = CASE WHEN cancel_requested THEN attempt ELSE attempt - 1 END,"
        " given_back = CASE WHEN cancel_requested THEN given_back ELSE given_back + 1 END,"
        " error = CASE WHEN cancel_requested THEN 'cancelled' ELSE error END,"
        " finished_ms = CASE WHEN cancel_requested THEN $3::bigint ELSE finished_ms END,"
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = $3::bigint WHERE id = $1::text AND state = 2"
        " AND lease_token = $2::bigint AND started_ms = 0"),
    /*
     * Inserts, one op or a batch's many in one statement: each column an
     * array (one element per op, in op order), one row per op back (ord,
     * inserted, id, input_hash, found). An op inserts unless its id or
     * (principal, name, key) is taken; one skipped for its key finds the row
     * holding it among this statement's own inserts (d: a second submit of
     * the key in the same batch) or in the table as this statement sees it,
     * earlier statements of the transaction included (t). Neither found: an
     * unresolved insert (resolve_inserts looks again after the commit).
     * One statement for any count, so one op and many cannot drift apart.
     */
    [ST_INSERT] =
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[],"
        " $5::integer[], $6::integer[], $7::boolean[], $8::text[], $9::text[], $10::bigint[],"
        " $11::bigint[], $12::text[], $13::text[], $14::bigint[], $15::text[]) WITH ORDINALITY AS"
        " v(c_id, c_name, c_input, c_priority, c_max_attempts, c_timeout_s, c_idempotent, c_key,"
        " c_hash, c_created, c_run_after, c_principal, c_owner, c_lease_ms, c_parent, ord)),"
        " ins AS (INSERT INTO tasks (id, name, input, state, priority, attempt,"
        " max_attempts, timeout_s, idempotent, idempotency_key, input_hash, created_ms,"
        " updated_ms, run_after_ms, principal, lease_owner, lease_expires_ms, lease_token,"
        " started_ms, parent_id)"
        " SELECT c_id, c_name, c_input, CASE WHEN c_owner IS NULL THEN 1 ELSE 2 END,"
        " c_priority, CASE WHEN c_owner IS NULL THEN 0 ELSE 1 END, c_max_attempts, c_timeout_s,"
        " c_idempotent, c_key, c_hash, c_created, c_created, c_run_after, c_principal, c_owner,"
        " CASE WHEN c_owner IS NULL THEN 0 ELSE c_created + c_lease_ms END,"
        " CASE WHEN c_owner IS NULL THEN 0 ELSE 1 END,"
        " 0, c_parent" /* claimed, not started: PENDING to readers */
        " FROM v ORDER BY ord"
        " ON CONFLICT DO NOTHING RETURNING id, principal, name, idempotency_key, input_hash)"
        " SELECT v.ord, CASE WHEN i.id IS NOT NULL THEN 1 ELSE 0 END,"
        " COALESCE(i.id, d.id, t.id), COALESCE(d.input_hash, t.input_hash),"
        " d.id IS NOT NULL OR t.id IS NOT NULL"
        " FROM v LEFT JOIN ins i ON i.id = v.c_id"
        " LEFT JOIN ins d ON i.id IS NULL AND v.c_key IS NOT NULL AND d.id <> v.c_id"
        " AND d.principal = v.c_principal AND d.name = v.c_name AND d.idempotency_key = v.c_key"
        " LEFT JOIN tasks t ON i.id IS NULL AND d.id IS NULL AND v.c_key IS NOT NULL"
        " AND t.principal = v.c_principal AND t.name = v.c_name AND t.idempotency_key = v.c_key"
        " ORDER BY v.ord",
    /* Completions, one op or a batch's many (distinct ids) in one statement,
     * arrays as for ST_INSERT: each op's change, and per op (ord, changed,
     * exists): whether it changed the row and, when not, whether the task
     * exists (a stale token or an unknown id). */
    [ST_COMPLETE] =
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::text[],"
        " $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::integer[],"
        " $10::double precision[], $11::text[]) WITH ORDINALITY AS"
        " v(c_id, c_token, c_state, c_output, c_error, c_run_after, c_now, c_started,"
        " c_has_progress, c_progress, c_progress_message, ord)),"
        " u AS (UPDATE tasks SET state = v.c_state,"
        " output = CASE WHEN v.c_state = 3 THEN v.c_output ELSE NULL END,"
        " error = v.c_error,"
        " attempts_json = CASE WHEN v.c_error IS NULL THEN attempts_json"
        "  ELSE " APPEND_ATTEMPT("v.c_error", "v.c_now") " END,"
        " run_after_ms = CASE WHEN v.c_state = 1 THEN v.c_run_after ELSE run_after_ms END,"
        " finished_ms = CASE WHEN v.c_state = 1 THEN 0 ELSE v.c_now END,"
        " progress = CASE WHEN v.c_state = 1 THEN 0.0"
        "  WHEN v.c_has_progress = 1 THEN v.c_progress"
        "  WHEN v.c_state = 3 THEN 1.0 ELSE progress END,"
        " progress_message = CASE WHEN v.c_state = 1 THEN NULL"
        "  WHEN v.c_has_progress = 1 THEN v.c_progress_message ELSE progress_message END,"
        " started_ms = CASE WHEN v.c_started > 0 THEN v.c_started ELSE started_ms END,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = v.c_now"
        " FROM v WHERE tasks.id = v.c_id AND tasks.state = 2 AND tasks.lease_token = v.c_token"
        " RETURNING tasks.id)"
        " SELECT v.ord, u.id IS NOT NULL,"
        " u.id IS NOT NULL OR EXISTS (SELECT 1 FROM tasks x WHERE x.id = v.c_id)"
        " FROM v LEFT JOIN u ON u.id = v.c_id ORDER BY v.ord",
};

static const char *const stmt_names[ST_COUNT] = {
    "taas_insert",         "taas_idem_lookup", "taas_claim",         "taas_complete",
    "taas_progress",       "taas_cancel",      "taas_heartbeat",     "taas_recover_retry",
    "taas_recover_fail",   "taas_release_cancel", "taas_release",    "taas_prune",
    "taas_give_back",
};

int taas_pg__prepare_writes(pg_store *s, PGconn *c)
{
    /*
     * Two session settings of the writer connection, both found with
     * bench/pgprofile at C = 64 on a fresh database (docs/performance.md,
     * "PostgreSQL: where a task's time goes"):
     *
     * - Plan every execution with its own arrays and the table as it is
     *   now. A prepared statement otherwise settles on a generic plan after
     *   five runs and keeps it until the table is next analyzed; one made
     *   while tasks was young (autovacuum analyzes a new table a minute or
     *   more later) takes the table for ~160 rows and each array for 10
     *   elements, and read all of tasks for the idempotency-key lookup of
     *   every insert batch (329 rows read per task at 20,000 tasks, growing
     *   with the table) and every RUNNING row for each completion. Planning
     *   costs ~16 µs of the backend's CPU per task at C = 64, far less.
     * - No bitmap scans. The claim's partial index (state = 1) keeps an
     *   entry for every task claimed since the last vacuum; an ordered index
     *   scan marks the entries of dead rows it passes (LP_DEAD) so the next
     *   claim skips them and inserts reclaim their space, but a bitmap scan
     *   never does: with it each claim read ~9,400 dead entries at 20,000
     *   tasks, with the ordered scan ~60. Every statement of this
     *   connection finds its rows by a key or in index order.
     */
    PGresult *pr = PQexec(c, "SET plan_cache_mode = force_custom_plan");
    if (PQresultStatus(pr) == PGRES_COMMAND_OK) {
        PQclear(pr);
        pr = PQexec(c, "SET enable_bitmapscan = off");
    }
    if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
        taas_pg__set_error(s, "writer session settings", c, pr);
        int rc = taas_pg__map_error(c, pr);
        PQclear(pr);
        return rc;
    }
    PQclear(pr);
    for (int i = 0; i < ST_COUNT; i++) {
        PGresult *r = PQprepare(c, stmt_names[i], write_sql[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char what[64];
            snprintf(what, sizeof(what), "prepare %s", stmt_names[i]);
            taas_pg__set_error(s, what, c, r);
            int rc = taas_pg__map_error(c, r);
            PQclear(r);
            return rc;
        }
        PQclear(r);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Batches */

/* What a queued statement was for, to read its result back. */
typedef struct slot {
    int op;    /* the one op's index into ops; -1 for BEGIN / NOTIFY / COMMIT
                * and for a statement of a group's many ops */
    int stmt;  /* ST_* or -1 */
    int count; /* how many ops the statement carries */
    int gop;   /* a group's statement: its first op in the group list; else -1 */
} slot;

/* Text parameters for one statement; numbers are formatted into bufs.
 * MAX_PARAMS is the most any statement above takes (ST_INSERT: 15). */
#define MAX_PARAMS 16
typedef struct params {
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char bufs[MAX_PARAMS][32];
    int n;
} params;

static void p_text(params *p, const char *s)
{
    assert(p->n < MAX_PARAMS);
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_i64(params *p, int64_t x)
{
    assert(p->n < MAX_PARAMS);
    snprintf(p->bufs[p->n], sizeof(p->bufs[0]), "%lld", (long long)x);
    p_text(p, p->bufs[p->n]);
}

static void p_f64(params *p, double x)
{
    assert(p->n < MAX_PARAMS);
    snprintf(p->bufs[p->n], sizeof(p->bufs[0]), "%.17g", x);
    p_text(p, p->bufs[p->n]);
}

/* Check an operation's arguments before anything is sent; false = refused. */
static bool op_valid(taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_INSERT: {
        const taas_task_rec *t = op->u.insert.task;
        /* Text goes in array literals, which end at a NUL: a NUL byte
         * (which PostgreSQL's text refuses anyway) is refused here. */
        return t && taas_uuid_valid(t->id) && t->name && *t->name && t->input &&
               t->input_len <= 0x7fffffff && !memchr(t->input, 0, t->input_len) &&
               !(op->u.insert.claim_owner && t->run_after_ms > t->created_ms);
    }
    case TAAS_OP_CLAIM:
        return op->u.claim.owner && op->u.claim.out && op->u.claim.max >= 0 &&
               op->u.claim.lease_ms >= 0;
    case TAAS_OP_COMPLETE: {
        taas_task_state to = op->u.complete.state;
        return op->u.complete.id && (to == TAAS_TASK_PENDING || taas_task_state_final(to)) &&
               op->u.complete.output_len <= 0x7fffffff &&
               !(op->u.complete.output &&
                 memchr(op->u.complete.output, 0, op->u.complete.output_len));
    }
    case TAAS_OP_PROGRESS: return op->u.progress.id != NULL;
    case TAAS_OP_CANCEL: return op->u.cancel.id != NULL;
    case TAAS_OP_HEARTBEAT: return op->u.heartbeat.owner != NULL;
    case TAAS_OP_RECOVER: return true;
    case TAAS_OP_RELEASE: return op->u.release.owner != NULL;
    case TAAS_OP_PRUNE: return op->u.prune.limit > 0;
    case TAAS_OP_SCHED_CREATE:
    case TAAS_OP_SCHED_SET:
    case TAAS_OP_SCHED_FIRE: return true; /* checked by postgres_schedule.c */
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
        if (id && !taas_uuid_valid(id))
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

/* ------------------------------------------------------------------------ */
/* Many ops in one statement */

/* A PostgreSQL array literal being built (text format): {e1,e2,...}. */
typedef struct arr {
    char *p;
    size_t len, cap;
    bool oom;
} arr;

static void arr_put(arr *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (a->len + n + 2 > cap)
            cap *= 2;
        char *np = realloc(a->p, cap);
        if (!np) {
            a->oom = true;
            return;
        }
        a->p = np;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
    a->p[a->len] = '\0';
}

static void arr_next(arr *a)
{
    arr_put(a, a->len ? "," : "{", 1);
}

/* An element: NULL, or the text quoted with " and \ escaped. */
static void arr_text(arr *a, const char *s, size_t len)
{
    arr_next(a);
    if (!s) {
        arr_put(a, "NULL", 4);
        return;
    }
    if (!len)
        len = strlen(s);
    arr_put(a, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            arr_put(a, s + from, i - from);
            arr_put(a, "\\", 1);
            from = i;
        }
    }
    arr_put(a, s + from, len - from);
    arr_put(a, "\"", 1);
}

static void arr_i64(arr *a, int64_t x)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)x);
    arr_next(a);
    arr_put(a, b, (size_t)n);
}

/* Close every array, point p at them, and send stmt; then free them. */
static bool send_arrays(PGconn *c, int stmt, arr *a, int na)
{
    params p;
    p.n = 0;
    bool ok = true;
    for (int i = 0; i < na; i++) {
        if (!a[i].len)
            arr_put(&a[i], "{", 1);
        arr_put(&a[i], "}", 1);
        ok = ok && !a[i].oom;
        p_text(&p, a[i].p);
    }
    ok = ok && send_prepared(c, stmt, &p); /* libpq has copied the parameters */
    for (int i = 0; i < na; i++)
        free(a[i].p);
    return ok;
}

/* ST_INSERT for the ops idx[0..k-1]. */
static bool send_inserts(PGconn *c, taas_store_op *const ops[], const int *idx, int k)
{
    arr a[15];
    memset(a, 0, sizeof a);
    for (int j = 0; j < k; j++) {
        const taas_store_op *op = ops[idx[j]];
        const taas_task_rec *t = op->u.insert.task;
        arr_text(&a[0], t->id, 0);
        arr_text(&a[1], t->name, 0);
        arr_text(&a[2], t->input, t->input_len);
        arr_i64(&a[3], t->priority);
        arr_i64(&a[4], t->max_attempts > 0 ? t->max_attempts : 1);
        arr_i64(&a[5], t->timeout_s > 0 ? t->timeout_s : 0);
        arr_text(&a[6], t->idempotent ? "t" : "f", 1);
        arr_text(&a[7], t->idempotency_key, 0);
        arr_text(&a[8], t->input_hash, 0);
        arr_i64(&a[9], t->created_ms);
        arr_i64(&a[10], t->run_after_ms);
        arr_text(&a[11], t->principal ? t->principal : "", 0);
        arr_text(&a[12], op->u.insert.claim_owner, 0);
        arr_i64(&a[13], op->u.insert.lease_ms);
        arr_text(&a[14], t->parent_id, 0);
    }
    return send_arrays(c, ST_INSERT, a, 15);
}

/* ST_COMPLETE for the ops idx[0..k-1] (distinct ids). */
static bool send_completes(PGconn *c, taas_store_op *const ops[], const int *idx, int k)
{
    arr a[11];
    memset(a, 0, sizeof a);
    for (int j = 0; j < k; j++) {
        const taas_store_op *op = ops[idx[j]];
        arr_text(&a[0], op->u.complete.id, 0);
        arr_i64(&a[1], op->u.complete.lease_token);
        arr_i64(&a[2], (int)op->u.complete.state);
        arr_text(&a[3], op->u.complete.output, op->u.complete.output_len);
        arr_text(&a[4], op->u.complete.error, 0);
        arr_i64(&a[5], op->u.complete.run_after_ms);
        arr_i64(&a[6], op->u.complete.now_ms);
        arr_i64(&a[7], op->u.complete.started_ms);
        /* The body's last progress word, kept with the final state. */
        arr_i64(&a[8], op->u.complete.has_progress ? 1 : 0);
        double v = op->u.complete.progress;
        char b[40];
        snprintf(b, sizeof b, "%.17g", v >= 0.0 && v <= 1.0 ? v : (v > 1.0 ? 1.0 : 0.0));
        arr_text(&a[9], b, 0);
        arr_text(&a[10], op->u.complete.progress_message, 0);
    }
    return send_arrays(c, ST_COMPLETE, a, 11);
}

/* Queue the statement(s) of one op; returns how many, or -1 on a send failure. */
static int send_op(pg_store *s, taas_store_op *op, int idx, slot *slots, int *ns)
{
    PGconn *c = s->w;
    static const int zero = 0; /* op is ops[0] of a one-op array */
    params p;
    p.n = 0;
    switch (op->kind) {
    case TAAS_OP_INSERT:
        slots[(*ns)++] = (slot){idx, ST_INSERT, 1, -1};
        return send_inserts(c, &op, &zero, 1) ? 1 : -1;
    case TAAS_OP_CLAIM:
        if (op->u.claim.max == 0)
            return 0;
        p_text(&p, op->u.claim.owner);
        p_i64(&p, op->u.claim.now_ms);
        p_i64(&p, op->u.claim.lease_ms);
        p_i64(&p, op->u.claim.max);
        slots[(*ns)++] = (slot){idx, ST_CLAIM, 1, -1};
        return send_prepared(c, ST_CLAIM, &p) ? 1 : -1;
    case TAAS_OP_COMPLETE:
        slots[(*ns)++] = (slot){idx, ST_COMPLETE, 1, -1};
        return send_completes(c, &op, &zero, 1) ? 1 : -1;
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
        p_i64(&p, op->u.progress.started_ms);
        slots[(*ns)++] = (slot){idx, ST_PROGRESS, 1, -1};
        return send_prepared(c, ST_PROGRESS, &p) ? 1 : -1;
    }
    case TAAS_OP_CANCEL:
        p_text(&p, op->u.cancel.id);
        p_i64(&p, op->u.cancel.now_ms);
        p_text(&p, op->u.cancel.principal);
        slots[(*ns)++] = (slot){idx, ST_CANCEL, 1, -1};
        return send_prepared(c, ST_CANCEL, &p) ? 1 : -1;
    case TAAS_OP_HEARTBEAT:
        p_text(&p, op->u.heartbeat.owner);
        p_i64(&p, op->u.heartbeat.lease_expires_ms);
        slots[(*ns)++] = (slot){idx, ST_HEARTBEAT, 1, -1};
        return send_prepared(c, ST_HEARTBEAT, &p) ? 1 : -1;
    case TAAS_OP_RECOVER:
        p_i64(&p, op->u.recover.now_ms);
        slots[(*ns)++] = (slot){idx, ST_RECOVER_RETRY, 1, -1};
        if (!send_prepared(c, ST_RECOVER_RETRY, &p))
            return -1;
        slots[(*ns)++] = (slot){idx, ST_RECOVER_FAIL, 1, -1};
        return send_prepared(c, ST_RECOVER_FAIL, &p) ? 2 : -1;
    case TAAS_OP_RELEASE:
        if (op->u.release.id) {
            p_text(&p, op->u.release.id);
            p_i64(&p, op->u.release.lease_token);
            p_i64(&p, op->u.release.now_ms);
            slots[(*ns)++] = (slot){idx, ST_GIVE_BACK, 1, -1};
            return send_prepared(c, ST_GIVE_BACK, &p) ? 1 : -1;
        }
        p_text(&p, op->u.release.owner);
        p_i64(&p, op->u.release.now_ms);
        slots[(*ns)++] = (slot){idx, ST_RELEASE_CANCEL, 1, -1};
        if (!send_prepared(c, ST_RELEASE_CANCEL, &p))
            return -1;
        slots[(*ns)++] = (slot){idx, ST_RELEASE, 1, -1};
        return send_prepared(c, ST_RELEASE, &p) ? 2 : -1;
    case TAAS_OP_PRUNE:
        p_i64(&p, op->u.prune.finished_before_ms);
        p_i64(&p, op->u.prune.limit);
        slots[(*ns)++] = (slot){idx, ST_PRUNE, 1, -1};
        return send_prepared(c, ST_PRUNE, &p) ? 1 : -1;
    case TAAS_OP_SCHED_CREATE:
    case TAAS_OP_SCHED_SET:
    case TAAS_OP_SCHED_FIRE:
        return 0; /* never in the pipelined batch (see taas_pg__apply) */
    }
    return 0;
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
        stmt == ST_RELEASE || stmt == ST_GIVE_BACK)
        changed = rows == 1 ? (int)taas_pg__col_i64(r, 0, 0) : 0; /* SWEEP(): the count of rows changed */
    switch (stmt) {
    case ST_CLAIM:
        for (int i = 0; i < rows && op->u.claim.n < op->u.claim.max; i++) {
            int rc = taas_pg__row_to_rec(r, i, &op->u.claim.out[op->u.claim.n]);
            if (rc)
                return rc;
            op->u.claim.n++;
        }
        /* RETURNING yields rows in no particular order; give them in claim order. */
        qsort(op->u.claim.out, (size_t)op->u.claim.n, sizeof(taas_task_rec), taas_store__claim_order);
        return 0;
    case ST_PROGRESS:
        if (rows == 1 && taas_pg__col_i64(r, 0, 0) == 0)
            op->result = taas_pg__col_bool(r, 0, 1) ? TAAS_STORE_ESTALE : TAAS_STORE_ENOTFOUND;
        return 0;
    case ST_CANCEL: {
        if (rows == 0) {
            op->result = TAAS_STORE_ENOTFOUND;
            return 0;
        }
        taas_task_state cur = (taas_task_state)taas_pg__col_i64(r, 0, 0);
        op->u.cancel.state_seen = (taas_task_state)taas_pg__col_i64(r, 0, 3);
        snprintf(op->u.cancel.name, sizeof op->u.cancel.name, "%s", PQgetvalue(r, 0, 4));
        if (taas_task_state_final(cur)) {
            op->u.cancel.state_after = cur;
            op->result = TAAS_STORE_EFINAL;
        } else if (cur == TAAS_TASK_PENDING) {
            op->u.cancel.state_after = TAAS_TASK_CANCELLED;
        } else {
            op->u.cancel.state_after = TAAS_TASK_RUNNING;
            op->u.cancel.lease_token = taas_pg__col_i64(r, 0, 1);
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
    case ST_GIVE_BACK:
        op->u.release.released = changed;
        if (changed > 0)
            *notify = true;
        return 0;
    case ST_PRUNE: op->u.prune.deleted = changed; return 0;
    default: return 0;
    }
}


/* One row of ST_INSERT (ord, inserted 1/0, id, input_hash, found) for its op. */
static void take_insert_row(taas_store_op *op, const PGresult *r, int row, bool *notify,
                            bool *unresolved)
{
    if (PQgetvalue(r, row, 1)[0] == '1') {
        if (!op->u.insert.claim_owner)
            *notify = true;
    } else if (PQgetvalue(r, row, 4)[0] != 't') {
        if (op->u.insert.task->idempotency_key)
            *unresolved = true;
        else
            op->result = TAAS_STORE_ECONFLICT; /* the id is taken */
    } else if (same_hash(PQgetisnull(r, row, 3) ? NULL : PQgetvalue(r, row, 3),
                         op->u.insert.task->input_hash)) {
        op->u.insert.duplicate = true;
        snprintf(op->u.insert.existing_id, sizeof(op->u.insert.existing_id), "%s",
                 PQgetvalue(r, row, 2));
    } else {
        op->result = TAAS_STORE_ECONFLICT;
    }
}

/* One row of ST_COMPLETE (ord, changed, exists) for its op. */
static void take_complete_row(taas_store_op *op, const PGresult *r, int row, bool *notify)
{
    if (PQgetvalue(r, row, 1)[0] != 't')
        op->result = PQgetvalue(r, row, 2)[0] == 't' ? TAAS_STORE_ESTALE : TAAS_STORE_ENOTFOUND;
    else if (op->u.complete.state == TAAS_TASK_PENDING)
        *notify = true;
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

enum { BATCH_OK = 0, BATCH_BAD_OP = 1, BATCH_UNGROUP = 2 };

/*
 * Inserts and completions gathered into one ST_INSERT / ST_COMPLETE each.
 * They commute: an insert makes a new row, a completion changes a RUNNING
 * row whose insert committed earlier (its body ran), so their order between
 * each other does not change any outcome. Any other kind of op (a claim, a
 * cancel, progress, a sweep) may depend on them, so it ends the group and
 * keeps its place; a completion of an id the group already completes also
 * ends it (the second must see the first's change, as in order).
 */
typedef struct group {
    int *ins, *done; /* op indices */
    int nins, ndone;
} group;

static bool group_has_done(const group *g, taas_store_op *ops[], const char *id)
{
    for (int j = 0; j < g->ndone; j++)
        if (strcmp(ops[g->done[j]]->u.complete.id, id) == 0)
            return true;
    return false;
}

static bool group_has_insert(const group *g, taas_store_op *ops[], const char *id)
{
    for (int j = 0; j < g->nins; j++)
        if (strcmp(ops[g->ins[j]]->u.insert.task->id, id) == 0)
            return true;
    return false;
}

/* Queue the group's statements (one op alone as its own statement); the ops
 * of a many-op slot are listed from gops[slot.gop]. Returns how many
 * statements, or -1 on a send failure. */
static int group_flush(pg_store *s, group *g, taas_store_op *ops[], slot *slots, int *ns,
                       int *gops, int *ngops)
{
    int sent = 0;
    if (g->nins == 1) {
        if (send_op(s, ops[g->ins[0]], g->ins[0], slots, ns) < 0)
            return -1;
        sent++;
    } else if (g->nins > 1) {
        slots[(*ns)++] = (slot){-1, ST_INSERT, g->nins, *ngops};
        memcpy(gops + *ngops, g->ins, (size_t)g->nins * sizeof(int));
        *ngops += g->nins;
        if (!send_inserts(s->w, ops, g->ins, g->nins))
            return -1;
        sent++;
    }
    if (g->ndone == 1) {
        if (send_op(s, ops[g->done[0]], g->done[0], slots, ns) < 0)
            return -1;
        sent++;
    } else if (g->ndone > 1) {
        slots[(*ns)++] = (slot){-1, ST_COMPLETE, g->ndone, *ngops};
        memcpy(gops + *ngops, g->done, (size_t)g->ndone * sizeof(int));
        *ngops += g->ndone;
        if (!send_completes(s->w, ops, g->done, g->ndone))
            return -1;
        sent++;
    }
    g->nins = g->ndone = 0;
    return sent;
}

/* Read an ST_INSERT or ST_COMPLETE result: one row per op, in op order.
 * 0, or a store code. */
static int take_rows(taas_store_op *ops[], const slot *sl, const int *gops, PGresult *r,
                     bool *notify, bool *follow)
{
    int rows = PQntuples(r);
    if (rows != sl->count) {
        taas_pg__tl_set("batch: %d rows for %d operations", rows, sl->count);
        return TAAS_STORE_EIO;
    }
    for (int row = 0; row < rows; row++) {
        long ord = atol(PQgetvalue(r, row, 0));
        if (ord < 1 || ord > sl->count) {
            taas_pg__tl_set("batch: row %ld of %d operations", ord, sl->count);
            return TAAS_STORE_EIO;
        }
        int i = sl->gop >= 0 ? gops[sl->gop + (int)ord - 1] : sl->op;
        if (sl->stmt == ST_INSERT) {
            bool unresolved = false;
            take_insert_row(ops[i], r, row, notify, &unresolved);
            if (unresolved)
                follow[i] = true;
        } else {
            take_complete_row(ops[i], r, row, notify);
        }
    }
    return 0;
}

/*
 * Send the batch (ops with skip[i] false) as one pipelined transaction and
 * read every result. Returns BATCH_OK when committed, BATCH_BAD_OP with
 * *bad_op set when one op's data aborted the transaction, or a negative store
 * code for a failed batch. *follow lists inserts to resolve after the commit.
 */
static int run_batch(pg_store *s, taas_store_op *ops[], size_t n, const bool *skip, slot *slots,
                     bool *follow, size_t *bad_op, group *g, int *gops)
{
    PGconn *c = s->w;
    int ns = 0, err = 0, ngops = 0;
    bool may_notify = false;
    if (!PQenterPipelineMode(c)) {
        taas_pg__set_error(s, "pipeline", c, NULL);
        return taas_pg__map_error(c, NULL);
    }
    bool sent = send_plain(c, "BEGIN");
    slots[ns++] = (slot){-1, -1, 0, -1};
    if (g)
        g->nins = g->ndone = 0;
    for (size_t i = 0; sent && i < n; i++) {
        if (skip[i])
            continue;
        taas_op_kind kind = ops[i]->kind;
        int k = 0;
        if (g && kind == TAAS_OP_INSERT) {
            if (group_has_insert(g, ops, ops[i]->u.insert.task->id))
                k = group_flush(s, g, ops, slots, &ns, gops, &ngops);
            g->ins[g->nins++] = (int)i;
        } else if (g && kind == TAAS_OP_COMPLETE) {
            if (group_has_done(g, ops, ops[i]->u.complete.id))
                k = group_flush(s, g, ops, slots, &ns, gops, &ngops);
            g->done[g->ndone++] = (int)i;
        } else {
            if (g)
                k = group_flush(s, g, ops, slots, &ns, gops, &ngops);
            if (k >= 0)
                k = send_op(s, ops[i], (int)i, slots, &ns);
        }
        if (k < 0)
            sent = false;
        if ((kind == TAAS_OP_INSERT && !ops[i]->u.insert.claim_owner) ||
            kind == TAAS_OP_RECOVER || kind == TAAS_OP_RELEASE ||
            (kind == TAAS_OP_COMPLETE && ops[i]->u.complete.state == TAAS_TASK_PENDING))
            may_notify = true;
    }
    if (sent && g && group_flush(s, g, ops, slots, &ns, gops, &ngops) < 0)
        sent = false;
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
            slots[ns++] = (slot){-1, -1, 0, -1};
    }
    int notify_slot = -1;
    if (sent && may_notify) {
        notify_slot = ns;
        slots[ns++] = (slot){-1, -1, 0, -1};
        sent = send_plain(c, "NOTIFY " TAAS_PG_CHANNEL);
    }
    int commit_slot = ns;
    if (sent) {
        slots[ns++] = (slot){-1, -1, 0, -1};
        sent = send_plain(c, "COMMIT") && PQpipelineSync(c) == 1;
    }
    atomic_fetch_add(&s->statements, (uint64_t)ns);
    if (!sent) {
        taas_pg__set_error(s, "send batch", c, NULL);
        return taas_pg__map_error(c, NULL);
    }
    atomic_fetch_add(&s->round_trips, 1);

    bool notify = false;
    int failed_slot = -1;
    (void)notify_slot;
    for (int k = 0; k < ns; k++) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            taas_pg__set_error(s, "batch", c, NULL);
            return taas_pg__map_error(c, NULL);
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR && failed_slot < 0) {
            failed_slot = k;
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            bool data = taas_pg__class_is(state, "22") || taas_pg__class_is(state, "23");
            if (data && slots[k].gop >= 0) {
                /* One of its ops' data was refused; which one, the batch
                 * sent one statement per op will tell. */
                err = BATCH_UNGROUP;
                taas_pg__tl_set("%s", PQresultErrorMessage(r));
                taas_pg__one_line(taas_pg__tl_error);
            } else if (slots[k].op >= 0 && data) {
                *bad_op = (size_t)slots[k].op;
                err = BATCH_BAD_OP;
                taas_pg__tl_set("%s", PQresultErrorMessage(r));
                taas_pg__one_line(taas_pg__tl_error);
            } else {
                taas_pg__set_error(s, k == commit_slot ? "commit" : "batch", c, r);
                err = taas_pg__map_error(c, r);
            }
        } else if (failed_slot < 0 && st == PGRES_TUPLES_OK &&
                   (slots[k].stmt == ST_INSERT || slots[k].stmt == ST_COMPLETE)) {
            int rc = take_rows(ops, &slots[k], gops, r, &notify, follow);
            if (rc && !err) {
                /* The statement ran but its answer is not what it must be:
                 * fail the batch rather than guess at any op's outcome. */
                failed_slot = k;
                err = rc;
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
            taas_pg__set_error(s, "batch", c, NULL);
            taas_pg__tl_set("batch: unexpected extra result");
            return TAAS_STORE_EIO;
        }
    }
    PGresult *sync = PQgetResult(c);
    bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced) {
        taas_pg__set_error(s, "batch sync", c, NULL);
        return err ? err : taas_pg__map_error(c, NULL);
    }
    if (!PQexitPipelineMode(c)) {
        taas_pg__set_error(s, "pipeline exit", c, NULL);
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
            taas_pg__set_error(s, "idempotency lookup", s->w, r);
            op->result = taas_pg__map_error(s->w, r);
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

int taas_pg__apply(taas_store *base, taas_store_op *ops[], size_t n)
{
    pg_store *s = (pg_store *)base;
    if (n == 0)
        return 0;
    bool *skip = calloc(n, sizeof(bool));
    bool *follow = calloc(n, sizeof(bool));
    /* BEGIN, up to two statements per op, the task events, NOTIFY, COMMIT. */
    slot *slots = calloc(2 * n + n / ID_CHUNK + 5, sizeof(slot));
    /* The group's op lists and the ops of its statements (n each at most). */
    int *gbuf = malloc(3 * n * sizeof(int));
    group grp = {gbuf, gbuf ? gbuf + n : NULL, 0, 0};
    group *g = &grp; /* until a grouped statement is refused: then one per op */
    int err = 0;
    if (!skip || !follow || !slots || !gbuf) {
        taas_pg__tl_set("apply: out of memory");
        err = TAAS_STORE_ENOMEM;
        goto fail;
    }
    size_t nsched = 0;
    for (size_t i = 0; i < n; i++) {
        taas_store__reset_outputs(ops[i]);
        if (!op_valid(ops[i])) {
            ops[i]->result = TAAS_STORE_EINVAL;
            skip[i] = true;
        } else if (ops[i]->kind >= TAAS_OP_SCHED_CREATE) {
            skip[i] = true; /* each in a transaction of its own, below */
            nsched++;
        }
    }
    for (size_t i = 0; nsched > 0 && i < n; i++)
        if (ops[i]->kind >= TAAS_OP_SCHED_CREATE && ops[i]->result == TAAS_STORE_OK)
            taas_pg__sched_apply(s, ops[i]);
    if (nsched == n)
        goto done; /* nothing left for the batch statements */
    for (;;) {
        err = taas_pg__writer_ready(s);
        if (err)
            goto fail;
        size_t bad = 0;
        memset(follow, 0, n * sizeof(bool));
        err = run_batch(s, ops, n, skip, slots, follow, &bad, g, gbuf ? gbuf + 2 * n : NULL);
        if (err == BATCH_OK)
            break;
        rollback(s);
        for (size_t i = 0; i < n; i++)
            if (!skip[i])
                taas_store__discard_outputs(ops[i]);
        if (err == BATCH_UNGROUP) {
            g = NULL;
            continue;
        }
        if (err != BATCH_BAD_OP)
            goto fail;
        /* That op's data was refused: run the batch again without it. */
        skip[bad] = true;
        ops[bad]->result = TAAS_STORE_EINVAL;
    }
    resolve_inserts(s, ops, n, follow);
    goto done;

fail:
    for (size_t i = 0; i < n; i++) {
        taas_store__discard_outputs(ops[i]);
        ops[i]->result = err;
    }
done:
    free(skip);
    free(follow);
    free(slots);
    free(gbuf);
    return err;
}

