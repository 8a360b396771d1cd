/*
 * tests/fuzz/fuzz_request_path.c - the whole request path, from request
 * bytes to an in-memory store: the service handlers of runtime/services
 * (the same functions the gRPC server registers), the engine with one
 * worker running the real task bodies, and a SQLite store opened as
 * "sqlite://".
 *
 * The handlers see calls only through server/call.h; this file implements
 * that interface in memory (a call holds the request bytes and records the
 * one answer), so no gRPC is involved and nothing else changes.
 *
 * An input is a small program; each step starts with an opcode byte:
 *   0 submit   task (registered, unknown or empty name), inputs, optional
 *              idempotency key, priority, timeout, run_after
 *   1 get      an id from an earlier submit, a mangled one, or fuzz bytes
 *   2 list     page size, state, name filter, page token (the last one
 *              returned, a mangled one, or fuzz bytes)
 *   3 cancel   an id as for get
 *   4 raw      fuzz bytes as the request of any unary method
 *   5 registry GetTaskType / HealthCheck with a fuzzed name
 *   6 again    the last submit once more (idempotency)
 * Strings are a length byte and that many bytes. Every answer is awaited
 * (at most 10 s: a missing answer is a bug) and checked: OK answers unpack
 * as the method's response and agree with the request (ids, filters, page
 * size); errors carry a status and a message; a submit succeeds only with
 * inputs its task's validator accepts. At the end every task the input
 * submitted is cancelled, so no body outlives it for long. A countdown
 * that would count for more than 0 s is submitted to run an hour later
 * (and so never runs before that cancel).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/run.h"
#include "engine/engine.h"
#include "fuzz.h"
#include "grpc/health/v1/health.pb-c.h"
#include "json/json.h"
#include "server/call.h"
#include "services/services.h"
#include "store/store.h"
#include "taas/registry.h"
#include "taas/v1/taas.pb-c.h"
#include "util/log.h"
#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* server/call.h in memory */

struct taas_call {
    atomic_int refs;
    const taas_method *method;
    const uint8_t *req;
    size_t req_len;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool answered;
    taas_status st;
    char msg[1024];
    void *buf;
    size_t len;
    void *data;
    void (*destroy)(void *);
    char *principal;
    unsigned scopes;
};

const char *taas_call_method_name(const taas_call *call) { return call->method->name; }
const taas_method *taas_call_method(const taas_call *call) { return call->method; }
const uint8_t *taas_call_request(const taas_call *call, size_t *len)
{
    *len = call->req_len;
    return call->req;
}
bool taas_call_has_request(const taas_call *call) { return true; }
const char *taas_call_peer(const taas_call *call) { return "fuzz:0"; }
const char *taas_call_metadata(const taas_call *call, const char *key, size_t *len)
{
    *len = 0;
    return NULL;
}
int64_t taas_call_deadline_left_ms(const taas_call *call) { return -1; }
int64_t taas_call_start_us(const taas_call *call) { return 0; }
void taas_call_ref(taas_call *call) { atomic_fetch_add(&call->refs, 1); }

void taas_call_unref(taas_call *call)
{
    if (atomic_fetch_sub(&call->refs, 1) != 1)
        return;
    if (call->destroy)
        call->destroy(call->data);
    free(call->buf);
    free(call->principal);
    pthread_mutex_destroy(&call->mu);
    pthread_cond_destroy(&call->cv);
    free(call);
}

void taas_call_reply(taas_call *call, taas_status st, const char *message, void *buf, size_t len)
{
    pthread_mutex_lock(&call->mu);
    if (call->answered) {
        pthread_mutex_unlock(&call->mu);
        free(buf);
        return;
    }
    FUZZ_CHECK(st == TAAS_ST_OK || buf == NULL, "%s: a buffer with status %d",
               call->method->name, (int)st);
    call->answered = true;
    call->st = st;
    snprintf(call->msg, sizeof call->msg, "%s", message ? message : "");
    call->buf = buf;
    call->len = len;
    pthread_cond_broadcast(&call->cv);
    pthread_mutex_unlock(&call->mu);
}

