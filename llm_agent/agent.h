/*
 * llm_agent/agent.h - the agent loop: a model, a conversation, and tasks
 * as tools.
 *
 * The loop sends the conversation and the allowed tools to the provider;
 * when the model calls tools it runs each call through the caller's
 * executor (which runs the task and returns its output or its error) and
 * sends the results back; it stops at a final answer, or when a step or token
 * limit is reached. A call to a tool that is not offered, or with arguments
 * that are not a JSON object, never reaches the executor: the model is told
 * what was wrong, in a tool result marked as an error, so it can correct
 * itself - as it is when the executor reports a validation error.
 *
 * The loop knows nothing of tasks, stores or threads: the executor, the
 * progress and the cancel callbacks are the caller's. Everything returned is
 * malloc'd; taas_agent_result_free releases it.
 */
#ifndef TAAS_LLM_AGENT_H
#define TAAS_LLM_AGENT_H

#include "llm_providers/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the executor returns for one tool call. Exactly one of output and
 * error is set (malloc'd; the loop frees them); child_id may be set in both
 * cases (the id of the task that ran). */
typedef struct taas_agent_tool_result {
    char *child_id;
    char *output; /* the task's output, JSON text */
    char *error;  /* why it did not produce one: invalid arguments, failure, ... */
} taas_agent_tool_result;

/* Run `tool` with `arguments` (a JSON object's text). Return 0 when *res is
 * filled (success or a tool error for the model), or a TAAS_LLM_E* code to
 * stop the whole loop (TAAS_LLM_ECANCELLED when the agent was cancelled). */
typedef int (*taas_agent_exec_fn)(void *arg, const char *tool, const char *arguments,
                                  taas_agent_tool_result *res);
/* A line of progress: "step 2/8: calling my_custom_task". */
typedef void (*taas_agent_progress_fn)(void *arg, int step, int max_steps, const char *message);

typedef struct taas_agent_opts {
    const taas_llm_config *cfg;
    const char *model;            /* NULL = cfg->model */
    const char *system;           /* NULL = none */
    const char *prompt;
    const taas_llm_tool *tools;
    size_t n_tools;
    int max_steps;                /* model calls; > 0 */
    int64_t max_total_tokens;     /* input + output over all calls; 0 = no limit */
    taas_agent_exec_fn exec;
    void *exec_arg;
    taas_agent_progress_fn progress; /* may be NULL */
    void *progress_arg;
    taas_llm_cancel_fn cancel;    /* may be NULL */
    void *cancel_arg;
} taas_agent_opts;

typedef struct taas_agent_step {
    int turn;          /* the model call (1-based) that asked for it */
    char *tool;
    char *call_id;
    char *child_id;    /* NULL when the call never ran (unknown tool, bad JSON) */
    char *arguments;   /* as the model sent them */
    char *output;      /* JSON text, or NULL */
    char *error;       /* or NULL */
} taas_agent_step;

typedef struct taas_agent_result {
    char *answer;            /* the final text ("" when a limit stopped the loop) */
    const char *stop_reason; /* "answer", "max_steps", "max_tokens", "length", "other"; static */
    taas_agent_step *steps;
    size_t n_steps;
    int model_calls;
    int http_requests;       /* retries included */
    int64_t input_tokens;
    int64_t output_tokens;
} taas_agent_result;

void taas_agent_result_free(taas_agent_result *r);

/*
 * Run the loop. Returns 0 with *out filled (an answer, or a limit reached:
 * see stop_reason), or a TAAS_LLM_E* code with err filled and *out holding
 * the steps taken so far (free it in both cases).
 */
int taas_agent_run(const taas_agent_opts *opts, taas_agent_result *out, char *err,
                   size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_LLM_AGENT_H */
