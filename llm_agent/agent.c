/*
 * llm_agent/agent.c - the agent loop (see agent.h).
 *
 * Why the checks live here and not in the executor: an unknown tool name
 * and arguments that are not a JSON object are the model's mistakes whatever
 * the tools are, and the cheapest correction is to tell it at once, in the
 * tool-result slot the API reserves for that call (every call must get a
 * result, or the next request is rejected by the API).
 */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void step_free(taas_agent_step *s)
{
    free(s->tool);
    free(s->call_id);
    free(s->child_id);
    free(s->arguments);
    free(s->output);
    free(s->error);
}

void taas_agent_result_free(taas_agent_result *r)
{
    free(r->answer);
    for (size_t i = 0; i < r->n_steps; i++)
        step_free(&r->steps[i]);
    free(r->steps);
    memset(r, 0, sizeof *r);
}

static taas_agent_step *push_step(taas_agent_result *r, size_t *cap)
{
    if (r->n_steps == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        taas_agent_step *s = realloc(r->steps, c * sizeof *s);
        if (!s)
            return NULL;
        r->steps = s;
        *cap = c;
    }
    taas_agent_step *s = &r->steps[r->n_steps++];
    memset(s, 0, sizeof *s);
    return s;
}

static const taas_llm_tool *find_tool(const taas_agent_opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_tools; i++) {
        if (!strcmp(o->tools[i].name, name))
            return &o->tools[i];
    }
    return NULL;
}

/* "unknown tool \"x\"; the tools are: a, b" (malloc'd). */
static char *unknown_tool_message(const taas_agent_opts *o, const char *name)
{
    size_t cap = 128 + strlen(name);
    for (size_t i = 0; i < o->n_tools; i++)
        cap += strlen(o->tools[i].name) + 2;
    char *m = malloc(cap);
    if (!m)
        return NULL;
    size_t n = (size_t)snprintf(m, cap, "unknown tool \"%s\"; the tools are: ", name);
    if (o->n_tools == 0)
        n += (size_t)snprintf(m + n, cap - n, "(none)");
    for (size_t i = 0; i < o->n_tools && n < cap; i++)
        n += (size_t)snprintf(m + n, cap - n, "%s%s", i ? ", " : "", o->tools[i].name);
    return m;
}

/* NULL when args is a JSON object; else why not (malloc'd). */
static char *check_arguments(const char *args)
{
    taas_jdoc d;
    char perr[200];
    char msg[320];
    if (taas_json_parse(&d, args, strlen(args), NULL, perr, sizeof perr) != 0) {
        snprintf(msg, sizeof msg, "the arguments are not valid JSON (%s); send a JSON object "
                 "matching the tool's input schema", perr);
        return strdup(msg);
    }
    bool obj = taas_json_kind_of(&d, 0) == TAAS_JSON_OBJECT;
    taas_json_free(&d);
    if (!obj)
        return strdup("the arguments must be a JSON object matching the tool's input schema");
    return NULL;
}

