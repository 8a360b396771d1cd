/*
 * llm_agent/llm_providers/anthropic.c - the Anthropic Messages API.
 *
 * Wire format (anthropic-sdk-python types): POST {base}/v1/messages with
 * `x-api-key` and `anthropic-version: 2023-06-01`; model, max_tokens and
 * messages required; the system prompt is a top-level field, not a message.
 * Replies are content blocks: text, and tool_use whose `input` is already an
 * object (kept as its JSON text). Tool results go back in ONE user message
 * holding a tool_result block per tool_use, and nothing before them (the API
 * answers 400 to text placed ahead of tool results), so consecutive results
 * of our conversation are merged into one message here. A 529
 * overloaded_error is a 5xx to the shared retry logic: backed off, retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static void anthropic_headers(const char *key, taas_llm_header_fn add, void *arg)
{
    if (key)
        add(arg, "x-api-key", key);
    add(arg, "anthropic-version", "2023-06-01");
}

static int anthropic_write(const taas_llm_request *req, taas_jw *w, char *err, size_t errlen)
{
    taas_jw_obj_begin(w);
    taas_jw_key(w, "model");
    taas_jw_str(w, req->model);
    taas_jw_key(w, "max_tokens");
    taas_jw_int64(w, req->max_tokens);
    if (req->system) {
        taas_jw_key(w, "system");
        taas_jw_str(w, req->system);
    }
    taas_jw_key(w, "messages");
    taas_jw_arr_begin(w);
    const taas_llm_conv *c = req->conv;
    for (size_t i = 0; i < c->n; i++) {
        const taas_llm_message *m = &c->msgs[i];
        taas_jw_obj_begin(w);
        if (m->role == TAAS_LLM_USER) {
            taas_jw_key(w, "role");
            taas_jw_str(w, "user");
            taas_jw_key(w, "content");
            taas_jw_str(w, m->text ? m->text : "");
        } else if (m->role == TAAS_LLM_ASSISTANT) {
            taas_jw_key(w, "role");
            taas_jw_str(w, "assistant");
            taas_jw_key(w, "content");
            taas_jw_arr_begin(w);
            if (m->text && *m->text) {
                taas_jw_obj_begin(w);
                taas_jw_key(w, "type");
                taas_jw_str(w, "text");
                taas_jw_key(w, "text");
                taas_jw_str(w, m->text);
                taas_jw_obj_end(w);
            }
            for (size_t k = 0; k < m->n_calls; k++) {
                taas_jw_obj_begin(w);
                taas_jw_key(w, "type");
                taas_jw_str(w, "tool_use");
                taas_jw_key(w, "id");
                taas_jw_str(w, m->calls[k].id);
                taas_jw_key(w, "name");
                taas_jw_str(w, m->calls[k].name);
                taas_jw_key(w, "input");
                taas_llm_jw_object_or_empty(w, m->calls[k].arguments);
                taas_jw_obj_end(w);
            }
            taas_jw_arr_end(w);
        } else {
            /* One user message for this run of tool results. */
            taas_jw_key(w, "role");
            taas_jw_str(w, "user");
            taas_jw_key(w, "content");
            taas_jw_arr_begin(w);
            for (; i < c->n && c->msgs[i].role == TAAS_LLM_TOOL; i++) {
                const taas_llm_message *r = &c->msgs[i];
                taas_jw_obj_begin(w);
                taas_jw_key(w, "type");
                taas_jw_str(w, "tool_result");
                taas_jw_key(w, "tool_use_id");
                taas_jw_str(w, r->tool_call_id);
                taas_jw_key(w, "content");
                taas_jw_str(w, r->text ? r->text : "");
                taas_jw_key(w, "is_error");
                taas_jw_bool(w, r->is_error);
                taas_jw_obj_end(w);
            }
            i--; /* the for loop steps past the last result */
            taas_jw_arr_end(w);
        }
        taas_jw_obj_end(w);
    }
    taas_jw_arr_end(w);
    if (req->n_tools) {
        taas_jw_key(w, "tools");
        taas_jw_arr_begin(w);
        for (size_t i = 0; i < req->n_tools; i++) {
            taas_jw_obj_begin(w);
            taas_llm_jw_tool_fields(w, &req->tools[i], "input_schema");
            taas_jw_obj_end(w);
        }
        taas_jw_arr_end(w);
    }
    taas_jw_obj_end(w);
    if (w->err) {
        taas_llm_errf(err, errlen, "anthropic: could not write the request (JSON error %d)",
                      w->err);
        return -1;
    }
    return 0;
}

