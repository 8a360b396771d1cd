/*
 * runtime/store/sqlite_schedule.c - schedules for SQLite: create, pause,
 * resume, delete and fire inside apply()'s transaction, and the reads.
 *
 * Statements are prepared per call: schedule writes come once per due time
 * or per client request, and the scheduler's due query once per tick, so a
 * statement cache would save microseconds nobody waits for.
 *
 * A fire is fenced by the schedule's next_fire_ms: it moves only from the
 * value the scheduler read, in the same transaction as the inserts, so one
 * due time is submitted once however many schedulers look at it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define SCHED_COLS                                                                         \
    "id, principal, name, cron, time_zone, interval_ms, task_name, input, priority, "       \
    "timeout_s, catch_up, max_catch_up, overlap, paused, next_fire_ms, last_fire_ms, "      \
    "last_task_id, created_ms, updated_ms, submitted, skipped"

static int row_to_sched(sqlite3_stmt *st, taas_schedule_rec *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
    int rc = taas_sq__col_dup(st, 1, &r->principal, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 2, &r->name, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 3, &r->cron, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 4, &r->time_zone, NULL);
    r->interval_ms = sqlite3_column_int64(st, 5);
    rc = rc ? rc : taas_sq__col_dup(st, 6, &r->task_name, NULL);
    rc = rc ? rc : taas_sq__col_dup(st, 7, &r->input, &r->input_len);
    r->priority = sqlite3_column_int(st, 8);
    r->timeout_s = sqlite3_column_int(st, 9);
    r->catch_up = sqlite3_column_int(st, 10);
    r->max_catch_up = sqlite3_column_int(st, 11);
    r->overlap = sqlite3_column_int(st, 12);
    r->paused = sqlite3_column_int(st, 13) != 0;
    r->next_fire_ms = sqlite3_column_int64(st, 14);
    r->last_fire_ms = sqlite3_column_int64(st, 15);
    rc = rc ? rc : taas_sq__col_dup(st, 16, &r->last_task_id, NULL);
    r->created_ms = sqlite3_column_int64(st, 17);
    r->updated_ms = sqlite3_column_int64(st, 18);
    r->submitted = sqlite3_column_int64(st, 19);
    r->skipped = sqlite3_column_int64(st, 20);
    if (rc)
        taas_schedule_rec_clear(r);
    return rc;
}

/* A failed statement: the transaction's fate is apply()'s (a negative code). */
static int fail(sq_store *s, int rc, const char *what)
{
    taas_sq__set_tl_error(what, s->db);
    return taas_sq__map_rc(rc);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(db, sql, -1, st, NULL);
}

static int op_create(sq_store *s, taas_store_op *op)
{
    const taas_schedule_rec *r = op->u.sched_create.sched;
    if (!r || !r->task_name || !r->input) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st;
    int rc = prep(s->db,
                  "INSERT INTO schedules (id, principal, name, cron, time_zone, interval_ms,"
                  " task_name, input, priority, timeout_s, catch_up, max_catch_up, overlap,"
                  " paused, next_fire_ms, last_fire_ms, created_ms, updated_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0,"
                  " ?16, ?16)",
                  &st);
    if (rc != SQLITE_OK)
        return fail(s, rc, "schedule create");
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->principal ? r->principal : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->name ? r->name : "", -1, SQLITE_STATIC);
    taas_sq__bind_text(st, 4, r->cron, 0);
    sqlite3_bind_text(st, 5, r->time_zone ? r->time_zone : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->interval_ms);
    sqlite3_bind_text(st, 7, r->task_name, -1, SQLITE_STATIC);
    taas_sq__bind_text(st, 8, r->input, r->input_len);
    sqlite3_bind_int(st, 9, r->priority);
    sqlite3_bind_int(st, 10, r->timeout_s);
    sqlite3_bind_int(st, 11, r->catch_up);
    sqlite3_bind_int(st, 12, r->max_catch_up);
    sqlite3_bind_int(st, 13, r->overlap);
    sqlite3_bind_int(st, 14, r->paused ? 1 : 0);
    sqlite3_bind_int64(st, 15, r->next_fire_ms);
    sqlite3_bind_int64(st, 16, r->created_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        op->result = TAAS_STORE_ECONFLICT;
        return 0;
    }
    return fail(s, rc, "schedule create");
}

