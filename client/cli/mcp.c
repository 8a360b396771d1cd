/*
 * client/cli/mcp.c - `taas mcp`: the Model Context Protocol over stdio, so
 * that any MCP-capable assistant can run TaaS tasks as tools.
 *
 * Every task type of the server is a tool: its name, description, input
 * schema and (from 2025-06-18) output schema. tools/call submits the task,
 * turns the task's watch events into notifications/progress when the caller
 * gave a progressToken, and answers with the output (structuredContent and
 * the same JSON in a text block); a task that fails, is cancelled or is
 * refused for its inputs is a tool error (isError: true), an unknown tool a
 * JSON-RPC error (-32602). notifications/cancelled cancels the task and no
 * answer is sent.
 *
 * Both styles of the protocol are served on one stream: the handshake
 * versions (initialize, then requests), and 2026-07-28, where there is no
 * initialize and every request carries its protocol version and client
 * capabilities in params._meta (results then carry resultType "complete";
 * server/discover says what we speak).
 *
 * Framing: one compact JSON-RPC message per line; stdout carries only MCP
 * messages (one writer at a time, under a lock), diagnostics go to stderr.
 * Each tools/call runs on its own thread so that progress, other requests
 * and cancellations flow while a long task runs. On end of input the watches
 * are interrupted, the threads joined and the process exits; tasks already
 * submitted keep running on the server (they are durable; `taas cancel`
 * stops them).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "mcp.h"

#define MAX_LINE ((size_t)16 << 20)
#define MODERN_VERSION "2026-07-28"
#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"

/* Handshake versions we speak, newest first. */
static const char *const handshake_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                 "2024-11-05"};

enum { PARSE_ERROR = -32700, INVALID_REQUEST = -32600, METHOD_NOT_FOUND = -32601,
       INVALID_PARAMS = -32602, INTERNAL_ERROR = -32603, UNSUPPORTED_VERSION = -32022 };

typedef struct mcp mcp;

typedef struct call_state {
    struct call_state *next;
    mcp *m;
    char *id;             /* the request id as JSON text */
    char *name;
    char *arguments;      /* JSON object text */
    char *progress_token; /* JSON text, or NULL */
    bool modern;          /* answer in the 2026-07-28 style */
    bool structured;      /* outputSchema / structuredContent apply */
    pthread_mutex_t mu;
    char task_id[128];    /* "" until submitted; under mu */
    atomic_bool cancelled;
    atomic_bool done;
    pthread_t thread;
    double last_progress;
} call_state;

struct mcp {
    taas_client *client;
    taas_call_options call;
    pthread_mutex_t out_mu;
    pthread_mutex_t calls_mu;
    call_state *calls;
    char version[16]; /* negotiated by initialize; "" before */
    atomic_bool closing;
};

/* ------------------------------------------------------------------------ */
/* Output */

static void send_line(mcp *m, taas_jw *w)
{
    size_t len;
    char *s = taas_jw_take(w, &len);
    if (!s) {
        fprintf(stderr, "taas mcp: could not encode a message (JSON error %d)\n", w->err);
        taas_jw_free(w);
        return;
    }
    pthread_mutex_lock(&m->out_mu);
    fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&m->out_mu);
    free(s);
}

static void begin_response(taas_jw *w, const char *id)
{
    taas_jw_init(w, 64u << 20);
    taas_jw_obj_begin(w);
    taas_jw_key(w, "jsonrpc");
    taas_jw_str(w, "2.0");
    taas_jw_key(w, "id");
    if (id)
        taas_jw_raw(w, id, strlen(id));
    else
        taas_jw_null(w);
}

static void send_error(mcp *m, const char *id, int code, const char *message, const char *data)
{
    taas_jw w;
    begin_response(&w, id);
    taas_jw_key(&w, "error");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "code");
    taas_jw_int64(&w, code);
    taas_jw_key(&w, "message");
    taas_jw_str(&w, message);
    if (data) {
        taas_jw_key(&w, "data");
        taas_jw_raw(&w, data, strlen(data));
    }
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    send_line(m, &w);
}

