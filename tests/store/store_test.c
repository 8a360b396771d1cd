/*
 * tests/store/store_test.c - fixtures shared by the store tests, on every
 * backend: they speak only store.h (tests/postgres adds the server set-up).
 */
#include "store_test.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *st_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/taas-store-XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char *copy = strdup(dir);
    assert_non_null(copy);
    return copy;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void st_rmdir(char *dir)
{
    if (!dir)
        return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

void st_path(char *buf, size_t len, const char *dir, const char *file)
{
    snprintf(buf, len, "%s/%s", dir, file);
}

taas_store *st_open_opts(const char *dir, const char *file, const taas_store_opts *opts)
{
    char url[1024], err[512];
    snprintf(url, sizeof(url), "sqlite:///%s/%s", dir, file); /* dir is absolute */
    taas_store *s = taas_store_open(url, opts, err, sizeof(err));
    if (!s)
        fail_msg("open %s: %s", url, err);
    return s;
}

taas_store *st_open(const char *dir, const char *file)
{
    return st_open_opts(dir, file, NULL);
}

void st_id(char out[TAAS_ID_LEN + 1])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t counter;
    pthread_mutex_lock(&mu);
    uint64_t c = ++counter;
    pthread_mutex_unlock(&mu);
    snprintf(out, TAAS_ID_LEN + 1, "0190a5b3-0000-7000-8000-%012llx", (unsigned long long)c);
}

int st_apply1(taas_store *s, taas_store_op *op)
{
    taas_store_op *ops[1] = {op};
    int rc = s->apply(s, ops, 1);
    if (rc != 0)
        assert_int_equal(op->result, rc);
    return op->result;
}

int st_insert(taas_store *s, const st_task *t, char id_out[TAAS_ID_LEN + 1])
{
    taas_task_rec rec;
    memset(&rec, 0, sizeof(rec));
    st_id(rec.id);
    rec.name = (char *)(t->name ? t->name : "t");
    rec.input = (char *)(t->input ? t->input : "{}");
    rec.priority = t->priority;
    rec.max_attempts = t->max_attempts; /* 0: the store makes it 1 */
    rec.idempotent = t->idempotent;
    rec.idempotency_key = (char *)t->key;
    rec.input_hash = (char *)t->hash;
    rec.created_ms = t->created_ms ? t->created_ms : 1000;
    rec.run_after_ms = t->run_after_ms;
    rec.principal = (char *)t->principal;
    taas_store_op op = {.kind = TAAS_OP_INSERT};
    op.u.insert.task = &rec;
    int rc = st_apply1(s, &op);
    if (id_out) {
        if (rc == 0 && op.u.insert.duplicate)
            snprintf(id_out, TAAS_ID_LEN + 1, "%s", op.u.insert.existing_id);
        else
            snprintf(id_out, TAAS_ID_LEN + 1, "%s", rec.id);
    }
    return rc;
}

int st_claim(taas_store *s, const char *owner, int max, int64_t now, int64_t lease_ms,
             taas_task_rec *out)
{
    taas_store_op op = {.kind = TAAS_OP_CLAIM};
    op.u.claim.owner = owner;
    op.u.claim.max = max;
    op.u.claim.now_ms = now;
    op.u.claim.lease_ms = lease_ms;
    op.u.claim.out = out;
    assert_int_equal(st_apply1(s, &op), 0);
    return op.u.claim.n;
}

int st_complete(taas_store *s, const char *id, int64_t token, taas_task_state state,
                const char *output, const char *error, int64_t run_after, int64_t now)
{
    taas_store_op op = {.kind = TAAS_OP_COMPLETE};
    op.u.complete.id = id;
    op.u.complete.lease_token = token;
    op.u.complete.state = state;
    op.u.complete.output = output;
    op.u.complete.error = error;
    op.u.complete.run_after_ms = run_after;
    op.u.complete.now_ms = now;
    return st_apply1(s, &op);
}

int st_progress(taas_store *s, const char *id, int64_t token, double p, const char *msg,
                int64_t now)
{
    taas_store_op op = {.kind = TAAS_OP_PROGRESS};
    op.u.progress.id = id;
    op.u.progress.lease_token = token;
    op.u.progress.progress = p;
    op.u.progress.message = msg;
    op.u.progress.now_ms = now;
    return st_apply1(s, &op);
}

void st_get(taas_store *s, const char *id, taas_task_rec *out)
{
    int rc = s->get(s, id, out);
    if (rc != 0)
        fail_msg("get %s: %s (%s)", id, taas_store_strerror(rc), s->last_error(s));
}

void st_clear_all(taas_task_rec *recs, int n)
{
    for (int i = 0; i < n; i++)
        taas_task_rec_clear(&recs[i]);
}
