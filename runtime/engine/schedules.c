/*
 * runtime/engine/schedules.c - schedules: create, read, pause, resume,
 * delete, and the scheduler thread that fires them (see engine.h).
 *
 * Method. Every SCHED_TICK_MS the scheduler asks the store for schedules
 * due now (an index walk that finds nothing most of the time), plans each
 * with runtime/schedule (which due times to submit under the catch-up and
 * overlap policies) and sends one SCHED_FIRE through the writer: inserts
 * and the move to the next due time in one commit, refused when another
 * server moved it first. The thread waits for each commit, so a schedule is
 * never fired twice by this server either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "schedule/schedule.h"
#include "taas/registry.h"
#include "util/log.h"
#include "util/util.h"

#define SCHED_TICK_MS 100
#define SCHED_DUE_BATCH 32
#define SCHED_NAME_MAX 200

static int64_t misfire_ms(void)
{
    static int64_t v = -1;
    if (v < 0) {
        const char *s = getenv("TAAS_SCHEDULE_MISFIRE_MS");
        char *end;
        long long n = s && *s ? strtoll(s, &end, 10) : -1;
        v = s && *s && *end == '\0' && n >= 0 ? n : 60000;
    }
    return v;
}

static int compile(const taas_schedule_rec *r, taas_sched_spec *spec, char *err, size_t errlen)
{
    return taas_sched_compile(r->cron, r->time_zone, r->interval_ms, r->created_ms, spec, err,
                              errlen);
}

int taas_engine_schedule_upcoming(const taas_schedule_rec *r, int64_t from_ms, int64_t *out,
                                  int max)
{
    taas_sched_spec spec;
    char err[200];
    if (r->paused || compile(r, &spec, err, sizeof err) != 0)
        return 0;
    int n = 0;
    /* The stored next due time first when it is still ahead (or overdue). */
    int64_t t = r->next_fire_ms;
    if (t <= from_ms)
        t = taas_sched_next(&spec, from_ms);
    while (n < max && t >= 0) {
        out[n++] = t;
        t = taas_sched_next(&spec, t);
    }
    taas_sched_spec_free(&spec);
    return n;
}

/* ------------------------------------------------------------------------ */
/* create, read, change */

typedef struct sched_op {
    taas_store_op op;
    taas_engine *e;
    taas_schedule_fn done;
    void *arg;
    taas_schedule_rec rec; /* strings point into buf (create) */
    char id[TAAS_ID_LEN + 1];
    char buf[];
} sched_op;

static void reply_with_stored(sched_op *c)
{
    taas_schedule_rec r;
    int rc = c->e->store->sched_get(c->e->store, c->id, &r);
    if (rc == TAAS_STORE_OK) {
        c->done(c->arg, TAAS_ST_OK, NULL, &r);
        taas_schedule_rec_clear(&r);
    } else if (rc == TAAS_STORE_ENOTFOUND) {
        c->done(c->arg, TAAS_ST_NOT_FOUND, "schedule not found", NULL);
    } else {
        c->done(c->arg, TAAS_ST_UNAVAILABLE, "cannot read the schedule store; retry", NULL);
    }
}

static void sched_op_done(taas_store_op *op, void *arg)
{
    sched_op *c = arg;
    char msg[160];
    if (op->result == TAAS_STORE_OK) {
        if (op->kind == TAAS_OP_SCHED_SET && op->u.sched_set.action == TAAS_SCHED_DELETE)
            c->done(c->arg, TAAS_ST_OK, NULL, NULL);
        else
            reply_with_stored(c);
    } else if (op->result == TAAS_STORE_ENOTFOUND) {
        snprintf(msg, sizeof msg, "schedule '%s' not found", c->id);
        c->done(c->arg, TAAS_ST_NOT_FOUND, msg, NULL);
    } else if (op->result == TAAS_STORE_EFULL) {
        c->done(c->arg, TAAS_ST_RESOURCE_EXHAUSTED,
                "the task store is full (disk or quota); nothing was stored", NULL);
    } else {
        snprintf(msg, sizeof msg, "the task store failed (%s); nothing was stored, retry",
                 taas_store_strerror(op->result));
        c->done(c->arg, TAAS_ST_UNAVAILABLE, msg, NULL);
    }
    free(c);
}

static bool valid_utf8_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (c == 0 || len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] >> 6) != 2)
                return false;
        i += len;
    }
    return true;
}