/* Starts {"jsonrpc","id","result":{ ...; the caller writes the fields and
 * calls end_result. */
static void begin_result(taas_jw *w, const char *id, bool modern)
{
    begin_response(w, id);
    taas_jw_key(w, "result");
    taas_jw_obj_begin(w);
    if (modern) {
        taas_jw_key(w, "resultType");
        taas_jw_str(w, "complete");
    }
}

static void end_result(mcp *m, taas_jw *w)
{
    taas_jw_obj_end(w);
    taas_jw_obj_end(w);
    send_line(m, w);
}

/* ------------------------------------------------------------------------ */
/* JSON reading helpers */

/* The token's text as JSON (strings keep their quotes). malloc'd. */
static char *raw_json(const taas_jdoc *d, int tok)
{
    const jsmntok_t *t = &d->toks[tok];
    int start = t->start, end = t->end;
    if (t->type == JSMN_STRING) {
        start--;
        end++;
    }
    return strndup(d->text + start, (size_t)(end - start));
}

static char *str_dup(const taas_jdoc *d, int tok)
{
    if (tok < 0 || taas_json_kind_of(d, tok) != TAAS_JSON_STRING)
        return NULL;
    char *s = malloc(taas_json_str_rawlen(d, tok) + 1);
    if (s)
        taas_json_str_decode(d, tok, s);
    return s;
}

static int get(const taas_jdoc *d, int obj, const char *key)
{
    if (obj < 0 || taas_json_kind_of(d, obj) != TAAS_JSON_OBJECT)
        return -1;
    return taas_json_obj_get(d, obj, key, strlen(key));
}

static bool is_object_text(const char *json)
{
    taas_jdoc d;
    if (!json || taas_json_parse(&d, json, strlen(json), NULL, NULL, 0) != 0)
        return false;
    bool obj = taas_json_kind_of(&d, 0) == TAAS_JSON_OBJECT;
    taas_json_free(&d);
    return obj;
}

/* ------------------------------------------------------------------------ */
/* tools/list */

static void tools_list(mcp *m, const char *id, bool modern)
{
    taas_client_task_type_list *types = NULL;
    taas_client_error err;
    if (taas_client_list_task_types(m->client, &types, &m->call, &err) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "listing the task types failed: %s: %s",
                 taas_client_code_name(err.code), err.message);
        send_error(m, id, INTERNAL_ERROR, msg, NULL);
        return;
    }
    bool structured = modern || strcmp(m->version, "2025-06-18") >= 0;
    taas_jw w;
    begin_result(&w, id, modern);
    taas_jw_key(&w, "tools");
    taas_jw_arr_begin(&w);
    for (size_t i = 0; i < types->count; i++) {
        const taas_client_task_type *t = &types->types[i];
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "name");
        taas_jw_str(&w, t->name);
        taas_jw_key(&w, "description");
        taas_jw_str(&w, t->description);
        taas_jw_key(&w, "inputSchema");
        if (is_object_text(t->input_schema_json))
            taas_jw_raw(&w, t->input_schema_json, strlen(t->input_schema_json));
        else
            taas_jw_raw(&w, "{\"type\":\"object\"}", 17);
        if (structured && is_object_text(t->output_schema_json)) {
            taas_jw_key(&w, "outputSchema");
            taas_jw_raw(&w, t->output_schema_json, strlen(t->output_schema_json));
        }
        taas_jw_key(&w, "annotations");
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "idempotentHint");
        taas_jw_bool(&w, t->idempotent);
        taas_jw_obj_end(&w);
        taas_jw_obj_end(&w);
    }
    taas_jw_arr_end(&w);
    if (modern) {
        /* The list is the server's registry: it can change with a deploy,
         * so clients should not keep it. */
        taas_jw_key(&w, "ttlMs");
        taas_jw_int64(&w, 0);
        taas_jw_key(&w, "cacheScope");
        taas_jw_str(&w, "private");
    }
    taas_client_task_type_list_free(types);
    end_result(m, &w);
}

