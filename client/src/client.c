/*
 * client/src/client.c - libtaas-client: requests and responses of the TaaS
 * API, over the call primitives of rpc.c.
 *
 * Each function packs a protobuf-c request, makes one call, unpacks the
 * response and copies it into the library's own structs, so that callers
 * never see protobuf-c types and every returned object has one owner and one
 * free function. Strings copied out of a response are never NULL.
 */
#include "taas/client.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc/health/v1/health.pb-c.h"
#include "internal/rpc_status.pb-c.h"
#include "rpc.h"
#include "taas/v1/schedule.pb-c.h"
#include "taas/v1/taas.pb-c.h"

#define DEFAULT_TIMEOUT_MS 30000

struct taas_client {
    rpc_channel *channel;
    char *address;
    int64_t timeout_ms;
    atomic_int interrupted;
};

static const char *const code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *taas_client_code_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof code_names / sizeof code_names[0])
        return "UNKNOWN";
    return code_names[code];
}

static const char *const state_names[] = {
    "UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED",
};

const char *taas_client_state_name(taas_client_state state)
{
    if ((int)state < 0 || (size_t)state >= sizeof state_names / sizeof state_names[0])
        return "UNSPECIFIED";
    return state_names[state];
}

int taas_client_state_parse(taas_client_state *out, const char *name)
{
    if (!name)
        return -1;
    if (strncasecmp(name, "TASK_STATE_", 11) == 0)
        name += 11;
    for (size_t i = 1; i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strcasecmp(name, state_names[i]) == 0) {
            *out = (taas_client_state)i;
            return 0;
        }
    }
    return -1;
}

bool taas_client_state_is_final(taas_client_state state)
{
    return state == TAAS_CLIENT_STATE_SUCCEEDED || state == TAAS_CLIENT_STATE_FAILED ||
           state == TAAS_CLIENT_STATE_CANCELLED;
}

const char *taas_client_health_name(taas_client_health_status status)
{
    switch (status) {
    case TAAS_CLIENT_HEALTH_SERVING: return "SERVING";
    case TAAS_CLIENT_HEALTH_NOT_SERVING: return "NOT_SERVING";
    case TAAS_CLIENT_HEALTH_SERVICE_UNKNOWN: return "SERVICE_UNKNOWN";
    case TAAS_CLIENT_HEALTH_UNKNOWN: break;
    }
    return "UNKNOWN";
}

