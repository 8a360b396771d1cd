/*
 * runtime/services/task_service.c - taas.v1.TaskService over the engine.
 *
 * SubmitTask and CancelTask answer from the engine's callback (the store's
 * writer thread, after the durable commit); GetTask and ListTasks answer at
 * once. Each holds a reference on the call while the engine has it.
 *
 * WatchTask. The engine calls watch_event() from any thread and that
 * callback must not block, so an event is packed at once and queued on the
 * watch; one message at a time goes to the stream (the next leaves when the
 * call reports the previous one sent). While a message is in flight, a
 * queued progress event is replaced by a newer one (progress coalesces);
 * state changes and the final event are never dropped. `seq` is appended to
 * each packed event as it leaves, so it counts the events actually sent.
 * After the final event the stream ends OK. When the client leaves (cancel,
 * deadline, disconnect) the stream ends, and when the call is freed the
 * engine watch is released (taas_engine_unwatch) and everything with it.
 *
 * Isolation. With authentication on, a principal without the admin scope
 * sees only the tasks it submitted: GetTask, WatchTask and CancelTask on
 * another's task answer NOT_FOUND with the very message of an unknown id,
 * and ListTasks lists only the caller's tasks. The submitting principal is
 * stored with each task, so this holds across restarts and across servers
 * sharing a database. Idempotency keys are per principal: another
 * principal's key is a different key, and reveals nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "metrics/metrics.h"
#include "services/services_int.h"
#include "store/store.h"
#include "taas/registry.h"
#include "taas/v1/taas.pb-c.h"
#include "util/trace.h"
#include "util/utf8.h"
#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* taas_task_rec -> taas.v1.Task */

static char *str_or_empty(const char *s)
{
    return (char *)(s ? s : "");
}

struct task_pb {
    Taas__V1__Task t;
    Taas__V1__Attempt *att;
    Taas__V1__Attempt **attp;
    char **errs;
    size_t n;
};

/* attempts_json: [{"attempt":1,"error":"...","finished_ms":...}, ...], as
 * the store writes it; anything else shows no attempts. */
static void fill_attempts(struct task_pb *p, const char *json)
{
    if (!json || !json[0])
        return;
    taas_jdoc doc;
    if (taas_json_parse(&doc, json, strlen(json), NULL, NULL, 0) != 0)
        return;
    size_t cap = taas_json_kind_of(&doc, 0) == TAAS_JSON_ARRAY && doc.toks[0].size > 0
                     ? (size_t)doc.toks[0].size
                     : 0;
    if (cap) {
        p->att = calloc(cap, sizeof *p->att);
        p->attp = calloc(cap, sizeof *p->attp);
        p->errs = calloc(cap, sizeof *p->errs);
    }
    if (!p->att || !p->attp || !p->errs) {
        taas_json_free(&doc);
        return;
    }
    for (int i = 1; i < doc.ntoks && p->n < cap; i = taas_json_next(&doc, i)) {
        if (taas_json_kind_of(&doc, i) != TAAS_JSON_OBJECT)
            continue;
        Taas__V1__Attempt *a = &p->att[p->n];
        taas__v1__attempt__init(a);
        a->error = "";
        int64_t x;
        int v = taas_json_obj_get(&doc, i, "attempt", 7);
        if (v >= 0 && taas_json_int64(&doc, v, &x) == 0)
            a->number = (int32_t)x;
        v = taas_json_obj_get(&doc, i, "finished_ms", 11);
        if (v >= 0 && taas_json_int64(&doc, v, &x) == 0)
            a->finished_at_ms = x;
        v = taas_json_obj_get(&doc, i, "error", 5);
        if (v >= 0 && taas_json_kind_of(&doc, v) == TAAS_JSON_STRING) {
            char *e = malloc(taas_json_str_rawlen(&doc, v) + 1);
            if (e) {
                taas_json_str_decode(&doc, v, e);
                p->errs[p->n] = e;
                a->error = e;
            }
        }
        p->attp[p->n] = a;
        p->n++;
    }
    p->t.n_attempts = p->n;
    p->t.attempts = p->attp;
    taas_json_free(&doc);
}