/* ------------------------------------------------------------------------ */
/* tools/call */

static void tool_result(call_state *c, const char *text, const char *structured, bool is_error)
{
    taas_jw w;
    begin_result(&w, c->id, c->modern);
    taas_jw_key(&w, "content");
    taas_jw_arr_begin(&w);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "type");
    taas_jw_str(&w, "text");
    taas_jw_key(&w, "text");
    taas_jw_str(&w, text);
    taas_jw_obj_end(&w);
    taas_jw_arr_end(&w);
    if (structured) {
        taas_jw_key(&w, "structuredContent");
        taas_jw_raw(&w, structured, strlen(structured));
    }
    taas_jw_key(&w, "isError");
    taas_jw_bool(&w, is_error);
    end_result(c->m, &w);
}

static int on_event(const taas_client_event *e, void *payload)
{
    call_state *c = payload;
    if (atomic_load(&c->cancelled) || atomic_load(&c->m->closing))
        return 1;
    if (!c->progress_token || taas_client_state_is_final(e->state))
        return 0;
    /* Progress must increase: send only what moves it forward. */
    double p = e->progress * 100.0;
    if (p <= c->last_progress)
        return 0;
    c->last_progress = p;
    taas_jw w;
    taas_jw_init(&w, 1u << 20);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "jsonrpc");
    taas_jw_str(&w, "2.0");
    taas_jw_key(&w, "method");
    taas_jw_str(&w, "notifications/progress");
    taas_jw_key(&w, "params");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "progressToken");
    taas_jw_raw(&w, c->progress_token, strlen(c->progress_token));
    taas_jw_key(&w, "progress");
    taas_jw_double(&w, p);
    taas_jw_key(&w, "total");
    taas_jw_int64(&w, 100);
    if (e->progress_message && *e->progress_message) {
        taas_jw_key(&w, "message");
        taas_jw_str(&w, e->progress_message);
    }
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    send_line(c->m, &w);
    return 0;
}

static void *call_thread(void *arg)
{
    call_state *c = arg;
    mcp *m = c->m;
    taas_client_error err;
    taas_client_submit_result sub;
    taas_client_submit_request req = {.task_name = c->name, .inputs_json = c->arguments};
    char msg[1400];

    if (atomic_load(&c->cancelled))
        goto out;
    if (taas_client_submit(m->client, &sub, &req, &m->call, &err) != 0) {
        if (atomic_load(&c->cancelled) || atomic_load(&m->closing))
            goto out;
        if (err.code == TAAS_CLIENT_NOT_FOUND) {
            snprintf(msg, sizeof msg, "Unknown tool: %s", c->name);
            send_error(m, c->id, INVALID_PARAMS, msg, NULL);
        } else if (err.code == TAAS_CLIENT_INVALID_ARGUMENT) {
            snprintf(msg, sizeof msg, "invalid arguments: %s", err.message);
            tool_result(c, msg, NULL, true);
        } else {
            snprintf(msg, sizeof msg, "the task could not be submitted: %s: %s",
                     taas_client_code_name(err.code), err.message);
            tool_result(c, msg, NULL, true);
        }
        goto out;
    }
    pthread_mutex_lock(&c->mu);
    snprintf(c->task_id, sizeof c->task_id, "%s", sub.task_id);
    pthread_mutex_unlock(&c->mu);
    if (atomic_load(&c->cancelled)) { /* cancelled while the submit was on its way */
        taas_client_cancel(m->client, NULL, sub.task_id, &m->call, NULL);
        goto out;
    }

    taas_client_task *final = NULL;
    taas_call_options watch = {.timeout_ms = -1};
    int rc = taas_client_watch(m->client, &final, sub.task_id, on_event, c, &watch, &err);
    if (atomic_load(&c->cancelled) || atomic_load(&m->closing)) {
        taas_client_task_free(final);
        goto out;
    }
    if (rc != 0 || !final) {
        snprintf(msg, sizeof msg, "lost track of task %s: %s: %s", sub.task_id,
                 taas_client_code_name(err.code), err.message);
        tool_result(c, msg, NULL, true);
    } else if (final->state == TAAS_CLIENT_STATE_SUCCEEDED) {
        bool obj = is_object_text(final->output_json);
        tool_result(c, final->output_json, c->structured && obj ? final->output_json : NULL,
                    false);
    } else {
        snprintf(msg, sizeof msg, "task %s %s: %s", sub.task_id,
                 taas_client_state_name(final->state),
                 final->error[0] ? final->error : "(no message)");
        tool_result(c, msg, NULL, true);
    }
    taas_client_task_free(final);
out:
    atomic_store(&c->done, true);
    return NULL;
}

