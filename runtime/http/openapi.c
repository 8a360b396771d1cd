/*
 * runtime/http/openapi.c - see openapi.h. The fixed parts are JSON text
 * here; the per-task parts are built from taas_registry[].
 */
#include "http/openapi.h"

#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "taas/registry.h"

#define REF(x) "{\"$ref\":\"#/components/schemas/" x "\"}"
#define ERR_RESP(d) "{\"description\":\"" d "\",\"content\":{\"application/json\":{\"schema\":" REF("Error") "}}}"

static const char *const fixed_schemas[][2] = {
    {"TaskState", "{\"type\":\"string\",\"enum\":[\"UNSPECIFIED\",\"PENDING\",\"RUNNING\","
                  "\"SUCCEEDED\",\"FAILED\",\"CANCELLED\"]}"},
    {"Attempt", "{\"type\":\"object\",\"properties\":{\"number\":{\"type\":\"integer\"},"
                "\"error\":{\"type\":\"string\"},\"finished_at_ms\":{\"type\":\"integer\"}}}"},
    {"Task", "{\"type\":\"object\",\"description\":\"A task. inputs and output are JSON values "
             "checked against the task type's schemas (see the <task>_inputs and <task>_outputs "
             "schemas).\",\"properties\":{"
             "\"id\":{\"type\":\"string\"},\"task_name\":{\"type\":\"string\"},"
             "\"state\":" REF("TaskState") ",\"inputs\":{},\"output\":{},"
             "\"error\":{\"type\":\"string\"},\"progress\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
             "\"progress_message\":{\"type\":\"string\"},\"attempt\":{\"type\":\"integer\"},"
             "\"max_attempts\":{\"type\":\"integer\"},\"priority\":{\"type\":\"integer\"},"
             "\"created_at_ms\":{\"type\":\"integer\"},\"updated_at_ms\":{\"type\":\"integer\"},"
             "\"run_after_ms\":{\"type\":\"integer\"},\"started_at_ms\":{\"type\":\"integer\"},"
             "\"finished_at_ms\":{\"type\":\"integer\"},\"idempotency_key\":{\"type\":\"string\"},"
             "\"attempts\":{\"type\":\"array\",\"items\":" REF("Attempt") "},"
             "\"cancel_requested\":{\"type\":\"boolean\"},"
             "\"parent_id\":{\"type\":\"string\",\"description\":\"The task that submitted this one "
             "as a child; absent or empty for a top-level task.\"}}}"},
    {"TaskEvent", "{\"type\":\"object\",\"description\":\"One Server-Sent Event's data. The "
                  "event type is 'task' (state or progress) or 'final' (task is set).\","
                  "\"properties\":{\"task_id\":{\"type\":\"string\"},\"state\":" REF("TaskState") ","
                  "\"progress\":{\"type\":\"number\"},\"progress_message\":{\"type\":\"string\"},"
                  "\"seq\":{\"type\":\"integer\"},\"at_ms\":{\"type\":\"integer\"},"
                  "\"task\":{\"oneOf\":[" REF("Task") ",{\"type\":\"null\"}]}}}"},
    {"SubmitTaskResponse", "{\"type\":\"object\",\"properties\":{\"task_id\":{\"type\":\"string\"},"
                           "\"duplicate\":{\"type\":\"boolean\"},\"state\":" REF("TaskState") "}}"},
    {"GetTaskResponse", "{\"type\":\"object\",\"properties\":{\"task\":" REF("Task") "}}"},
    {"ListTasksResponse", "{\"type\":\"object\",\"properties\":{\"tasks\":{\"type\":\"array\","
                          "\"items\":" REF("Task") "},\"next_page_token\":{\"type\":\"string\","
                          "\"description\":\"Empty on the last page.\"}}}"},
    {"CancelTaskResponse", "{\"type\":\"object\",\"properties\":{\"state\":" REF("TaskState") "}}"},
    {"TaskType", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                 "\"version\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
                 "\"input_schema\":{\"type\":\"object\"},\"output_schema\":{\"type\":\"object\"},"
                 "\"idempotent\":{\"type\":\"boolean\"},\"retries\":{\"type\":\"integer\"},"
                 "\"timeout_s\":{\"type\":\"integer\"}}}"},
    {"ListTaskTypesResponse", "{\"type\":\"object\",\"properties\":{\"task_types\":{\"type\":"
                              "\"array\",\"items\":" REF("TaskType") "}}}"},
    {"GetTaskTypeResponse", "{\"type\":\"object\",\"properties\":{\"task_type\":" REF("TaskType") "}}"},
    {"Error", "{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":{\"type\":"
              "\"object\",\"required\":[\"code\",\"status\",\"message\"],\"properties\":{"
              "\"code\":{\"type\":\"integer\",\"description\":\"The gRPC status code.\"},"
              "\"status\":{\"type\":\"string\",\"description\":\"Its name, e.g. INVALID_ARGUMENT.\"},"
              "\"message\":{\"type\":\"string\"},\"details\":{\"type\":\"array\",\"items\":{"
              "\"type\":\"object\",\"properties\":{\"@type\":{\"type\":\"string\"},"
              "\"field_violations\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
              "\"properties\":{\"field\":{\"type\":\"string\"},\"description\":{\"type\":"
              "\"string\"}}}}}}}}}}}"},
};

static const char *const errors =
    "\"400\":" ERR_RESP("Malformed JSON, unknown field, inputs that break the schema (INVALID_ARGUMENT)") ","
    "\"401\":" ERR_RESP("No or unknown bearer token (UNAUTHENTICATED)") ","
    "\"403\":" ERR_RESP("The token lacks the scope (PERMISSION_DENIED)") ","
    "\"413\":" ERR_RESP("Request body over the limit (RESOURCE_EXHAUSTED)") ","
    "\"429\":" ERR_RESP("Rate limit (RESOURCE_EXHAUSTED)") ","
    "\"503\":" ERR_RESP("Shutting down (UNAVAILABLE)");

static void op(taas_jw *w, const char *verb, const char *id, const char *summary,
               const char *params, const char *body, const char *ok_schema, const char *ok_type,
               bool not_found)
{
    taas_jw_key(w, verb);
    taas_jw_obj_begin(w);
    taas_jw_key(w, "operationId");
    taas_jw_str(w, id);
    taas_jw_key(w, "summary");
    taas_jw_str(w, summary);
    if (params) {
        taas_jw_key(w, "parameters");
        taas_jw_raw(w, params, strlen(params));
    }
    if (body) {
        taas_jw_key(w, "requestBody");
        taas_jw_raw(w, body, strlen(body));
    }
    taas_jw_key(w, "responses");
    char resp[2048];
    snprintf(resp, sizeof resp,
             "{\"200\":{\"description\":\"OK\",\"content\":{\"%s\":{\"schema\":%s}}},%s%s}",
             ok_type, ok_schema, errors,
             not_found ? ",\"404\":" ERR_RESP("No such task or task type (NOT_FOUND)") : "");
    taas_jw_raw(w, resp, strlen(resp));
    taas_jw_obj_end(w);
}

static void rawz(taas_jw *w, const char *s)
{
    taas_jw_raw(w, s, strlen(s));
}

#define P_ID "{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}"

char *taas_http_openapi(const char *version, size_t *len)
{
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "openapi");
    taas_jw_str(&w, "3.1.0");
    taas_jw_key(&w, "info");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "title");
    taas_jw_str(&w, "TaaS HTTP API");
    taas_jw_key(&w, "version");
    taas_jw_str(&w, version ? version : "0");
    taas_jw_key(&w, "description");
    taas_jw_str(&w, "The JSON mirror of the taas.v1 gRPC services: the same methods, rules, "
                    "status codes and messages. See docs/http-api.md.");
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "security");
    rawz(&w, "[{\"bearer\":[]},{}]");

    taas_jw_key(&w, "paths");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "/v1/tasks");
    taas_jw_obj_begin(&w);
    op(&w, "post", "SubmitTask", "Submit a task (scope submit)", NULL,
       "{\"required\":true,\"content\":{\"application/json\":{\"schema\":" REF("SubmitTaskRequest") "}}}",
       REF("SubmitTaskResponse"), "application/json", true);
    op(&w, "get", "ListTasks", "List tasks, newest first (scope read)",
       "[{\"name\":\"state\",\"in\":\"query\",\"schema\":" REF("TaskState") "},"
       "{\"name\":\"task_name\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
       "{\"name\":\"parent_id\",\"in\":\"query\",\"description\":\"Only the children of this task\","
       "\"schema\":{\"type\":\"string\"}},"
       "{\"name\":\"page_size\",\"in\":\"query\",\"schema\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000}},"
       "{\"name\":\"page_token\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}]",
       NULL, REF("ListTasksResponse"), "application/json", false);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/tasks/{id}");
    taas_jw_obj_begin(&w);
    op(&w, "get", "GetTask", "One task (scope read)", "[" P_ID "]", NULL, REF("GetTaskResponse"),
       "application/json", true);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/tasks/{id}/cancel");
    taas_jw_obj_begin(&w);
    op(&w, "post", "CancelTask", "Cancel a task (scope cancel)", "[" P_ID "]", NULL,
       REF("CancelTaskResponse"), "application/json", true);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/tasks/{id}/events");
    taas_jw_obj_begin(&w);
    op(&w, "get", "WatchTask",
       "The task's events as Server-Sent Events (scope read); Last-Event-ID resumes",
       "[" P_ID ",{\"name\":\"Last-Event-ID\",\"in\":\"header\",\"schema\":{\"type\":\"string\"}}]",
       NULL, "{\"type\":\"string\",\"description\":\"event: task|final|error, data: TaskEvent JSON\"}",
       "text/event-stream", true);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/task-types");
    taas_jw_obj_begin(&w);
    op(&w, "get", "ListTaskTypes", "The task types of this server (scope read)", NULL, NULL,
       REF("ListTaskTypesResponse"), "application/json", false);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/task-types/{name}");
    taas_jw_obj_begin(&w);
    op(&w, "get", "GetTaskType", "One task type (scope read)",
       "[{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}]",
       NULL, REF("GetTaskTypeResponse"), "application/json", true);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/metrics");
    taas_jw_obj_begin(&w);
    op(&w, "get", "Metrics", "Prometheus text format 0.0.4 (any valid token)", NULL, NULL,
       "{\"type\":\"string\"}", "text/plain", false);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/v1/metrics/history");
    taas_jw_obj_begin(&w);
    op(&w, "get", "MetricsHistory", "The last hour in 10 s samples (any valid token)", NULL, NULL,
       "{\"type\":\"object\"}", "application/json", false);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "/healthz");
    rawz(&w, "{\"get\":{\"operationId\":\"Healthz\",\"summary\":\"The process answers\","
                    "\"security\":[],\"responses\":{\"200\":{\"description\":\"alive\"}}}}");
    taas_jw_key(&w, "/readyz");
    const char *ready = "{\"get\":{\"operationId\":\"Readyz\",\"summary\":\"The store answers a read "
                        "and the engine accepts work\",\"security\":[],\"responses\":{\"200\":{"
                        "\"description\":\"ready\"},\"503\":{\"description\":\"not ready, with "
                        "the reason\"}}}}";
    taas_jw_raw(&w, ready, strlen(ready));
    taas_jw_obj_end(&w);

    taas_jw_key(&w, "components");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "securitySchemes");
    rawz(&w, "{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\"}}");
    taas_jw_key(&w, "schemas");
    taas_jw_obj_begin(&w);
    for (size_t i = 0; i < sizeof fixed_schemas / sizeof fixed_schemas[0]; i++) {
        taas_jw_key(&w, fixed_schemas[i][0]);
        taas_jw_raw(&w, fixed_schemas[i][1], strlen(fixed_schemas[i][1]));
    }
    /* Per task: its inputs, outputs, and a submit request naming it. */
    char name[300];
    for (size_t i = 0; i < taas_registry_count; i++) {
        const taas_task_type *t = taas_registry[i];
        const char *in = t->input_schema && t->input_schema[0] ? t->input_schema : "{}";
        const char *out = t->output_schema && t->output_schema[0] ? t->output_schema : "{}";
        snprintf(name, sizeof name, "%s_inputs", t->name);
        taas_jw_key(&w, name);
        taas_jw_raw(&w, in, strlen(in));
        snprintf(name, sizeof name, "%s_outputs", t->name);
        taas_jw_key(&w, name);
        taas_jw_raw(&w, out, strlen(out));
        snprintf(name, sizeof name, "%s_submit", t->name);
        taas_jw_key(&w, name);
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "type");
        taas_jw_str(&w, "object");
        taas_jw_key(&w, "description");
        taas_jw_str(&w, t->description ? t->description : "");
        taas_jw_key(&w, "required");
        rawz(&w, "[\"task_name\"]");
        taas_jw_key(&w, "additionalProperties");
        taas_jw_bool(&w, false);
        taas_jw_key(&w, "properties");
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "task_name");
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "const");
        taas_jw_str(&w, t->name);
        taas_jw_obj_end(&w);
        taas_jw_key(&w, "inputs");
        snprintf(name, sizeof name, "{\"$ref\":\"#/components/schemas/%s_inputs\"}", t->name);
        taas_jw_raw(&w, name, strlen(name));
        const char *rest = "{\"type\":\"string\",\"maxLength\":255}";
        taas_jw_key(&w, "idempotency_key");
        taas_jw_raw(&w, rest, strlen(rest));
        taas_jw_key(&w, "priority");
        rawz(&w, "{\"type\":\"integer\"}");
        taas_jw_key(&w, "run_after_ms");
        rawz(&w, "{\"type\":\"integer\",\"minimum\":0}");
        taas_jw_key(&w, "timeout_s");
        rawz(&w, "{\"type\":\"integer\",\"minimum\":0}");
        taas_jw_obj_end(&w);
        taas_jw_obj_end(&w);
    }
    taas_jw_key(&w, "SubmitTaskRequest");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "oneOf");
    taas_jw_arr_begin(&w);
    for (size_t i = 0; i < taas_registry_count; i++) {
        snprintf(name, sizeof name, "{\"$ref\":\"#/components/schemas/%s_submit\"}",
                 taas_registry[i]->name);
        taas_jw_raw(&w, name, strlen(name));
    }
    taas_jw_arr_end(&w);
    taas_jw_key(&w, "discriminator");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "propertyName");
    taas_jw_str(&w, "task_name");
    taas_jw_key(&w, "mapping");
    taas_jw_obj_begin(&w);
    for (size_t i = 0; i < taas_registry_count; i++) {
        taas_jw_key(&w, taas_registry[i]->name);
        snprintf(name, sizeof name, "#/components/schemas/%s_submit", taas_registry[i]->name);
        taas_jw_str(&w, name);
    }
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w); /* schemas */
    taas_jw_obj_end(&w); /* components */
    taas_jw_obj_end(&w);
    char *out = taas_jw_take(&w, len);
    taas_jw_free(&w);
    return out;
}
