/*
 * llm_agent/llm_providers/openai.c - OpenAI Chat Completions, and every
 * server that speaks it: Ollama's /v1, vLLM, llama.cpp's server, LM Studio.
 *
 * Wire format (openai-openapi): POST {base}/chat/completions with
 * "Authorization: Bearer KEY"; tools as {"type":"function","function":
 * {name, description, parameters}}; the reply's choices[0].message carries
 * content and tool_calls whose `arguments` is a JSON *string* the model
 * wrote, which may be invalid - kept as text for the agent to judge. Tool
 * results go back as one {"role":"tool","tool_call_id",...} message per call,
 * after the assistant message that made the calls. No `strict` flag: strict
 * mode demands additionalProperties:false and every property required, which
 * task schemas with optional inputs do not meet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static int openai_write(const taas_llm_request *req, taas_jw *w, char *err, size_t errlen)
{
    taas_jw_obj_begin(w);
    taas_jw_key(w, "model");
    taas_jw_str(w, req->model);
    taas_jw_key(w, "max_tokens");
    taas_jw_int64(w, req->max_tokens);
    taas_llm_jw_chat_messages(w, req, TAAS_LLM_DIALECT_OPENAI);
    if (req->n_tools) {
        taas_llm_jw_function_tools(w, req);
        taas_jw_key(w, "tool_choice");
        taas_jw_str(w, "auto");
    }
    taas_jw_key(w, "stream");
    taas_jw_bool(w, false);
    taas_jw_obj_end(w);
    if (w->err) {
        taas_llm_errf(err, errlen, "openai: could not write the request (JSON error %d)", w->err);
        return -1;
    }
    return 0;
}

/* The reply in d into out: 0, or -1 with err filled (taas_llm_parse_reply
 * frees what was filled). */
static int openai_read(const taas_jdoc *d, taas_llm_reply *out, char *err, size_t errlen)
{
    int choices = taas_json_obj_get(d, 0, "choices", 7);
    if (taas_json_kind_of(d, 0) != TAAS_JSON_OBJECT || choices < 0 ||
        taas_json_kind_of(d, choices) != TAAS_JSON_ARRAY || d->toks[choices].size < 1) {
        taas_llm_errf(err, errlen, "no \"choices\" array");
        return -1;
    }
    int choice = choices + 1;
    int msg = taas_json_obj_get(d, choice, "message", 7);
    if (msg < 0 || taas_json_kind_of(d, msg) != TAAS_JSON_OBJECT) {
        taas_llm_errf(err, errlen, "choices[0] has no \"message\" object");
        return -1;
    }
    out->text = taas_llm_json_strdup(d, taas_json_obj_get(d, msg, "content", 7));
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
            taas_llm_tool_call *c = &out->calls[out->n_calls++];
            c->id = taas_llm_json_strdup(d, taas_json_obj_get(d, t, "id", 2));
            c->name = taas_llm_json_strdup(d, taas_json_obj_get(d, fn, "name", 4));
            c->arguments = taas_llm_json_strdup(d, taas_json_obj_get(d, fn, "arguments", 9));
            if (!c->id || !c->name || !c->arguments) {
                taas_llm_errf(err, errlen, "tool_calls[%zu] lacks id, function.name or a string "
                              "function.arguments", i);
                return -1;
            }
        }
    }
    /* The calls decide, not the word: some compatible servers say "stop"
     * while calling tools. */
    static const char *const end[] = { "stop", NULL };
    taas_llm_set_stop(out, d, taas_json_obj_get(d, choice, "finish_reason", 13), NULL, end,
                      "length");
    int usage = taas_json_obj_get(d, 0, "usage", 5);
    if (usage >= 0 && taas_json_kind_of(d, usage) == TAAS_JSON_OBJECT) {
        out->input_tokens = taas_llm_json_int(d, usage, "prompt_tokens");
        out->output_tokens = taas_llm_json_int(d, usage, "completion_tokens");
    }
    return 0;
}

static int openai_parse(const char *body, size_t len, taas_llm_reply *out, char *err,
                        size_t errlen)
{
    return taas_llm_parse_reply(body, len, out, err, errlen, openai_read);
}

/* {"error":{"message","type","param","code"}} */
static void openai_error(int status, const char *body, size_t len, char *msg, size_t cap,
                         bool *final)
{
    taas_jdoc d;
    *final = false;
    if (taas_llm_error_json(&d, body, len, msg, cap) != 0)
        return;
    int e = taas_json_obj_get(&d, 0, "error", 5);
    if (e >= 0 && taas_json_kind_of(&d, e) == TAAS_JSON_OBJECT) {
        char *m = taas_llm_json_strdup(&d, taas_json_obj_get(&d, e, "message", 7));
        char *type = taas_llm_json_strdup(&d, taas_json_obj_get(&d, e, "type", 4));
        char *code = taas_llm_json_strdup(&d, taas_json_obj_get(&d, e, "code", 4));
        snprintf(msg, cap, "%s%s%s%s", m ? m : "(no message)", type || code ? " [" : "",
                 code ? code : type ? type : "", type || code ? "]" : "");
        if ((code && !strcmp(code, "insufficient_quota")) ||
            (type && !strcmp(type, "insufficient_quota")))
            *final = true; /* billing, not rate: waiting does not help */
        free(m);
        free(type);
        free(code);
    } else if (e >= 0 && taas_json_kind_of(&d, e) == TAAS_JSON_STRING) {
        char *m = taas_llm_json_strdup(&d, e); /* Ollama's /v1 and others */
        snprintf(msg, cap, "%s", m ? m : "");
        free(m);
    } else {
        taas_llm_snippet(msg, cap, body, len);
    }
    taas_json_free(&d);
}

const taas_llm_provider taas_llm_openai = {
    .version = TAAS_LLM_PROVIDER_VERSION,
    .name = "openai",
    .default_base_url = "https://api.openai.com/v1",
    .default_key_env = "OPENAI_API_KEY",
    .path = "/chat/completions",
    .add_headers = taas_llm_bearer_header,
    .write_request = openai_write,
    .parse_reply = openai_parse,
    .parse_error = openai_error,
};
