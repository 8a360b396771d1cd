/*
 * runtime/store/store.c - the backend-independent part of the store: the
 * DATABASE_URL parser that picks a backend, state names, error strings and
 * the record destructor.
 *
 * URLs are written as SQLAlchemy users know them. For SQLite the part after
 * "sqlite://" is an empty host followed by the path, so three slashes give a
 * relative path and four an absolute one:
 *
 *   sqlite:///taas.db          -> "taas.db" (relative to the working directory)
 *   sqlite:////var/lib/t.db    -> "/var/lib/t.db"
 *   sqlite://  sqlite:///:memory:  -> a private in-memory database
 *
 * PostgreSQL takes libpq's two forms: a postgresql:// (or postgres://) URI,
 * and the keyword form "host=db.internal port=5432 dbname=taas user=taas",
 * recognised by its first word being a key followed by '='.
 *
 * Error messages never repeat a whole URL: a PostgreSQL URL may carry a
 * password, so only the scheme is quoted back.
 *
 * TAAS_ALLOW_ASYNC_COMMIT=1 in the environment is the operator's explicit
 * override of the refusal to run on a PostgreSQL database whose
 * synchronous_commit is off (taas_store_opts.allow_async_commit); it is read
 * here, once per open, so every program that opens a store honours it.
 */
#include "store/store.h"
#include "store/store_int.h"
#include "util/util.h"
#ifdef TAAS_STORE_POSTGRES
#include "store/postgres.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_FORMS \
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:// (in memory), " \
    "postgresql://user:pass@host:5432/db or \"host=... dbname=...\""

void taas_store__seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *const state_names[] = {
    [TAAS_TASK_UNSPECIFIED] = "UNSPECIFIED", [TAAS_TASK_PENDING] = "PENDING",
    [TAAS_TASK_RUNNING] = "RUNNING",         [TAAS_TASK_SUCCEEDED] = "SUCCEEDED",
    [TAAS_TASK_FAILED] = "FAILED",           [TAAS_TASK_CANCELLED] = "CANCELLED",
};

const char *taas_task_state_name(taas_task_state s)
{
    if ((int)s < 0 || (size_t)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "UNSPECIFIED";
    return state_names[s];
}

taas_task_state taas_task_state_parse(const char *s)
{
    if (!s)
        return TAAS_TASK_UNSPECIFIED;
    for (int i = TAAS_TASK_PENDING; i <= TAAS_TASK_CANCELLED; i++)
        if (strcasecmp(s, state_names[i]) == 0)
            return (taas_task_state)i;
    return TAAS_TASK_UNSPECIFIED;
}

const char *taas_store_strerror(int code)
{
    switch (code) {
    case TAAS_STORE_OK: return "ok";
    case TAAS_STORE_ENOTFOUND: return "no such task";
    case TAAS_STORE_ESTALE: return "lease token is not current (the task was claimed again)";
    case TAAS_STORE_ECONFLICT: return "idempotency key already used with different inputs";
    case TAAS_STORE_EFINAL: return "task is already in a final state";
    case TAAS_STORE_EIO: return "storage I/O error";
    case TAAS_STORE_EFULL: return "storage is full";
    case TAAS_STORE_EBUSY: return "storage is busy, retry later";
    case TAAS_STORE_ENOMEM: return "out of memory";
    case TAAS_STORE_EINVAL: return "invalid argument";
    default: return "unknown storage error";
    }
}

void taas_task_rec_clear(taas_task_rec *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->input);
    free(r->idempotency_key);
    free(r->input_hash);
    free(r->progress_message);
    free(r->output);
    free(r->error);
    free(r->attempts_json);
    free(r->lease_owner);
    free(r->principal);
    free(r->parent_id);
    memset(r, 0, sizeof(*r));
}