static int op_set(sq_store *s, taas_store_op *op)
{
    const char *sql = op->u.sched_set.action == TAAS_SCHED_DELETE
                          ? "DELETE FROM schedules WHERE id = ?1"
                      : op->u.sched_set.action == TAAS_SCHED_PAUSE
                          ? "UPDATE schedules SET paused = 1, updated_ms = ?2 WHERE id = ?1"
                          : "UPDATE schedules SET paused = 0, updated_ms = ?2 WHERE id = ?1";
    if (!op->u.sched_set.id) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st;
    int rc = prep(s->db, sql, &st);
    if (rc != SQLITE_OK)
        return fail(s, rc, "schedule update");
    sqlite3_bind_text(st, 1, op->u.sched_set.id, -1, SQLITE_STATIC);
    if (op->u.sched_set.action != TAAS_SCHED_DELETE)
        sqlite3_bind_int64(st, 2, op->u.sched_set.now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, rc, "schedule update");
    if (sqlite3_changes(s->db) == 0)
        op->result = TAAS_STORE_ENOTFOUND;
    return 0;
}

static int op_fire(sq_store *s, taas_store_op *op)
{
    __typeof__(op->u.sched_fire) *f = &op->u.sched_fire;
    if (!f->id || f->ntasks < 0 || (f->ntasks > 0 && !f->tasks)) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sqlite3_stmt *st;
    int rc = prep(s->db,
                  "SELECT paused, next_fire_ms, last_task_id,"
                  " (SELECT state FROM tasks WHERE id = schedules.last_task_id)"
                  " FROM schedules WHERE id = ?1",
                  &st);
    if (rc != SQLITE_OK)
        return fail(s, rc, "schedule fire");
    sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fail(s, rc, "schedule fire");
        op->result = TAAS_STORE_ENOTFOUND;
        return 0;
    }
    bool paused = sqlite3_column_int(st, 0) != 0;
    int64_t next = sqlite3_column_int64(st, 1);
    int last_state = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 3);
    sqlite3_finalize(st);
    int64_t skipped;
    taas_store_fire plan = taas_store__sched_fire_plan(op, paused, next, last_state, &skipped);
    if (plan == TAAS_FIRE_STALE)
        return 0;
    const char *last_id = NULL;
    if (plan == TAAS_FIRE_SUBMIT) {
        for (int i = 0; i < f->ntasks; i++) {
            taas_store_op ins = {.kind = TAAS_OP_INSERT};
            ins.u.insert.task = &f->tasks[i];
            int err = taas_sq__op_insert(s, &ins);
            if (err)
                return err;
            if (ins.result != TAAS_STORE_OK) {
                op->result = ins.result; /* nothing of the schedule moves */
                return 0;
            }
            if (!ins.u.insert.duplicate) { /* a duplicate: that due time was submitted */
                f->inserted++;
                last_id = f->tasks[i].id;
            }
        }
    }
    rc = prep(s->db,
              "UPDATE schedules SET next_fire_ms = ?2, last_fire_ms = ?3,"
              " last_task_id = COALESCE(?4, last_task_id), submitted = submitted + ?5,"
              " skipped = skipped + ?6, updated_ms = ?7 WHERE id = ?1",
              &st);
    if (rc != SQLITE_OK)
        return fail(s, rc, "schedule fire");
    sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, f->new_next_ms);
    sqlite3_bind_int64(st, 3, f->last_due_ms);
    taas_sq__bind_text(st, 4, last_id, 0);
    sqlite3_bind_int(st, 5, f->inserted);
    sqlite3_bind_int64(st, 6, skipped);
    sqlite3_bind_int64(st, 7, f->now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, rc, "schedule fire");
}

