/*
 * runtime/http/mcp_http.c - the Model Context Protocol over Streamable HTTP
 * at /mcp on the HTTP port: the same tools as `taas mcp` (every task type,
 * with its input and output schemas), served inside the server.
 *
 * One set of rules. A POST /mcp is itself a call through the middleware
 * chain (/taas.http/Mcp: access log, bearer token, rate limit, size
 * limit), and every step of the protocol that touches tasks is another call
 * through the same chain, to the very handler the JSON API reaches:
 * tools/list is ListTaskTypes, tools/call is SubmitTask then WatchTask,
 * notifications/cancelled is CancelTask. Those inner calls (struct icall, a
 * taas_call of this transport) carry the request's own headers, so the
 * token is checked again for each step's scope (submit, read, cancel) and
 * the principal owns its tasks exactly as with POST /v1/tasks. The
 * messages are read and written by runtime/mcp/, shared with `taas mcp`.
 *
 * Sessions. initialize creates one (Mcp-Session-Id, 128 random bits) bound
 * to the principal that opened it; later requests in the handshake style
 * name it (400 without, 404 for an unknown or another principal's one);
 * DELETE ends it. Requests in the 2026-07-28 style carry their version in
 * params._meta and need no session.
 *
 * A tools/call answers with an event stream when the client accepts one:
 * progress notifications (when it sent a progressToken), then the result.
 * notifications/cancelled cancels the task and closes that stream without
 * a result. A client that goes away leaves its task running (durable, as
 * with `taas mcp`).
 *
 * Threads. The chain answers from any thread - the store's writer, an
 * engine watch callback holding the watch's lock - so nothing that may
 * block or re-enter a service runs there: the next step's dispatch, the
 * "message sent" signal a watch waits for, and the release of a watch all
 * go to one helper thread (jobs, in order).
 *
 * Files. This one: sessions, operations and the protocol's requests;
 * mcp_http_call.c: the jobs and the inner calls; mcp_http_int.h: what the
 * two share.
 */
#include "http/http_internal.h"
#include "http/mcp_http_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "http/pbjson.h"
#include "mcp/mcp.h"
#include "taas/v1/taas.pb-c.h"
#include "util/log.h"
#include "util/util.h"

#define MAX_SESSIONS 4096
#define SESSION_IDLE_US ((int64_t)3600 * 1000000) /* an hour unused: forgotten */
#define MAX_PROGRESS_PENDING 65536                /* bytes unsent before progress is skipped */

#define RECENT_CALLS 32

struct session {
    struct session *next;
    char id[33];
    char version[16];
    char *principal; /* NULL: authentication is off */
    int64_t used_us;
    /* The last calls' tasks, so that notifications/cancelled still finds a
     * task whose request's stream the client has already closed. */
    struct {
        char *rid; /* the request id as JSON text */
        char task[128];
    } recent[RECENT_CALLS];
    int recent_next;
};

static struct session *session_find_locked(struct mcp_http *mh, const char *id, size_t n,
                                           const char *principal);
static void session_remember(struct mcp_http *mh, const char *session, const char *principal,
                             const char *rid, const char *task);


/* ------------------------------------------------------------------------ */
/* Operations: one request's work across its steps */

struct mop {
    atomic_int refs;
    struct mcp_http *mh;
    pthread_mutex_t mu;
    struct hcall *outer; /* referenced until done */
    struct mop *next, *prev;
    bool linked;
    char session[33];
    char *principal;
    char *id, *name, *arguments, *token;
    bool modern, structured, stream;
    char task_id[128];
    bool cancel_asked;
    bool done;
    double last_progress;
    struct icall *watch; /* referenced until done */
};

void mcp__op_unref(struct mop *op)
{
    if (!op || atomic_fetch_sub(&op->refs, 1) != 1)
        return;
    if (op->outer)
        http__hc_unref((taas_call *)op->outer);
    free(op->principal);
    free(op->id);
    free(op->name);
    free(op->arguments);
    free(op->token);
    pthread_mutex_destroy(&op->mu);
    free(op);
}

static void op_unref_data(void *op)
{
    mcp__op_unref(op);
}

