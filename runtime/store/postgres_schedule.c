/*
 * runtime/store/postgres_schedule.c - schedules for PostgreSQL.
 *
 * apply() sends task operations as one pipelined transaction; a schedule
 * operation needs a decision between its statements (is the schedule still
 * at the due time read? does its last task still run?), so each runs in a
 * transaction of its own on the writer connection, after the pipelined
 * batch. They are rare (one per due time or client request).
 *
 * Exactly once across servers: FIRE locks the schedule row (FOR UPDATE) and
 * moves next_fire_ms only from the value its scheduler read, in the same
 * transaction as the inserts; a second server's FIRE for the same due time
 * waits for the lock, then finds next_fire_ms moved and does nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_int.h"

#define SCHED_COLS                                                                         \
    "id, principal, name, cron, time_zone, interval_ms, task_name, input, priority, "       \
    "timeout_s, catch_up, max_catch_up, overlap, paused, next_fire_ms, last_fire_ms, "      \
    "last_task_id, created_ms, updated_ms, submitted, skipped"

static int dup_val(const PGresult *r, int row, int col, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (PQgetisnull(r, row, col))
        return 0;
    int n = PQgetlength(r, row, col);
    *out = malloc((size_t)n + 1);
    if (!*out)
        return TAAS_STORE_ENOMEM;
    memcpy(*out, PQgetvalue(r, row, col), (size_t)n);
    (*out)[n] = '\0';
    if (len)
        *len = (size_t)n;
    return 0;
}

static int row_to_sched(const PGresult *res, int row, taas_schedule_rec *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", PQgetvalue(res, row, 0));
    int rc = dup_val(res, row, 1, &r->principal, NULL);
    rc = rc ? rc : dup_val(res, row, 2, &r->name, NULL);
    rc = rc ? rc : dup_val(res, row, 3, &r->cron, NULL);
    rc = rc ? rc : dup_val(res, row, 4, &r->time_zone, NULL);
    r->interval_ms = taas_pg__col_i64(res, row, 5);
    rc = rc ? rc : dup_val(res, row, 6, &r->task_name, NULL);
    rc = rc ? rc : dup_val(res, row, 7, &r->input, &r->input_len);
    r->priority = (int)taas_pg__col_i64(res, row, 8);
    r->timeout_s = (int)taas_pg__col_i64(res, row, 9);
    r->catch_up = (int)taas_pg__col_i64(res, row, 10);
    r->max_catch_up = (int)taas_pg__col_i64(res, row, 11);
    r->overlap = (int)taas_pg__col_i64(res, row, 12);
    r->paused = taas_pg__col_bool(res, row, 13);
    r->next_fire_ms = taas_pg__col_i64(res, row, 14);
    r->last_fire_ms = taas_pg__col_i64(res, row, 15);
    rc = rc ? rc : dup_val(res, row, 16, &r->last_task_id, NULL);
    r->created_ms = taas_pg__col_i64(res, row, 17);
    r->updated_ms = taas_pg__col_i64(res, row, 18);
    r->submitted = taas_pg__col_i64(res, row, 19);
    r->skipped = taas_pg__col_i64(res, row, 20);
    if (rc)
        taas_schedule_rec_clear(r);
    return rc;
}

/* Text parameters of one statement, numbers formatted into bufs. */
typedef struct sparams {
    const char *v[16];
    char bufs[16][32];
    int n;
} sparams;

static void sp_text(sparams *p, const char *s)
{
    p->v[p->n++] = s;
}

static void sp_i64(sparams *p, int64_t x)
{
    snprintf(p->bufs[p->n], sizeof p->bufs[0], "%lld", (long long)x);
    p->v[p->n] = p->bufs[p->n];
    p->n++;
}

/* Run one statement; on failure set the message and return a store code. */
static int run(pg_store *s, const char *sql, const sparams *p, PGresult **keep)
{
    atomic_fetch_add(&s->round_trips, 1);
    return taas_pg__exec(s, s->w, "schedule", sql, p ? p->n : 0, p ? p->v : NULL, keep);
}

static int op_create(pg_store *s, taas_store_op *op)
{
    const taas_schedule_rec *r = op->u.sched_create.sched;
    if (!r || !r->task_name || !r->input) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sparams p = {.n = 0};
    sp_text(&p, r->id);
    sp_text(&p, r->principal ? r->principal : "");
    sp_text(&p, r->name ? r->name : "");
    sp_text(&p, r->cron);
    sp_text(&p, r->time_zone ? r->time_zone : "");
    sp_i64(&p, r->interval_ms);
    sp_text(&p, r->task_name);
    sp_text(&p, r->input);
    sp_i64(&p, r->priority);
    sp_i64(&p, r->timeout_s);
    sp_i64(&p, r->catch_up);
    sp_i64(&p, r->max_catch_up);
    sp_i64(&p, r->overlap);
    sp_text(&p, r->paused ? "t" : "f");
    sp_i64(&p, r->next_fire_ms);
    sp_i64(&p, r->created_ms);
    PGresult *res = NULL;
    int err = run(s,
                  "INSERT INTO schedules (id, principal, name, cron, time_zone, interval_ms,"
                  " task_name, input, priority, timeout_s, catch_up, max_catch_up, overlap,"
                  " paused, next_fire_ms, last_fire_ms, created_ms, updated_ms)"
                  " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint,"
                  " $7::text, $8::text, $9::integer, $10::integer, $11::smallint,"
                  " $12::integer, $13::smallint, $14::boolean, $15::bigint, 0, $16::bigint,"
                  " $16::bigint) ON CONFLICT DO NOTHING",
                  &p, &res);
    if (err)
        return err;
    const char *t = PQcmdTuples(res);
    if (!t || atoi(t) != 1)
        op->result = TAAS_STORE_ECONFLICT;
    PQclear(res);
    return 0;
}