/* Fill p->t from r (strings borrowed from r). `full`: with inputs, output, attempts. */
static void task_pb_fill(struct task_pb *p, const taas_task_rec *r, bool full)
{
    memset(p, 0, sizeof *p);
    Taas__V1__Task *t = &p->t;
    taas__v1__task__init(t);
    t->id = (char *)r->id;
    t->task_name = str_or_empty(r->name);
    t->state = (Taas__V1__TaskState)r->state;
    t->inputs_json = full ? str_or_empty(r->input) : "";
    t->output_json = full ? str_or_empty(r->output) : "";
    t->error = str_or_empty(r->error);
    t->progress = r->progress;
    t->progress_message = str_or_empty(r->progress_message);
    t->attempt = r->attempt;
    t->max_attempts = r->max_attempts;
    t->priority = r->priority;
    t->created_at_ms = r->created_ms;
    t->updated_at_ms = r->updated_ms;
    t->run_after_ms = r->run_after_ms;
    t->started_at_ms = r->started_ms;
    t->finished_at_ms = r->finished_ms;
    t->idempotency_key = str_or_empty(r->idempotency_key);
    t->cancel_requested = r->cancel_requested;
    t->parent_id = str_or_empty(r->parent_id);
    if (full)
        fill_attempts(p, r->attempts_json);
}

static void task_pb_clear(struct task_pb *p)
{
    for (size_t i = 0; p->errs && i < p->n; i++)
        free(p->errs[i]);
    free(p->errs);
    free(p->att);
    free(p->attp);
}

/* ------------------------------------------------------------------------ */
/* Unary methods */

static void unavailable(taas_call *call)
{
    taas_call_reply(call, TAAS_ST_UNAVAILABLE, "server is shutting down; retry", NULL, 0);
}

/* What a submit's callback needs: the call, and the task's name (static,
 * from the registry) for the metrics. */
struct submit_ctx {
    taas_call *call;
    const char *task;
};

static void submit_done(void *arg, const taas_submit_result *res)
{
    struct submit_ctx *sc = arg;
    taas_call *call = sc->call;
    taas_trace("svc.reply", call, res->task_id);
    if (res->status == TAAS_ST_OK)
        taas_metrics_submitted(sc->task, res->duplicate, taas_mono_us() - taas_call_start_us(call));
    free(sc);
    if (res->status != TAAS_ST_OK) {
        taas_call_reply(call, res->status, res->message ? res->message : taas_status_name(res->status),
                        NULL, 0);
    } else {
        Taas__V1__SubmitTaskResponse resp = TAAS__V1__SUBMIT_TASK_RESPONSE__INIT;
        resp.task_id = str_or_empty(res->task_id);
        resp.duplicate = res->duplicate;
        resp.state = (Taas__V1__TaskState)res->state;
        struct task_pb p;
        if (res->original) {
            task_pb_fill(&p, res->original, true);
            resp.task = &p.t;
        }
        svc_reply(call, &resp.base);
        taas_trace("svc.replied", call, res->task_id);
        if (res->original)
            task_pb_clear(&p);
    }
    taas_call_unref(call);
}