taas_status taas_engine_schedule_create(taas_engine *e, const taas_schedule_req *req,
                                        taas_schedule_fn done, void *arg, char *msg,
                                        size_t msglen)
{
    if (!atomic_load(&e->accepting) || !e->store->sched_due) {
        taas_engine__msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    const char *name = req->name ? req->name : "";
    if (strlen(name) > SCHED_NAME_MAX || !valid_utf8_text(name, strlen(name))) {
        taas_engine__msg(msg, msglen, "name: at most %d bytes of UTF-8 text", SCHED_NAME_MAX);
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *task = req->task_name ? req->task_name : "";
    if (!*task) {
        taas_engine__msg(msg, msglen, "task_name: required");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const taas_task_type *type = taas_registry_find(task);
    if (!type) {
        taas_engine__msg(msg, msglen, "task_name: unknown task '%.100s'; see ListTaskTypes", task);
        return TAAS_ST_NOT_FOUND;
    }
    const char *cron = req->cron && *req->cron ? req->cron : NULL;
    const char *tz = req->time_zone ? req->time_zone : "";
    if ((cron && strlen(cron) > 200) || strlen(tz) > 100) {
        taas_engine__msg(msg, msglen, "%s: too long", cron && strlen(cron) > 200 ? "cron"
                                                                                  : "time_zone");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    int64_t now = taas_now_ms();
    taas_sched_spec spec;
    char why[240];
    if (taas_sched_compile(cron, tz, req->interval_ms, now, &spec, why, sizeof why) != 0) {
        taas_engine__msg(msg, msglen, "%s", why);
        return TAAS_ST_INVALID_ARGUMENT;
    }
    int64_t first = taas_sched_next(&spec, now);
    taas_sched_spec_free(&spec);
    if (first < 0) {
        taas_engine__msg(msg, msglen, "cron: the expression matches no time in the next 30 years");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    int catch_up = req->catch_up ? req->catch_up : TAAS_CATCH_UP_SKIP;
    int overlap = req->overlap ? req->overlap : TAAS_OVERLAP_ALLOW;
    if (catch_up < TAAS_CATCH_UP_SKIP || catch_up > TAAS_CATCH_UP_RUN_ALL) {
        taas_engine__msg(msg, msglen, "catch_up: unknown policy %d", catch_up);
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (overlap < TAAS_OVERLAP_ALLOW || overlap > TAAS_OVERLAP_SKIP) {
        taas_engine__msg(msg, msglen, "overlap: unknown policy %d", overlap);
        return TAAS_ST_INVALID_ARGUMENT;
    }
    int max_catch_up = req->max_catch_up ? req->max_catch_up : 10;
    if (max_catch_up < 1 || max_catch_up > TAAS_SCHED_MAX_PLAN) {
        taas_engine__msg(msg, msglen, "max_catch_up: must be between 1 and %d",
                         TAAS_SCHED_MAX_PLAN);
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (req->timeout_s < 0) {
        taas_engine__msg(msg, msglen, "timeout_s: must not be negative");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    /* The range a submit accepts: each fire inserts its task without
     * passing through taas_engine_submit, so a schedule must not carry a
     * priority that a submit would refuse. */
    if (req->priority < -TAAS_PRIORITY_MAX || req->priority > TAAS_PRIORITY_MAX) {
        taas_engine__msg(msg, msglen, "priority: out of range (-1000000 to 1000000)");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *input = req->input && req->input_len ? req->input : "{}";
    size_t input_len = req->input && req->input_len ? req->input_len : 2;
    taas_error verr;
    if (taas_check_input(type, input, input_len, &verr) != 0) {
        char b[sizeof verr.path + sizeof verr.message + 4];
        taas_engine__msg(msg, msglen, "inputs_json: invalid inputs for %s: %s", type->name,
                         taas_error_format(&verr, b, sizeof b));
        return TAAS_ST_INVALID_ARGUMENT;
    }
    const char *who = req->principal ? req->principal : "";
    size_t need = strlen(name) + 1 + (cron ? strlen(cron) + 1 : 0) + strlen(tz) + 1 +
                  strlen(type->name) + 1 + input_len + 1 + strlen(who) + 1;
    sched_op *c = calloc(1, sizeof *c + need);
    if (!c) {
        taas_engine__msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    char *p = c->buf;
#define PUT(field, src, len)                                                                     \
    do {                                                                                         \
        memcpy(p, (src), (len));                                                                 \
        p[(len)] = '\0';                                                                         \
        c->rec.field = p;                                                                        \
        p += (len) + 1;                                                                          \
    } while (0)
    PUT(name, name, strlen(name));
    if (cron)
        PUT(cron, cron, strlen(cron));
    PUT(time_zone, tz, strlen(tz));
    PUT(task_name, type->name, strlen(type->name));
    PUT(input, input, input_len);
    PUT(principal, who, strlen(who));
#undef PUT
    taas_uuid7(c->rec.id);
    memcpy(c->id, c->rec.id, sizeof c->id);
    c->rec.input_len = input_len;
    c->rec.interval_ms = cron ? 0 : req->interval_ms;
    c->rec.priority = req->priority;
    c->rec.timeout_s = req->timeout_s;
    c->rec.catch_up = catch_up;
    c->rec.max_catch_up = max_catch_up;
    c->rec.overlap = overlap;
    c->rec.paused = req->paused;
    c->rec.next_fire_ms = first;
    c->rec.created_ms = now;
    c->rec.updated_ms = now;
    c->e = e;
    c->done = done;
    c->arg = arg;
    c->op.kind = TAAS_OP_SCHED_CREATE;
    c->op.u.sched_create.sched = &c->rec;
    if (taas_writer_enqueue(e->writer, &c->op, sched_op_done, c) != 0) {
        free(c);
        taas_engine__msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

taas_status taas_engine_schedule_get(taas_engine *e, const char *id, taas_schedule_rec *out,
                                     char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (!e->store->sched_get || !taas_uuid_valid(id)) {
        taas_engine__msg(msg, msglen, "schedule '%.64s' not found", id);
        return TAAS_ST_NOT_FOUND;
    }
    int rc = e->store->sched_get(e->store, id, out);
    if (rc == TAAS_STORE_ENOTFOUND) {
        taas_engine__msg(msg, msglen, "schedule '%s' not found", id);
        return TAAS_ST_NOT_FOUND;
    }
    if (rc != TAAS_STORE_OK) {
        taas_engine__msg(msg, msglen, "cannot read the schedule store: %s",
                         taas_store_strerror(rc));
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

taas_status taas_engine_schedule_list(taas_engine *e, const char *principal, int limit,
                                      const char *page_token, taas_schedule_rec **out,
                                      size_t *n, char next_token[64], char *msg, size_t msglen)
{
    *out = NULL;
    *n = 0;
    next_token[0] = '\0';
    if (!e->store->sched_list)
        return TAAS_ST_OK;
    int rc = e->store->sched_list(e->store, principal, limit, page_token, out, n, next_token);
    if (rc == TAAS_STORE_EINVAL) {
        taas_engine__msg(msg, msglen, "invalid page_token: pass back the next_page_token of a "
                         "previous response");
        return TAAS_ST_INVALID_ARGUMENT;
    }
    if (rc != TAAS_STORE_OK) {
        taas_engine__msg(msg, msglen, "cannot read the schedule store: %s",
                         taas_store_strerror(rc));
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

taas_status taas_engine_schedule_set(taas_engine *e, const char *id, int action,
                                     taas_schedule_fn done, void *arg, char *msg, size_t msglen)
{
    if (!e->store->sched_get || !taas_uuid_valid(id)) {
        taas_engine__msg(msg, msglen, "schedule '%.64s' not found", id);
        return TAAS_ST_NOT_FOUND;
    }
    sched_op *c = calloc(1, sizeof *c);
    if (!c) {
        taas_engine__msg(msg, msglen, "out of memory");
        return TAAS_ST_RESOURCE_EXHAUSTED;
    }
    memcpy(c->id, id, TAAS_ID_LEN + 1);
    c->e = e;
    c->done = done;
    c->arg = arg;
    c->op.kind = TAAS_OP_SCHED_SET;
    c->op.u.sched_set.id = c->id;
    c->op.u.sched_set.action = action;
    c->op.u.sched_set.now_ms = taas_now_ms();
    if (taas_writer_enqueue(e->writer, &c->op, sched_op_done, c) != 0) {
        free(c);
        taas_engine__msg(msg, msglen, "the server is shutting down; retry");
        return TAAS_ST_UNAVAILABLE;
    }
    return TAAS_ST_OK;
}

/* ------------------------------------------------------------------------ */
/* the scheduler thread */

/* Fire one due schedule: plan, then one SCHED_FIRE committed. */
static void fire(taas_engine *e, const taas_schedule_rec *r, int64_t now)
{
    taas_sched_spec spec;
    char err[240];
    if (compile(r, &spec, err, sizeof err) != 0) {
        /* Stored valid; a zone file removed since, say. Say so, retry later. */
        taas_log(TAAS_LOG_ERROR, "schedule.invalid", "id=%s error=\"%s\"", r->id, err);
        return;
    }
    taas_sched_plan *plan = malloc(sizeof *plan);
    taas_task_rec *tasks = NULL;
    char (*keys)[80] = NULL;
    char hash[33];
    if (!plan)
        goto out;
    taas_sched_plan_at(&spec, r->next_fire_ms, now, misfire_ms(), r->catch_up, r->max_catch_up,
                       r->overlap, plan);
    tasks = calloc((size_t)(plan->n ? plan->n : 1), sizeof *tasks);
    keys = calloc((size_t)(plan->n ? plan->n : 1), sizeof *keys);
    if (!tasks || !keys)
        goto out;
    const taas_task_type *type = taas_registry_find(r->task_name);
    taas_engine_input_hash(r->input, r->input_len, hash);
    for (int i = 0; i < plan->n; i++) {
        taas_task_rec *t = &tasks[i];
        taas_uuid7(t->id);
        snprintf(keys[i], sizeof keys[i], "schedule:%s:%lld", r->id, (long long)plan->due[i]);
        t->name = r->task_name;
        t->input = r->input;
        t->input_len = r->input_len;
        t->state = TAAS_TASK_PENDING;
        t->priority = r->priority;
        t->max_attempts = type ? type->retries + 1 : 1;
        t->timeout_s = r->timeout_s;
        t->idempotent = type ? type->idempotent : false;
        t->idempotency_key = keys[i];
        t->input_hash = hash;
        t->created_ms = now;
        t->updated_ms = now;
        t->run_after_ms = now;
        t->principal = r->principal && *r->principal ? r->principal : NULL;
    }
    taas_store_op op;
    memset(&op, 0, sizeof op);
    op.kind = TAAS_OP_SCHED_FIRE;
    op.u.sched_fire.id = r->id;
    op.u.sched_fire.expect_next_ms = r->next_fire_ms;
    /* No due time left: park it far ahead (shown as such), never due again. */
    op.u.sched_fire.new_next_ms = plan->new_next_ms >= 0 ? plan->new_next_ms : INT64_MAX / 2;
    op.u.sched_fire.last_due_ms = plan->last_due_ms;
    op.u.sched_fire.tasks = tasks;
    op.u.sched_fire.ntasks = plan->n;
    op.u.sched_fire.skipped_add = plan->skipped;
    op.u.sched_fire.skip_if_running = r->overlap == TAAS_OVERLAP_SKIP;
    op.u.sched_fire.now_ms = now;
    int rc = taas_engine__write_sync(e, &op);
    if (rc == TAAS_STORE_OK) {
        taas_log(TAAS_LOG_DEBUG, "schedule.fired",
                 "id=%s due=%lld submitted=%d skipped=%lld overlapped=%d next=%lld", r->id,
                 (long long)plan->last_due_ms, op.u.sched_fire.inserted,
                 (long long)plan->skipped, op.u.sched_fire.overlapped ? 1 : 0,
                 (long long)op.u.sched_fire.new_next_ms);
        if (op.u.sched_fire.inserted > 0)
            taas_engine__wake_claimer(e);
    } else if (rc != TAAS_STORE_ESTALE && rc != TAAS_STORE_ENOTFOUND) {
        /* The schedule did not move: the next tick tries again. */
        taas_log(TAAS_LOG_WARN, "schedule.fire_failed", "id=%s error=\"%s\"", r->id,
                 taas_store_strerror(rc));
    }
out:
    free(plan);
    free(tasks);
    free(keys);
    taas_sched_spec_free(&spec);
}

void *taas_engine__scheduler_main(void *p)
{
    taas_engine *e = p;
    pthread_setname_np(pthread_self(), "taas-sched");
    for (;;) {
        pthread_mutex_lock(&e->mu);
        if (!atomic_load(&e->stopping))
            taas_engine__cond_wait_ms(&e->sweep_cv, &e->mu, SCHED_TICK_MS);
        bool stop = atomic_load(&e->stopping);
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
        int64_t now = taas_now_ms();
        taas_schedule_rec *due = NULL;
        size_t n = 0;
        int rc = e->store->sched_due(e->store, now, SCHED_DUE_BATCH, &due, &n);
        if (rc != TAAS_STORE_OK) {
            taas_log(TAAS_LOG_WARN, "schedule.read_failed", "error=\"%s\"",
                     taas_store_strerror(rc));
            continue;
        }
        for (size_t i = 0; i < n && !atomic_load(&e->stopping); i++)
            fire(e, &due[i], now);
        for (size_t i = 0; i < n; i++)
            taas_schedule_rec_clear(&due[i]);
        free(due);
    }
    return NULL;
}