int taas_call_send(taas_call *call, void *buf, size_t len, unsigned flags)
{
    free(buf); /* only unary methods are called here */
    return -1;
}

void taas_call_finish(taas_call *call, taas_status st, const char *message)
{
    taas_call_reply(call, st, message, NULL, 0);
}

void taas_call_reply_details(taas_call *call, taas_status st, const char *message, void *details,
                             size_t len)
{
    (void)len;
    free(details);
    taas_call_reply(call, st, message, NULL, 0);
}

bool taas_call_cancelled(const taas_call *call) { return false; }
void taas_call_on_cancel(taas_call *call, taas_call_hook_fn fn, void *arg) {}
void taas_call_on_sent(taas_call *call, taas_call_hook_fn fn, void *arg) {}
void taas_call_set_data(taas_call *call, void *data, void (*destroy)(void *data))
{
    call->data = data;
    call->destroy = destroy;
}
void *taas_call_data(const taas_call *call) { return call->data; }

void taas_call_set_principal(taas_call *call, const char *principal, unsigned scopes)
{
    free(call->principal);
    call->principal = principal ? strdup(principal) : NULL;
    call->scopes = scopes;
}
const char *taas_call_principal(const taas_call *call) { return call->principal; }
unsigned taas_call_scopes(const taas_call *call) { return call->scopes; }

taas_status taas_call_final_status(const taas_call *call) { return call->st; }

/* ------------------------------------------------------------------------ */
/* The server half: store, engine, services, started once */

static taas_store *g_store;
static taas_engine *g_engine;
static taas_services *g_services;
static const taas_method *g_methods;
static size_t g_nmethods;
static char g_outdir[256];
static unsigned long g_inputs;

static const taas_method *method(const char *name)
{
    for (size_t i = 0; i < g_nmethods; i++)
        if (!strcmp(g_methods[i].name, name))
            return &g_methods[i];
    FUZZ_CHECK(0, "no method %s", name);
    return NULL;
}

/* An answered call: status, message, response bytes. */
typedef struct answer {
    taas_status st;
    char msg[1024];
    uint8_t *buf;
    size_t len;
} answer;

static void call(const taas_method *m, const void *req, size_t len, answer *a)
{
    taas_call *c = calloc(1, sizeof *c);
    FUZZ_CHECK(c != NULL, "out of memory");
    atomic_init(&c->refs, 1);
    c->method = m;
    c->req = len ? req : (const uint8_t *)"";
    c->req_len = len;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);

    m->handler(c, m->arg);

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&c->mu);
    while (!c->answered) {
        int rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
        FUZZ_CHECK(rc == 0 || rc == ETIMEDOUT, "timedwait %d", rc);
        FUZZ_CHECK(c->answered || rc != ETIMEDOUT, "%s: no answer in 10 s", m->name);
    }
    a->st = c->st;
    memcpy(a->msg, c->msg, sizeof a->msg);
    a->buf = c->buf;
    a->len = c->len;
    c->buf = NULL;
    pthread_mutex_unlock(&c->mu);
    taas_call_unref(c);

    FUZZ_CHECK((int)a->st >= TAAS_ST_OK && (int)a->st <= TAAS_ST_UNAUTHENTICATED,
               "%s: status %d", m->name, (int)a->st);
    if (a->st != TAAS_ST_OK)
        FUZZ_CHECK(a->msg[0] != '\0', "%s: status %d without a message", m->name, (int)a->st);
    else
        FUZZ_CHECK(a->buf != NULL, "%s: OK without a response", m->name);
}

static ProtobufCMessage *unpack_answer(const ProtobufCMessageDescriptor *d, const answer *a)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, a->len, a->buf);
    FUZZ_CHECK(m != NULL, "response %s does not unpack", d->name);
    return m;
}

static void call_msg(const char *name, const ProtobufCMessage *req, answer *a)
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    protobuf_c_message_pack(req, buf);
    call(method(name), buf, n, a);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* Reading the program */

typedef struct prog {
    const uint8_t *p;
    size_t n;
} prog;

static unsigned byte(prog *g)
{
    if (!g->n)
        return 0;
    g->n--;
    return *g->p++;
}