static void submit_task(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__SubmitTaskRequest *req = (Taas__V1__SubmitTaskRequest *)svc_unpack(call, &taas__v1__submit_task_request__descriptor);
    if (!req)
        return;
    char msg[1024];
    taas_error *violations = NULL; /* the engine's, when it refuses the inputs */
    size_t n_violations = 0;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else {
        taas_submit_req sr = {
            .task_name = req->task_name,
            .input = req->inputs_json,
            .input_len = strlen(req->inputs_json),
            .idempotency_key = req->idempotency_key[0] ? req->idempotency_key : NULL,
            .priority = req->priority,
            .run_after_ms = req->run_after_ms,
            .timeout_s = req->timeout_s,
            .principal = taas_call_principal(call),
            .violations = &violations,
            .n_violations = &n_violations,
            .max_violations = SVC_MAX_VIOLATIONS,
        };
        msg[0] = '\0';
        struct submit_ctx *sc = malloc(sizeof *sc);
        taas_status st = TAAS_ST_INTERNAL;
        if (sc) {
            /* The registry's name outlives the request; the engine refuses
             * an unknown name before any callback. */
            const taas_task_type *tt = taas_registry_find(req->task_name);
            sc->call = call;
            sc->task = tt ? tt->name : "";
            taas_call_ref(call);
            taas_trace("svc.submit", call, NULL);
            /* On this gRPC thread the engine holds no lock when it queues the
             * insert, and submit_done takes none held here: an idle writer
             * may commit it on this thread, and the reply goes out without a
             * hop to the writer thread and back. */
            taas_writer_allow_inline(true);
            st = taas_engine_submit(e, &sr, submit_done, sc, msg, sizeof msg);
            taas_writer_allow_inline(false);
        }
        svc_leave(s);
        if (!sc) {
            taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        } else if (st == TAAS_ST_INVALID_ARGUMENT && n_violations > 0) {
            svc_reply_invalid_inputs(call, msg, violations, n_violations);
            free(violations);
            free(sc);
            taas_call_unref(call);
        } else if (st != TAAS_ST_OK) {
            taas_call_reply(call, st, msg[0] ? msg : taas_status_name(st), NULL, 0);
            free(sc);
            taas_call_unref(call);
        }
    }
    taas__v1__submit_task_request__free_unpacked(req, NULL);
}

static void get_task(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__GetTaskRequest *req = (Taas__V1__GetTaskRequest *)svc_unpack(call, &taas__v1__get_task_request__descriptor);
    if (!req)
        return;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else {
        taas_task_rec rec;
        memset(&rec, 0, sizeof rec);
        char msg[512] = "";
        taas_status st = taas_engine_get(e, req->task_id, svc_principal(call), &rec, msg, sizeof msg);
        svc_leave(s);
        if (st != TAAS_ST_OK) {
            taas_call_reply(call, st, msg[0] ? msg : taas_status_name(st), NULL, 0);
        } else {
            struct task_pb p;
            task_pb_fill(&p, &rec, true);
            Taas__V1__GetTaskResponse resp = TAAS__V1__GET_TASK_RESPONSE__INIT;
            resp.task = &p.t;
            svc_reply(call, &resp.base);
            task_pb_clear(&p);
        }
        taas_task_rec_clear(&rec);
    }
    taas__v1__get_task_request__free_unpacked(req, NULL);
}