static char *copy_str(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static char *copy_text(const char *s, size_t len, bool *ok)
{
    if (!s)
        return NULL;
    char *d = malloc(len + 1);
    if (!d) {
        *ok = false;
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

int taas_task_rec_copy(taas_task_rec *dst, const taas_task_rec *src, bool texts)
{
    bool ok = true;
    *dst = *src;
    dst->name = copy_str(src->name, &ok);
    dst->input = texts ? copy_text(src->input, src->input_len, &ok) : NULL;
    dst->output = texts ? copy_text(src->output, src->output_len, &ok) : NULL;
    if (!texts)
        dst->input_len = dst->output_len = 0;
    dst->idempotency_key = copy_str(src->idempotency_key, &ok);
    dst->input_hash = copy_str(src->input_hash, &ok);
    dst->progress_message = copy_str(src->progress_message, &ok);
    dst->error = copy_str(src->error, &ok);
    dst->attempts_json = copy_str(src->attempts_json, &ok);
    dst->lease_owner = copy_str(src->lease_owner, &ok);
    dst->principal = copy_str(src->principal, &ok);
    dst->parent_id = copy_str(src->parent_id, &ok);
    if (ok)
        return 0;
    taas_task_rec_clear(dst);
    return -1;
}

void taas_schedule_rec_clear(taas_schedule_rec *r)
{
    if (!r)
        return;
    free(r->principal);
    free(r->name);
    free(r->cron);
    free(r->time_zone);
    free(r->task_name);
    free(r->input);
    free(r->last_task_id);
    memset(r, 0, sizeof(*r));
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* libpq's keyword form: optional blanks, then a keyword ([a-z_]+), blanks, '='. */
static bool is_pg_keyword_form(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    const char *k = s;
    while ((*s >= 'a' && *s <= 'z') || *s == '_')
        s++;
    if (s == k)
        return false;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '=';
}

#ifdef TAAS_STORE_POSTGRES
/* TAAS_ALLOW_ASYNC_COMMIT: 1/true/yes/on allow; unset, empty or 0/false/no/off do not. */
static bool env_allows_async_commit(void)
{
    const char *v = getenv("TAAS_ALLOW_ASYNC_COMMIT");
    if (!v)
        return false;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}
#endif

taas_store *taas_store_open(const char *url, const taas_store_opts *opts, char *err,
                            size_t errlen)
{
    taas_store__seterr(err, errlen, "%s", "");
    if (!url || !*url) {
        taas_store__seterr(err, errlen, "empty DATABASE_URL: use " URL_FORMS);
        return NULL;
    }
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://") ||
        (!strstr(url, "://") && is_pg_keyword_form(url))) {
#ifdef TAAS_STORE_POSTGRES
        taas_store_opts o = {0};
        if (opts)
            o = *opts;
        if (env_allows_async_commit())
            o.allow_async_commit = true;
        return taas_pg_open(url, &o, err, errlen);
#endif
        taas_store__seterr(err, errlen,
                           "PostgreSQL backend is not built into this server; "
                           "use sqlite:///relative/path.db or sqlite:////absolute/path.db");
        return NULL;
    }
    if (!has_prefix(url, "sqlite://")) {
        const char *colon = strstr(url, "://");
        int n = colon ? (int)(colon - url) : 0;
        if (n > 32)
            n = 32;
        if (colon)
            taas_store__seterr(err, errlen, "unsupported DATABASE_URL scheme \"%.*s\": use " URL_FORMS,
                               n, url);
        else
            taas_store__seterr(err, errlen, "DATABASE_URL is not a URL: use " URL_FORMS);
        return NULL;
    }
    const char *rest = url + strlen("sqlite://");
    if (*rest == '\0')
        return taas_store__sqlite_open(url, NULL, opts, err, errlen);
    if (*rest != '/') {
        taas_store__seterr(err, errlen,
                           "a sqlite URL has no host part: use sqlite:///relative/path.db "
                           "or sqlite:////absolute/path.db");
        return NULL;
    }
    const char *path = rest + 1; /* after the empty host's slash */
    if (strchr(path, '?')) {
        taas_store__seterr(err, errlen, "query parameters in a sqlite URL are not supported");
        return NULL;
    }
    if (*path == '\0') {
        taas_store__seterr(err, errlen,
                           "sqlite URL names no file: use sqlite:///relative/path.db, "
                           "sqlite:////absolute/path.db or sqlite:// (in memory)");
        return NULL;
    }
    if (strcmp(path, ":memory:") == 0)
        return taas_store__sqlite_open(url, NULL, opts, err, errlen);
    if (path[strlen(path) - 1] == '/') {
        taas_store__seterr(err, errlen, "sqlite URL names a directory, not a database file");
        return NULL;
    }
    taas_store__tracevfs_register(); /* with TAAS_TRACE only: times the WAL's writes */
    taas_store__walvec_register();   /* over it: the trace times the one write per commit */
    return taas_store__sqlite_open(url, path, opts, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Page tokens, shared by the backends: base64url of the last id returned, so
 * clients treat them as opaque and a hand-made or truncated token is refused;
 * the same token means the same position on either backend. */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void taas_store__token_encode(const char id[TAAS_ID_LEN], char out[64])
{
    size_t o = 0;
    for (size_t i = 0; i < TAAS_ID_LEN; i += 3) { /* 36 = 12 * 3: no padding */
        unsigned v = ((unsigned)(unsigned char)id[i] << 16) |
                     ((unsigned)(unsigned char)id[i + 1] << 8) | (unsigned char)id[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

int taas_store__token_decode(const char *tok, char id[TAAS_ID_LEN + 1])
{
    if (strlen(tok) != TAAS_ID_LEN / 3 * 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; tok[i]; i += 4) {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = strchr(b64, tok[i + (size_t)k]);
            if (!p || !*p)
                return -1;
            v = (v << 6) | (unsigned)(p - b64);
        }
        id[o++] = (char)((v >> 16) & 0xff);
        id[o++] = (char)((v >> 8) & 0xff);
        id[o++] = (char)(v & 0xff);
    }
    id[o] = '\0';
    return taas_uuid_valid(id) ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Operation outputs, shared by the backends. */

/* Clear what apply() fills in an op, before (re)applying it. */
int taas_store__claim_order(const void *a, const void *b)
{
    const taas_task_rec *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->run_after_ms != y->run_after_ms)
        return x->run_after_ms < y->run_after_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

int taas_store__page_start(int limit, const char *page_token, char after[TAAS_ID_LEN + 1],
                           char next_token[64])
{
    after[0] = '\0';
    next_token[0] = '\0';
    if (limit < 1 || limit > 1000)
        return TAAS_STORE_EINVAL;
    if (page_token && *page_token && taas_store__token_decode(page_token, after) != 0)
        return TAAS_STORE_EINVAL;
    return 0;
}

taas_store_fire taas_store__sched_fire_plan(taas_store_op *op, bool paused, int64_t next_ms,
                                            int last_state, int64_t *skipped)
{
    __typeof__(op->u.sched_fire) *f = &op->u.sched_fire;
    *skipped = f->skipped_add;
    if (paused || next_ms != f->expect_next_ms) {
        op->result = TAAS_STORE_ESTALE; /* another server fired it, or a client paused it */
        return TAAS_FIRE_STALE;
    }
    if (f->skip_if_running && (last_state == TAAS_TASK_PENDING || last_state == TAAS_TASK_RUNNING)) {
        f->overlapped = true;
        *skipped += f->ntasks;
        return TAAS_FIRE_SKIP;
    }
    return TAAS_FIRE_SUBMIT;
}

void taas_store__reset_outputs(taas_store_op *op)
{
    op->result = TAAS_STORE_OK;
    switch (op->kind) {
    case TAAS_OP_INSERT:
        op->u.insert.duplicate = false;
        op->u.insert.existing_id[0] = '\0';
        break;
    case TAAS_OP_CLAIM: op->u.claim.n = 0; break;
    case TAAS_OP_CANCEL:
        op->u.cancel.state_after = TAAS_TASK_UNSPECIFIED;
        op->u.cancel.lease_token = 0;
        op->u.cancel.state_seen = TAAS_TASK_UNSPECIFIED;
        op->u.cancel.name[0] = '\0';
        break;
    case TAAS_OP_RECOVER: op->u.recover.retried = op->u.recover.failed = 0; break;
    case TAAS_OP_RELEASE: op->u.release.released = 0; break;
    case TAAS_OP_PRUNE: op->u.prune.deleted = 0; break;
    default: break;
    }
}

/* Undo what an op handed out in a transaction that was rolled back. */
void taas_store__discard_outputs(taas_store_op *op)
{
    if (op->kind == TAAS_OP_CLAIM && op->u.claim.out) {
        for (int i = 0; i < op->u.claim.n; i++)
            taas_task_rec_clear(&op->u.claim.out[i]);
    }
    taas_store__reset_outputs(op);
}