/* Start an inner call of `method` with `req` (packed, malloc'd, owned). */
static int ic_start(struct mop *op, const taas_method *method, uint8_t *req, size_t req_len,
                    ic_reply_fn on_reply, ic_event_fn on_event, struct icall **keep)
{
    struct mcp_http *mh = op->mh;
    struct icall *ic = calloc(1, sizeof *ic);
    pthread_mutex_lock(&mh->mu);
    bool stopping = mh->stop || !mh->h;
    pthread_mutex_unlock(&mh->mu);
    if (!ic || !method || stopping) {
        free(ic);
        free(req);
        return -1;
    }
    atomic_init(&ic->refs, keep ? 2 : 1);
    pthread_mutex_init(&ic->mu, NULL);
    taas_call_head_init(&ic->head, &mcp__icall_ops, &ic->mu);
    ic->mh = mh;
    ic->method = method;
    ic->outer = op->outer;
    http__hc_ref((taas_call *)op->outer);
    ic->req = req;
    ic->req_len = req_len;
    ic->start_us = taas_mono_us();
    ic->final_status = TAAS_ST_UNKNOWN;
    ic->op = op;
    atomic_fetch_add(&op->refs, 1);
    ic->on_reply = on_reply;
    ic->on_event = on_event;
    if (keep)
        *keep = ic;
    taas_http *h = mh->h;
    h->o.dispatch(h->o.arg, (taas_call *)ic);
    mcp__ic_unref((taas_call *)ic); /* the services took their own references */
    return 0;
}

static void op_link(struct mop *op)
{
    struct mcp_http *mh = op->mh;
    pthread_mutex_lock(&mh->mu);
    op->next = mh->ops;
    if (op->next)
        op->next->prev = op;
    op->prev = NULL;
    mh->ops = op;
    op->linked = true;
    pthread_mutex_unlock(&mh->mu);
}

static void op_unlink(struct mop *op)
{
    struct mcp_http *mh = op->mh;
    pthread_mutex_lock(&mh->mu);
    if (op->linked) {
        if (op->prev)
            op->prev->next = op->next;
        else
            mh->ops = op->next;
        if (op->next)
            op->next->prev = op->prev;
        op->linked = false;
    }
    pthread_mutex_unlock(&mh->mu);
}

/*
 * The operation's answer: `json` (malloc'd; NULL: none, for a cancelled
 * call on a stream) sent once; then the operation lets go of the request
 * and of its watch.
 */
/* With op->mu held: ends the operation once - false if it had ended - and
 * hands over its references to the request and to the watch step. */
static bool op_end_locked(struct mop *op, struct hcall **outer, struct icall **watch)
{
    if (op->done)
        return false;
    op->done = true;
    *outer = op->outer;
    op->outer = NULL;
    *watch = op->watch;
    op->watch = NULL;
    return true;
}

static void op_finish(struct mop *op, char *json, size_t len)
{
    struct hcall *outer;
    struct icall *watch;
    pthread_mutex_lock(&op->mu);
    if (!op_end_locked(op, &outer, &watch)) {
        pthread_mutex_unlock(&op->mu);
        free(json);
        return;
    }
    if (op->stream) {
        http__mcp_stream(outer, json, len, true, 0);
        free(json);
    } else if (json) {
        http__mcp_reply(outer, TAAS_ST_OK, 200, json, len);
    } else {
        http__mcp_reply(outer, TAAS_ST_INTERNAL, 500, NULL, 0);
    }
    pthread_mutex_unlock(&op->mu);
    op_unlink(op);
    http__hc_unref((taas_call *)outer);
    if (watch)
        mcp__job_add(op->mh, mcp__ic_unref_job, watch);
}

static void op_tool_error(struct mop *op, const char *text)
{
    size_t len = 0;
    char *j = taas_mcp_tool_result(op->id, op->modern, text, NULL, true, &len);
    op_finish(op, j, len);
}

/* The request's client went away (or the server stops): leave the task
 * running, stop following it. */
static void op_outer_cancelled(taas_call *call, void *arg)
{
    (void)call;
    struct mop *op = arg;
    struct hcall *outer;
    struct icall *watch;
    pthread_mutex_lock(&op->mu);
    if (!op_end_locked(op, &outer, &watch)) {
        pthread_mutex_unlock(&op->mu);
        return;
    }
    pthread_mutex_unlock(&op->mu);
    op_unlink(op);
    if (watch) {
        mcp__ic_cancel(watch);
        mcp__job_add(op->mh, mcp__ic_unref_job, watch);
    }
    http__hc_unref((taas_call *)outer);
}