static void list_tasks(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__ListTasksRequest *req = (Taas__V1__ListTasksRequest *)svc_unpack(call, &taas__v1__list_tasks_request__descriptor);
    if (!req)
        return;
    if (req->page_size < 0 || req->page_size > 1000) {
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, "page_size: must be 0 to 1000", NULL, 0);
    } else if ((int)req->state < 0 || (int)req->state > TAAS_TASK_CANCELLED) {
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, "state: unknown task state", NULL, 0);
    } else {
        taas_engine *e = svc_enter(s);
        if (!e) {
            unavailable(call);
        } else {
            taas_list_query q = {
                .state = (taas_task_state)req->state,
                .name = req->task_name[0] ? req->task_name : NULL,
                .limit = req->page_size ? req->page_size : 50,
                .page_token = req->page_token[0] ? req->page_token : NULL,
                .principal = svc_principal(call),
                .parent_id = req->parent_id[0] ? req->parent_id : NULL,
            };
            taas_task_rec *recs = NULL;
            size_t n = 0;
            char next[64] = "";
            char msg[512] = "";
            taas_status st = taas_engine_list(e, &q, &recs, &n, next, msg, sizeof msg);
            svc_leave(s);
            if (st != TAAS_ST_OK) {
                taas_call_reply(call, st, msg[0] ? msg : taas_status_name(st), NULL, 0);
            } else {
                struct task_pb *ps = calloc(n ? n : 1, sizeof *ps);
                Taas__V1__Task **tp = calloc(n ? n : 1, sizeof *tp);
                if (!ps || !tp) {
                    taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
                } else {
                    size_t shown = 0;
                    for (size_t i = 0; i < n; i++) {
                        task_pb_fill(&ps[shown], &recs[i], false);
                        tp[shown] = &ps[shown].t;
                        shown++;
                    }
                    Taas__V1__ListTasksResponse resp = TAAS__V1__LIST_TASKS_RESPONSE__INIT;
                    resp.n_tasks = shown;
                    resp.tasks = tp;
                    next[sizeof next - 1] = '\0';
                    resp.next_page_token = next;
                    svc_reply(call, &resp.base);
                }
                free(ps);
                free(tp);
            }
            for (size_t i = 0; i < n; i++)
                taas_task_rec_clear(&recs[i]);
            free(recs);
        }
    }
    taas__v1__list_tasks_request__free_unpacked(req, NULL);
}

static void cancel_done(void *arg, taas_status st, int state_after, const char *message)
{
    taas_call *call = arg;
    if (st != TAAS_ST_OK) {
        taas_call_reply(call, st, message ? message : taas_status_name(st), NULL, 0);
    } else {
        Taas__V1__CancelTaskResponse resp = TAAS__V1__CANCEL_TASK_RESPONSE__INIT;
        resp.state = (Taas__V1__TaskState)state_after;
        svc_reply(call, &resp.base);
    }
    taas_call_unref(call);
}

static void cancel_task(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__CancelTaskRequest *req = (Taas__V1__CancelTaskRequest *)svc_unpack(call, &taas__v1__cancel_task_request__descriptor);
    if (!req)
        return;
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else {
        char msg[512] = "";
        taas_call_ref(call);
        taas_status st = taas_engine_cancel(e, req->task_id, svc_principal(call), cancel_done, call,
                                            msg, sizeof msg);
        svc_leave(s);
        if (st != TAAS_ST_OK) {
            taas_call_reply(call, st, msg[0] ? msg : taas_status_name(st), NULL, 0);
            taas_call_unref(call);
        }
    }
    taas__v1__cancel_task_request__free_unpacked(req, NULL);
}

/* ------------------------------------------------------------------------ */
/* WatchTask */

struct wev {
    struct wev *next;
    uint8_t *buf; /* packed TaskEvent without seq, with room for it */
    size_t len;
    bool progress; /* same state as the event before: may be coalesced */
    bool final;
};

/*
 * Open streams per key ("c:<peer>" for a connection, "p:<principal>"), under
 * s->mu. The lists stay short (one entry per connection or principal that
 * watches now; an entry goes when its count drops to 0).
 */
struct svc_wcount {
    struct svc_wcount *next;
    int n;
    char key[];
};

/* prefix + s, malloc'd; NULL when out of memory. */
static char *key_of(const char *prefix, const char *s)
{
    size_t a = strlen(prefix), b = strlen(s);
    char *k = malloc(a + b + 1);
    if (k) {
        memcpy(k, prefix, a);
        memcpy(k + a, s, b + 1);
    }
    return k;
}

