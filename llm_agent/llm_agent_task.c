/*
 * llm_agent/llm_agent_task.c - the body of the llm_agent task: the agent
 * loop of agent.c with the task registry as its tools.
 *
 * Tools are the task types the inputs allow, offered with their name,
 * description and input schema exactly as the registry holds them. A tool
 * call runs that task as a child of the agent (taas_submit_child): its
 * arguments are validated at submit like any client's (a violation goes
 * back to the model as "invalid inputs for my_custom_task: /param2: expected
 * number, got string"), its output is checked against its output schema, and
 * cancelling the agent cancels it.
 *
 * Provider and model come from the inputs or the server's environment
 * (taas_llm_config_from_env); the base URL and the API key variable only
 * from the server's environment, never from a client, so that a request can
 * neither send the server's key to a host of its choosing nor make the
 * server fetch arbitrary URLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "llm_agent.h"
#include "taas/registry.h"

typedef struct agent_run {
    taas_ctx *ctx;
    int step;
    int max_steps;
} agent_run;

static bool is_cancelled(void *arg) { return taas_cancelled(((agent_run *)arg)->ctx); }

static void on_agent_progress(void *arg, int step, int max_steps, const char *message)
{
    agent_run *r = arg;
    r->step = step;
    r->max_steps = max_steps;
    taas_progress(r->ctx, (double)(step - 1) / (double)max_steps, message);
}

/* The step's child is running: its progress becomes the agent's, within
 * the step ("step 2/8: countdown 01a2...: 3 seconds left"). */
typedef struct child_watch {
    agent_run *r;
    const char *tool;
    const char *id;
} child_watch;

static void on_child_progress(void *arg, double fraction, const char *message)
{
    child_watch *w = arg;
    agent_run *r = w->r;
    if (!message[0] && fraction <= 0)
        return; /* not started yet: the "running as task" line says it all */
    char line[400];
    snprintf(line, sizeof line, "step %d/%d: %.64s %s: %s%.200s", r->step, r->max_steps,
             w->tool, w->id, message[0] ? "" : "running", message);
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    taas_progress(r->ctx, ((double)(r->step - 1) + fraction) / (double)r->max_steps, line);
}

/*
 * A tool call is a child task of the agent (taas_submit_child): stored with
 * the agent's id, run by any worker, cancelled with the agent. A submit the
 * task refuses (its input schema) comes back at once with the JSON Pointer
 * of the bad value, and goes to the model as the call's error.
 */
static int exec_tool(void *arg, const char *tool, const char *arguments,
                     taas_agent_tool_result *res)
{
    agent_run *r = arg;
    char id[TAAS_CHILD_ID_SIZE], err[600];
    if (taas_submit_child(r->ctx, tool, arguments, id, err, sizeof err) != 0) {
        res->error = strdup(err);
        return TAAS_LLM_OK;
    }
    res->child_id = strdup(id);
    char line[160];
    snprintf(line, sizeof line, "step %d/%d: %.64s running as task %s", r->step, r->max_steps,
             tool, id);
    taas_progress(r->ctx, (double)(r->step - 1) / (double)r->max_steps, line);
    taas_child_result cr;
    child_watch cw = {r, tool, id};
    if (taas_wait_child_progress(r->ctx, id, &cr, on_child_progress, &cw) != 0) {
        res->error = strdup(cr.error ? cr.error : "stopped");
        return taas_cancelled(r->ctx) ? TAAS_LLM_ECANCELLED : TAAS_LLM_OK;
    }
    if (cr.state == TAAS_CHILD_SUCCEEDED) {
        res->output = strdup(cr.output ? cr.output : "{}");
    } else {
        char msg[1200];
        snprintf(msg, sizeof msg, "the task %s: %s",
                 cr.state == TAAS_CHILD_CANCELLED ? "was cancelled" : "failed",
                 cr.error ? cr.error : "(no message)");
        res->error = strdup(msg);
    }
    return TAAS_LLM_OK;
}

static const char *const provider_names[] = {"openai", "anthropic", "ollama"};