static struct mop *op_new(struct mcp_http *mh, struct hcall *outer, const taas_mcp_msg *msg,
                          const char *negotiated, const char *session)
{
    struct mop *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    atomic_init(&op->refs, 2); /* the creator's, and the request's (its data) */
    op->mh = mh;
    pthread_mutex_init(&op->mu, NULL);
    op->outer = outer;
    http__hc_ref((taas_call *)outer);
    snprintf(op->session, sizeof op->session, "%s", session ? session : "");
    const char *p = taas_call_principal((taas_call *)outer);
    op->principal = p ? strdup(p) : NULL;
    op->id = strdup(msg->id);
    op->modern = msg->modern;
    op->structured = taas_mcp_structured(negotiated, msg->modern);
    op->last_progress = -1;
    taas_call_set_data((taas_call *)outer, op, op_unref_data);
    taas_call_on_cancel((taas_call *)outer, op_outer_cancelled, op);
    return op;
}

/* ------------------------------------------------------------------------ */
/* tools/list */

static void list_done(struct mop *op, taas_status st, const char *msg, const uint8_t *buf,
                      size_t len)
{
    if (st != TAAS_ST_OK) {
        /* Refused by the chain (scope, rate) or the registry: the request's answer. */
        pthread_mutex_lock(&op->mu);
        if (!op->done) {
            op->done = true;
            struct hcall *outer = op->outer;
            op->outer = NULL;
            size_t elen = 0;
            char *e = http__error_json(st, msg, NULL, &elen);
            http__mcp_reply(outer, st, taas_http_status_of(st), e, elen);
            http__hc_unref((taas_call *)outer);
        }
        pthread_mutex_unlock(&op->mu);
        return;
    }
    Taas__V1__ListTaskTypesResponse *r =
        taas__v1__list_task_types_response__unpack(NULL, len, buf ? buf : (const uint8_t *)"");
    if (!r) {
        size_t el = 0;
        char *e = taas_mcp_error(op->id, TAAS_MCP_INTERNAL_ERROR,
                                 "the registry's answer did not unpack", NULL, &el);
        op_finish(op, e, el);
        return;
    }
    taas_mcp_tool *tools = calloc(r->n_task_types ? r->n_task_types : 1, sizeof *tools);
    size_t olen = 0;
    char *out = NULL;
    if (tools) {
        for (size_t i = 0; i < r->n_task_types; i++) {
            const Taas__V1__TaskType *t = r->task_types[i];
            tools[i] = (taas_mcp_tool){t->name, t->description, t->input_schema_json,
                                       t->output_schema_json, t->idempotent};
        }
        out = taas_mcp_tools_list(op->id, op->modern, op->structured, tools, r->n_task_types,
                                  &olen);
    }
    free(tools);
    taas__v1__list_task_types_response__free_unpacked(r, NULL);
    if (!out)
        out = taas_mcp_error(op->id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL, &olen);
    op_finish(op, out, olen);
}

/* ------------------------------------------------------------------------ */
/* tools/call */

static void watch_done(struct mop *op, taas_status st, const char *msg, const uint8_t *buf,
                       size_t len)
{
    (void)buf;
    (void)len;
    /* The final event answers; an end without one is an error. */
    char text[900];
    snprintf(text, sizeof text, "lost track of task %s: %s: %s", op->task_id,
             taas_status_name(st), msg ? msg : "(no message)");
    op_tool_error(op, text);
}

