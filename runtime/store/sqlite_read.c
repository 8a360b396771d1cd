/*
 * runtime/store/sqlite_read.c - get() and list() for SQLite.
 *
 * Reads never touch the writer connection: they borrow a read connection
 * from a small pool (s->pool_mu guards it, s->pool_cv waits for a free one;
 * opened on demand, at most max_readers, each with its own prepared
 * statements) and give it back. In memory the one connection is shared
 * under s->mem_mu.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int taas_sq__exec_pragma(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

void taas_sq__reader_free_stmts(reader *r)
{
    sqlite3_finalize(r->get);
    for (size_t i = 0; i < sizeof(r->list) / sizeof(r->list[0]); i++)
        sqlite3_finalize(r->list[i]);
    r->get = NULL;
    memset(r->list, 0, sizeof(r->list));
}

int taas_sq__reader_prepare(reader *r)
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
        rc = taas_sq__exec_pragma(r->db, "PRAGMA query_only = ON");
    }
    if (rc == SQLITE_OK)
        rc = taas_sq__reader_prepare(r);
    if (rc != SQLITE_OK) {
        taas_sq__set_tl_error("open read connection", r->db);
        *err = taas_sq__map_rc(rc);
        taas_sq__reader_free_stmts(r);
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

int taas_sq__get(taas_store *base, const char *id, taas_task_rec *out)
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
        err = taas_sq__row_to_rec(r->get, out);
    else if (rc == SQLITE_DONE)
        err = TAAS_STORE_ENOTFOUND;
    else {
        taas_sq__set_tl_error("get", r->db);
        err = taas_sq__map_rc(rc);
    }
    sqlite3_reset(r->get);
    sqlite3_clear_bindings(r->get);
    reader_release(s, r);
    return err;
}

int taas_sq__count_live(taas_store *base, int64_t counts[6])
{
    sq_store *s = (sq_store *)base;
    int err = 0;
    memset(counts, 0, 6 * sizeof counts[0]);
    reader *r = reader_acquire(s, &err);
    if (!r)
        return err;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                /* claimed, body not started: PENDING */
                                "SELECT CASE WHEN state = 2 AND started_ms = 0 THEN 1 ELSE state"
                                " END AS s, COUNT(*) FROM tasks WHERE state IN (1, 2) GROUP BY 1",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int state = sqlite3_column_int(st, 0);
        if (state >= 0 && state < 6)
            counts[state] = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        taas_sq__set_tl_error("count", r->db);
        err = taas_sq__map_rc(rc);
    }
    sqlite3_finalize(st);
    reader_release(s, r);
    return err;
}

/* LQ_LIVE: the state asked for is PENDING or RUNNING. */
/* LQ_PEND: the state asked for is PENDING. */
enum { LQ_STATE = 1, LQ_NAME = 2, LQ_AFTER = 4, LQ_PRINCIPAL = 8, LQ_LIVE = 16, LQ_PARENT = 32,
       LQ_PEND = 64 };