static void call_free(call_state *c)
{
    free(c->id);
    free(c->name);
    free(c->arguments);
    free(c->progress_token);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Join the calls that have answered. */
static void reap(mcp *m, bool all)
{
    pthread_mutex_lock(&m->calls_mu);
    call_state **pp = &m->calls;
    while (*pp) {
        call_state *c = *pp;
        if (all || atomic_load(&c->done)) {
            *pp = c->next;
            pthread_mutex_unlock(&m->calls_mu);
            pthread_join(c->thread, NULL);
            call_free(c);
            pthread_mutex_lock(&m->calls_mu);
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&m->calls_mu);
}

static void tools_call(mcp *m, const taas_jdoc *d, const char *id, int params, bool modern)
{
    int name = get(d, params, "name");
    int args = get(d, params, "arguments");
    if (name < 0 || taas_json_kind_of(d, name) != TAAS_JSON_STRING) {
        send_error(m, id, INVALID_PARAMS, "tools/call needs params.name, a string", NULL);
        return;
    }
    if (args >= 0 && taas_json_kind_of(d, args) != TAAS_JSON_OBJECT) {
        send_error(m, id, INVALID_PARAMS, "params.arguments must be an object", NULL);
        return;
    }
    call_state *c = calloc(1, sizeof *c);
    if (!c) {
        send_error(m, id, INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    c->m = m;
    pthread_mutex_init(&c->mu, NULL);
    c->id = strdup(id);
    c->name = str_dup(d, name);
    c->arguments = args >= 0 ? raw_json(d, args) : strdup("{}");
    int token = get(d, get(d, params, "_meta"), "progressToken");
    if (token >= 0 && (taas_json_kind_of(d, token) == TAAS_JSON_STRING ||
                       taas_json_kind_of(d, token) == TAAS_JSON_NUMBER))
        c->progress_token = raw_json(d, token);
    c->modern = modern;
    c->structured = modern || strcmp(m->version, "2025-06-18") >= 0;
    c->last_progress = -1;
    if (!c->id || !c->name || !c->arguments || (token >= 0 && !c->progress_token) ||
        pthread_create(&c->thread, NULL, call_thread, c) != 0) {
        send_error(m, id, INTERNAL_ERROR, "out of memory", NULL);
        call_free(c);
        return;
    }
    pthread_mutex_lock(&m->calls_mu);
    c->next = m->calls;
    m->calls = c;
    pthread_mutex_unlock(&m->calls_mu);
}

/* notifications/cancelled: stop the call's task; the call then says nothing. */
static void cancel_request(mcp *m, const taas_jdoc *d, int params)
{
    int rid = get(d, params, "requestId");
    if (rid < 0)
        return;
    char *want = raw_json(d, rid);
    if (!want)
        return;
    pthread_mutex_lock(&m->calls_mu);
    for (call_state *c = m->calls; c; c = c->next) {
        if (strcmp(c->id, want) != 0 || atomic_load(&c->done))
            continue;
        atomic_store(&c->cancelled, true);
        char task[128];
        pthread_mutex_lock(&c->mu);
        snprintf(task, sizeof task, "%s", c->task_id);
        pthread_mutex_unlock(&c->mu);
        /* The task ends CANCELLED, which ends the call's watch. Before the
         * submit has returned, the call thread cancels it itself. */
        if (task[0])
            taas_client_cancel(m->client, NULL, task, &m->call, NULL);
    }
    pthread_mutex_unlock(&m->calls_mu);
    free(want);
}

/* ------------------------------------------------------------------------ */
/* Dispatch */

static void initialize(mcp *m, const taas_jdoc *d, const char *id, int params)
{
    int v = get(d, params, "protocolVersion");
    char *asked = str_dup(d, v);
    const char *chosen = handshake_versions[0];
    for (size_t i = 0; asked && i < sizeof handshake_versions / sizeof *handshake_versions; i++)
        if (!strcmp(asked, handshake_versions[i]))
            chosen = handshake_versions[i];
    free(asked);
    snprintf(m->version, sizeof m->version, "%s", chosen);
    taas_jw w;
    begin_result(&w, id, false);
    taas_jw_key(&w, "protocolVersion");
    taas_jw_str(&w, chosen);
    taas_jw_key(&w, "capabilities");
    taas_jw_raw(&w, "{\"tools\":{\"listChanged\":false}}", 31);
    taas_jw_key(&w, "serverInfo");
    taas_jw_raw(&w, "{\"name\":\"taas\",\"version\":\"0.1.0\"}", 33);
    taas_jw_key(&w, "instructions");
    taas_jw_str(&w, "Each tool is a TaaS task type; a call runs one task to its end and "
                    "returns its output.");
    end_result(m, &w);
}

static void discover(mcp *m, const char *id)
{
    taas_jw w;
    begin_result(&w, id, true);
    taas_jw_key(&w, "supportedVersions");
    taas_jw_arr_begin(&w);
    taas_jw_str(&w, MODERN_VERSION);
    for (size_t i = 0; i < sizeof handshake_versions / sizeof *handshake_versions; i++)
        taas_jw_str(&w, handshake_versions[i]);
    taas_jw_arr_end(&w);
    taas_jw_key(&w, "capabilities");
    taas_jw_raw(&w, "{\"tools\":{\"listChanged\":false}}", 31);
    taas_jw_key(&w, "serverInfo");
    taas_jw_raw(&w, "{\"name\":\"taas\",\"version\":\"0.1.0\"}", 33);
    end_result(m, &w);
}

static void handle(mcp *m, const char *line, size_t len)
{
    taas_jdoc d;
    char perr[200];
    taas_json_limits lim = {.max_bytes = MAX_LINE};
    if (taas_json_parse(&d, line, len, &lim, perr, sizeof perr) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Parse error: %s", perr);
        send_error(m, NULL, PARSE_ERROR, msg, NULL);
        return;
    }
    char *id = NULL;
    char *method = NULL;
    if (taas_json_kind_of(&d, 0) != TAAS_JSON_OBJECT) {
        send_error(m, NULL, INVALID_REQUEST,
                   taas_json_kind_of(&d, 0) == TAAS_JSON_ARRAY
                       ? "Invalid Request: batches are not supported"
                       : "Invalid Request: not an object",
                   NULL);
        goto out;
    }
    int idt = get(&d, 0, "id");
    int mt = get(&d, 0, "method");
    int jt = get(&d, 0, "jsonrpc");
    if (idt >= 0) {
        taas_json_kind k = taas_json_kind_of(&d, idt);
        if (k == TAAS_JSON_STRING || k == TAAS_JSON_NUMBER)
            id = raw_json(&d, idt);
        else {
            send_error(m, NULL, INVALID_REQUEST, "Invalid Request: id must be a string or "
                       "a number", NULL);
            goto out;
        }
    }
    if (mt < 0) {
        /* A response to something we never ask (we send no requests): ignore. */
        if (get(&d, 0, "result") >= 0 || get(&d, 0, "error") >= 0)
            goto out;
        send_error(m, id, INVALID_REQUEST, "Invalid Request: no method", NULL);
        goto out;
    }
    if (jt < 0 || !taas_json_str_eq(&d, jt, "2.0", 3) ||
        taas_json_kind_of(&d, mt) != TAAS_JSON_STRING) {
        if (id)
            send_error(m, id, INVALID_REQUEST,
                       "Invalid Request: needs \"jsonrpc\":\"2.0\" and a string method", NULL);
        goto out;
    }
    method = str_dup(&d, mt);
    int params = get(&d, 0, "params");
    if (params >= 0 && taas_json_kind_of(&d, params) != TAAS_JSON_OBJECT) {
        if (id)
            send_error(m, id, INVALID_PARAMS, "params must be an object", NULL);
        goto out;
    }

    if (!id) { /* notifications: never answered */
        if (!strcmp(method, "notifications/cancelled"))
            cancel_request(m, &d, params);
        goto out;
    }
    if (!strcmp(method, "initialize")) {
        initialize(m, &d, id, params);
        goto out;
    }
    if (!strcmp(method, "server/discover")) {
        discover(m, id);
        goto out;
    }

    /* 2026-07-28: the version and capabilities ride on every request. */
    int meta = get(&d, params, "_meta");
    int mv = get(&d, meta, META_VERSION);
    bool modern = mv >= 0;
    if (modern) {
        char *v = str_dup(&d, mv);
        if (!v || strcmp(v, MODERN_VERSION) != 0) {
            char data[256], msg[200];
            snprintf(msg, sizeof msg, "Unsupported protocol version: %.64s", v ? v : "(not a "
                     "string)");
            taas_jw w;
            taas_jw_init(&w, 4096);
            taas_jw_obj_begin(&w);
            taas_jw_key(&w, "supported");
            taas_jw_arr_begin(&w);
            taas_jw_str(&w, MODERN_VERSION);
            taas_jw_arr_end(&w);
            taas_jw_key(&w, "requested");
            taas_jw_str(&w, v);
            taas_jw_obj_end(&w);
            char *dj = taas_jw_take(&w, NULL);
            snprintf(data, sizeof data, "%s", dj ? dj : "null");
            free(dj);
            taas_jw_free(&w);
            free(v);
            send_error(m, id, UNSUPPORTED_VERSION, msg, data);
            goto out;
        }
        free(v);
        int caps = get(&d, meta, META_CAPS);
        if (caps < 0 || taas_json_kind_of(&d, caps) != TAAS_JSON_OBJECT) {
            send_error(m, id, INVALID_PARAMS, "params._meta needs \"" META_CAPS "\"", NULL);
            goto out;
        }
    } else if (!m->version[0] && strcmp(method, "ping") != 0) {
        send_error(m, id, INVALID_PARAMS,
                   "params._meta needs \"" META_VERSION "\" and \"" META_CAPS
                   "\" (or start with initialize)",
                   NULL);
        goto out;
    }

    if (!strcmp(method, "ping")) {
        taas_jw w;
        begin_result(&w, id, modern);
        end_result(m, &w);
    } else if (!strcmp(method, "tools/list")) {
        tools_list(m, id, modern);
    } else if (!strcmp(method, "tools/call")) {
        tools_call(m, &d, id, params, modern);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Method not found: %.100s", method);
        send_error(m, id, METHOD_NOT_FOUND, msg, NULL);
    }
out:
    free(id);
    free(method);
    taas_json_free(&d);
}

int taas_cli_mcp(taas_client *client, const taas_call_options *call)
{
    mcp m;
    memset(&m, 0, sizeof m);
    m.client = client;
    if (call)
        m.call = *call;
    pthread_mutex_init(&m.out_mu, NULL);
    pthread_mutex_init(&m.calls_mu, NULL);
    atomic_init(&m.closing, false);

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        if (len > MAX_LINE)
            send_error(&m, NULL, INVALID_REQUEST, "Invalid Request: message over 16 MiB", NULL);
        else
            handle(&m, line, len);
        reap(&m, false);
    }
    free(line);
    /* End of input: the client is gone. Stop the watches, join the calls. */
    atomic_store(&m.closing, true);
    taas_client_interrupt(client);
    reap(&m, true);
    pthread_mutex_destroy(&m.out_mu);
    pthread_mutex_destroy(&m.calls_mu);
    return 0;
}