static void watch_event(struct mop *op, struct icall *ic, const uint8_t *buf, size_t len)
{
    /* First: the final event lets go of the watch (op_finish), and the
     * "sent" job must still find it. */
    mcp__ic_ref((taas_call *)ic);
    Taas__V1__TaskEvent *ev = taas__v1__task_event__unpack(NULL, len, buf);
    if (ev && ev->task) {
        const Taas__V1__Task *t = ev->task;
        if (t->state == TAAS__V1__TASK_STATE__TASK_STATE_SUCCEEDED) {
            const char *out = t->output_json ? t->output_json : "";
            bool obj = op->structured && taas_mcp_is_object_text(out);
            size_t rl = 0;
            char *r = taas_mcp_tool_result(op->id, op->modern, out, obj ? out : NULL, false, &rl);
            op_finish(op, r, rl);
        } else {
            pthread_mutex_lock(&op->mu);
            bool quiet = op->cancel_asked && op->stream;
            pthread_mutex_unlock(&op->mu);
            if (quiet) {
                op_finish(op, NULL, 0); /* cancelled by the client: no answer */
            } else {
                char text[1400];
                const char *sn = taas_pbjson_enum_name(&taas__v1__task_state__descriptor, t->state);
                snprintf(text, sizeof text, "task %s %s: %s", op->task_id,
                         sn ? sn : "ended", t->error && t->error[0] ? t->error : "(no message)");
                op_tool_error(op, text);
            }
        }
    } else if (ev) {
        pthread_mutex_lock(&op->mu);
        double p = ev->progress * 100.0;
        /* Progress must increase: send only what moves it forward. */
        if (!op->done && op->stream && op->token && p > op->last_progress) {
            op->last_progress = p;
            size_t nl = 0;
            char *n = taas_mcp_progress(op->token, p, ev->progress_message, &nl);
            if (n)
                http__mcp_stream(op->outer, n, nl, false, MAX_PROGRESS_PENDING);
            free(n);
        }
        pthread_mutex_unlock(&op->mu);
    }
    if (ev)
        taas__v1__task_event__free_unpacked(ev, NULL);
    mcp__job_add(op->mh, mcp__ic_sent_job, ic);
}

static void start_watch_job(void *arg)
{
    struct mop *op = arg;
    pthread_mutex_lock(&op->mu);
    bool done = op->done;
    pthread_mutex_unlock(&op->mu);
    if (!done) {
        Taas__V1__WatchTaskRequest wr = TAAS__V1__WATCH_TASK_REQUEST__INIT;
        wr.task_id = op->task_id;
        size_t n = taas__v1__watch_task_request__get_packed_size(&wr);
        uint8_t *b = malloc(n ? n : 1);
        if (b)
            taas__v1__watch_task_request__pack(&wr, b);
        struct icall *w = NULL;
        /* Keep the watch's handle under op->mu before anything can end it. */
        if (!b || ic_start(op, op->mh->h ? op->mh->h->mirror[R_EVENTS] : NULL, b, n, watch_done,
                           watch_event, &w) != 0) {
            char text[300];
            snprintf(text, sizeof text,
                     "task %s was submitted, but the server is shutting down before it ends",
                     op->task_id);
            op_tool_error(op, text);
        } else {
            pthread_mutex_lock(&op->mu);
            bool late = op->done;
            if (!late)
                op->watch = w;
            pthread_mutex_unlock(&op->mu);
            if (late) /* answered (or abandoned) while the watch started */
                mcp__ic_unref((taas_call *)w);
        }
    }
    mcp__op_unref(op);
}

static void cancel_done(struct mop *op, taas_status st, const char *msg, const uint8_t *buf,
                        size_t len)
{
    (void)op;
    (void)buf;
    (void)len;
    if (st != TAAS_ST_OK)
        taas_log(TAAS_LOG_INFO, "mcp.cancel", "status=%s error=\"%s\"", taas_status_name(st),
                 msg ? msg : "");
}

static void start_cancel(struct mop *op)
{
    Taas__V1__CancelTaskRequest cr = TAAS__V1__CANCEL_TASK_REQUEST__INIT;
    cr.task_id = op->task_id;
    size_t n = taas__v1__cancel_task_request__get_packed_size(&cr);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return;
    taas__v1__cancel_task_request__pack(&cr, b);
    ic_start(op, op->mh->h ? op->mh->h->mirror[R_CANCEL] : NULL, b, n, cancel_done, NULL, NULL);
}

static void start_cancel_job(void *arg)
{
    struct mop *op = arg;
    start_cancel(op);
    mcp__op_unref(op);
}