/* The reply in d into out: 0, or -1 with err filled (taas_llm_parse_reply
 * frees what was filled). */
static int anthropic_read(const taas_jdoc *d, taas_llm_reply *out, char *err, size_t errlen)
{
    int content = taas_json_obj_get(d, 0, "content", 7);
    if (taas_json_kind_of(d, 0) != TAAS_JSON_OBJECT || content < 0 ||
        taas_json_kind_of(d, content) != TAAS_JSON_ARRAY) {
        taas_llm_errf(err, errlen, "no \"content\" array");
        return -1;
    }
    size_t n = (size_t)d->toks[content].size;
    if (n) {
        out->calls = calloc(n, sizeof *out->calls);
        if (!out->calls)
            return -1;
    }
    int t = content + 1;
    for (size_t i = 0; i < n; i++, t = taas_json_next(d, t)) {
        int type = taas_json_obj_get(d, t, "type", 4);
        if (taas_json_kind_of(d, t) != TAAS_JSON_OBJECT || type < 0) {
            taas_llm_errf(err, errlen, "content[%zu] has no \"type\"", i);
            return -1;
        }
        if (taas_json_str_eq(d, type, "text", 4)) {
            char *s = taas_llm_json_strdup(d, taas_json_obj_get(d, t, "text", 4));
            if (!s) {
                taas_llm_errf(err, errlen, "content[%zu] text block has no \"text\"", i);
                return -1;
            }
            if (!out->text) {
                out->text = s;
            } else { /* several text blocks read as one answer */
                size_t a = strlen(out->text), b = strlen(s);
                char *j = realloc(out->text, a + b + 1);
                if (!j) {
                    free(s);
                    return -1;
                }
                memcpy(j + a, s, b + 1);
                out->text = j;
                free(s);
            }
        } else if (taas_json_str_eq(d, type, "tool_use", 8)) {
            int input = taas_json_obj_get(d, t, "input", 5);
            taas_llm_tool_call *c = &out->calls[out->n_calls++];
            c->id = taas_llm_json_strdup(d, taas_json_obj_get(d, t, "id", 2));
            c->name = taas_llm_json_strdup(d, taas_json_obj_get(d, t, "name", 4));
            c->arguments = input >= 0 ? taas_llm_json_rawdup(d, input) : NULL;
            if (!c->id || !c->name || !c->arguments) {
                taas_llm_errf(err, errlen, "content[%zu] tool_use lacks id, name or input", i);
                return -1;
            }
        }
        /* Other blocks (thinking, ...) carry nothing the agent uses. */
    }
    static const char *const end[] = { "end_turn", "stop_sequence", NULL };
    taas_llm_set_stop(out, d, taas_json_obj_get(d, 0, "stop_reason", 11), "tool_use", end,
                      "max_tokens");
    int usage = taas_json_obj_get(d, 0, "usage", 5);
    if (usage >= 0 && taas_json_kind_of(d, usage) == TAAS_JSON_OBJECT) {
        out->input_tokens = taas_llm_json_int(d, usage, "input_tokens") +
                            taas_llm_json_int(d, usage, "cache_creation_input_tokens") +
                            taas_llm_json_int(d, usage, "cache_read_input_tokens");
        out->output_tokens = taas_llm_json_int(d, usage, "output_tokens");
    }
    return 0;
}

static int anthropic_parse(const char *body, size_t len, taas_llm_reply *out, char *err,
                           size_t errlen)
{
    return taas_llm_parse_reply(body, len, out, err, errlen, anthropic_read);
}

/* {"type":"error","error":{"type":"rate_limit_error","message"},"request_id"} */
static void anthropic_error(int status, const char *body, size_t len, char *msg, size_t cap,
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
        snprintf(msg, cap, "%s [%s]", m ? m : "(no message)", type ? type : "error");
        free(m);
        free(type);
    } else {
        taas_llm_snippet(msg, cap, body, len);
    }
    taas_json_free(&d);
}

const taas_llm_provider taas_llm_anthropic = {
    .version = TAAS_LLM_PROVIDER_VERSION,
    .name = "anthropic",
    .default_base_url = "https://api.anthropic.com",
    .default_key_env = "ANTHROPIC_API_KEY",
    .path = "/v1/messages",
    .add_headers = anthropic_headers,
    .write_request = anthropic_write,
    .parse_reply = anthropic_parse,
    .parse_error = anthropic_error,
};
