/*
 * runtime/mcp/mcp.h - the Model Context Protocol's messages, without a
 * transport: reading a JSON-RPC message and applying the version rules, and
 * writing every answer TaaS gives (initialize, server/discover, tools/list,
 * a tool result, a progress notification, an error).
 *
 * Two faces use it: `taas mcp` (client/cli/mcp.c, stdio, reaching the
 * server as a gRPC client) and POST /mcp on the HTTP port
 * (runtime/http/mcp_http.c, Streamable HTTP, inside the server). What a
 * message means and how an answer looks is decided here once; the faces
 * only move the bytes and run the tasks.
 *
 * Every builder returns malloc'd compact JSON text (no newline) and its
 * length in *len, or NULL when out of memory.
 */
#ifndef TAAS_MCP_H
#define TAAS_MCP_H

#include <stdbool.h>
#include <stddef.h>

#include "json/json.h"

#define TAAS_MCP_MODERN_VERSION "2026-07-28"
#define TAAS_MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define TAAS_MCP_META_CAPS "io.modelcontextprotocol/clientCapabilities"

enum {
    TAAS_MCP_PARSE_ERROR = -32700,
    TAAS_MCP_INVALID_REQUEST = -32600,
    TAAS_MCP_METHOD_NOT_FOUND = -32601,
    TAAS_MCP_INVALID_PARAMS = -32602,
    TAAS_MCP_INTERNAL_ERROR = -32603,
    TAAS_MCP_UNSUPPORTED_VERSION = -32022
};

/* One JSON-RPC message received. */
typedef struct taas_mcp_msg {
    taas_jdoc doc;
    bool parsed;
    char *id;     /* the id as JSON text (strings keep their quotes); NULL: a notification */
    char *method; /* NULL: a response (we send no requests, so it is ignored) */
    int params;   /* token of params, or -1 */
    bool modern;  /* 2026-07-28: the version rides in params._meta */
} taas_mcp_msg;

/*
 * Read one message and apply the envelope and version rules. `negotiated`
 * is the version initialize agreed on this connection or session ("" or
 * NULL: none yet). Returns
 *    0  serve it (m->method set; m->id NULL for a notification),
 *    1  nothing to do (a response, or an invalid notification),
 *   -1  send *err (a JSON-RPC error message, malloc'd) and nothing else.
 * Free with taas_mcp_msg_free in every case.
 */
int taas_mcp_msg_read(taas_mcp_msg *m, const char *text, size_t len, size_t max_bytes,
                      const char *negotiated, char **err, size_t *err_len);
void taas_mcp_msg_free(taas_mcp_msg *m);

/* A handshake version we speak ("2025-11-25" ... "2024-11-05"), or the modern one. */
bool taas_mcp_version_known(const char *v, size_t n);
/* Whether tool lists carry outputSchema and results structuredContent. */
bool taas_mcp_structured(const char *negotiated, bool modern);

/* {"jsonrpc":"2.0","id":id|null,"error":{code,message[,data]}}; `data` is JSON text or NULL. */
char *taas_mcp_error(const char *id, int code, const char *message, const char *data, size_t *len);
/* The answer to initialize; the version chosen goes to chosen[16]. */
char *taas_mcp_initialize(const taas_mcp_msg *m, char chosen[16], size_t *len);
char *taas_mcp_discover(const char *id, size_t *len);
/* An empty result (ping). */
char *taas_mcp_empty(const char *id, bool modern, size_t *len);

/* A task type as a tool. Schemas are JSON text (a non-object input schema
 * becomes {"type":"object"}; a non-object output schema is left out). */
typedef struct taas_mcp_tool {
    const char *name, *description, *input_schema, *output_schema;
    bool idempotent;
} taas_mcp_tool;
char *taas_mcp_tools_list(const char *id, bool modern, bool structured, const taas_mcp_tool *tools,
                          size_t n, size_t *len);

/* tools/call's params: name (malloc'd), arguments (JSON object text,
 * malloc'd, "{}" when absent) and the progress token (JSON text or NULL).
 * -1 with *err (a JSON-RPC error, malloc'd) on bad params. */
int taas_mcp_call_params(const taas_mcp_msg *m, char **name, char **arguments, char **token,
                         char **err, size_t *err_len);
/* A tool's answer: `text` in a text block, `structured` (JSON object text or
 * NULL) as structuredContent. */
char *taas_mcp_tool_result(const char *id, bool modern, const char *text, const char *structured,
                           bool is_error, size_t *len);
/* notifications/progress with total 100; `message` may be NULL. */
char *taas_mcp_progress(const char *token, double progress, const char *message, size_t *len);
/* The requestId of notifications/cancelled as JSON text (malloc'd), or NULL. */
char *taas_mcp_cancelled_id(const taas_mcp_msg *m);
/* Whether `json` is the text of a JSON object. */
bool taas_mcp_is_object_text(const char *json);

#endif