static struct svc_wcount **wcount_find(taas_services *s, const char *key)
{
    struct svc_wcount **pp = &s->wcounts;
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static int wcount_get(taas_services *s, const char *key)
{
    struct svc_wcount **pp = wcount_find(s, key);
    return *pp ? (*pp)->n : 0;
}

/* +1 or -1; 0, or -1 when out of memory (then nothing changed). */
static int wcount_add(taas_services *s, const char *key, int d)
{
    struct svc_wcount **pp = wcount_find(s, key);
    if (!*pp) {
        if (d < 0)
            return 0;
        size_t len = strlen(key);
        struct svc_wcount *c = malloc(sizeof *c + len + 1);
        if (!c)
            return -1;
        memcpy(c->key, key, len + 1);
        c->n = 0;
        c->next = NULL;
        *pp = c;
    }
    (*pp)->n += d;
    if ((*pp)->n <= 0) {
        struct svc_wcount *c = *pp;
        *pp = c->next;
        free(c);
    }
    return 0;
}

void svc_wcount_free_all(taas_services *s)
{
    while (s->wcounts) {
        struct svc_wcount *c = s->wcounts;
        s->wcounts = c->next;
        free(c);
    }
}

struct svc_watch {
    struct svc_watch *next, *prev; /* s->watches, under s->mu */
    bool linked;
    char *conn_key, *principal_key; /* counted in s->wcounts while linked */
    taas_services *s;
    taas_call *call;

    pthread_mutex_t mu;
    taas_watch *handle; /* engine handle until released */
    struct wev *qhead, *qtail;
    bool inflight;
    bool closed;    /* nothing more goes to the stream */
    int last_state; /* of the last queued event */
    int64_t seq;
};

#define SEQ_ROOM 11 /* tag byte + varint of an int64 */

static void wev_free_all(struct wev *e)
{
    while (e) {
        struct wev *n = e->next;
        free(e->buf);
        free(e);
        e = n;
    }
}

/* Send the next queued event if none is in flight. w->mu held. */
static void watch_pump_locked(struct svc_watch *w)
{
    if (w->inflight || w->closed || !w->qhead)
        return;
    struct wev *e = w->qhead;
    w->qhead = e->next;
    if (!w->qhead)
        w->qtail = NULL;
    /* Field 5 (seq), varint, appended: protobuf readers accept any field order. */
    uint64_t v = (uint64_t)++w->seq;
    e->buf[e->len++] = (5 << 3) | 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        e->buf[e->len++] = b | (v ? 0x80 : 0);
    } while (v);
    w->inflight = true;
    bool final = e->final;
    if (taas_call_send(w->call, e->buf, e->len, 0) != 0) {
        w->inflight = false;
        w->closed = true;
        wev_free_all(w->qhead);
        w->qhead = w->qtail = NULL;
    } else if (final) {
        w->closed = true;
        taas_call_finish(w->call, TAAS_ST_OK, NULL);
    }
    free(e);
}