int taas_sq__sched_apply(sq_store *s, taas_store_op *op)
{
    switch (op->kind) {
    case TAAS_OP_SCHED_CREATE: return op_create(s, op);
    case TAAS_OP_SCHED_SET: return op_set(s, op);
    case TAAS_OP_SCHED_FIRE: return op_fire(s, op);
    default: op->result = TAAS_STORE_EINVAL; return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* reads */

/* Run a query of SCHED_COLS rows; bind() binds its parameters. At most
 * `cap` rows into a malloc'd array; *more when there were more. */
static int query(sq_store *s, const char *sql, void (*bind)(sqlite3_stmt *, const void *),
                 const void *arg, int cap, taas_schedule_rec **out, size_t *n, bool *more)
{
    int err = 0;
    *out = NULL;
    *n = 0;
    if (more)
        *more = false;
    taas_schedule_rec *recs = calloc((size_t)cap, sizeof *recs);
    if (!recs)
        return TAAS_STORE_ENOMEM;
    reader *r = taas_sq__reader_acquire(s, &err);
    if (!r) {
        free(recs);
        return err;
    }
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        taas_sq__set_tl_error("schedules", r->db);
        taas_sq__reader_release(s, r);
        free(recs);
        return taas_sq__map_rc(rc);
    }
    bind(st, arg);
    size_t got = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == (size_t)cap) {
            if (more)
                *more = true;
            break;
        }
        if ((err = row_to_sched(st, &recs[got])) != 0)
            break;
        got++;
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        taas_sq__set_tl_error("schedules", r->db);
        err = taas_sq__map_rc(rc);
    }
    sqlite3_finalize(st);
    taas_sq__reader_release(s, r);
    if (err || got == 0) {
        for (size_t i = 0; i < got; i++)
            taas_schedule_rec_clear(&recs[i]);
        free(recs);
        return err;
    }
    *out = recs;
    *n = got;
    return 0;
}

static void bind_id(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

int taas_sq__sched_get(taas_store *base, const char *id, taas_schedule_rec *out)
{
    taas_schedule_rec *recs;
    size_t n;
    memset(out, 0, sizeof *out);
    int rc = query((sq_store *)base, "SELECT " SCHED_COLS " FROM schedules WHERE id = ?1",
                   bind_id, id, 1, &recs, &n, NULL);
    if (rc)
        return rc;
    if (n == 0)
        return TAAS_STORE_ENOTFOUND;
    *out = recs[0];
    free(recs);
    return 0;
}

struct list_arg {
    const char *principal;
    const char *after;
    int limit;
};

static void bind_list(sqlite3_stmt *st, const void *arg)
{
    const struct list_arg *a = arg;
    sqlite3_bind_int(st, 1, a->principal ? 1 : 0);
    sqlite3_bind_text(st, 2, a->principal ? a->principal : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->after ? a->after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, a->limit + 1);
}

int taas_sq__sched_list(taas_store *base, const char *principal, int limit,
                        const char *page_token, taas_schedule_rec **out, size_t *n,
                        char next_token[64])
{
    char after[TAAS_ID_LEN + 1];
    if (taas_store__page_start(limit, page_token, after, next_token) != 0)
        return TAAS_STORE_EINVAL;
    struct list_arg a = {principal, after, limit};
    bool more;
    int rc = query((sq_store *)base,
                   "SELECT " SCHED_COLS " FROM schedules WHERE (?1 = 0 OR principal = ?2)"
                   " AND id > ?3 ORDER BY id LIMIT ?4",
                   bind_list, &a, limit, out, n, &more);
    if (rc == 0 && more && *n > 0)
        taas_store__token_encode((*out)[*n - 1].id, next_token);
    return rc;
}

struct due_arg {
    int64_t now;
    int limit;
};

static void bind_due(sqlite3_stmt *st, const void *arg)
{
    const struct due_arg *a = arg;
    sqlite3_bind_int64(st, 1, a->now);
    sqlite3_bind_int(st, 2, a->limit);
}

int taas_sq__sched_due(taas_store *base, int64_t now_ms, int limit, taas_schedule_rec **out,
                       size_t *n)
{
    struct due_arg a = {now_ms, limit > 0 ? limit : 1};
    return query((sq_store *)base,
                 "SELECT " SCHED_COLS " FROM schedules INDEXED BY schedules_due"
                 " WHERE paused = 0 AND next_fire_ms <= ?1 ORDER BY next_fire_ms LIMIT ?2",
                 bind_due, &a, a.limit, out, n, NULL);
}
