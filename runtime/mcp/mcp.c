/*
 * runtime/mcp/mcp.c - the Model Context Protocol's messages (see mcp.h).
 *
 * Both styles of the protocol are understood: the handshake versions
 * (initialize, then requests), and 2026-07-28, where there is no initialize
 * and every request carries its protocol version and client capabilities in
 * params._meta (results then carry resultType "complete"; server/discover
 * says what we speak).
 */
#include "mcp/mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handshake versions we speak, newest first. */
static const char *const handshake_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                 "2024-11-05"};
#define N_HANDSHAKE (sizeof handshake_versions / sizeof *handshake_versions)

#define SERVER_INFO "{\"name\":\"taas\",\"version\":\"0.1.0\"}"
#define CAPABILITIES "{\"tools\":{\"listChanged\":false}}"

/* ------------------------------------------------------------------------ */
/* Reading */

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

bool taas_mcp_is_object_text(const char *json)
{
    taas_jdoc d;
    if (!json || taas_json_parse(&d, json, strlen(json), NULL, NULL, 0) != 0)
        return false;
    bool obj = taas_json_kind_of(&d, 0) == TAAS_JSON_OBJECT;
    taas_json_free(&d);
    return obj;
}

bool taas_mcp_version_known(const char *v, size_t n)
{
    if (n == strlen(TAAS_MCP_MODERN_VERSION) && !memcmp(v, TAAS_MCP_MODERN_VERSION, n))
        return true;
    for (size_t i = 0; i < N_HANDSHAKE; i++)
        if (n == strlen(handshake_versions[i]) && !memcmp(v, handshake_versions[i], n))
            return true;
    return false;
}

bool taas_mcp_structured(const char *negotiated, bool modern)
{
    return modern || (negotiated && strcmp(negotiated, "2025-06-18") >= 0);
}

static int fail(char **err, size_t *err_len, const char *id, int code, const char *msg,
                const char *data)
{
    *err = taas_mcp_error(id, code, msg, data, err_len);
    return -1;
}

int taas_mcp_msg_read(taas_mcp_msg *m, const char *text, size_t len, size_t max_bytes,
                      const char *negotiated, char **err, size_t *err_len)
{
    memset(m, 0, sizeof *m);
    m->params = -1;
    *err = NULL;
    *err_len = 0;
    char perr[200];
    taas_json_limits lim = {.max_bytes = max_bytes};
    if (taas_json_parse(&m->doc, text, len, &lim, perr, sizeof perr) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Parse error: %s", perr);
        return fail(err, err_len, NULL, TAAS_MCP_PARSE_ERROR, msg, NULL);
    }
    m->parsed = true;
    const taas_jdoc *d = &m->doc;
    if (taas_json_kind_of(d, 0) != TAAS_JSON_OBJECT)
        return fail(err, err_len, NULL, TAAS_MCP_INVALID_REQUEST,
                    taas_json_kind_of(d, 0) == TAAS_JSON_ARRAY
                        ? "Invalid Request: batches are not supported"
                        : "Invalid Request: not an object",
                    NULL);
    int idt = get(d, 0, "id");
    int mt = get(d, 0, "method");
    int jt = get(d, 0, "jsonrpc");
    if (idt >= 0) {
        taas_json_kind k = taas_json_kind_of(d, idt);
        if (k != TAAS_JSON_STRING && k != TAAS_JSON_NUMBER)
            return fail(err, err_len, NULL, TAAS_MCP_INVALID_REQUEST,
                        "Invalid Request: id must be a string or a number", NULL);
        m->id = raw_json(d, idt);
    }
    if (mt < 0) {
        /* A response to something we never ask (we send no requests): ignore. */
        if (get(d, 0, "result") >= 0 || get(d, 0, "error") >= 0)
            return 1;
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_REQUEST, "Invalid Request: no method",
                    NULL);
    }
    if (jt < 0 || !taas_json_str_eq(d, jt, "2.0", 3) || taas_json_kind_of(d, mt) != TAAS_JSON_STRING) {
        if (!m->id)
            return 1;
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_REQUEST,
                    "Invalid Request: needs \"jsonrpc\":\"2.0\" and a string method", NULL);
    }
    m->method = str_dup(d, mt);
    m->params = get(d, 0, "params");
    if (m->params >= 0 && taas_json_kind_of(d, m->params) != TAAS_JSON_OBJECT) {
        if (!m->id)
            return 1;
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_PARAMS, "params must be an object",
                    NULL);
    }
    if (!m->method)
        return fail(err, err_len, m->id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL);
    if (!m->id || !strcmp(m->method, "initialize") || !strcmp(m->method, "server/discover"))
        return 0;

    /* 2026-07-28: the version and capabilities ride on every request. */
    int meta = get(d, m->params, "_meta");
    int mv = get(d, meta, TAAS_MCP_META_VERSION);
    m->modern = mv >= 0;
    if (m->modern) {
        char *v = str_dup(d, mv);
        if (!v || strcmp(v, TAAS_MCP_MODERN_VERSION) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "Unsupported protocol version: %.64s",
                     v ? v : "(not a string)");
            taas_jw w;
            taas_jw_init(&w, 4096);
            taas_jw_obj_begin(&w);
            taas_jw_key(&w, "supported");
            taas_jw_arr_begin(&w);
            taas_jw_str(&w, TAAS_MCP_MODERN_VERSION);
            taas_jw_arr_end(&w);
            taas_jw_key(&w, "requested");
            taas_jw_str(&w, v);
            taas_jw_obj_end(&w);
            char *data = taas_jw_take(&w, NULL);
            taas_jw_free(&w);
            free(v);
            int rc = fail(err, err_len, m->id, TAAS_MCP_UNSUPPORTED_VERSION, msg,
                          data ? data : "null");
            free(data);
            return rc;
        }
        free(v);
        int caps = get(d, meta, TAAS_MCP_META_CAPS);
        if (caps < 0 || taas_json_kind_of(d, caps) != TAAS_JSON_OBJECT)
            return fail(err, err_len, m->id, TAAS_MCP_INVALID_PARAMS,
                        "params._meta needs \"" TAAS_MCP_META_CAPS "\"", NULL);
    } else if ((!negotiated || !negotiated[0]) && strcmp(m->method, "ping") != 0) {
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_PARAMS,
                    "params._meta needs \"" TAAS_MCP_META_VERSION "\" and \"" TAAS_MCP_META_CAPS
                    "\" (or start with initialize)",
                    NULL);
    }
    return 0;
}

