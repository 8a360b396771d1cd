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
 * capabilities in params._meta. The messages themselves (reading, version
 * rules, every answer) are runtime/mcp/, shared with POST /mcp on the HTTP
 * port; this file is the stdio transport and the gRPC client side.
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
#include "mcp/mcp.h"

#define MAX_LINE ((size_t)16 << 20)

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

/* One message per line; `s` (malloc'd, from the mcp/mcp.h builders) is freed. */
static void send_text(mcp *m, char *s, size_t len)
{
    if (!s) {
        fprintf(stderr, "taas mcp: could not encode a message\n");
        return;
    }
    pthread_mutex_lock(&m->out_mu);
    fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&m->out_mu);
    free(s);
}

static void send_error(mcp *m, const char *id, int code, const char *message, const char *data)
{
    size_t len = 0;
    char *s = taas_mcp_error(id, code, message, data, &len);
    send_text(m, s, len);
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
        send_error(m, id, TAAS_MCP_INTERNAL_ERROR, msg, NULL);
        return;
    }
    taas_mcp_tool *tools = calloc(types->count ? types->count : 1, sizeof *tools);
    if (!tools) {
        taas_client_task_type_list_free(types);
        send_error(m, id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    for (size_t i = 0; i < types->count; i++) {
        const taas_client_task_type *t = &types->types[i];
        tools[i] = (taas_mcp_tool){t->name, t->description, t->input_schema_json,
                                   t->output_schema_json, t->idempotent};
    }
    size_t len = 0;
    char *s = taas_mcp_tools_list(id, modern, taas_mcp_structured(m->version, modern), tools,
                                  types->count, &len);
    free(tools);
    taas_client_task_type_list_free(types);
    send_text(m, s, len);
}

/* ------------------------------------------------------------------------ */
/* tools/call */

static void tool_result(call_state *c, const char *text, const char *structured, bool is_error)
{
    size_t len = 0;
    char *s = taas_mcp_tool_result(c->id, c->modern, text, structured, is_error, &len);
    send_text(c->m, s, len);
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
    size_t len = 0;
    char *s = taas_mcp_progress(c->progress_token, p, e->progress_message, &len);
    send_text(c->m, s, len);
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
            send_error(m, c->id, TAAS_MCP_INVALID_PARAMS, msg, NULL);
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
        bool obj = taas_mcp_is_object_text(final->output_json);
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

static void tools_call(mcp *m, const taas_mcp_msg *msg)
{
    char *name, *arguments, *token, *err;
    size_t elen;
    if (taas_mcp_call_params(msg, &name, &arguments, &token, &err, &elen) != 0) {
        send_text(m, err, elen);
        return;
    }
    call_state *c = calloc(1, sizeof *c);
    if (!c) {
        free(name);
        free(arguments);
        free(token);
        send_error(m, msg->id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    c->m = m;
    pthread_mutex_init(&c->mu, NULL);
    c->id = strdup(msg->id);
    c->name = name;
    c->arguments = arguments;
    c->progress_token = token;
    c->modern = msg->modern;
    c->structured = taas_mcp_structured(m->version, msg->modern);
    c->last_progress = -1;
    if (!c->id || pthread_create(&c->thread, NULL, call_thread, c) != 0) {
        send_error(m, msg->id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL);
        call_free(c);
        return;
    }
    pthread_mutex_lock(&m->calls_mu);
    c->next = m->calls;
    m->calls = c;
    pthread_mutex_unlock(&m->calls_mu);
}

/* notifications/cancelled: stop the call's task; the call then says nothing. */
static void cancel_request(mcp *m, const taas_mcp_msg *msg)
{
    char *want = taas_mcp_cancelled_id(msg);
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

static void handle(mcp *m, const char *line, size_t len)
{
    taas_mcp_msg msg;
    char *err;
    size_t elen, olen = 0;
    int rc = taas_mcp_msg_read(&msg, line, len, MAX_LINE, m->version, &err, &elen);
    if (rc < 0)
        send_text(m, err, elen);
    if (rc != 0)
        goto out;
    const char *method = msg.method;
    char *out = NULL;
    if (!msg.id) { /* notifications: never answered */
        if (!strcmp(method, "notifications/cancelled"))
            cancel_request(m, &msg);
    } else if (!strcmp(method, "initialize")) {
        out = taas_mcp_initialize(&msg, m->version, &olen);
    } else if (!strcmp(method, "server/discover")) {
        out = taas_mcp_discover(msg.id, &olen);
    } else if (!strcmp(method, "ping")) {
        out = taas_mcp_empty(msg.id, msg.modern, &olen);
    } else if (!strcmp(method, "tools/list")) {
        tools_list(m, msg.id, msg.modern);
    } else if (!strcmp(method, "tools/call")) {
        tools_call(m, &msg);
    } else {
        char text[200];
        snprintf(text, sizeof text, "Method not found: %.100s", method);
        send_error(m, msg.id, TAAS_MCP_METHOD_NOT_FOUND, text, NULL);
    }
    if (out)
        send_text(m, out, olen);
out:
    taas_mcp_msg_free(&msg);
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
            send_error(&m, NULL, TAAS_MCP_INVALID_REQUEST, "Invalid Request: message over 16 MiB", NULL);
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
