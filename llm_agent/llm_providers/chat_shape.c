/*
 * llm_agent/llm_providers/chat_shape.c - the chat shape OpenAI's Chat
 * Completions and Ollama's /api/chat share: a system message first, then
 * user, assistant and tool messages, and tools as {"type":"function",
 * "function":{name, description, parameters}}.
 *
 * The two differ in three places only, which `dialect` decides: an
 * assistant message that only called tools has content null (OpenAI) or ""
 * (Ollama); a call carries an id, a type and its arguments as the JSON
 * *string* the model wrote (OpenAI, echoed even when invalid) or only the
 * function with its arguments as an object (Ollama); a tool result names
 * the call's id (OpenAI) or the tool (Ollama).
 */
#include <stdio.h>
#include <string.h>

#include "provider.h"

void taas_llm_bearer_header(const char *key, taas_llm_header_fn add, void *arg)
{
    if (key) {
        char v[1024];
        snprintf(v, sizeof v, "Bearer %s", key);
        add(arg, "Authorization", v);
        memset(v, 0, sizeof v); /* no copy of the key left on the stack */
    }
}

static void write_calls(taas_jw *w, const taas_llm_message *m, taas_llm_dialect dialect)
{
    taas_jw_key(w, "tool_calls");
    taas_jw_arr_begin(w);
    for (size_t k = 0; k < m->n_calls; k++) {
        const taas_llm_tool_call *c = &m->calls[k];
        taas_jw_obj_begin(w);
        if (dialect == TAAS_LLM_DIALECT_OPENAI) {
            taas_jw_key(w, "id");
            taas_jw_str(w, c->id);
            taas_jw_key(w, "type");
            taas_jw_str(w, "function");
        }
        taas_jw_key(w, "function");
        taas_jw_obj_begin(w);
        taas_jw_key(w, "name");
        taas_jw_str(w, c->name);
        taas_jw_key(w, "arguments");
        if (dialect == TAAS_LLM_DIALECT_OPENAI)
            taas_jw_str(w, c->arguments ? c->arguments : "");
        else
            taas_llm_jw_object_or_empty(w, c->arguments);
        taas_jw_obj_end(w);
        taas_jw_obj_end(w);
    }
    taas_jw_arr_end(w);
}

void taas_llm_jw_chat_messages(taas_jw *w, const taas_llm_request *req, taas_llm_dialect dialect)
{
    taas_jw_key(w, "messages");
    taas_jw_arr_begin(w);
    if (req->system) {
        taas_jw_obj_begin(w);
        taas_jw_key(w, "role");
        taas_jw_str(w, "system");
        taas_jw_key(w, "content");
        taas_jw_str(w, req->system);
        taas_jw_obj_end(w);
    }
    for (size_t i = 0; i < req->conv->n; i++) {
        const taas_llm_message *m = &req->conv->msgs[i];
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
            if (dialect == TAAS_LLM_DIALECT_OPENAI)
                taas_jw_str(w, m->text); /* null when it only called tools */
            else
                taas_jw_str(w, m->text ? m->text : "");
            if (m->n_calls)
                write_calls(w, m, dialect);
        } else if (dialect == TAAS_LLM_DIALECT_OPENAI) {
            taas_jw_key(w, "role");
            taas_jw_str(w, "tool");
            taas_jw_key(w, "tool_call_id");
            taas_jw_str(w, m->tool_call_id);
            taas_jw_key(w, "content");
            taas_jw_str(w, m->text ? m->text : "");
        } else {
            taas_jw_key(w, "role");
            taas_jw_str(w, "tool");
            taas_jw_key(w, "content");
            taas_jw_str(w, m->text ? m->text : "");
            taas_jw_key(w, "tool_name");
            taas_jw_str(w, m->tool_name ? m->tool_name : "");
        }
        taas_jw_obj_end(w);
    }
    taas_jw_arr_end(w);
}

void taas_llm_jw_tool_fields(taas_jw *w, const taas_llm_tool *t, const char *schema_key)
{
    taas_jw_key(w, "name");
    taas_jw_str(w, t->name);
    taas_jw_key(w, "description");
    taas_jw_str(w, t->description ? t->description : "");
    taas_jw_key(w, schema_key);
    taas_llm_jw_object_or_empty(w, t->input_schema);
}

void taas_llm_jw_function_tools(taas_jw *w, const taas_llm_request *req)
{
    taas_jw_key(w, "tools");
    taas_jw_arr_begin(w);
    for (size_t i = 0; i < req->n_tools; i++) {
        taas_jw_obj_begin(w);
        taas_jw_key(w, "type");
        taas_jw_str(w, "function");
        taas_jw_key(w, "function");
        taas_jw_obj_begin(w);
        taas_llm_jw_tool_fields(w, &req->tools[i], "parameters");
        taas_jw_obj_end(w);
        taas_jw_obj_end(w);
    }
    taas_jw_arr_end(w);
}