static void submit_done(struct mop *op, taas_status st, const char *msg, const uint8_t *buf,
                        size_t len)
{
    char text[1400];
    if (st != TAAS_ST_OK) {
        size_t el = 0;
        if (st == TAAS_ST_NOT_FOUND) {
            snprintf(text, sizeof text, "Unknown tool: %s", op->name);
            char *e = taas_mcp_error(op->id, TAAS_MCP_INVALID_PARAMS, text, NULL, &el);
            op_finish(op, e, el);
        } else if (st == TAAS_ST_INVALID_ARGUMENT) {
            snprintf(text, sizeof text, "invalid arguments: %s", msg ? msg : "");
            op_tool_error(op, text);
        } else {
            snprintf(text, sizeof text, "the task could not be submitted: %s: %s",
                     taas_status_name(st), msg ? msg : "");
            op_tool_error(op, text);
        }
        return;
    }
    Taas__V1__SubmitTaskResponse *r =
        taas__v1__submit_task_response__unpack(NULL, len, buf ? buf : (const uint8_t *)"");
    if (!r || !r->task_id || !r->task_id[0]) {
        if (r)
            taas__v1__submit_task_response__free_unpacked(r, NULL);
        op_tool_error(op, "the server's answer to the submit did not unpack");
        return;
    }
    pthread_mutex_lock(&op->mu);
    snprintf(op->task_id, sizeof op->task_id, "%s", r->task_id);
    bool cancel = op->cancel_asked;
    pthread_mutex_unlock(&op->mu);
    if (op->session[0])
        session_remember(op->mh, op->session, op->principal, op->id, op->task_id);
    taas__v1__submit_task_response__free_unpacked(r, NULL);
    /* Next steps on the helper thread: this may be the store's writer. */
    atomic_fetch_add(&op->refs, 1);
    if (cancel) { /* cancelled while the submit was on its way */
        mcp__job_add(op->mh, start_cancel_job, op);
        if (op->stream)
            op_finish(op, NULL, 0);
        else
            op_tool_error(op, "cancelled by the client");
    } else {
        mcp__job_add(op->mh, start_watch_job, op);
    }
}

/* notifications/cancelled: cancel that call's task; its stream then closes
 * without a result. */
static void cancel_request(struct mcp_http *mh, struct hcall *outer, const char *session,
                           const char *principal, const char *rid)
{
    struct mop *hit = NULL;
    pthread_mutex_lock(&mh->mu);
    for (struct mop *op = mh->ops; op; op = op->next) {
        if (strcmp(op->session, session) != 0 || strcmp(op->id, rid) != 0)
            continue;
        if ((op->principal == NULL) != (principal == NULL) ||
            (principal && strcmp(op->principal, principal) != 0))
            continue;
        hit = op;
        atomic_fetch_add(&op->refs, 1);
        break;
    }
    if (!hit && session[0]) {
        /* Its stream is gone (the client closed it): the task may still run. */
        struct session *s = session_find_locked(mh, session, strlen(session), principal);
        for (int i = 0; s && i < RECENT_CALLS; i++) {
            if (!s->recent[i].rid || strcmp(s->recent[i].rid, rid) != 0)
                continue;
            struct mop *op = calloc(1, sizeof *op);
            if (op) {
                /* An operation of the notification's own request: its
                 * token is the one the cancel is checked against. */
                atomic_init(&op->refs, 1);
                op->mh = mh;
                pthread_mutex_init(&op->mu, NULL);
                op->outer = outer;
                http__hc_ref((taas_call *)outer);
                snprintf(op->task_id, sizeof op->task_id, "%s", s->recent[i].task);
                hit = op;
            }
            break;
        }
        pthread_mutex_unlock(&mh->mu);
        if (hit) {
            start_cancel(hit);
            mcp__op_unref(hit);
        }
        return;
    }
    pthread_mutex_unlock(&mh->mu);
    if (!hit)
        return;
    pthread_mutex_lock(&hit->mu);
    bool known = hit->task_id[0] != 0 && !hit->done;
    hit->cancel_asked = true;
    pthread_mutex_unlock(&hit->mu);
    /* The task ends CANCELLED, which ends the watch. Before the submit has
     * answered, submit_done cancels it itself. */
    if (known)
        start_cancel(hit);
    mcp__op_unref(hit);
}

