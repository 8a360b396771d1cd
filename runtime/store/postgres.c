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
 * Files. postgres_int.h lists the backend's files and their locks: this one
 * opens and closes the store and keeps its connections, errors and rows;
 * migrations, writes, reads and notifications have a file each.
 *
 * Passwords. The URL may carry a password. It is handed to libpq and never
 * copied into a message: describe() and every error name the target as
 * user@host:port/db.
 */
#include "store/postgres_int.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Thread_local char taas_pg__tl_error[1024];

/* Messages may be cut at the buffer's end; that is fine for a log line. */
void taas_pg__tl_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(taas_pg__tl_error, sizeof(taas_pg__tl_error), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Errors */

/* libpq messages end in newlines and may span lines: one line, no tabs. */
void taas_pg__one_line(char *s)
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

bool taas_pg__class_is(const char *st, const char *cls)
{
    return st && strncmp(st, cls, 2) == 0;
}

/* A store code for a failed result (res may be NULL) on conn. */
int taas_pg__map_error(PGconn *conn, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return TAAS_STORE_EBUSY;
    if (!st)
        return TAAS_STORE_EIO; /* a client-side failure on a live connection */
    if (taas_pg__class_is(st, "08") || sqlstate_is(st, "57P01") || sqlstate_is(st, "57P02") ||
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
void taas_pg__set_error(pg_store *s, const char *what, PGconn *conn, const PGresult *res)
{
    char msg[400];
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(msg, sizeof(msg), "%s", m && *m ? m : "unknown error");
    taas_pg__one_line(msg);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        taas_pg__tl_set(
                 "%s: connection to PostgreSQL %s lost (%s); it is re-established on the "
                 "next call",
                 what, s->target, msg);
    else if (st)
        taas_pg__tl_set("%s: PostgreSQL %s: %s [SQLSTATE %s]", what,
                 s->target, msg, st);
    else
        taas_pg__tl_set("%s: PostgreSQL %s: %s", what, s->target, msg);
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
        taas_pg__set_error(s, what, c, r);
        rc = taas_pg__map_error(c, r);
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
        taas_pg__set_error(s, "SHOW synchronous_commit", c, r);
        rc = taas_pg__map_error(c, r);
    } else if (strcmp(PQgetvalue(r, 0, 0), "off") == 0 && !s->allow_async_commit) {
        taas_pg__tl_set(
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

/*
 * A connection fit for use: connected, and not closed under us. A server that
 * shut down or terminated the session has said so on the socket, which
 * PQconsumeInput notices without a round trip.
 */
bool taas_pg__conn_alive(PGconn *c)
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
PGconn *taas_pg__open_conn(pg_store *s, const char *what, int *err)
{
    PGconn *c = connect_raw(s);
    if (!c) {
        taas_pg__tl_set("%s: out of memory", what);
        *err = TAAS_STORE_ENOMEM;
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        taas_pg__one_line(msg);
        taas_pg__tl_set("%s: cannot connect to PostgreSQL %s: %s", what,
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
int taas_pg__writer_ready(pg_store *s)
{
    if (taas_pg__conn_alive(s->w))
        return 0;
    if (s->w) {
        PQfinish(s->w);
        s->w = NULL;
    }
    int err = 0;
    PGconn *c = taas_pg__open_conn(s, "connect", &err);
    if (!c)
        return err;
    err = check_durability(s, c);
    if (!err)
        err = taas_pg__prepare_writes(s, c);
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

int taas_pg__exec(pg_store *s, PGconn *c, const char *what, const char *sql, int n,
                  const char *const *v, PGresult **keep)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        taas_pg__set_error(s, what, c, r);
        int err = taas_pg__map_error(c, r);
        PQclear(r);
        return err;
    }
    if (keep)
        *keep = r;
    else
        PQclear(r);
    return 0;
}

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

int64_t taas_pg__col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool taas_pg__col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Fill rec from row `row` (columns in TASK_COLS order). */
int taas_pg__row_to_rec(const PGresult *res, int row, taas_task_rec *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, 0));
    int rc = col_dup(res, row, 1, &r->name, NULL);
    rc = rc ? rc : col_dup(res, row, 2, &r->input, &r->input_len);
    r->state = (taas_task_state)taas_pg__col_i64(res, row, 3);
    r->priority = (int)taas_pg__col_i64(res, row, 4);
    r->attempt = (int)taas_pg__col_i64(res, row, 5);
    r->max_attempts = (int)taas_pg__col_i64(res, row, 6);
    r->timeout_s = (int)taas_pg__col_i64(res, row, 7);
    r->idempotent = taas_pg__col_bool(res, row, 8);
    rc = rc ? rc : col_dup(res, row, 9, &r->idempotency_key, NULL);
    rc = rc ? rc : col_dup(res, row, 10, &r->input_hash, NULL);
    r->created_ms = taas_pg__col_i64(res, row, 11);
    r->updated_ms = taas_pg__col_i64(res, row, 12);
    r->run_after_ms = taas_pg__col_i64(res, row, 13);
    r->started_ms = taas_pg__col_i64(res, row, 14);
    r->finished_ms = taas_pg__col_i64(res, row, 15);
    r->progress = PQgetisnull(res, row, 16) ? 0.0 : strtod(PQgetvalue(res, row, 16), NULL);
    rc = rc ? rc : col_dup(res, row, 17, &r->progress_message, NULL);
    rc = rc ? rc : col_dup(res, row, 18, &r->output, &r->output_len);
    rc = rc ? rc : col_dup(res, row, 19, &r->error, NULL);
    rc = rc ? rc : col_dup(res, row, 20, &r->attempts_json, NULL);
    r->cancel_requested = taas_pg__col_bool(res, row, 21);
    rc = rc ? rc : col_dup(res, row, 22, &r->lease_owner, NULL);
    r->lease_expires_ms = taas_pg__col_i64(res, row, 23);
    r->lease_token = taas_pg__col_i64(res, row, 24);
    if (!rc && !PQgetisnull(res, row, 25) && *PQgetvalue(res, row, 25))
        rc = col_dup(res, row, 25, &r->principal, NULL);
    if (!rc && !PQgetisnull(res, row, 26))
        rc = col_dup(res, row, 26, &r->parent_id, NULL);
    if (!rc && !r->attempts_json && !(r->attempts_json = strdup("[]")))
        rc = TAAS_STORE_ENOMEM;
    if (rc)
        taas_task_rec_clear(r);
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
/* Open, close */

static const char *pg_describe(taas_store *base)
{
    return ((pg_store *)base)->describe;
}

static const char *pg_last_error(taas_store *base)
{
    (void)base;
    return taas_pg__tl_error;
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
    s->parent.apply = taas_pg__apply;
    s->parent.get = taas_pg__get;
    s->parent.count_live = taas_pg__count_live;
    s->parent.list = taas_pg__list;
    s->parent.sched_get = taas_pg__sched_get;
    s->parent.sched_list = taas_pg__sched_list;
    s->parent.sched_due = taas_pg__sched_due;
    s->parent.describe = pg_describe;
    s->parent.last_error = pg_last_error;
    s->parent.close = pg_close;
    s->parent.wait_notify = taas_pg__wait_notify;
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
        taas_pg__one_line(msg);
        taas_store__seterr(err, errlen,
                           "invalid PostgreSQL URL %s: %s (use postgresql://user:pass@host:5432/db "
                           "or \"host=... dbname=...\")",
                           s->target, msg);
        PQfreemem(perr);
        goto fail;
    }
    PQconninfoFree(parsed);

    int rc = 0;
    PGconn *c = taas_pg__open_conn(s, "connect", &rc);
    if (!c) {
        taas_store__seterr(err, errlen, "%s", taas_pg__tl_error);
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
        taas_store__seterr(err, errlen, "%s", taas_pg__tl_error);
        PQfinish(c);
        goto fail;
    }
    if (taas_pg__migrate(s, c, err, errlen) != 0) {
        PQfinish(c);
        goto fail;
    }
    if (taas_pg__prepare_writes(s, c) != 0) {
        taas_store__seterr(err, errlen, "%s", taas_pg__tl_error);
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