int taas_sq__list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
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
        snprintf(taas_sq__tl_error, sizeof(taas_sq__tl_error), "list: limit must be 1..1000 and state valid");
        return TAAS_STORE_EINVAL;
    }
    int v = 0;
    if (q->state != TAAS_TASK_UNSPECIFIED)
        v |= LQ_STATE;
    if (q->state == TAAS_TASK_PENDING || q->state == TAAS_TASK_RUNNING)
        v |= LQ_LIVE;
    if (q->state == TAAS_TASK_PENDING)
        v |= LQ_PEND;
    if (q->name)
        v |= LQ_NAME;
    if (q->principal)
        v |= LQ_PRINCIPAL;
    if (q->parent_id)
        v |= LQ_PARENT;
    if (q->page_token && *q->page_token) {
        if (taas_store__token_decode(q->page_token, after) != 0) {
            snprintf(taas_sq__tl_error, sizeof(taas_sq__tl_error), "list: malformed page token");
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
        char sql[4096];
        /* The walk is named (INDEXED BY): the state index for PENDING or
         * RUNNING (those hold only the queue and the running tasks), else
         * the name index when the query has a name, else the state index,
         * else the principal index, else the primary key; any other filter
         * is checked row by row. Each single filter so costs `limit` index
         * entries and rows however many tasks are stored, and a
         * statistics-driven planner cannot swap it for a primary-key walk
         * that filters (unbounded when the state asked for is rare among the
         * newest tasks). docs/storage.md, Listing. */
        /* A claimed task whose body has not started (started_ms 0) is
         * PENDING to readers: RUNNING lists only started ones, and PENDING
         * lists the queue and those, as two bounded walks of the state
         * index merged. */
        char rest[256];
        snprintf(rest, sizeof(rest), "%s%s%s%s",
                 (v & LQ_PRINCIPAL) ? " AND principal = :principal" : "",
                 (v & LQ_NAME) ? " AND name = :name" : "",
                 (v & LQ_AFTER) ? " AND id < :after" : "",
                 (v & LQ_PARENT) ? " AND parent_id = :parent" : "");
        if ((v & LQ_PEND) && !(v & LQ_PARENT))
            snprintf(sql, sizeof(sql),
                     "SELECT * FROM (SELECT " SUMMARY_COLS " FROM tasks INDEXED BY tasks_state_id"
                     " WHERE state = 1%s ORDER BY id DESC LIMIT :limit)"
                     " UNION ALL SELECT * FROM (SELECT " SUMMARY_COLS
                     " FROM tasks INDEXED BY tasks_state_id WHERE state = 2 AND started_ms = 0%s"
                     " ORDER BY id DESC LIMIT :limit) ORDER BY id DESC LIMIT :limit",
                     rest, rest);
        else
        snprintf(sql, sizeof(sql), "SELECT " SUMMARY_COLS " FROM tasks%s WHERE 1%s%s%s%s%s%s"
                 " ORDER BY id DESC LIMIT :limit",
                 /* A task's children are few: their index comes first. */
                 (v & LQ_PARENT)      ? " INDEXED BY tasks_parent_id"
                 : (v & LQ_LIVE)      ? " INDEXED BY tasks_state_id"
                 : (v & LQ_NAME)      ? " INDEXED BY tasks_name_id"
                 : (v & LQ_STATE)     ? " INDEXED BY tasks_state_id"
                 : (v & LQ_PRINCIPAL) ? " INDEXED BY tasks_principal_id"
                                      : "",
                 (v & LQ_PRINCIPAL) ? " AND principal = :principal" : "",
                 (v & LQ_PEND) ? " AND (state = 1 OR (state = 2 AND started_ms = 0))"
                 : (v & LQ_STATE) ? " AND state = :state" : "",
                 (v & LQ_LIVE) && !(v & LQ_PEND) ? " AND started_ms > 0" : "",
                 (v & LQ_NAME) ? " AND name = :name" : "",
                 (v & LQ_AFTER) ? " AND id < :after" : "",
                 (v & LQ_PARENT) ? " AND parent_id = :parent" : "");
        rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->list[v], NULL);
        if (rc != SQLITE_OK) {
            taas_sq__set_tl_error("list prepare", r->db);
            reader_release(s, r);
            free(recs);
            return taas_sq__map_rc(rc);
        }
    }
    sqlite3_stmt *st = r->list[v];
    if ((v & LQ_STATE) && !(v & LQ_PEND))
        sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":state"), (int)q->state);
    if (v & LQ_NAME)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":name"), q->name, -1, SQLITE_STATIC);
    if (v & LQ_PRINCIPAL)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":principal"), q->principal, -1,
                          SQLITE_STATIC);
    if (v & LQ_AFTER)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":after"), after, -1, SQLITE_STATIC);
    if (v & LQ_PARENT)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":parent"), q->parent_id, -1,
                          SQLITE_STATIC);
    sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), q->limit + 1);
    size_t got = 0;
    bool more = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == (size_t)q->limit) {
            more = true;
            continue;
        }
        err = taas_sq__row_to_rec(st, &recs[got]);
        if (err)
            break;
        got++;
    }
    if (!err && rc != SQLITE_DONE) {
        taas_sq__set_tl_error("list", r->db);
        err = taas_sq__map_rc(rc);
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


reader *taas_sq__reader_acquire(sq_store *s, int *err)
{
    return reader_acquire(s, err);
}

void taas_sq__reader_release(sq_store *s, reader *r)
{
    reader_release(s, r);
}