int llm_agent_execute(taas_ctx *ctx, const llm_agent_input *in, llm_agent_output *out)
{
    char err[1024];
    taas_llm_config cfg;
    const char *pname = NULL;
    if (in->has_provider) {
        if ((size_t)in->provider >= sizeof provider_names / sizeof provider_names[0])
            return taas_fail(ctx, TAAS_PERMANENT, "unknown provider");
        pname = provider_names[in->provider];
    }
    if (taas_llm_config_from_env(&cfg, pname, err, sizeof err) != 0)
        return taas_fail(ctx, TAAS_PERMANENT, "LLM configuration: %s", err);
    const char *model = in->has_model ? in->model : cfg.model;
    if (!model[0])
        return taas_fail(ctx, TAAS_PERMANENT,
                         "no model: give `model` or configure TAAS_LLM_MODEL (or "
                         "TAAS_LLM_%s_MODEL) on the server",
                         !strcmp(cfg.provider, "openai")      ? "OPENAI"
                         : !strcmp(cfg.provider, "anthropic") ? "ANTHROPIC"
                                                              : "OLLAMA");

    /* The tools: the allowed task types, each once, never the agent itself
     * (an agent calling agents has no bound on its cost). */
    taas_llm_tool *tools = taas_alloc(ctx, (taas_registry_count + 1) * sizeof *tools);
    if (!tools)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    size_t n_tools = 0;
    for (size_t i = 0; i < taas_registry_count; i++) {
        const taas_task_type *t = taas_registry[i];
        bool allowed = false;
        for (size_t k = 0; k < in->tools.len && !allowed; k++)
            allowed = !strcmp(in->tools.items[k], "*") || !strcmp(in->tools.items[k], t->name);
        if (allowed && strcmp(t->name, "llm_agent") != 0)
            tools[n_tools++] = (taas_llm_tool){t->name, t->description, t->input_schema};
    }
    for (size_t k = 0; k < in->tools.len; k++) {
        const char *name = in->tools.items[k];
        if (strcmp(name, "*") != 0 && !taas_registry_find(name))
            return taas_fail(ctx, TAAS_PERMANENT, "/tools/%zu: no task type named \"%s\"", k,
                             name);
        if (!strcmp(name, "llm_agent"))
            return taas_fail(ctx, TAAS_PERMANENT,
                             "/tools/%zu: llm_agent cannot be a tool of itself", k);
    }

    agent_run run = {ctx, 1, (int)in->max_steps};
    taas_agent_opts opts = {
        .cfg = &cfg,
        .model = model,
        .system = in->has_system ? in->system : NULL,
        .prompt = in->prompt,
        .tools = tools,
        .n_tools = n_tools,
        .max_steps = (int)in->max_steps,
        .max_total_tokens = in->max_tokens,
        .exec = exec_tool,
        .exec_arg = &run,
        .progress = on_agent_progress,
        .progress_arg = &run,
        .cancel = is_cancelled,
        .cancel_arg = &run,
    };
    taas_agent_result res;
    int rc = taas_agent_run(&opts, &res, err, sizeof err);
    if (rc != TAAS_LLM_OK) {
        taas_agent_result_free(&res);
        return taas_fail(ctx,
                         rc == TAAS_LLM_ECANCELLED || taas_llm_error_is_transient(rc)
                             ? TAAS_RETRYABLE
                             : TAAS_PERMANENT,
                         "%s", err);
    }

    out->answer = taas_strdup(ctx, res.answer);
    out->stop_reason = !strcmp(res.stop_reason, "answer")       ? LLM_AGENT_OUTPUT_STOP_REASON_ANSWER
                       : !strcmp(res.stop_reason, "max_steps")  ? LLM_AGENT_OUTPUT_STOP_REASON_MAX_STEPS
                       : !strcmp(res.stop_reason, "max_tokens") ? LLM_AGENT_OUTPUT_STOP_REASON_MAX_TOKENS
                       : !strcmp(res.stop_reason, "length")     ? LLM_AGENT_OUTPUT_STOP_REASON_LENGTH
                                                                : LLM_AGENT_OUTPUT_STOP_REASON_OTHER;
    out->provider = taas_strdup(ctx, cfg.provider);
    out->model = taas_strdup(ctx, model);
    out->usage.input_tokens = res.input_tokens;
    out->usage.output_tokens = res.output_tokens;
    out->usage.model_calls = res.model_calls;
    out->usage.http_requests = res.http_requests;
    out->steps.len = res.n_steps;
    out->steps.items = res.n_steps ? taas_alloc(ctx, res.n_steps * sizeof *out->steps.items) : NULL;
    bool oom = !out->answer || !out->provider || !out->model ||
               (res.n_steps && !out->steps.items);
    for (size_t i = 0; !oom && i < res.n_steps; i++) {
        const taas_agent_step *s = &res.steps[i];
        llm_agent_output_steps_item *o = &out->steps.items[i];
        o->turn = s->turn;
        o->tool = taas_strdup(ctx, s->tool);
        o->call_id = taas_strdup(ctx, s->call_id);
        o->inputs = taas_strdup(ctx, s->arguments);
        o->has_child_task_id = s->child_id != NULL;
        o->child_task_id = taas_strdup(ctx, s->child_id);
        o->has_output = s->output != NULL;
        o->output = taas_strdup(ctx, s->output);
        o->has_error = s->error != NULL;
        o->error = taas_strdup(ctx, s->error);
        oom = !o->tool || !o->call_id || !o->inputs || (s->child_id && !o->child_task_id) ||
              (s->output && !o->output) || (s->error && !o->error);
    }
    taas_agent_result_free(&res);
    if (oom)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    taas_progress(ctx, 1.0, "done");
    return 0;
}
