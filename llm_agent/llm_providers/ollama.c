/*
 * llm_agent/llm_providers/ollama.c - Ollama's native POST /api/chat.
 *
 * Wire format (ollama docs/api.md, api/types.go): the body says
 * "stream": false, or the answer comes as NDJSON chunks; tools take the
 * OpenAI shape; a reply's tool_calls carry `arguments` as an object and no
 * id, so ids are made up here ("call_<n>") and tool results are matched by
 * `tool_name`. `done_reason` stays "stop" when tools are called: the calls
 * decide. Usage is prompt_eval_count / eval_count. Errors are {"error":"..."}.
 * No key by default (a local server); one configured goes out as a Bearer
 * token, which proxies in front of Ollama expect.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static int ollama_write(const taas_llm_request *req, taas_jw *w, char *err, size_t errlen)
{
    taas_jw_obj_begin(w);
    taas_jw_key(w, "model");
    taas_jw_str(w, req->model);
    taas_jw_key(w, "stream");
    taas_jw_bool(w, false);
    taas_jw_key(w, "options");
    taas_jw_obj_begin(w);
    taas_jw_key(w, "num_predict");
    taas_jw_int64(w, req->max_tokens);
    taas_jw_obj_end(w);
    taas_llm_jw_chat_messages(w, req, TAAS_LLM_DIALECT_OLLAMA);
    if (req->n_tools)
        taas_llm_jw_function_tools(w, req);
    taas_jw_obj_end(w);
    if (w->err) {
        taas_llm_errf(err, errlen, "ollama: could not write the request (JSON error %d)", w->err);
        return -1;
    }
    return 0;
}

static atomic_uint_fast64_t call_seq;

/* The reply in d into out: 0, or -1 with err filled (taas_llm_parse_reply
 * frees what was filled). */
static int ollama_read(const taas_jdoc *d, taas_llm_reply *out, char *err, size_t errlen)
{
    int e = taas_json_obj_get(d, 0, "error", 5);
    if (e >= 0) { /* Ollama can report an error with a 200 */
        char *m = taas_llm_json_strdup(d, e);
        taas_llm_errf(err, errlen, "error in the reply: %s", m ? m : "(no message)");
        free(m);
        return -1;
    }
    int msg = taas_json_obj_get(d, 0, "message", 7);
    if (taas_json_kind_of(d, 0) != TAAS_JSON_OBJECT || msg < 0 ||
        taas_json_kind_of(d, msg) != TAAS_JSON_OBJECT) {
        taas_llm_errf(err, errlen, "no \"message\" object");
        return -1;
    }
    out->text = taas_llm_json_strdup(d, taas_json_obj_get(d, msg, "content", 7));
    if (out->text && !*out->text) {
        free(out->text);
        out->text = NULL;
    }
    int calls = taas_json_obj_get(d, msg, "tool_calls", 10);
    if (calls >= 0 && taas_json_kind_of(d, calls) == TAAS_JSON_ARRAY && d->toks[calls].size > 0) {
        size_t n = (size_t)d->toks[calls].size;
        out->calls = calloc(n, sizeof *out->calls);
        if (!out->calls)
            return -1;
        int t = calls + 1;
        for (size_t i = 0; i < n; i++, t = taas_json_next(d, t)) {
            int fn = taas_json_obj_get(d, t, "function", 8);
            if (taas_json_kind_of(d, t) != TAAS_JSON_OBJECT || fn < 0 ||
                taas_json_kind_of(d, fn) != TAAS_JSON_OBJECT) {
                taas_llm_errf(err, errlen, "tool_calls[%zu] has no \"function\" object", i);
                return -1;
            }
            int args = taas_json_obj_get(d, fn, "arguments", 9);
            taas_llm_tool_call *c = &out->calls[out->n_calls++];
            c->name = taas_llm_json_strdup(d, taas_json_obj_get(d, fn, "name", 4));
            /* An object as documented; a string (some models) is kept as text. */
            c->arguments = args < 0 ? NULL
                           : taas_json_kind_of(d, args) == TAAS_JSON_STRING
                               ? taas_llm_json_strdup(d, args)
                               : taas_llm_json_rawdup(d, args);
            char id[32];
            snprintf(id, sizeof id, "call_%llu",
                     (unsigned long long)atomic_fetch_add(&call_seq, 1) + 1);
            c->id = strdup(id);
            if (!c->id || !c->name || !c->arguments) {
                taas_llm_errf(err, errlen, "tool_calls[%zu] lacks function.name or "
                              "function.arguments", i);
                return -1;
            }
        }
    }
    /* No done_reason (older servers) is an ordinary end. */
    static const char *const end[] = { "stop", "", NULL };
    taas_llm_set_stop(out, d, taas_json_obj_get(d, 0, "done_reason", 11), NULL, end, "length");
    out->input_tokens = taas_llm_json_int(d, 0, "prompt_eval_count");
    out->output_tokens = taas_llm_json_int(d, 0, "eval_count");
    return 0;
}

static int ollama_parse(const char *body, size_t len, taas_llm_reply *out, char *err,
                        size_t errlen)
{
    return taas_llm_parse_reply(body, len, out, err, errlen, ollama_read);
}

static void ollama_error(int status, const char *body, size_t len, char *msg, size_t cap,
                         bool *final)
{
    taas_jdoc d;
    *final = false;
    if (taas_llm_error_json(&d, body, len, msg, cap) != 0)
        return;
    char *m = taas_llm_json_strdup(&d, taas_json_obj_get(&d, 0, "error", 5));
    if (m)
        snprintf(msg, cap, "%s", m);
    else
        taas_llm_snippet(msg, cap, body, len);
    free(m);
    taas_json_free(&d);
}

const taas_llm_provider taas_llm_ollama = {
    .version = TAAS_LLM_PROVIDER_VERSION,
    .name = "ollama",
    .default_base_url = "http://127.0.0.1:11434",
    .default_key_env = NULL,
    .path = "/api/chat",
    .add_headers = taas_llm_bearer_header,
    .write_request = ollama_write,
    .parse_reply = ollama_parse,
    .parse_error = ollama_error,
};