int taas_agent_run(const taas_agent_opts *o, taas_agent_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->stop_reason = "other";
    taas_llm_conv conv = {0};
    size_t steps_cap = 0;
    int rc = TAAS_LLM_OK;
    char line[256];

    if (taas_llm_conv_user(&conv, o->prompt ? o->prompt : "") != 0) {
        taas_llm_errf(err, errlen, "out of memory");
        return TAAS_LLM_ENOMEM;
    }
    taas_llm_request req = {
        .model = o->model && *o->model ? o->model : o->cfg->model,
        .system = o->system && *o->system ? o->system : NULL,
        .conv = &conv,
        .tools = o->tools,
        .n_tools = o->n_tools,
        .max_tokens = o->cfg->max_tokens > 0 ? o->cfg->max_tokens : 1024,
    };

    for (int turn = 1;; turn++) {
        if (turn > o->max_steps) {
            out->stop_reason = "max_steps";
            break;
        }
        if (o->max_total_tokens > 0 &&
            out->input_tokens + out->output_tokens >= o->max_total_tokens) {
            out->stop_reason = "max_tokens";
            break;
        }
        if (o->progress) {
            snprintf(line, sizeof line, "step %d/%d: asking the model", turn, o->max_steps);
            o->progress(o->progress_arg, turn, o->max_steps, line);
        }
        taas_llm_reply reply;
        int attempts = 0;
        rc = taas_llm_call(o->cfg, &req, o->cancel, o->cancel_arg, &reply, &attempts, err,
                           errlen);
        out->http_requests += attempts;
        if (rc != TAAS_LLM_OK)
            break;
        out->model_calls++;
        out->input_tokens += reply.input_tokens;
        out->output_tokens += reply.output_tokens;

        if (reply.n_calls == 0) {
            out->answer = reply.text ? reply.text : strdup("");
            reply.text = NULL;
            out->stop_reason = reply.stop == TAAS_LLM_STOP_LENGTH ? "length"
                               : reply.stop == TAAS_LLM_STOP_END  ? "answer"
                                                                  : "other";
            taas_llm_reply_free(&reply);
            if (!out->answer) {
                rc = TAAS_LLM_ENOMEM;
                taas_llm_errf(err, errlen, "out of memory");
            }
            break;
        }
        if (turn == o->max_steps) {
            /* Results could not be sent back within the limit: do not run them. */
            taas_llm_reply_free(&reply);
            out->stop_reason = "max_steps";
            break;
        }
        /* The assistant turn goes into the conversation first: its calls
         * then get their results in the same order. */
        size_t at = conv.n;
        if (taas_llm_conv_take_reply(&conv, &reply) != 0) {
            taas_llm_reply_free(&reply);
            rc = TAAS_LLM_ENOMEM;
            taas_llm_errf(err, errlen, "out of memory");
            break;
        }
        for (size_t k = 0; rc == TAAS_LLM_OK && k < conv.msgs[at].n_calls; k++) {
            const taas_llm_tool_call *call = &conv.msgs[at].calls[k];
            taas_agent_step *s = push_step(out, &steps_cap);
            if (!s) {
                rc = TAAS_LLM_ENOMEM;
                taas_llm_errf(err, errlen, "out of memory");
                break;
            }
            s->turn = turn;
            s->tool = strdup(call->name);
            s->call_id = strdup(call->id);
            s->arguments = strdup(call->arguments);
            if (o->progress) {
                snprintf(line, sizeof line, "step %d/%d: calling %.64s", turn, o->max_steps,
                         call->name);
                o->progress(o->progress_arg, turn, o->max_steps, line);
            }
            if (!find_tool(o, call->name)) {
                s->error = unknown_tool_message(o, call->name);
            } else if ((s->error = check_arguments(call->arguments)) == NULL) {
                taas_agent_tool_result tr = {0};
                rc = o->exec(o->exec_arg, call->name, call->arguments, &tr);
                s->child_id = tr.child_id;
                s->output = tr.output;
                s->error = tr.error;
                if (rc != TAAS_LLM_OK) {
                    if (rc == TAAS_LLM_ECANCELLED)
                        taas_llm_errf(err, errlen, "cancelled while %s ran", call->name);
                    else
                        taas_llm_errf(err, errlen, "running %s: %s", call->name,
                                      s->error ? s->error : "failed");
                    break;
                }
                if (!s->output && !s->error)
                    s->error = strdup("the tool returned nothing");
            }
            if (!s->tool || !s->call_id || !s->arguments || (!s->output && !s->error) ||
                taas_llm_conv_tool_result(&conv, call->id, call->name,
                                          s->output ? s->output : s->error,
                                          s->output == NULL) != 0) {
                rc = TAAS_LLM_ENOMEM;
                taas_llm_errf(err, errlen, "out of memory");
            }
        }
        if (rc != TAAS_LLM_OK)
            break;
    }
    if (rc == TAAS_LLM_OK && !out->answer) {
        out->answer = strdup("");
        if (!out->answer) {
            rc = TAAS_LLM_ENOMEM;
            taas_llm_errf(err, errlen, "out of memory");
        }
    }
    taas_llm_conv_free(&conv);
    return rc;
}