/* A length byte and that many bytes, NUL-terminated (cut at an inner NUL). */
static char *str(prog *g, size_t *rawlen)
{
    size_t n = byte(g);
    if (n > g->n)
        n = g->n;
    char *s = malloc(n + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    memcpy(s, g->p, n);
    s[n] = '\0';
    g->p += n;
    g->n -= n;
    if (rawlen)
        *rawlen = n;
    return s;
}

#define MAX_IDS 16
typedef struct state {
    char ids[MAX_IDS][TAAS_ID_LEN + 1];
    bool dup[MAX_IDS]; /* returned as a duplicate: possibly an earlier input's task */
    int nids;
    char token[64];
    uint8_t *last_submit; /* packed SubmitTaskRequest */
    size_t last_submit_len;
    char last_task[64];
    char *last_inputs;
} state;

static void remember_id(state *s, const char *id, bool dup)
{
    for (int i = 0; i < s->nids; i++)
        if (!strcmp(s->ids[i], id))
            return;
    if (s->nids < MAX_IDS) {
        s->dup[s->nids] = dup;
        snprintf(s->ids[s->nids++], sizeof s->ids[0], "%s", id);
    }
}

/* An id: a known one, a known one with one byte changed, or fuzz bytes. */
static char *pick_id(prog *g, state *s)
{
    unsigned b = byte(g);
    if (s->nids && (b & 0xc0) == 0x80)
        return strdup(s->ids[b % (unsigned)s->nids]);
    if (s->nids && (b & 0xc0) == 0xc0) {
        char *id = strdup(s->ids[b % (unsigned)s->nids]);
        id[byte(g) % TAAS_ID_LEN] = (char)(byte(g) | 1);
        return id;
    }
    return str(g, NULL);
}

/* countdown with seconds > 0 would hold the worker: run it later instead. */
static bool long_countdown(const char *task, const char *inputs)
{
    if (strcmp(task, "countdown") != 0)
        return false;
    taas_jdoc d;
    if (taas_json_parse(&d, inputs, strlen(inputs), NULL, NULL, 0) != 0)
        return false;
    bool is_long = true;
    int v = taas_json_kind_of(&d, 0) == TAAS_JSON_OBJECT
                ? taas_json_obj_get(&d, 0, "seconds", 7)
                : -1;
    int64_t secs;
    if (v >= 0 && taas_json_kind_of(&d, v) == TAAS_JSON_NUMBER &&
        taas_json_int64(&d, v, &secs) == 0 && secs == 0)
        is_long = false;
    taas_json_free(&d);
    return is_long;
}

static void check_submit_answer(state *s, const char *task, const char *inputs, const answer *a)
{
    const taas_task_type *type = taas_registry_find(task);
    taas_error err;
    if (!inputs[0]) /* the engine reads empty inputs as {} */
        inputs = "{}";
    bool valid = type && taas_check_input(type, inputs, strlen(inputs), &err) == 0;
    if (a->st == TAAS_ST_OK) {
        FUZZ_CHECK(valid, "submit of %s accepted inputs its validator refuses: %.200s", task,
                   inputs);
        Taas__V1__SubmitTaskResponse *r = (Taas__V1__SubmitTaskResponse *)unpack_answer(
            &taas__v1__submit_task_response__descriptor, a);
        FUZZ_CHECK(taas_uuid_valid(r->task_id), "submit returned id '%s'", r->task_id);
        FUZZ_CHECK(r->state >= TAAS__V1__TASK_STATE__TASK_STATE_PENDING &&
                       r->state <= TAAS__V1__TASK_STATE__TASK_STATE_CANCELLED,
                   "submit returned state %d", (int)r->state);
        remember_id(s, r->task_id, r->duplicate);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    } else if (!type) {
        FUZZ_CHECK(a->st == TAAS_ST_NOT_FOUND || a->st == TAAS_ST_INVALID_ARGUMENT,
                   "submit of unknown task '%s': status %d", task, (int)a->st);
    } else if (!valid) {
        FUZZ_CHECK(a->st == TAAS_ST_INVALID_ARGUMENT, "invalid inputs got status %d: %s",
                   (int)a->st, a->msg);
    }
}

static void op_submit(prog *g, state *s)
{
    Taas__V1__SubmitTaskRequest req = TAAS__V1__SUBMIT_TASK_REQUEST__INIT;
    unsigned b = byte(g);
    size_t pick = b % (taas_registry_count + 2);
    char *name = NULL;
    if (pick < taas_registry_count)
        name = strdup(taas_registry[pick]->name);
    else if (pick == taas_registry_count)
        name = str(g, NULL);
    else
        name = strdup("");
    char *inputs = str(g, NULL);
    unsigned flags = byte(g);
    char *key = (flags & 1) ? str(g, NULL) : strdup("");
    req.task_name = name;
    req.inputs_json = inputs;
    req.idempotency_key = key;
    req.priority = (int8_t)byte(g) * ((flags & 2) ? 20000 : 1);
    req.timeout_s = (flags & 4) ? (int8_t)byte(g) : 0;
    req.run_after_ms = (flags & 8) ? -1 : 0;
    if (long_countdown(name, inputs))
        req.run_after_ms = taas_now_ms() + 3600 * 1000;

    size_t n = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    protobuf_c_message_pack(&req.base, buf);
    answer a;
    call(method("/taas.v1.TaskService/SubmitTask"), buf, n, &a);
    if (req.run_after_ms >= 0 && req.timeout_s >= 0 && req.priority >= -1000000 &&
        req.priority <= 1000000)
        check_submit_answer(s, name, inputs, &a);
    else
        FUZZ_CHECK(a.st != TAAS_ST_OK, "submit with run_after %lld timeout %d priority %d: OK",
                   (long long)req.run_after_ms, req.timeout_s, req.priority);
    free(a.buf);

    free(s->last_submit);
    s->last_submit = buf;
    s->last_submit_len = n;
    snprintf(s->last_task, sizeof s->last_task, "%s", name);
    free(s->last_inputs);
    s->last_inputs = inputs;
    free(name);
    free(key);
}

static void op_again(state *s)
{
    if (!s->last_submit)
        return;
    answer a;
    call(method("/taas.v1.TaskService/SubmitTask"), s->last_submit, s->last_submit_len, &a);
    free(a.buf);
}

static void op_get(prog *g, state *s)
{
    Taas__V1__GetTaskRequest req = TAAS__V1__GET_TASK_REQUEST__INIT;
    char *id = pick_id(g, s);
    req.task_id = id;
    answer a;
    call_msg("/taas.v1.TaskService/GetTask", &req.base, &a);
    if (a.st == TAAS_ST_OK) {
        Taas__V1__GetTaskResponse *r = (Taas__V1__GetTaskResponse *)unpack_answer(
            &taas__v1__get_task_response__descriptor, &a);
        FUZZ_CHECK(r->task && !strcmp(r->task->id, id), "get %s returned another task", id);
        FUZZ_CHECK(taas_registry_find(r->task->task_name) != NULL, "stored task name '%s'",
                   r->task->task_name);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    } else {
        FUZZ_CHECK(a.st == TAAS_ST_NOT_FOUND || a.st == TAAS_ST_INVALID_ARGUMENT,
                   "get '%s': status %d %s", id, (int)a.st, a.msg);
    }
    free(a.buf);
    free(id);
}

static void op_list(prog *g, state *s)
{
    Taas__V1__ListTasksRequest req = TAAS__V1__LIST_TASKS_REQUEST__INIT;
    unsigned b = byte(g);
    req.page_size = (b & 0x80) ? (int8_t)byte(g) * 9 : (int)(b & 7);
    req.state = (Taas__V1__TaskState)(byte(g) % 8);
    unsigned f = byte(g);
    char *name = (f & 3) == 0   ? strdup("")
                 : (f & 3) == 1 ? strdup(taas_registry[f % taas_registry_count]->name)
                                : str(g, NULL);
    char *token;
    if ((f & 12) == 0) {
        token = strdup("");
    } else if ((f & 12) == 4) {
        token = strdup(s->token);
    } else if ((f & 12) == 8 && s->token[0]) {
        token = strdup(s->token);
        token[byte(g) % strlen(token)] = (char)(byte(g) | 1);
    } else {
        token = str(g, NULL);
    }
    req.task_name = name;
    req.page_token = token;
    answer a;
    call_msg("/taas.v1.TaskService/ListTasks", &req.base, &a);
    if (a.st == TAAS_ST_OK) {
        Taas__V1__ListTasksResponse *r = (Taas__V1__ListTasksResponse *)unpack_answer(
            &taas__v1__list_tasks_response__descriptor, &a);
        size_t limit = req.page_size ? (size_t)req.page_size : 50;
        FUZZ_CHECK(r->n_tasks <= limit, "%zu tasks for page size %d", r->n_tasks, req.page_size);
        for (size_t i = 0; i < r->n_tasks; i++) {
            if (req.state)
                FUZZ_CHECK(r->tasks[i]->state == req.state, "state filter %d let %d through",
                           (int)req.state, (int)r->tasks[i]->state);
            if (name[0])
                FUZZ_CHECK(!strcmp(r->tasks[i]->task_name, name), "name filter %s let %s through",
                           name, r->tasks[i]->task_name);
            FUZZ_CHECK(taas_uuid_valid(r->tasks[i]->id), "listed id '%s'", r->tasks[i]->id);
        }
        FUZZ_CHECK(strlen(r->next_page_token) < sizeof s->token, "next token of %zu bytes",
                   strlen(r->next_page_token));
        snprintf(s->token, sizeof s->token, "%s", r->next_page_token);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    } else {
        FUZZ_CHECK(a.st == TAAS_ST_INVALID_ARGUMENT, "list: status %d %s", (int)a.st, a.msg);
    }
    free(a.buf);
    free(name);
    free(token);
}

/* known: a task this input created (never unknown), not a duplicate's
 * answer, which may name a task of an earlier input that is pruned at any
 * moment (retention_s), idempotency key and all. */
static void cancel_id(const char *id, bool known)
{
    Taas__V1__CancelTaskRequest req = TAAS__V1__CANCEL_TASK_REQUEST__INIT;
    req.task_id = (char *)id;
    answer a;
    call_msg("/taas.v1.TaskService/CancelTask", &req.base, &a);
    if (a.st == TAAS_ST_OK) {
        Taas__V1__CancelTaskResponse *r = (Taas__V1__CancelTaskResponse *)unpack_answer(
            &taas__v1__cancel_task_response__descriptor, &a);
        FUZZ_CHECK(r->state >= TAAS__V1__TASK_STATE__TASK_STATE_RUNNING &&
                       r->state <= TAAS__V1__TASK_STATE__TASK_STATE_CANCELLED,
                   "cancel left state %d", (int)r->state);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    } else if (known) {
        /* A task of ours is never unknown (finished ones are kept 10 s), and
         * cancelling a finished task answers OK with its final state. */
        FUZZ_CHECK(0, "cancel of %s: status %d %s", id, (int)a.st, a.msg);
    }
    free(a.buf);
}

static void op_cancel(prog *g, state *s)
{
    char *id = pick_id(g, s);
    bool known = false;
    for (int i = 0; i < s->nids; i++)
        known |= !s->dup[i] && !strcmp(s->ids[i], id);
    cancel_id(id, known);
    free(id);
}

static void op_raw(prog *g)
{
    static const char *const unary[] = {
        "/taas.v1.TaskService/SubmitTask",         "/taas.v1.TaskService/GetTask",
        "/taas.v1.TaskService/ListTasks",          "/taas.v1.TaskService/CancelTask",
        "/taas.v1.RegistryService/ListTaskTypes", "/taas.v1.RegistryService/GetTaskType",
        "/grpc.health.v1.Health/Check",
    };
    const char *name = unary[byte(g) % (sizeof unary / sizeof unary[0])];
    size_t n;
    char *bytes = str(g, &n);
    answer a;
    call(method(name), bytes, n, &a);
    free(a.buf);
    free(bytes);
}

static void op_registry(prog *g)
{
    unsigned b = byte(g);
    char *name = (b & 1) ? str(g, NULL) : strdup(taas_registry[b % taas_registry_count]->name);
    answer a;
    if (b & 2) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = name;
        call_msg("/grpc.health.v1.Health/Check", &req.base, &a);
    } else {
        Taas__V1__GetTaskTypeRequest req = TAAS__V1__GET_TASK_TYPE_REQUEST__INIT;
        req.name = name;
        call_msg("/taas.v1.RegistryService/GetTaskType", &req.base, &a);
        if (a.st == TAAS_ST_OK) {
            Taas__V1__GetTaskTypeResponse *r = (Taas__V1__GetTaskTypeResponse *)unpack_answer(
                &taas__v1__get_task_type_response__descriptor, &a);
            FUZZ_CHECK(r->task_type && !strcmp(r->task_type->name, name), "type %s", name);
            protobuf_c_message_free_unpacked(&r->base, NULL);
        } else {
            FUZZ_CHECK(a.st == TAAS_ST_NOT_FOUND || a.st == TAAS_ST_INVALID_ARGUMENT,
                       "GetTaskType '%s': %d", name, (int)a.st);
            FUZZ_CHECK(!taas_registry_find(name), "GetTaskType %s: %d", name, (int)a.st);
        }
    }
    free(a.buf);
    free(name);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* libFuzzer exits without a cleanup call: remove the temporary tree then. */
static void remove_tmp(void)
{
    if (g_outdir[0])
        nftw(g_outdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    taas_log_setup(TAAS_LOG_OFF, TAAS_LOG_TEXT);
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_outdir, sizeof g_outdir, "%s/taas-fuzz-request-XXXXXX", tmp);
    FUZZ_CHECK(mkdtemp(g_outdir) != NULL, "%s: %s", g_outdir, strerror(errno));
    atexit(remove_tmp);
    /* save_config, create_config and load_config bodies work in here. */
    setenv("TAAS_OUTPUT_ROOT", g_outdir, 1);
    setenv("TAAS_CONFIG_ROOT", g_outdir, 1);

    char err[256] = "";
    g_store = taas_store_open("sqlite://", NULL, err, sizeof err);
    FUZZ_CHECK(g_store != NULL, "store: %s", err);
    taas_engine_opts o = {
        .workers = 1,
        .run_workers = true,
        .node_id = "fuzz",
        .retention_s = 10, /* finished tasks leave the store after 10 s */
        .prune_every_ms = 1000,
        .prune_batch = 100000,
    };
    g_engine = taas_engine_start(g_store, &o, err, sizeof err);
    FUZZ_CHECK(g_engine != NULL, "engine: %s", err);
    g_services = taas_services_new(g_engine);
    FUZZ_CHECK(g_services != NULL, "services");
    taas_services_set_serving(g_services, true);
    g_methods = taas_services_methods(g_services, &g_nmethods);
    return 0;
}

void fuzz_standalone_cleanup(void)
{
    taas_services_drain(g_services);
    FUZZ_CHECK(taas_engine_stop(g_engine, 5000) == 0, "engine stop left bodies running");
    g_store->close(g_store);
    taas_services_free(g_services);
    nftw(g_outdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prog g = {data, size};
    state s;
    memset(&s, 0, sizeof s);
    for (int steps = 0; g.n > 0 && steps < 32; steps++) {
        switch (byte(&g) % 7) {
        case 0: op_submit(&g, &s); break;
        case 1: op_get(&g, &s); break;
        case 2: op_list(&g, &s); break;
        case 3: op_cancel(&g, &s); break;
        case 4: op_raw(&g); break;
        case 5: op_registry(&g); break;
        case 6: op_again(&s); break;
        }
    }
    for (int i = 0; i < s.nids; i++)
        cancel_id(s.ids[i], !s.dup[i]);
    free(s.last_submit);
    free(s.last_inputs);
    /* Files the config bodies wrote: start again every so often. */
    if (++g_inputs % 1000 == 0) {
        nftw(g_outdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        mkdir(g_outdir, 0700);
    }
    return 0;
}
