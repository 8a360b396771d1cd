/*
 * runtime/store/postgres_read.c - get() and list() for PostgreSQL.
 *
 * Reads borrow a connection from a small pool (created on demand, at most
 * max_readers; s->pool_mu guards the pool, s->pool_cv waits for a free one)
 * and give it back; a reused connection that turns out to be dead is
 * replaced and the read retried once. Each connection prepares the get and
 * the list variants it has been asked for (reader.lists).
 */
#include "store/postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_SQL "SELECT " TASK_COLS " FROM tasks WHERE id = $1::text"

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
        if (taas_pg__conn_alive(r->conn))
            return r;
        /* Closed under us (server restart): replace it, keeping its place. */
        PQfinish(r->conn);
        r->conn = NULL;
        memset(r->lists, 0, sizeof r->lists);
        atomic_fetch_add(&s->reconnects, 1);
    } else {
        if (!fresh)
            s->n_readers++;
        pthread_mutex_unlock(&s->pool_mu);
        r = calloc(1, sizeof(*r));
        if (!r) {
            taas_pg__tl_set("read: out of memory");
            *err = TAAS_STORE_ENOMEM;
            goto undo;
        }
    }
    r->conn = taas_pg__open_conn(s, "read", err);
    if (r->conn) {
        PGresult *res = PQprepare(r->conn, "taas_get", GET_SQL, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            taas_pg__set_error(s, "prepare get", r->conn, res);
            *err = taas_pg__map_error(r->conn, res);
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

int taas_pg__with_reader(pg_store *s, read_fn fn, void *arg)
{
    int err = 0;
    reader *r = reader_acquire(s, false, &err);
    if (!r)
        return err;
    err = fn(s, r, arg);
    if (err == TAAS_STORE_EBUSY && PQstatus(r->conn) != CONNECTION_OK) {
        PQfinish(r->conn);
        r->conn = NULL;
        memset(r->lists, 0, sizeof r->lists);
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
        taas_pg__set_error(s, "get", r->conn, res);
        err = taas_pg__class_is(st, "22") ? TAAS_STORE_ENOTFOUND : taas_pg__map_error(r->conn, res);
    } else if (PQntuples(res) == 0) {
        err = TAAS_STORE_ENOTFOUND;
    } else {
        err = taas_pg__row_to_rec(res, 0, a->out);
    }
    PQclear(res);
    return err;
}

static int do_count_live(pg_store *s, reader *r, void *arg)
{
    int64_t *counts = arg;
    /* A claimed task whose body has not started counts as PENDING. */
    PGresult *res = PQexec(r->conn, "SELECT CASE WHEN state = 2 AND started_ms = 0 THEN 1"
                                    " ELSE state END AS s, COUNT(*) FROM tasks"
                                    " WHERE state IN (1, 2) GROUP BY 1");
    int err = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        taas_pg__set_error(s, "count", r->conn, res);
        err = taas_pg__map_error(r->conn, res);
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            int state = atoi(PQgetvalue(res, i, 0));
            if (state >= 0 && state < 6)
                counts[state] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        }
    }
    PQclear(res);
    return err;
}

int taas_pg__count_live(taas_store *base, int64_t counts[6])
{
    memset(counts, 0, 6 * sizeof counts[0]);
    return taas_pg__with_reader((pg_store *)base, do_count_live, counts);
}

int taas_pg__get(taas_store *base, const char *id, taas_task_rec *out)
{
    pg_store *s = (pg_store *)base;
    if (!out)
        return TAAS_STORE_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!id)
        return TAAS_STORE_EINVAL;
    struct get_args a = {id, out};
    return taas_pg__with_reader(s, do_get, &a);
}

