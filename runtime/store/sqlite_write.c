/*
 * runtime/store/sqlite_write.c - apply() for SQLite: the write statements and
 * one function per operation.
 *
 * Runs only on the writer thread, on the writer connection (s->db and its
 * statements s->st), with no lock: nothing else touches that connection.
 * Each batch runs in one BEGIN IMMEDIATE ... COMMIT (see sqlite.c).
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fault.h"
#include "util/util.h"

/* A recovered claim that costs no attempt: the body never started (a
 * non-idempotent one), or an idempotent one given back fewer than
 * TAAS_GIVEBACK_MAX times (store.h): claims that used no attempt
 * (lease_token - attempt), less those a server gave back unstarted by
 * choice (ST_GIVE_BACK counts them in given_back). */
#define RECOVER_FREE                                                              \
    "((idempotent = 0 AND started_ms = 0) OR (idempotent = 1 AND"                  \
    " lease_token - attempt - given_back < " TAAS_STR(TAAS_GIVEBACK_MAX) "))"

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
        " principal, lease_owner, lease_expires_ms, lease_token, started_ms, parent_id)"
        " VALUES (?1, ?2, ?3, CASE WHEN ?13 IS NULL THEN 1 ELSE 2 END, ?4,"
        " ?13 IS NOT NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13,"
        " CASE WHEN ?13 IS NULL THEN 0 ELSE ?10 + ?14 END, ?13 IS NOT NULL, 0, ?15)",
    [ST_IDEM_LOOKUP] = "SELECT id, input_hash FROM tasks"
                       " WHERE principal = ?3 AND name = ?1 AND idempotency_key = ?2",
    [ST_CLAIM] =
        "UPDATE tasks SET state = 2, attempt = attempt + 1, lease_owner = ?1,"
        " lease_expires_ms = ?2 + ?3, lease_token = lease_token + 1, started_ms = 0,"
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
        " progress = CASE WHEN ?3 = 1 THEN 0.0 WHEN ?9 = 1 THEN ?10"
        "  WHEN ?3 = 3 THEN 1.0 ELSE progress END,"
        " progress_message = CASE WHEN ?3 = 1 THEN NULL WHEN ?9 = 1 THEN ?11"
        "  ELSE progress_message END,"
        " started_ms = CASE WHEN ?8 > 0 THEN ?8 ELSE started_ms END,"
        " lease_owner = NULL, lease_expires_ms = 0, updated_ms = ?7"
        " WHERE id = ?1 AND state = 2 AND lease_token = ?2",
    [ST_LOOKUP] = "SELECT state, lease_token, principal FROM tasks WHERE id = ?1",
    /* What a cancel reports back: the state as readers see it (a claimed
     * task whose body has not started is PENDING to them) and the name. */
    [ST_CANCEL_LOOKUP] = "SELECT state, lease_token, principal,"
                         " CASE WHEN state = 2 AND started_ms = 0 THEN 1 ELSE state END, name"
                         " FROM tasks WHERE id = ?1",
    [ST_PROGRESS] = "UPDATE tasks SET progress = ?3, progress_message = ?4, updated_ms = ?5,"
                    " started_ms = CASE WHEN ?6 > 0 THEN ?6 WHEN ?6 < 0 THEN 0"
                    "  ELSE started_ms END"
                    " WHERE id = ?1 AND state = 2 AND lease_token = ?2",
    [ST_CANCEL_PENDING] =
        "UPDATE tasks SET state = 5, cancel_requested = 1, error = 'cancelled',"
        " finished_ms = ?2, updated_ms = ?2 WHERE id = ?1 AND state = 1",
    [ST_CANCEL_RUNNING] = "UPDATE tasks SET cancel_requested = 1, updated_ms = ?2"
                          " WHERE id = ?1 AND state = 2",
    [ST_HEARTBEAT] = "UPDATE tasks INDEXED BY tasks_state_id SET lease_expires_ms = ?2"
                     " WHERE state = 2 AND lease_owner = ?1",
    /* Back to PENDING: a task whose body never started (no start mark:
     * started_ms 0; a non-idempotent body never starts before its mark
     * commits) uses no attempt and records none. An idempotent one is
     * run again as long as fewer than GIVEBACK_MAX of its claims were
     * given back (lease_token - attempt: claims not counted as attempts),
     * without using an attempt; past that, while attempts are left, using
     * one. Everything else fails (ST_RECOVER_FAIL). */
    [ST_RECOVER_RETRY] =
        "UPDATE tasks INDEXED BY tasks_state_id SET state = 1, run_after_ms = ?1,"
        " attempt = CASE WHEN " RECOVER_FREE " THEN attempt - 1 ELSE attempt END,"
        " error = CASE WHEN started_ms = 0 AND " RECOVER_FREE " THEN error"
        "  ELSE 'interrupted' END,"
        " attempts_json = CASE WHEN started_ms = 0 AND " RECOVER_FREE " THEN attempts_json"
        "  ELSE " APPEND_ATTEMPT("'interrupted'", "?1") " END,"
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = ?1"
        " WHERE state = 2 AND lease_expires_ms <= ?2 AND cancel_requested = 0"
        " AND (" RECOVER_FREE " OR (idempotent = 1 AND attempt < max_attempts))",
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
        " WHERE state = 2 AND lease_owner = ?1 AND (started_ms = 0 OR idempotent = 1)",
    [ST_PRUNE] = "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_finished"
                 " WHERE finished_ms > 0 AND finished_ms < ?1 AND state IN (3, 4, 5)"
                 " ORDER BY finished_ms LIMIT ?2)",
    /* One task held but never started, back to the queue (op_release). */
    [ST_GIVE_BACK] =
        "UPDATE tasks SET state = CASE WHEN cancel_requested = 1 THEN 5 ELSE 1 END,"
        " attempt = CASE WHEN cancel_requested = 1 THEN attempt ELSE attempt - 1 END,"
        " given_back = CASE WHEN cancel_requested = 1 THEN given_back ELSE given_back + 1 END,"
        " error = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE error END,"
        " finished_ms = CASE WHEN cancel_requested = 1 THEN ?3 ELSE finished_ms END,"
        " progress = 0, progress_message = NULL, lease_owner = NULL, lease_expires_ms = 0,"
        " updated_ms = ?3 WHERE id = ?1 AND state = 2 AND lease_token = ?2 AND started_ms = 0",
};