static void tools_call(struct mcp_http *mh, struct hcall *c, const taas_mcp_msg *msg,
                       const char *negotiated, const char *session)
{
    char *name, *arguments, *token, *err;
    size_t elen;
    if (taas_mcp_call_params(msg, &name, &arguments, &token, &err, &elen) != 0) {
        http__mcp_reply(c, TAAS_ST_OK, 200, err, elen);
        return;
    }
    struct mop *op = op_new(mh, c, msg, negotiated, session);
    if (!op || !op->id) {
        free(name);
        free(arguments);
        free(token);
        if (op)
            mcp__op_unref(op);
        http__mcp_reply(c, TAAS_ST_INTERNAL, 500, NULL, 0);
        return;
    }
    op->name = name;
    op->arguments = arguments;
    op->token = token;
    /* An event stream whenever the client takes one: progress can flow, and
     * a cancelled call can end without a result, as the protocol asks. */
    size_t al = 0;
    const char *accept = taas_call_metadata((taas_call *)c, "accept", &al);
    op->stream = accept && memmem(accept, al, "text/event-stream", 17) != NULL;
    op_link(op);

    Taas__V1__SubmitTaskRequest sr = TAAS__V1__SUBMIT_TASK_REQUEST__INIT;
    sr.task_name = op->name;
    sr.inputs_json = op->arguments;
    size_t n = taas__v1__submit_task_request__get_packed_size(&sr);
    uint8_t *b = malloc(n ? n : 1);
    if (b)
        taas__v1__submit_task_request__pack(&sr, b);
    if (!b || ic_start(op, mh->h->mirror[R_SUBMIT], b, n, submit_done, NULL, NULL) != 0)
        op_tool_error(op, "the server is shutting down; the task was not submitted");
    mcp__op_unref(op);
}

/* ------------------------------------------------------------------------ */
/* Sessions */

static void session_free(struct session *s)
{
    for (int i = 0; i < RECENT_CALLS; i++)
        free(s->recent[i].rid);
    free(s->principal);
    free(s);
}


/* Remember the task of a call of the session (the oldest is forgotten). */
static void session_remember(struct mcp_http *mh, const char *session, const char *principal,
                             const char *rid, const char *task)
{
    char *copy = strdup(rid);
    if (!copy)
        return;
    pthread_mutex_lock(&mh->mu);
    struct session *s = session_find_locked(mh, session, strlen(session), principal);
    if (s) {
        int k = s->recent_next;
        s->recent_next = (k + 1) % RECENT_CALLS;
        free(s->recent[k].rid);
        s->recent[k].rid = copy;
        snprintf(s->recent[k].task, sizeof s->recent[k].task, "%s", task);
        copy = NULL;
    }
    pthread_mutex_unlock(&mh->mu);
    free(copy);
}

static bool same_principal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Copy the session's version if it exists for this principal. mh->mu. */
static struct session *session_find_locked(struct mcp_http *mh, const char *id, size_t n,
                                           const char *principal)
{
    int64_t now = taas_mono_us();
    struct session **pp = &mh->sessions;
    while (*pp) {
        struct session *s = *pp;
        if (now - s->used_us > SESSION_IDLE_US) {
            *pp = s->next;
            mh->n_sessions--;
            session_free(s);
            continue;
        }
        if (strlen(s->id) == n && !memcmp(s->id, id, n) && same_principal(s->principal, principal)) {
            s->used_us = now;
            return s;
        }
        pp = &s->next;
    }
    return NULL;
}

static int session_new(struct mcp_http *mh, const char *principal, const char *version,
                       char out[33])
{
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -1;
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    memcpy(s->id, out, 33);
    snprintf(s->version, sizeof s->version, "%s", version);
    s->principal = principal ? strdup(principal) : NULL;
    s->used_us = taas_mono_us();
    if (principal && !s->principal) {
        free(s);
        return -1;
    }
    pthread_mutex_lock(&mh->mu);
    if (mh->n_sessions >= MAX_SESSIONS) {
        /* Full: forget the least recently used. */
        struct session **old = &mh->sessions;
        for (struct session **pp = &mh->sessions; *pp; pp = &(*pp)->next)
            if ((*pp)->used_us < (*old)->used_us)
                old = pp;
        struct session *o = *old;
        *old = o->next;
        session_free(o);
        mh->n_sessions--;
    }
    s->next = mh->sessions;
    mh->sessions = s;
    mh->n_sessions++;
    pthread_mutex_unlock(&mh->mu);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests */

static void reply_rpc_error(struct hcall *c, int http_code, const char *id, int code,
                            const char *text)
{
    size_t len = 0;
    char *j = taas_mcp_error(id, code, text, NULL, &len);
    taas_status st = http_code == 404 ? TAAS_ST_NOT_FOUND
                     : http_code >= 400 ? TAAS_ST_INVALID_ARGUMENT
                                        : TAAS_ST_OK;
    http__mcp_reply(c, st, http_code, j, len);
}

bool http__mcp_origin_ok(const char *origin, const char *host)
{
    /* scheme://host[:port] */
    const char *p = strstr(origin, "://");
    if (!p)
        return false;
    p += 3;
    char h[300];
    snprintf(h, sizeof h, "%s", p);
    char *hostpart = h;
    char *end;
    if (h[0] == '[') {
        end = strchr(h, ']');
        if (!end)
            return false;
        *end = 0;
        hostpart = h + 1;
    } else if ((end = strchr(h, ':')) != NULL) {
        *end = 0;
    }
    if (strcasecmp(hostpart, "localhost") == 0 || strncmp(hostpart, "127.", 4) == 0 ||
        strcmp(hostpart, "::1") == 0)
        return true;
    /* A page of this very server (the same host and port), when that host
     * is an IP address: a DNS name could have been rebound. */
    if (host && strcasecmp(p, host) == 0) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, hostpart, buf) == 1 || inet_pton(AF_INET6, hostpart, buf) == 1)
            return true;
    }
    const char *list = getenv("TAAS_MCP_ALLOWED_ORIGINS");
    if (list) {
        size_t ol = strlen(origin);
        for (const char *q = list; *q;) {
            const char *comma = strchr(q, ',');
            size_t n = comma ? (size_t)(comma - q) : strlen(q);
            while (n && *q == ' ') {
                q++;
                n--;
            }
            while (n && q[n - 1] == ' ')
                n--;
            if (n == ol && strncasecmp(q, origin, n) == 0)
                return true;
            if (!comma)
                break;
            q = comma + 1;
        }
    }
    return false;
}