void taas_mcp_msg_free(taas_mcp_msg *m)
{
    if (m->parsed)
        taas_json_free(&m->doc);
    free(m->id);
    free(m->method);
    memset(m, 0, sizeof *m);
}

int taas_mcp_call_params(const taas_mcp_msg *m, char **name, char **arguments, char **token,
                         char **err, size_t *err_len)
{
    const taas_jdoc *d = &m->doc;
    *name = *arguments = *token = NULL;
    *err = NULL;
    int nt = get(d, m->params, "name");
    int at = get(d, m->params, "arguments");
    if (nt < 0 || taas_json_kind_of(d, nt) != TAAS_JSON_STRING)
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_PARAMS,
                    "tools/call needs params.name, a string", NULL);
    if (at >= 0 && taas_json_kind_of(d, at) != TAAS_JSON_OBJECT)
        return fail(err, err_len, m->id, TAAS_MCP_INVALID_PARAMS,
                    "params.arguments must be an object", NULL);
    int tt = get(d, get(d, m->params, "_meta"), "progressToken");
    bool tok = tt >= 0 && (taas_json_kind_of(d, tt) == TAAS_JSON_STRING ||
                           taas_json_kind_of(d, tt) == TAAS_JSON_NUMBER);
    *name = str_dup(d, nt);
    *arguments = at >= 0 ? raw_json(d, at) : strdup("{}");
    *token = tok ? raw_json(d, tt) : NULL;
    if (!*name || !*arguments || (tok && !*token)) {
        free(*name);
        free(*arguments);
        free(*token);
        *name = *arguments = *token = NULL;
        return fail(err, err_len, m->id, TAAS_MCP_INTERNAL_ERROR, "out of memory", NULL);
    }
    return 0;
}

char *taas_mcp_cancelled_id(const taas_mcp_msg *m)
{
    int rid = get(&m->doc, m->params, "requestId");
    if (rid < 0)
        return NULL;
    taas_json_kind k = taas_json_kind_of(&m->doc, rid);
    if (k != TAAS_JSON_STRING && k != TAAS_JSON_NUMBER)
        return NULL;
    return raw_json(&m->doc, rid);
}

/* ------------------------------------------------------------------------ */
/* Writing */

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