int taas_sq__prepare_writes(sq_store *s, int *failed)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, write_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc != SQLITE_OK) {
            *failed = i;
            return rc;
        }
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Operations. Each returns 0 when the operation was decided (op->result
 * says how) or a negative TAAS_STORE_E* code that aborts the transaction. */

static int fatal(sq_store *s, int rc, const char *what)
{
    taas_sq__set_tl_error(what, s->db);
    return taas_sq__map_rc(rc);
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

int taas_sq__op_insert(sq_store *s, taas_store_op *op)
{
    const taas_task_rec *t = op->u.insert.task;
    if (!t || !taas_uuid_valid(t->id) || !t->name || !*t->name || !t->input ||
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
    taas_sq__bind_text(st, 3, t->input, t->input_len);
    sqlite3_bind_int(st, 4, t->priority);
    sqlite3_bind_int(st, 5, t->max_attempts > 0 ? t->max_attempts : 1);
    sqlite3_bind_int(st, 6, t->timeout_s > 0 ? t->timeout_s : 0);
    sqlite3_bind_int(st, 7, t->idempotent ? 1 : 0);
    taas_sq__bind_text(st, 8, t->idempotency_key, 0);
    taas_sq__bind_text(st, 9, t->input_hash, 0);
    sqlite3_bind_int64(st, 10, t->created_ms);
    sqlite3_bind_int64(st, 11, t->run_after_ms);
    sqlite3_bind_text(st, 12, t->principal ? t->principal : "", -1, SQLITE_STATIC);
    taas_sq__bind_text(st, 13, op->u.insert.claim_owner, 0);
    sqlite3_bind_int64(st, 14, op->u.insert.lease_ms);
    taas_sq__bind_text(st, 15, t->parent_id, 0);
    int rc = taas_sq__step_done(st);
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
        err = taas_sq__row_to_rec(st, &op->u.claim.out[op->u.claim.n]);
        if (err)
            break;
        op->u.claim.n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) {
        snprintf(taas_sq__tl_error, sizeof(taas_sq__tl_error), "claim: out of memory");
        return err;
    }
    if (rc != SQLITE_DONE)
        return fatal(s, rc, "claim");
    /* RETURNING yields rows in no particular order; give them in claim order. */
    qsort(op->u.claim.out, (size_t)op->u.claim.n, sizeof(taas_task_rec), taas_store__claim_order);
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
    taas_sq__bind_text(st, 4, op->u.complete.output, op->u.complete.output_len);
    taas_sq__bind_text(st, 5, op->u.complete.error, 0);
    sqlite3_bind_int64(st, 6, op->u.complete.run_after_ms);
    sqlite3_bind_int64(st, 7, op->u.complete.now_ms);
    sqlite3_bind_int64(st, 8, op->u.complete.started_ms);
    sqlite3_bind_int(st, 9, op->u.complete.has_progress ? 1 : 0);
    double p = op->u.complete.progress;
    sqlite3_bind_double(st, 10, p >= 0.0 && p <= 1.0 ? p : (p > 1.0 ? 1.0 : 0.0));
    taas_sq__bind_text(st, 11, op->u.complete.progress_message, 0);
    int rc = taas_sq__step_done(st);
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
    taas_sq__bind_text(st, 4, op->u.progress.message, 0);
    sqlite3_bind_int64(st, 5, op->u.progress.now_ms);
    sqlite3_bind_int64(st, 6, op->u.progress.started_ms);
    int rc = taas_sq__step_done(st);
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
    sqlite3_stmt *st = s->st[ST_CANCEL_LOOKUP];
    sqlite3_bind_text(st, 1, op->u.cancel.id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    taas_task_state cur = TAAS_TASK_UNSPECIFIED;
    int64_t token = 0;
    bool theirs = false; /* another principal's task: unknown to this caller */
    if (rc == SQLITE_ROW) {
        cur = (taas_task_state)sqlite3_column_int(st, 0);
        token = sqlite3_column_int64(st, 1);
        const char *owner = (const char *)sqlite3_column_text(st, 2);
        theirs = op->u.cancel.principal &&
                 strcmp(owner ? owner : "", op->u.cancel.principal) != 0;
        if (!theirs) {
            const char *name = (const char *)sqlite3_column_text(st, 4);
            op->u.cancel.state_seen = (taas_task_state)sqlite3_column_int(st, 3);
            snprintf(op->u.cancel.name, sizeof op->u.cancel.name, "%s", name ? name : "");
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && theirs)) {
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
    rc = taas_sq__step_done(st);
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
    int rc = taas_sq__step_done(st);
    return rc == SQLITE_OK ? 0 : fatal(s, rc, "heartbeat");
}

static int op_recover(sq_store *s, taas_store_op *op)
{
    int64_t cutoff = op->u.recover.lease_cutoff_ms ? op->u.recover.lease_cutoff_ms
                                                    : op->u.recover.now_ms;
    sqlite3_stmt *st = s->st[ST_RECOVER_RETRY];
    sqlite3_bind_int64(st, 1, op->u.recover.now_ms);
    sqlite3_bind_int64(st, 2, cutoff);
    int rc = taas_sq__step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "recover");
    op->u.recover.retried = sqlite3_changes(s->db);
    st = s->st[ST_RECOVER_FAIL];
    sqlite3_bind_int64(st, 1, op->u.recover.now_ms);
    sqlite3_bind_int64(st, 2, cutoff);
    rc = taas_sq__step_done(st);
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
    if (op->u.release.id) {
        sqlite3_stmt *st = s->st[ST_GIVE_BACK];
        sqlite3_bind_text(st, 1, op->u.release.id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.release.lease_token);
        sqlite3_bind_int64(st, 3, op->u.release.now_ms);
        int rc = taas_sq__step_done(st);
        if (rc != SQLITE_OK)
            return fatal(s, rc, "give back");
        op->u.release.released = sqlite3_changes(s->db);
        return 0;
    }
    for (int k = ST_RELEASE_CANCEL; k <= ST_RELEASE; k++) {
        sqlite3_stmt *st = s->st[k];
        sqlite3_bind_text(st, 1, op->u.release.owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.release.now_ms);
        int rc = taas_sq__step_done(st);
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
    int rc = taas_sq__step_done(st);
    if (rc != SQLITE_OK)
        return fatal(s, rc, "prune");
    op->u.prune.deleted = sqlite3_changes(s->db);
    return 0;
}


static int apply_one(sq_store *s, taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_INSERT: return taas_sq__op_insert(s, op);
    case TAAS_OP_CLAIM: return op_claim(s, op);
    case TAAS_OP_COMPLETE: return op_complete(s, op);
    case TAAS_OP_PROGRESS: return op_progress(s, op);
    case TAAS_OP_CANCEL: return op_cancel(s, op);
    case TAAS_OP_HEARTBEAT: return op_heartbeat(s, op);
    case TAAS_OP_RECOVER: return op_recover(s, op);
    case TAAS_OP_RELEASE: return op_release(s, op);
    case TAAS_OP_PRUNE: return op_prune(s, op);
    case TAAS_OP_SCHED_CREATE:
    case TAAS_OP_SCHED_SET:
    case TAAS_OP_SCHED_FIRE: return taas_sq__sched_apply(s, op);
    }
    op->result = TAAS_STORE_EINVAL;
    return 0;
}

int taas_sq__apply(taas_store *base, taas_store_op *ops[], size_t n)
{
    sq_store *s = (sq_store *)base;
    int err = 0, rc;
    if (n == 0)
        return 0;
    if (!s->path)
        pthread_mutex_lock(&s->mem_mu);
    for (size_t i = 0; i < n; i++)
        taas_store__reset_outputs(ops[i]);
    rc = taas_sq__step_done(s->st[ST_BEGIN]);
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
    rc = taas_sq__step_done(s->st[ST_COMMIT]);
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
        taas_sq__step_done(s->st[ST_ROLLBACK]);
    for (size_t i = 0; i < n; i++) {
        taas_store__discard_outputs(ops[i]);
        ops[i]->result = err;
    }
    if (!s->path)
        pthread_mutex_unlock(&s->mem_mu);
    return err;
}