void http__mcp_handler(taas_call *call, void *arg)
{
    taas_http *h = arg;
    struct mcp_http *mh = h->mcp;
    struct hcall *c = (struct hcall *)call;
    const char *principal = taas_call_principal(call);
    size_t sl = 0, vl = 0;
    const char *sid = taas_call_metadata(call, "mcp-session-id", &sl);
    const char *pv = taas_call_metadata(call, "mcp-protocol-version", &vl);
    char negotiated[16] = "";
    char session[33] = "";
    if (sid) {
        pthread_mutex_lock(&mh->mu);
        struct session *s = session_find_locked(mh, sid, sl, principal);
        if (s) {
            snprintf(negotiated, sizeof negotiated, "%s", s->version);
            snprintf(session, sizeof session, "%s", s->id);
        }
        pthread_mutex_unlock(&mh->mu);
        if (!s) {
            reply_rpc_error(c, 404, NULL, TAAS_MCP_INVALID_REQUEST,
                            "Session not found: it ended, expired or belongs to another "
                            "principal; start again with initialize");
            return;
        }
    }
    if (!strcmp(c->verb, "DELETE")) {
        if (!session[0]) {
            reply_rpc_error(c, 400, NULL, TAAS_MCP_INVALID_REQUEST,
                            "Bad Request: DELETE /mcp needs the Mcp-Session-Id header");
            return;
        }
        pthread_mutex_lock(&mh->mu);
        for (struct session **pp = &mh->sessions; *pp; pp = &(*pp)->next) {
            if (!strcmp((*pp)->id, session)) {
                struct session *s = *pp;
                *pp = s->next;
                mh->n_sessions--;
                session_free(s);
                break;
            }
        }
        pthread_mutex_unlock(&mh->mu);
        http__mcp_reply(c, TAAS_ST_OK, 204, NULL, 0);
        return;
    }
    if (pv && !taas_mcp_version_known(pv, vl)) {
        char text[200];
        snprintf(text, sizeof text, "Bad Request: unsupported MCP-Protocol-Version: %.*s",
                 (int)(vl > 64 ? 64 : vl), pv);
        reply_rpc_error(c, 400, NULL, TAAS_MCP_INVALID_REQUEST, text);
        return;
    }

    taas_mcp_msg msg;
    char *err = NULL;
    size_t elen = 0;
    size_t max = h->o.max_body_bytes ? h->o.max_body_bytes : DEFAULT_MAX_BODY;
    /* Over HTTP the session is what initialize leaves behind: a request
     * without one is refused below (400), not as "initialize first". */
    int rc = taas_mcp_msg_read(&msg, c->body ? c->body : "", c->body_len, max,
                               session[0] ? negotiated : "(HTTP)", &err, &elen);
    if (rc < 0) {
        /* An error for a request is its answer; one that names no request
         * (unreadable) refuses the POST itself. */
        http__mcp_reply(c, msg.id ? TAAS_ST_OK : TAAS_ST_INVALID_ARGUMENT, msg.id ? 200 : 400,
                        err, elen);
        goto out;
    }
    if (rc > 0) { /* a response from the client: accepted, nothing to do */
        http__mcp_reply(c, TAAS_ST_OK, 202, NULL, 0);
        goto out;
    }
    const char *method = msg.method;
    bool init = !strcmp(method, "initialize");
    bool discover = !strcmp(method, "server/discover");
    if (!init && !discover && !msg.modern && !session[0] && strcmp(method, "ping") != 0) {
        reply_rpc_error(c, 400, msg.id, TAAS_MCP_INVALID_REQUEST,
                        "Bad Request: Mcp-Session-Id header required (start with initialize, "
                        "or send the 2026-07-28 _meta fields)");
        goto out;
    }
    size_t olen = 0;
    if (!msg.id) {
        if (!strcmp(method, "notifications/cancelled")) {
            char *rid = taas_mcp_cancelled_id(&msg);
            if (rid)
                cancel_request(mh, c, session, principal, rid);
            free(rid);
        }
        http__mcp_reply(c, TAAS_ST_OK, 202, NULL, 0);
    } else if (init) {
        char chosen[16];
        char *out = taas_mcp_initialize(&msg, chosen, &olen);
        char id[33];
        if (!out || session_new(mh, principal, chosen, id) != 0) {
            free(out);
            reply_rpc_error(c, 200, msg.id, TAAS_MCP_INTERNAL_ERROR, "out of memory");
            goto out;
        }
        c->mcp_session = strdup(id);
        http__mcp_reply(c, TAAS_ST_OK, 200, out, olen);
    } else if (discover) {
        char *out = taas_mcp_discover(msg.id, &olen);
        http__mcp_reply(c, TAAS_ST_OK, 200, out, olen);
    } else if (!strcmp(method, "ping")) {
        char *out = taas_mcp_empty(msg.id, msg.modern, &olen);
        http__mcp_reply(c, TAAS_ST_OK, 200, out, olen);
    } else if (!strcmp(method, "tools/list")) {
        struct mop *op = op_new(mh, c, &msg, negotiated, session);
        if (!op || !op->id) {
            if (op)
                mcp__op_unref(op);
            http__mcp_reply(c, TAAS_ST_INTERNAL, 500, NULL, 0);
            goto out;
        }
        Taas__V1__ListTaskTypesRequest lr = TAAS__V1__LIST_TASK_TYPES_REQUEST__INIT;
        size_t n = taas__v1__list_task_types_request__get_packed_size(&lr);
        uint8_t *b = malloc(n ? n : 1);
        if (b)
            taas__v1__list_task_types_request__pack(&lr, b);
        if (!b || ic_start(op, h->mirror[R_TYPES], b, n, list_done, NULL, NULL) != 0) {
            char *e = taas_mcp_error(msg.id, TAAS_MCP_INTERNAL_ERROR,
                                     "the server is shutting down", NULL, &olen);
            op_finish(op, e, olen);
        }
        mcp__op_unref(op);
    } else if (!strcmp(method, "tools/call")) {
        tools_call(mh, c, &msg, negotiated, session);
    } else {
        char text[200];
        snprintf(text, sizeof text, "Method not found: %.100s", method);
        reply_rpc_error(c, 200, msg.id, TAAS_MCP_METHOD_NOT_FOUND, text);
    }
out:
    taas_mcp_msg_free(&msg);
}

void http__mcp_stop(taas_http *h)
{
    struct mcp_http *mh = h->mcp;
    if (!mh)
        return;
    pthread_mutex_lock(&mh->mu);
    mh->stop = true;
    pthread_cond_signal(&mh->cv);
    pthread_mutex_unlock(&mh->mu);
    if (mh->thr_started)
        pthread_join(mh->thr, NULL);
    pthread_mutex_lock(&mh->mu);
    mh->thr_gone = true;
    mcp__job_run_all(mh);
    mh->h = NULL;
    struct session *s = mh->sessions;
    mh->sessions = NULL;
    pthread_mutex_unlock(&mh->mu);
    while (s) {
        struct session *n = s->next;
        session_free(s);
        s = n;
    }
    /* Operations still linked hold the request they answer, which MHD has
     * closed by now; they end when their request is freed. */
    h->mcp = NULL;
    pthread_mutex_destroy(&mh->mu);
    pthread_cond_destroy(&mh->cv);
    free(mh);
}