static int op_set(pg_store *s, taas_store_op *op)
{
    if (!op->u.sched_set.id) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sparams p = {.n = 0};
    sp_text(&p, op->u.sched_set.id);
    const char *sql = "DELETE FROM schedules WHERE id = $1::text";
    if (op->u.sched_set.action != TAAS_SCHED_DELETE) {
        sp_i64(&p, op->u.sched_set.now_ms);
        sql = op->u.sched_set.action == TAAS_SCHED_PAUSE
                  ? "UPDATE schedules SET paused = true, updated_ms = $2::bigint WHERE id = $1::text"
                  : "UPDATE schedules SET paused = false, updated_ms = $2::bigint WHERE id = $1::text";
    }
    PGresult *res = NULL;
    int err = run(s, sql, &p, &res);
    if (err)
        return err;
    const char *t = PQcmdTuples(res);
    if (!t || atoi(t) == 0)
        op->result = TAAS_STORE_ENOTFOUND;
    PQclear(res);
    return 0;
}

static int op_fire(pg_store *s, taas_store_op *op, bool *notify)
{
    __typeof__(op->u.sched_fire) *f = &op->u.sched_fire;
    if (!f->id || f->ntasks < 0 || (f->ntasks > 0 && !f->tasks)) {
        op->result = TAAS_STORE_EINVAL;
        return 0;
    }
    sparams p = {.n = 0};
    sp_text(&p, f->id);
    PGresult *res = NULL;
    int err = run(s,
                  "SELECT paused, next_fire_ms, (SELECT state FROM tasks t"
                  " WHERE t.id = schedules.last_task_id) FROM schedules"
                  " WHERE id = $1::text FOR UPDATE",
                  &p, &res);
    if (err)
        return err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        op->result = TAAS_STORE_ENOTFOUND;
        return 0;
    }
    bool paused = taas_pg__col_bool(res, 0, 0);
    int64_t next = taas_pg__col_i64(res, 0, 1);
    int last_state = PQgetisnull(res, 0, 2) ? 0 : (int)taas_pg__col_i64(res, 0, 2);
    PQclear(res);
    int64_t skipped;
    taas_store_fire plan = taas_store__sched_fire_plan(op, paused, next, last_state, &skipped);
    if (plan == TAAS_FIRE_STALE)
        return 0;
    const char *last_id = NULL;
    if (plan == TAAS_FIRE_SUBMIT) {
        for (int i = 0; i < f->ntasks; i++) {
            const taas_task_rec *t = &f->tasks[i];
            sparams q = {.n = 0};
            sp_text(&q, t->id);
            sp_text(&q, t->name);
            sp_text(&q, t->input);
            sp_i64(&q, t->priority);
            sp_i64(&q, t->max_attempts > 0 ? t->max_attempts : 1);
            sp_i64(&q, t->timeout_s > 0 ? t->timeout_s : 0);
            sp_text(&q, t->idempotent ? "t" : "f");
            sp_text(&q, t->idempotency_key);
            sp_text(&q, t->input_hash);
            sp_i64(&q, t->created_ms);
            sp_i64(&q, t->run_after_ms);
            sp_text(&q, t->principal ? t->principal : "");
            /* A key already taken is that due time, already submitted. */
            err = run(s,
                      "INSERT INTO tasks (id, name, input, state, priority, attempt,"
                      " max_attempts, timeout_s, idempotent, idempotency_key, input_hash,"
                      " created_ms, updated_ms, run_after_ms, principal)"
                      " VALUES ($1::text, $2::text, $3::text, 1, $4::integer, 0, $5::integer,"
                      " $6::integer, $7::boolean, $8::text, $9::text, $10::bigint, $10::bigint,"
                      " $11::bigint, $12::text) ON CONFLICT DO NOTHING",
                      &q, &res);
            if (err)
                return err;
            const char *n = PQcmdTuples(res);
            if (n && atoi(n) == 1) {
                f->inserted++;
                last_id = t->id;
                *notify = true;
            }
            PQclear(res);
        }
    }
    sparams u = {.n = 0};
    sp_text(&u, f->id);
    sp_i64(&u, f->new_next_ms);
    sp_i64(&u, f->last_due_ms);
    sp_text(&u, last_id);
    sp_i64(&u, f->inserted);
    sp_i64(&u, skipped);
    sp_i64(&u, f->now_ms);
    return run(s,
               "UPDATE schedules SET next_fire_ms = $2::bigint, last_fire_ms = $3::bigint,"
               " last_task_id = COALESCE($4::text, last_task_id),"
               " submitted = submitted + $5::bigint, skipped = skipped + $6::bigint,"
               " updated_ms = $7::bigint WHERE id = $1::text",
               &u, NULL);
}