/* LQ_LIVE: the state asked for is PENDING or RUNNING. */
/* LQ_PEND: the state asked for is PENDING. */
enum { LQ_STATE = 1, LQ_NAME = 2, LQ_AFTER = 4, LQ_PRINCIPAL = 8, LQ_LIVE = 16, LQ_PARENT = 32,
       LQ_PEND = 64 };

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
    if (!r->lists[a->v]) {
        char sql[4096];
        int k = 0;
        char cs[64] = "", cn[64] = "", ca[24] = "", cp[64] = "", cpar[64] = "";
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
        /* A task's children are few: their index (parent_id, id) comes first. */
        int walk = (a->v & LQ_PARENT) ? LQ_PARENT : (a->v & LQ_LIVE) ? LQ_STATE : (a->v & LQ_NAME) ? LQ_NAME
                 : (a->v & LQ_STATE) ? LQ_STATE : (a->v & LQ_PRINCIPAL) ? LQ_PRINCIPAL : 0;
        if (a->v & LQ_PRINCIPAL)
            snprintf(cp, sizeof(cp),
                     walk == LQ_PRINCIPAL ? " AND principal = ANY (ARRAY[$%d::text])"
                                          : " AND principal = $%d", ++k);
        if (a->v & LQ_STATE)
            snprintf(cs, sizeof(cs),
                     walk == LQ_STATE ? " AND state = ANY (ARRAY[$%d::smallint])"
                     : (a->v & LQ_PEND) ? " AND (state = $%d OR (state = 2 AND started_ms = 0))"
                                        : " AND state = $%d", ++k);
        if (a->v & LQ_NAME)
            snprintf(cn, sizeof(cn),
                     walk == LQ_NAME ? " AND name = ANY (ARRAY[$%d::text])"
                                     : " AND name = $%d", ++k);
        if (a->v & LQ_AFTER)
            snprintf(ca, sizeof(ca), " AND id < $%d", ++k);
        if (a->v & LQ_PARENT)
            snprintf(cpar, sizeof(cpar), " AND parent_id = ANY (ARRAY[$%d::text])", ++k);
        if (walk == LQ_PARENT)
            order = "parent_id DESC, id DESC";
        else if (walk == LQ_NAME)
            order = "name DESC, id DESC";
        else if (walk == LQ_STATE)
            order = "state DESC, id DESC";
        else if (walk == LQ_PRINCIPAL)
            order = "principal DESC, id DESC";
        /* A claimed task whose body has not started (started_ms 0) is
         * PENDING to readers: RUNNING lists only started ones; PENDING
         * lists the queue and those, two bounded walks merged. */
        if ((a->v & LQ_PEND) && walk == LQ_STATE)
            snprintf(sql, sizeof(sql),
                     "SELECT * FROM ((SELECT " SUMMARY_COLS " FROM tasks WHERE true%s%s%s%s"
                     " ORDER BY %s LIMIT $%d) UNION ALL (SELECT " SUMMARY_COLS " FROM tasks"
                     " WHERE state = ANY (ARRAY[2::smallint]) AND started_ms = 0%s%s%s"
                     " ORDER BY %s LIMIT $%d)) t ORDER BY id DESC LIMIT $%d",
                     cp, cs, cn, ca, order, k + 1, cp, cn, ca, order, k + 1, k + 1);
        else
            snprintf(sql, sizeof(sql),
                     "SELECT " SUMMARY_COLS " FROM tasks WHERE true%s%s%s%s%s%s ORDER BY %s"
                     " LIMIT $%d",
                     cp, cs, (a->v & LQ_LIVE) && !(a->v & LQ_PEND) ? " AND started_ms > 0" : "",
                     cn, ca, cpar, order, k + 1);
        PGresult *res = PQprepare(r->conn, name, sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            taas_pg__set_error(s, "list prepare", r->conn, res);
            int err = taas_pg__map_error(r->conn, res);
            PQclear(res);
            return err;
        }
        PQclear(res);
        r->lists[a->v] = true;
    }
    const char *v[6];
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
    if (a->v & LQ_PARENT)
        v[k++] = q->parent_id;
    snprintf(bl, sizeof(bl), "%d", q->limit + 1);
    v[k++] = bl;
    PGresult *res = PQexecPrepared(r->conn, name, k, v, NULL, NULL, 0);
    int err = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        taas_pg__set_error(s, "list", r->conn, res);
        err = taas_pg__map_error(r->conn, res);
        PQclear(res);
        return err;
    }
    int rows = PQntuples(res);
    a->got = 0;
    a->more = rows > q->limit;
    for (int i = 0; i < rows && i < q->limit; i++) {
        err = taas_pg__row_to_rec(res, i, &a->recs[a->got]);
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

int taas_pg__list(taas_store *base, const taas_list_query *q, taas_task_rec **out, size_t *n,
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
        taas_pg__tl_set("list: limit must be 1..1000 and state valid");
        return TAAS_STORE_EINVAL;
    }
    struct list_args a = {.q = q};
    if (q->state != TAAS_TASK_UNSPECIFIED)
        a.v |= LQ_STATE;
    if (q->state == TAAS_TASK_PENDING || q->state == TAAS_TASK_RUNNING)
        a.v |= LQ_LIVE;
    if (q->state == TAAS_TASK_PENDING)
        a.v |= LQ_PEND;
    if (q->name)
        a.v |= LQ_NAME;
    if (q->principal)
        a.v |= LQ_PRINCIPAL;
    if (q->parent_id)
        a.v |= LQ_PARENT;
    if (q->page_token && *q->page_token) {
        if (taas_store__token_decode(q->page_token, after) != 0) {
            taas_pg__tl_set("list: malformed page token");
            return TAAS_STORE_EINVAL;
        }
        a.v |= LQ_AFTER;
        a.after = after;
    }
    a.recs = calloc((size_t)q->limit, sizeof(*a.recs));
    if (!a.recs)
        return TAAS_STORE_ENOMEM;
    int err = taas_pg__with_reader(s, do_list, &a);
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