static int fail(taas_client_error *err, int code, const char *msg)
{
    if (err) {
        err->code = code;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return code;
}

static int oom(taas_client_error *err)
{
    return fail(err, TAAS_CLIENT_RESOURCE_EXHAUSTED, "out of memory");
}

static char *dup_str(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------------ */

int taas_client_connect(taas_client **out, const taas_client_options *opts,
                        taas_client_error *err)
{
    *out = NULL;
    taas_client_options defaults = TAAS_CLIENT_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    /* A version 1 struct ends before tls_cert_pem: read only what it has. */
    taas_client_options o = TAAS_CLIENT_OPTIONS_INIT;
    if (opts->version == 1)
        memcpy(&o, opts, offsetof(taas_client_options, tls_cert_pem));
    else if (opts->version == TAAS_CLIENT_OPTIONS_VERSION)
        o = *opts;
    else
        return fail(err, TAAS_CLIENT_INVALID_ARGUMENT,
                    "taas_client_options.version is not TAAS_CLIENT_OPTIONS_VERSION");
    opts = &o;
    if (!opts->tls_cert_pem != !opts->tls_key_pem)
        return fail(err, TAAS_CLIENT_INVALID_ARGUMENT,
                    "tls_cert_pem and tls_key_pem go together (mutual TLS)");
    if (opts->tls_cert_pem && !opts->use_tls)
        return fail(err, TAAS_CLIENT_INVALID_ARGUMENT, "a client certificate needs use_tls");
    const char *address = opts->address;
    if (!address || !address[0])
        address = getenv("TAAS_SERVER");
    if (!address || !address[0])
        address = TAAS_CLIENT_DEFAULT_ADDRESS;

    taas_client *c = calloc(1, sizeof *c);
    if (!c)
        return oom(err);
    c->address = dup_str(address);
    if (!c->address) {
        free(c);
        return oom(err);
    }
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    atomic_init(&c->interrupted, 0);

    rpc_config cfg = {
        .target = c->address,
        .use_tls = opts->use_tls,
        .tls_ca_pem = opts->tls_ca_pem,
        .tls_cert_pem = opts->tls_cert_pem,
        .tls_key_pem = opts->tls_key_pem,
        .bearer_token = opts->bearer_token,
        .max_receive_bytes = opts->max_receive_bytes,
        .interrupt = &c->interrupted,
    };
    int rc = rpc_channel_create(&c->channel, &cfg, err);
    if (rc) {
        free(c->address);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void taas_client_close(taas_client *client)
{
    if (!client)
        return;
    rpc_channel_destroy(client->channel);
    free(client->address);
    free(client);
}

const char *taas_client_address(const taas_client *client)
{
    return client->address;
}

void taas_client_interrupt(taas_client *client)
{
    atomic_store(&client->interrupted, 1);
}

void taas_client_reset_interrupt(taas_client *client)
{
    atomic_store(&client->interrupted, 0);
}

static int64_t timeout_of(const taas_client *c, const taas_call_options *call, bool stream)
{
    if (call && call->timeout_ms > 0)
        return call->timeout_ms;
    if (call && call->timeout_ms < 0)
        return -1;
    return stream ? -1 : c->timeout_ms;
}

/*
 * Packs `req`, makes the unary call and unpacks the response with `desc`.
 * On success *out is the unpacked message (protobuf_c_message_free_unpacked).
 */
static int call_unary(taas_client *c, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                      const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return oom(err);
    protobuf_c_message_pack(req, buf);
    void *resp = NULL;
    size_t resp_len = 0;
    int rc = rpc_unary(c->channel, method, buf, len, timeout_of(c, call, false), &resp, &resp_len,
                       err);
    free(buf);
    if (rc)
        return rc;
    *out = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
    free(resp);
    if (!*out)
        return fail(err, TAAS_CLIENT_INTERNAL, "the server's response could not be decoded");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Conversions from protobuf-c messages to the library's structs. */

static void task_clear(taas_client_task *t)
{
    free(t->id);
    free(t->task_name);
    free(t->inputs_json);
    free(t->output_json);
    free(t->error);
    free(t->progress_message);
    free(t->idempotency_key);
    for (size_t i = 0; i < t->n_attempts; i++)
        free(t->attempts[i].error);
    free(t->attempts);
    memset(t, 0, sizeof *t);
}

void taas_client_task_free(taas_client_task *task)
{
    if (!task)
        return;
    task_clear(task);
    free(task);
}

/* The parent's id lives in the same allocation as the task's id, right after
 * its terminating NUL ("id\0parent\0"): taas_client_task cannot grow a field
 * without breaking callers built against the old header that index list
 * arrays, and this way taas_client_task_parent_id() needs no extra storage. */
static char *dup_id_with_parent(const char *id, const char *parent)
{
    id = id ? id : "";
    parent = parent ? parent : "";
    size_t a = strlen(id) + 1, b = strlen(parent) + 1;
    char *p = malloc(a + b);
    if (p) {
        memcpy(p, id, a);
        memcpy(p + a, parent, b);
    }
    return p;
}

const char *taas_client_task_parent_id(const taas_client_task *task)
{
    if (!task || !task->id)
        return "";
    return task->id + strlen(task->id) + 1;
}

static int task_fill(taas_client_task *t, const Taas__V1__Task *m)
{
    memset(t, 0, sizeof *t);
    t->id = dup_id_with_parent(m->id, m->parent_id);
    t->task_name = dup_str(m->task_name);
    t->state = (taas_client_state)m->state;
    t->inputs_json = dup_str(m->inputs_json);
    t->output_json = dup_str(m->output_json);
    t->error = dup_str(m->error);
    t->progress = m->progress;
    t->progress_message = dup_str(m->progress_message);
    t->attempt = m->attempt;
    t->max_attempts = m->max_attempts;
    t->priority = m->priority;
    t->created_at_ms = m->created_at_ms;
    t->updated_at_ms = m->updated_at_ms;
    t->run_after_ms = m->run_after_ms;
    t->started_at_ms = m->started_at_ms;
    t->finished_at_ms = m->finished_at_ms;
    t->idempotency_key = dup_str(m->idempotency_key);
    t->cancel_requested = m->cancel_requested;
    bool ok = t->id && t->task_name && t->inputs_json && t->output_json && t->error &&
              t->progress_message && t->idempotency_key;
    if (ok && m->n_attempts) {
        t->attempts = calloc(m->n_attempts, sizeof *t->attempts);
        ok = t->attempts != NULL;
        for (size_t i = 0; ok && i < m->n_attempts; i++) {
            t->n_attempts = i + 1;
            t->attempts[i].number = m->attempts[i]->number;
            t->attempts[i].finished_at_ms = m->attempts[i]->finished_at_ms;
            t->attempts[i].error = dup_str(m->attempts[i]->error);
            ok = t->attempts[i].error != NULL;
        }
    }
    if (!ok) {
        task_clear(t);
        return -1;
    }
    return 0;
}

static int task_new(taas_client_task **out, const Taas__V1__Task *m, taas_client_error *err)
{
    *out = NULL;
    if (!m)
        return fail(err, TAAS_CLIENT_INTERNAL, "the server's response has no task");
    taas_client_task *t = malloc(sizeof *t);
    if (!t || task_fill(t, m)) {
        free(t);
        return oom(err);
    }
    *out = t;
    return 0;
}

static void type_clear(taas_client_task_type *t)
{
    free(t->name);
    free(t->version);
    free(t->description);
    free(t->input_schema_json);
    free(t->output_schema_json);
    memset(t, 0, sizeof *t);
}

void taas_client_task_type_free(taas_client_task_type *type)
{
    if (!type)
        return;
    type_clear(type);
    free(type);
}

void taas_client_task_type_list_free(taas_client_task_type_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        type_clear(&list->types[i]);
    free(list->types);
    free(list);
}

static int type_fill(taas_client_task_type *t, const Taas__V1__TaskType *m)
{
    t->name = dup_str(m->name);
    t->version = dup_str(m->version);
    t->description = dup_str(m->description);
    t->input_schema_json = dup_str(m->input_schema_json);
    t->output_schema_json = dup_str(m->output_schema_json);
    t->idempotent = m->idempotent;
    t->retries = m->retries;
    t->timeout_s = m->timeout_s;
    if (!t->name || !t->version || !t->description || !t->input_schema_json ||
        !t->output_schema_json) {
        type_clear(t);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* TaskService */

#define TASK_SERVICE "/taas.v1.TaskService/"
#define REGISTRY_SERVICE "/taas.v1.RegistryService/"

int taas_client_submit(taas_client *client, taas_client_submit_result *out,
                       const taas_client_submit_request *req,
                       const taas_call_options *call, taas_client_error *err)
{
    memset(out, 0, sizeof *out);
    if (!req || !req->task_name || !req->task_name[0])
        return fail(err, TAAS_CLIENT_INVALID_ARGUMENT, "a task name is required");
    Taas__V1__SubmitTaskRequest m = TAAS__V1__SUBMIT_TASK_REQUEST__INIT;
    m.task_name = (char *)req->task_name;
    m.inputs_json = (char *)(req->inputs_json ? req->inputs_json : "{}");
    m.idempotency_key = (char *)(req->idempotency_key ? req->idempotency_key : "");
    m.priority = req->priority;
    m.run_after_ms = req->run_after_ms;
    m.timeout_s = req->timeout_s;
    ProtobufCMessage *resp;
    int rc = call_unary(client, TASK_SERVICE "SubmitTask", &m.base,
                        &taas__v1__submit_task_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    Taas__V1__SubmitTaskResponse *r = (Taas__V1__SubmitTaskResponse *)resp;
    if (strlen(r->task_id) >= sizeof out->task_id || !r->task_id[0]) {
        protobuf_c_message_free_unpacked(resp, NULL);
        return fail(err, TAAS_CLIENT_INTERNAL, "the server returned an invalid task id");
    }
    snprintf(out->task_id, sizeof out->task_id, "%s", r->task_id);
    out->duplicate = r->duplicate;
    out->state = (taas_client_state)r->state;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int taas_client_get(taas_client *client, taas_client_task **out, const char *task_id,
                    const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    Taas__V1__GetTaskRequest m = TAAS__V1__GET_TASK_REQUEST__INIT;
    m.task_id = (char *)(task_id ? task_id : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, TASK_SERVICE "GetTask", &m.base,
                        &taas__v1__get_task_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    rc = task_new(out, ((Taas__V1__GetTaskResponse *)resp)->task, err);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

void taas_client_task_list_free(taas_client_task_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        task_clear(&list->tasks[i]);
    free(list->tasks);
    free(list->next_page_token);
    free(list);
}

int taas_client_list(taas_client *client, taas_client_task_list **out,
                     const taas_client_list_request *req,
                     const taas_call_options *call, taas_client_error *err)
{
    return taas_client_list_children(client, out, NULL, req, call, err);
}

int taas_client_list_children(taas_client *client, taas_client_task_list **out,
                              const char *parent_id, const taas_client_list_request *req,
                              const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    Taas__V1__ListTasksRequest m = TAAS__V1__LIST_TASKS_REQUEST__INIT;
    m.parent_id = (char *)(parent_id ? parent_id : "");
    if (req) {
        m.state = (Taas__V1__TaskState)req->state;
        m.task_name = (char *)(req->task_name ? req->task_name : "");
        m.page_size = req->page_size;
        m.page_token = (char *)(req->page_token ? req->page_token : "");
    }
    ProtobufCMessage *resp;
    int rc = call_unary(client, TASK_SERVICE "ListTasks", &m.base,
                        &taas__v1__list_tasks_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    Taas__V1__ListTasksResponse *r = (Taas__V1__ListTasksResponse *)resp;
    taas_client_task_list *l = calloc(1, sizeof *l);
    bool ok = l != NULL;
    if (ok) {
        l->next_page_token = dup_str(r->next_page_token);
        ok = l->next_page_token != NULL;
    }
    if (ok && r->n_tasks) {
        l->tasks = calloc(r->n_tasks, sizeof *l->tasks);
        ok = l->tasks != NULL;
        for (size_t i = 0; ok && i < r->n_tasks; i++) {
            ok = task_fill(&l->tasks[i], r->tasks[i]) == 0;
            if (ok)
                l->count = i + 1;
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!ok) {
        taas_client_task_list_free(l);
        return oom(err);
    }
    *out = l;
    return 0;
}

int taas_client_cancel(taas_client *client, taas_client_state *out_state, const char *task_id,
                       const taas_call_options *call, taas_client_error *err)
{
    Taas__V1__CancelTaskRequest m = TAAS__V1__CANCEL_TASK_REQUEST__INIT;
    m.task_id = (char *)(task_id ? task_id : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, TASK_SERVICE "CancelTask", &m.base,
                        &taas__v1__cancel_task_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    if (out_state)
        *out_state = (taas_client_state)((Taas__V1__CancelTaskResponse *)resp)->state;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int taas_client_watch(taas_client *client, taas_client_task **final, const char *task_id,
                      taas_client_watch_cb cb, void *payload,
                      const taas_call_options *call, taas_client_error *err)
{
    if (final)
        *final = NULL;
    Taas__V1__WatchTaskRequest m = TAAS__V1__WATCH_TASK_REQUEST__INIT;
    m.task_id = (char *)(task_id ? task_id : "");
    size_t len = protobuf_c_message_get_packed_size(&m.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return oom(err);
    protobuf_c_message_pack(&m.base, buf);
    rpc_stream *s;
    int rc = rpc_stream_open(&s, client->channel, TASK_SERVICE "WatchTask", buf, len,
                             timeout_of(client, call, true), err);
    free(buf);
    if (rc)
        return rc;
    for (;;) {
        void *msg;
        size_t msg_len;
        rc = rpc_stream_read(s, &msg, &msg_len, err);
        if (rc)
            break;
        if (!msg) {
            rc = fail(err, TAAS_CLIENT_UNAVAILABLE,
                      "the server ended the watch before the task reached a final state");
            break;
        }
        Taas__V1__TaskEvent *ev = taas__v1__task_event__unpack(NULL, msg_len, msg);
        free(msg);
        if (!ev) {
            rc = fail(err, TAAS_CLIENT_INTERNAL, "the server sent an event that cannot be decoded");
            break;
        }
        taas_client_task *task = NULL;
        if (ev->task && task_new(&task, ev->task, err)) {
            taas__v1__task_event__free_unpacked(ev, NULL);
            rc = TAAS_CLIENT_RESOURCE_EXHAUSTED;
            break;
        }
        taas_client_event e = {
            .task_id = ev->task_id,
            .state = (taas_client_state)ev->state,
            .progress = ev->progress,
            .progress_message = ev->progress_message,
            .seq = ev->seq,
            .at_ms = ev->at_ms,
            .task = task,
        };
        bool is_final = taas_client_state_is_final(e.state);
        int stop = cb ? cb(&e, payload) : 0;
        taas__v1__task_event__free_unpacked(ev, NULL);
        if (is_final) {
            if (final)
                *final = task;
            else
                taas_client_task_free(task);
            rc = 0;
            break;
        }
        taas_client_task_free(task);
        if (stop) {
            rc = fail(err, TAAS_CLIENT_CANCELLED, "the watch was stopped");
            break;
        }
    }
    rpc_stream_close(s);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* RegistryService */

int taas_client_list_task_types(taas_client *client, taas_client_task_type_list **out,
                                const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    Taas__V1__ListTaskTypesRequest m = TAAS__V1__LIST_TASK_TYPES_REQUEST__INIT;
    ProtobufCMessage *resp;
    int rc = call_unary(client, REGISTRY_SERVICE "ListTaskTypes", &m.base,
                        &taas__v1__list_task_types_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    Taas__V1__ListTaskTypesResponse *r = (Taas__V1__ListTaskTypesResponse *)resp;
    taas_client_task_type_list *l = calloc(1, sizeof *l);
    bool ok = l != NULL;
    if (ok && r->n_task_types) {
        l->types = calloc(r->n_task_types, sizeof *l->types);
        ok = l->types != NULL;
        for (size_t i = 0; ok && i < r->n_task_types; i++) {
            ok = type_fill(&l->types[i], r->task_types[i]) == 0;
            if (ok)
                l->count = i + 1;
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!ok) {
        taas_client_task_type_list_free(l);
        return oom(err);
    }
    *out = l;
    return 0;
}

int taas_client_get_task_type(taas_client *client, taas_client_task_type **out,
                              const char *name, const taas_call_options *call,
                              taas_client_error *err)
{
    *out = NULL;
    Taas__V1__GetTaskTypeRequest m = TAAS__V1__GET_TASK_TYPE_REQUEST__INIT;
    m.name = (char *)(name ? name : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, REGISTRY_SERVICE "GetTaskType", &m.base,
                        &taas__v1__get_task_type_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    Taas__V1__GetTaskTypeResponse *r = (Taas__V1__GetTaskTypeResponse *)resp;
    if (!r->task_type) {
        protobuf_c_message_free_unpacked(resp, NULL);
        return fail(err, TAAS_CLIENT_INTERNAL, "the server's response has no task type");
    }
    taas_client_task_type *t = calloc(1, sizeof *t);
    if (!t || type_fill(t, r->task_type)) {
        free(t);
        protobuf_c_message_free_unpacked(resp, NULL);
        return oom(err);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Health */

int taas_client_health(taas_client *client, taas_client_health_status *out,
                       const char *service, const taas_call_options *call,
                       taas_client_error *err)
{
    *out = TAAS_CLIENT_HEALTH_UNKNOWN;
    Grpc__Health__V1__HealthCheckRequest m = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    m.service = (char *)(service ? service : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, "/grpc.health.v1.Health/Check", &m.base,
                        &grpc__health__v1__health_check_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    *out = (taas_client_health_status)((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Error details */

static const char BAD_REQUEST_URL[] = "type.googleapis.com/google.rpc.BadRequest";

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

size_t taas_client_last_violations(taas_client_violation *out, size_t max)
{
    size_t len;
    const uint8_t *buf = rpc_last_status_details(&len);
    if (!buf)
        return 0;
    Taas__Internal__Rpc__Status *st = taas__internal__rpc__status__unpack(NULL, len, buf);
    if (!st)
        return 0; /* not a Status: no details to offer */
    size_t n = 0;
    for (size_t i = 0; i < st->n_details; i++) {
        const Taas__Internal__Rpc__Any *any = st->details[i];
        if (strcmp(any->type_url, BAD_REQUEST_URL) != 0)
            continue;
        Taas__Internal__Rpc__BadRequest *br =
            taas__internal__rpc__bad_request__unpack(NULL, any->value.len, any->value.data);
        if (!br)
            continue;
        for (size_t j = 0; j < br->n_field_violations; j++, n++) {
            if (n < max) {
                copy_str(out[n].field, sizeof out[n].field, br->field_violations[j]->field);
                copy_str(out[n].description, sizeof out[n].description,
                         br->field_violations[j]->description);
            }
        }
        taas__internal__rpc__bad_request__free_unpacked(br, NULL);
    }
    taas__internal__rpc__status__free_unpacked(st, NULL);
    return n;
}

/* ------------------------------------------------------------------------ */
/* Schedules */

#define SCHEDULE_SERVICE "/taas.v1.ScheduleService/"

const char *taas_client_catch_up_name(taas_client_catch_up policy)
{
    switch (policy) {
    case TAAS_CLIENT_CATCH_UP_SKIP: return "SKIP";
    case TAAS_CLIENT_CATCH_UP_RUN_ONCE: return "RUN_ONCE";
    case TAAS_CLIENT_CATCH_UP_RUN_ALL: return "RUN_ALL";
    default: return "DEFAULT";
    }
}

const char *taas_client_overlap_name(taas_client_overlap policy)
{
    switch (policy) {
    case TAAS_CLIENT_OVERLAP_ALLOW: return "ALLOW";
    case TAAS_CLIENT_OVERLAP_SKIP: return "SKIP";
    default: return "DEFAULT";
    }
}

static void schedule_clear(taas_client_schedule *s)
{
    free(s->id);
    free(s->name);
    free(s->cron);
    free(s->time_zone);
    free(s->task_name);
    free(s->inputs_json);
    free(s->last_task_id);
    free(s->upcoming_at_ms);
}

void taas_client_schedule_free(taas_client_schedule *schedule)
{
    if (!schedule)
        return;
    schedule_clear(schedule);
    free(schedule);
}

void taas_client_schedule_list_free(taas_client_schedule_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        schedule_clear(&list->schedules[i]);
    free(list->schedules);
    free(list->next_page_token);
    free(list);
}

static int schedule_fill(taas_client_schedule *s, const Taas__V1__Schedule *m)
{
    static const Taas__V1__Schedule empty = TAAS__V1__SCHEDULE__INIT;
    memset(s, 0, sizeof *s);
    if (!m)
        m = &empty;
    s->id = dup_str(m->id);
    s->name = dup_str(m->name);
    s->cron = dup_str(m->cron);
    s->time_zone = dup_str(m->time_zone);
    s->task_name = dup_str(m->task_name);
    s->inputs_json = dup_str(m->inputs_json);
    s->last_task_id = dup_str(m->last_task_id);
    s->interval_ms = m->interval_ms;
    s->priority = m->priority;
    s->timeout_s = m->timeout_s;
    s->catch_up = (taas_client_catch_up)m->catch_up;
    s->max_catch_up = m->max_catch_up;
    s->overlap = (taas_client_overlap)m->overlap;
    s->paused = m->paused;
    s->next_fire_at_ms = m->next_fire_at_ms;
    s->last_fire_at_ms = m->last_fire_at_ms;
    s->created_at_ms = m->created_at_ms;
    s->updated_at_ms = m->updated_at_ms;
    s->submitted = m->submitted;
    s->skipped = m->skipped;
    bool ok = s->id && s->name && s->cron && s->time_zone && s->task_name && s->inputs_json &&
              s->last_task_id;
    if (ok && m->n_upcoming_at_ms) {
        s->upcoming_at_ms = malloc(m->n_upcoming_at_ms * sizeof *s->upcoming_at_ms);
        ok = s->upcoming_at_ms != NULL;
        if (ok) {
            memcpy(s->upcoming_at_ms, m->upcoming_at_ms,
                   m->n_upcoming_at_ms * sizeof *s->upcoming_at_ms);
            s->upcoming_count = m->n_upcoming_at_ms;
        }
    }
    if (!ok) {
        schedule_clear(s);
        memset(s, 0, sizeof *s);
        return -1;
    }
    return 0;
}

/* The response's `schedule` field (field 1 in every response that has one)
 * copied into a new taas_client_schedule. Frees resp. */
static int schedule_out(ProtobufCMessage *resp, const Taas__V1__Schedule *m,
                        taas_client_schedule **out, taas_client_error *err)
{
    taas_client_schedule *s = malloc(sizeof *s);
    int rc = s && schedule_fill(s, m) == 0 ? 0 : -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    if (rc) {
        free(s);
        return oom(err);
    }
    *out = s;
    return 0;
}

int taas_client_create_schedule(taas_client *client, taas_client_schedule **out,
                                const taas_client_schedule *req,
                                const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    Taas__V1__Schedule s = TAAS__V1__SCHEDULE__INIT;
#define STR(f) s.f = (char *)(req->f ? req->f : "")
    STR(name);
    STR(cron);
    STR(time_zone);
    STR(task_name);
    STR(inputs_json);
#undef STR
    s.interval_ms = req->interval_ms;
    s.priority = req->priority;
    s.timeout_s = req->timeout_s;
    s.catch_up = (Taas__V1__CatchUpPolicy)req->catch_up;
    s.max_catch_up = req->max_catch_up;
    s.overlap = (Taas__V1__OverlapPolicy)req->overlap;
    s.paused = req->paused;
    Taas__V1__CreateScheduleRequest m = TAAS__V1__CREATE_SCHEDULE_REQUEST__INIT;
    m.schedule = &s;
    ProtobufCMessage *resp;
    int rc = call_unary(client, SCHEDULE_SERVICE "CreateSchedule", &m.base,
                        &taas__v1__create_schedule_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    return schedule_out(resp, ((Taas__V1__CreateScheduleResponse *)resp)->schedule, out, err);
}

int taas_client_get_schedule(taas_client *client, taas_client_schedule **out,
                             const char *schedule_id, const taas_call_options *call,
                             taas_client_error *err)
{
    *out = NULL;
    Taas__V1__GetScheduleRequest m = TAAS__V1__GET_SCHEDULE_REQUEST__INIT;
    m.schedule_id = (char *)(schedule_id ? schedule_id : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, SCHEDULE_SERVICE "GetSchedule", &m.base,
                        &taas__v1__get_schedule_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    return schedule_out(resp, ((Taas__V1__GetScheduleResponse *)resp)->schedule, out, err);
}

int taas_client_pause_schedule(taas_client *client, taas_client_schedule **out,
                               const char *schedule_id, bool pause,
                               const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    ProtobufCMessage *resp;
    int rc;
    /* PauseScheduleRequest and ResumeScheduleRequest have the same shape but
     * distinct descriptors, so each is built as its own type. */
    if (pause) {
        Taas__V1__PauseScheduleRequest m = TAAS__V1__PAUSE_SCHEDULE_REQUEST__INIT;
        m.schedule_id = (char *)(schedule_id ? schedule_id : "");
        rc = call_unary(client, SCHEDULE_SERVICE "PauseSchedule", &m.base,
                        &taas__v1__pause_schedule_response__descriptor, &resp, call, err);
        if (rc)
            return rc;
        return schedule_out(resp, ((Taas__V1__PauseScheduleResponse *)resp)->schedule, out, err);
    }
    Taas__V1__ResumeScheduleRequest m = TAAS__V1__RESUME_SCHEDULE_REQUEST__INIT;
    m.schedule_id = (char *)(schedule_id ? schedule_id : "");
    rc = call_unary(client, SCHEDULE_SERVICE "ResumeSchedule", &m.base,
                    &taas__v1__resume_schedule_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    return schedule_out(resp, ((Taas__V1__ResumeScheduleResponse *)resp)->schedule, out, err);
}

int taas_client_delete_schedule(taas_client *client, const char *schedule_id,
                                const taas_call_options *call, taas_client_error *err)
{
    Taas__V1__DeleteScheduleRequest m = TAAS__V1__DELETE_SCHEDULE_REQUEST__INIT;
    m.schedule_id = (char *)(schedule_id ? schedule_id : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, SCHEDULE_SERVICE "DeleteSchedule", &m.base,
                        &taas__v1__delete_schedule_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int taas_client_list_schedules(taas_client *client, taas_client_schedule_list **out,
                              int32_t page_size, const char *page_token,
                              const taas_call_options *call, taas_client_error *err)
{
    *out = NULL;
    Taas__V1__ListSchedulesRequest m = TAAS__V1__LIST_SCHEDULES_REQUEST__INIT;
    m.page_size = page_size;
    m.page_token = (char *)(page_token ? page_token : "");
    ProtobufCMessage *resp;
    int rc = call_unary(client, SCHEDULE_SERVICE "ListSchedules", &m.base,
                        &taas__v1__list_schedules_response__descriptor, &resp, call, err);
    if (rc)
        return rc;
    Taas__V1__ListSchedulesResponse *r = (Taas__V1__ListSchedulesResponse *)resp;
    taas_client_schedule_list *l = calloc(1, sizeof *l);
    bool ok = l != NULL;
    if (ok) {
        l->next_page_token = dup_str(r->next_page_token);
        ok = l->next_page_token != NULL;
    }
    if (ok && r->n_schedules) {
        l->schedules = calloc(r->n_schedules, sizeof *l->schedules);
        ok = l->schedules != NULL;
        for (size_t i = 0; ok && i < r->n_schedules; i++) {
            ok = schedule_fill(&l->schedules[i], r->schedules[i]) == 0;
            if (ok)
                l->count = i + 1;
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!ok) {
        taas_client_schedule_list_free(l);
        return oom(err);
    }
    *out = l;
    return 0;
}