void taas_pg__sched_apply(pg_store *s, taas_store_op *op)
{
    int err = taas_pg__writer_ready(s);
    if (err) {
        op->result = err;
        return;
    }
    bool notify = false;
    err = run(s, "BEGIN", NULL, NULL);
    if (!err) {
        switch (op->kind) {
        case TAAS_OP_SCHED_CREATE: err = op_create(s, op); break;
        case TAAS_OP_SCHED_SET: err = op_set(s, op); break;
        case TAAS_OP_SCHED_FIRE: err = op_fire(s, op, &notify); break;
        default: op->result = TAAS_STORE_EINVAL; break;
        }
    }
    if (!err && notify) /* new tasks: wake every server's claimer */
        err = run(s, "NOTIFY " TAAS_PG_CHANNEL, NULL, NULL);
    if (!err)
        err = run(s, "COMMIT", NULL, NULL);
    if (err) {
        if (s->w && PQtransactionStatus(s->w) != PQTRANS_IDLE) {
            PGresult *r = PQexec(s->w, "ROLLBACK");
            PQclear(r);
        }
        if (op->kind == TAAS_OP_SCHED_FIRE)
            op->u.sched_fire.inserted = 0;
        op->result = err;
    }
}

/* ------------------------------------------------------------------------ */
/* reads */

struct q_args {
    const char *sql;
    sparams p;
    int cap;
    taas_schedule_rec *recs;
    size_t got;
    bool more;
};

static int do_query(pg_store *s, reader *r, void *arg)
{
    struct q_args *a = arg;
    PGresult *res = PQexecParams(r->conn, a->sql, a->p.n, NULL, a->p.v, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        taas_pg__set_error(s, "schedules", r->conn, res);
        int err = taas_pg__map_error(r->conn, res);
        PQclear(res);
        return err;
    }
    int rows = PQntuples(res), err = 0;
    a->got = 0;
    a->more = rows > a->cap;
    for (int i = 0; i < rows && i < a->cap; i++) {
        if ((err = row_to_sched(res, i, &a->recs[a->got])) != 0)
            break;
        a->got++;
    }
    PQclear(res);
    if (err) {
        for (size_t i = 0; i < a->got; i++)
            taas_schedule_rec_clear(&a->recs[i]);
        a->got = 0;
    }
    return err;
}

static int query(pg_store *s, struct q_args *a, taas_schedule_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    a->recs = calloc((size_t)a->cap, sizeof *a->recs);
    if (!a->recs)
        return TAAS_STORE_ENOMEM;
    int err = taas_pg__with_reader(s, do_query, a);
    if (err || a->got == 0) {
        free(a->recs);
        return err;
    }
    *out = a->recs;
    *n = a->got;
    return 0;
}

int taas_pg__sched_get(taas_store *base, const char *id, taas_schedule_rec *out)
{
    memset(out, 0, sizeof *out);
    struct q_args a = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE id = $1::text",
                       .cap = 1};
    sp_text(&a.p, id);
    taas_schedule_rec *recs;
    size_t n;
    int err = query((pg_store *)base, &a, &recs, &n);
    if (err)
        return err;
    if (n == 0)
        return TAAS_STORE_ENOTFOUND;
    *out = recs[0];
    free(recs);
    return 0;
}

int taas_pg__sched_list(taas_store *base, const char *principal, int limit,
                        const char *page_token, taas_schedule_rec **out, size_t *n,
                        char next_token[64])
{
    char after[TAAS_ID_LEN + 1];
    *out = NULL;
    *n = 0;
    if (taas_store__page_start(limit, page_token, after, next_token) != 0)
        return TAAS_STORE_EINVAL;
    struct q_args a = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE ($1::integer = 0"
                              " OR principal = $2::text) AND id > $3::text ORDER BY id"
                              " LIMIT $4::integer",
                       .cap = limit};
    sp_i64(&a.p, principal ? 1 : 0);
    sp_text(&a.p, principal ? principal : "");
    sp_text(&a.p, after);
    sp_i64(&a.p, limit + 1);
    int err = query((pg_store *)base, &a, out, n);
    if (!err && a.more && *n > 0)
        taas_store__token_encode((*out)[*n - 1].id, next_token);
    return err;
}

int taas_pg__sched_due(taas_store *base, int64_t now_ms, int limit, taas_schedule_rec **out,
                       size_t *n)
{
    struct q_args a = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE NOT paused"
                              " AND next_fire_ms <= $1::bigint ORDER BY next_fire_ms"
                              " LIMIT $2::integer",
                       .cap = limit > 0 ? limit : 1};
    sp_i64(&a.p, now_ms);
    sp_i64(&a.p, a.cap);
    return query((pg_store *)base, &a, out, n);
}