static void watch_event(void *arg, const taas_watch_event *ev)
{
    struct svc_watch *w = arg;
    Taas__V1__TaskEvent te = TAAS__V1__TASK_EVENT__INIT;
    te.task_id = str_or_empty(ev->task_id);
    te.state = (Taas__V1__TaskState)ev->state;
    te.progress = ev->progress;
    te.progress_message = str_or_empty(ev->progress_message);
    te.at_ms = ev->at_ms;
    struct task_pb p;
    bool have_task = false;
    if (ev->final_task) {
        task_pb_fill(&p, ev->final_task, true);
        te.task = &p.t;
        have_task = true;
    }
    size_t n = protobuf_c_message_get_packed_size(&te.base);
    struct wev *e = calloc(1, sizeof *e);
    uint8_t *buf = malloc(n + SEQ_ROOM);
    if (e && buf) {
        e->buf = buf;
        e->len = protobuf_c_message_pack(&te.base, buf);
        e->final = ev->final_task != NULL;
    } else {
        free(e);
        free(buf);
        e = NULL;
    }
    if (have_task)
        task_pb_clear(&p);

    pthread_mutex_lock(&w->mu);
    if (w->closed || !e) {
        pthread_mutex_unlock(&w->mu);
        if (e) {
            free(e->buf);
            free(e);
        }
        return;
    }
    e->progress = !e->final && w->last_state >= 0 && ev->state == w->last_state;
    w->last_state = ev->state;
    if (e->progress && w->qtail && w->qtail->progress) {
        /* A newer progress report replaces the one still waiting. */
        free(w->qtail->buf);
        w->qtail->buf = e->buf;
        w->qtail->len = e->len;
        free(e);
    } else {
        if (w->qtail)
            w->qtail->next = e;
        else
            w->qhead = e;
        w->qtail = e;
    }
    watch_pump_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void watch_sent(taas_call *call, void *arg)
{
    struct svc_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    w->inflight = false;
    watch_pump_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void watch_cancelled(taas_call *call, void *arg)
{
    struct svc_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    wev_free_all(w->qhead);
    w->qhead = w->qtail = NULL;
    pthread_mutex_unlock(&w->mu);
    taas_call_finish(call, TAAS_ST_CANCELLED, "cancelled by the client");
}

/* The call is being freed: release the engine watch, then the rest. */
static void watch_destroy(void *data)
{
    struct svc_watch *w = data;
    taas_services *s = w->s;
    pthread_mutex_lock(&s->mu);
    if (w->linked) {
        if (w->prev)
            w->prev->next = w->next;
        else
            s->watches = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->linked = false;
        wcount_add(s, w->conn_key, -1);
        wcount_add(s, w->principal_key, -1);
    }
    pthread_mutex_unlock(&s->mu);
    free(w->conn_key);
    free(w->principal_key);

    pthread_mutex_lock(&w->mu);
    w->closed = true;
    taas_watch *h = w->handle;
    w->handle = NULL;
    pthread_mutex_unlock(&w->mu);
    if (h) {
        taas_engine *e = svc_enter(s);
        if (e) {
            taas_engine_unwatch(e, h);
            svc_leave(s);
        }
    }
    wev_free_all(w->qhead);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void watch_task(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Taas__V1__WatchTaskRequest *req = (Taas__V1__WatchTaskRequest *)svc_unpack(call, &taas__v1__watch_task_request__descriptor);
    if (!req)
        return;
    struct svc_watch *w = calloc(1, sizeof *w);
    if (!w) {
        taas__v1__watch_task_request__free_unpacked(req, NULL);
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    w->s = s;
    w->call = call;
    w->last_state = -1;
    pthread_mutex_init(&w->mu, NULL);
    taas_call_set_data(call, w, watch_destroy);
    taas_call_on_sent(call, watch_sent, w);

    const char *peer = taas_call_peer(call);
    const char *who = taas_call_principal(call);
    /* An event stream of the HTTP port is an HTTP connection of its own:
     * counted per connection, a client could open any number of them. So
     * there the cap counts the client's address ("ipv4:10.0.0.1:5123" ->
     * "ipv4:10.0.0.1"); the principal's cap counts both kinds of stream. */
    bool http = taas_call_ops_of(call) != NULL;
    if (http) {
        const char *colon = peer ? strrchr(peer, ':') : NULL;
        size_t n = colon && colon > peer && strchr(peer, ':') != colon ? (size_t)(colon - peer)
                                                                       : (peer ? strlen(peer) : 0);
        char addr[128];
        snprintf(addr, sizeof addr, "%.*s", (int)(n < sizeof addr ? n : sizeof addr - 1),
                 peer ? peer : "");
        w->conn_key = key_of("a:", addr);
    } else {
        w->conn_key = key_of("c:", peer ? peer : "");
    }
    w->principal_key = key_of("p:", who ? who : "");
    taas_engine *e = svc_enter(s);
    if (!e) {
        unavailable(call);
    } else if (!w->conn_key || !w->principal_key) {
        taas_call_reply(call, TAAS_ST_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        svc_leave(s);
    } else {
        /* The caps are checked and counted in one step under s->mu, so a
         * burst of watches cannot slip past them. */
        char refuse[256] = "";
        pthread_mutex_lock(&s->mu);
        int nc = wcount_get(s, w->conn_key), np = wcount_get(s, w->principal_key);
        if (http && s->max_watches_conn > 0 && nc >= s->max_watches_conn)
            snprintf(refuse, sizeof refuse,
                     "too many open event streams from this client address (limit %d, "
                     "--max-watches-per-connection); close some first",
                     s->max_watches_conn);
        else if (s->max_watches_conn > 0 && nc >= s->max_watches_conn)
            snprintf(refuse, sizeof refuse,
                     "too many open watch streams on this connection (limit %d, "
                     "--max-watches-per-connection); close some or open another connection",
                     s->max_watches_conn);
        else if (s->max_watches_principal > 0 && np >= s->max_watches_principal)
            snprintf(refuse, sizeof refuse,
                     "too many open watch streams for this principal (limit %d, "
                     "--max-watches-per-principal); close some first",
                     s->max_watches_principal);
        else if (wcount_add(s, w->conn_key, 1) != 0)
            snprintf(refuse, sizeof refuse, "out of memory");
        else if (wcount_add(s, w->principal_key, 1) != 0) {
            wcount_add(s, w->conn_key, -1);
            snprintf(refuse, sizeof refuse, "out of memory");
        }
        if (!refuse[0]) {
            w->next = s->watches;
            if (w->next)
                w->next->prev = w;
            s->watches = w;
            w->linked = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (refuse[0]) {
            pthread_mutex_lock(&w->mu);
            w->closed = true;
            pthread_mutex_unlock(&w->mu);
            taas_call_finish(call, TAAS_ST_RESOURCE_EXHAUSTED, refuse);
            svc_leave(s);
            taas_call_on_cancel(call, watch_cancelled, w);
            taas__v1__watch_task_request__free_unpacked(req, NULL);
            return;
        }

        taas_watch *h = NULL;
        char msg[512] = "";
        taas_status st = taas_engine_watch(e, req->task_id, svc_principal(call), watch_event, w,
                                           &h, msg, sizeof msg);
        if (st != TAAS_ST_OK) {
            pthread_mutex_lock(&w->mu);
            w->closed = true;
            pthread_mutex_unlock(&w->mu);
            taas_call_finish(call, st, msg[0] ? msg : taas_status_name(st));
        } else {
            pthread_mutex_lock(&w->mu);
            w->handle = h;
            pthread_mutex_unlock(&w->mu);
        }
        svc_leave(s);
    }
    /* Set last: it may fire at once if the client already left. */
    taas_call_on_cancel(call, watch_cancelled, w);
    taas__v1__watch_task_request__free_unpacked(req, NULL);
}

void svc_task_drain(taas_services *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct svc_watch *w = s->watches; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        taas_watch *h = w->handle;
        w->handle = NULL;
        w->closed = true;
        wev_free_all(w->qhead);
        w->qhead = w->qtail = NULL;
        pthread_mutex_unlock(&w->mu);
        if (h)
            taas_engine_unwatch(s->engine, h);
        taas_call_finish(w->call, TAAS_ST_UNAVAILABLE, "server is shutting down; watch again");
    }
    pthread_mutex_unlock(&s->mu);
}

void svc_task_methods(taas_services *s, size_t *i)
{
    s->methods[(*i)++] = (taas_method){"/taas.v1.TaskService/SubmitTask", TAAS_CALL_UNARY, submit_task, s};
    s->methods[(*i)++] = (taas_method){"/taas.v1.TaskService/GetTask", TAAS_CALL_UNARY, get_task, s};
    s->methods[(*i)++] = (taas_method){"/taas.v1.TaskService/ListTasks", TAAS_CALL_UNARY, list_tasks, s};
    s->methods[(*i)++] = (taas_method){"/taas.v1.TaskService/CancelTask", TAAS_CALL_UNARY, cancel_task, s};
    s->methods[(*i)++] = (taas_method){"/taas.v1.TaskService/WatchTask", TAAS_CALL_SERVER_STREAM,
                                       watch_task, s};
}