static char *finish(taas_jw *w, size_t *len)
{
    char *s = taas_jw_take(w, len);
    taas_jw_free(w);
    return s;
}

/* Starts {"jsonrpc","id","result":{ ...; end_result closes it. */
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

static char *end_result(taas_jw *w, size_t *len)
{
    taas_jw_obj_end(w);
    taas_jw_obj_end(w);
    return finish(w, len);
}

char *taas_mcp_error(const char *id, int code, const char *message, const char *data, size_t *len)
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
    return finish(&w, len);
}

char *taas_mcp_initialize(const taas_mcp_msg *m, char chosen[16], size_t *len)
{
    char *asked = str_dup(&m->doc, get(&m->doc, m->params, "protocolVersion"));
    const char *v = handshake_versions[0];
    for (size_t i = 0; asked && i < N_HANDSHAKE; i++)
        if (!strcmp(asked, handshake_versions[i]))
            v = handshake_versions[i];
    free(asked);
    snprintf(chosen, 16, "%s", v);
    taas_jw w;
    begin_result(&w, m->id, false);
    taas_jw_key(&w, "protocolVersion");
    taas_jw_str(&w, v);
    taas_jw_key(&w, "capabilities");
    taas_jw_raw(&w, CAPABILITIES, strlen(CAPABILITIES));
    taas_jw_key(&w, "serverInfo");
    taas_jw_raw(&w, SERVER_INFO, strlen(SERVER_INFO));
    taas_jw_key(&w, "instructions");
    taas_jw_str(&w, "Each tool is a TaaS task type; a call runs one task to its end and "
                    "returns its output.");
    return end_result(&w, len);
}

char *taas_mcp_discover(const char *id, size_t *len)
{
    taas_jw w;
    begin_result(&w, id, true);
    taas_jw_key(&w, "supportedVersions");
    taas_jw_arr_begin(&w);
    taas_jw_str(&w, TAAS_MCP_MODERN_VERSION);
    for (size_t i = 0; i < N_HANDSHAKE; i++)
        taas_jw_str(&w, handshake_versions[i]);
    taas_jw_arr_end(&w);
    taas_jw_key(&w, "capabilities");
    taas_jw_raw(&w, CAPABILITIES, strlen(CAPABILITIES));
    taas_jw_key(&w, "serverInfo");
    taas_jw_raw(&w, SERVER_INFO, strlen(SERVER_INFO));
    return end_result(&w, len);
}

char *taas_mcp_empty(const char *id, bool modern, size_t *len)
{
    taas_jw w;
    begin_result(&w, id, modern);
    return end_result(&w, len);
}

char *taas_mcp_tools_list(const char *id, bool modern, bool structured, const taas_mcp_tool *tools,
                          size_t n, size_t *len)
{
    taas_jw w;
    begin_result(&w, id, modern);
    taas_jw_key(&w, "tools");
    taas_jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const taas_mcp_tool *t = &tools[i];
        taas_jw_obj_begin(&w);
        taas_jw_key(&w, "name");
        taas_jw_str(&w, t->name);
        taas_jw_key(&w, "description");
        taas_jw_str(&w, t->description ? t->description : "");
        taas_jw_key(&w, "inputSchema");
        if (taas_mcp_is_object_text(t->input_schema))
            taas_jw_raw(&w, t->input_schema, strlen(t->input_schema));
        else
            taas_jw_raw(&w, "{\"type\":\"object\"}", 17);
        if (structured && taas_mcp_is_object_text(t->output_schema)) {
            taas_jw_key(&w, "outputSchema");
            taas_jw_raw(&w, t->output_schema, strlen(t->output_schema));
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
    return end_result(&w, len);
}

char *taas_mcp_tool_result(const char *id, bool modern, const char *text, const char *structured,
                           bool is_error, size_t *len)
{
    taas_jw w;
    begin_result(&w, id, modern);
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
    return end_result(&w, len);
}

char *taas_mcp_progress(const char *token, double progress, const char *message, size_t *len)
{
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
    taas_jw_raw(&w, token, strlen(token));
    taas_jw_key(&w, "progress");
    taas_jw_double(&w, progress);
    taas_jw_key(&w, "total");
    taas_jw_int64(&w, 100);
    if (message && *message) {
        taas_jw_key(&w, "message");
        taas_jw_str(&w, message);
    }
    taas_jw_obj_end(&w);
    taas_jw_obj_end(&w);
    return finish(&w, len);
}
