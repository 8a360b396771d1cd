/*
 * runtime/core/run.h - executing one task body: the context behind taas_ctx
 * and the JSON-in, JSON-out path every caller (engine, local runner, tests)
 * goes through.
 */
#ifndef TAAS_CORE_RUN_H
#define TAAS_CORE_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "taas/registry.h"
#include "taas/taas.h"

/* Called from the body's thread on every taas_progress(). */
typedef void (*taas_progress_fn)(void *arg, double fraction, const char *message);

/* Why a running body is asked to stop (see taas_cancelled). */
enum {
    TAAS_STOP_NONE = 0,
    TAAS_STOP_CANCEL = 1,   /* a client cancelled the task */
    TAAS_STOP_TIMEOUT = 2,  /* the task's deadline passed */
    TAAS_STOP_SHUTDOWN = 3  /* the server is shutting down */
};

/* The outcome of taas_run(). */
typedef enum taas_outcome {
    TAAS_OUTCOME_SUCCEEDED = 0,
    TAAS_OUTCOME_FAILED_RETRYABLE,
    TAAS_OUTCOME_FAILED_PERMANENT,
    TAAS_OUTCOME_INVALID_INPUT,   /* inputs did not parse (permanent) */
    TAAS_OUTCOME_INVALID_OUTPUT,  /* body's output broke the output schema (permanent) */
    TAAS_OUTCOME_STOPPED          /* body returned after taas_cancelled() was true */
} taas_outcome;

/*
 * Child tasks (taas_submit_child / taas_wait_child) as the runner provides
 * them: the engine in a server; absent elsewhere, where those calls fail
 * with "child tasks need a server". Strings returned through `output` and
 * `error` are malloc'd (the context copies them into its arena and frees).
 */
#define TAAS_CHILDREN_OPS_VERSION 2
typedef struct taas_children_ops {
    int version;
    /* Submit; 0 with the id in id_out, or -1 with err filled. */
    int (*submit)(void *arg, const char *name, const char *inputs_json, char *id_out,
                  size_t id_cap, char *err, size_t errlen);
    /* Wait for a final state: 0 with *state (a taas_child_state) and
     * *output or *error set; -1 with *error set when the waiting body was
     * asked to stop or the child cannot be read. `progress` (may be NULL)
     * is called with `parg` each time the child's stored progress or
     * message changes while it runs. */
    int (*wait)(void *arg, const char *id, int *state, char **output, char **error,
                void (*progress)(void *parg, double fraction, const char *message), void *parg);
} taas_children_ops;

typedef struct taas_run_opts {
    const char *task_id;          /* may be NULL */
    int attempt;                  /* 1-based; 0 means 1 */
    size_t memory_max;            /* arena cap; 0 = TAAS_TASK_MEMORY_MAX default (64 MiB) */
    taas_progress_fn progress;    /* may be NULL */
    void *progress_arg;
    atomic_int *stop;             /* TAAS_STOP_*; may be NULL (never stopped) */
    const taas_children_ops *children; /* may be NULL: no child tasks */
    void *children_arg;
} taas_run_opts;

typedef struct taas_run_result {
    taas_outcome outcome;
    char *output;                 /* malloc'd JSON on success, else NULL; caller frees */
    size_t output_len;
    char error[1024];             /* failure message ("" on success) */
    int stop_reason;              /* TAAS_STOP_* observed when outcome == STOPPED */
} taas_run_result;

/*
 * Parse `input` into the task's input struct, run its body, serialize and
 * check the output. Blocks for as long as the body runs. Always fills *res;
 * returns 0 when the outcome is SUCCEEDED, -1 otherwise.
 */
int taas_run(const taas_task_type *type, const char *input, size_t input_len,
             const taas_run_opts *opts, taas_run_result *res);

/*
 * Only validate `input` against the type's input schema, as a submit does
 * before anything is stored. Returns 0, or -1 with *err filled.
 */
int taas_check_input(const taas_task_type *type, const char *input, size_t input_len,
                     taas_error *err);

/* Context lifecycle, for code that drives parse/execute itself (tests, fuzzers). */
taas_ctx *taas_ctx_new(const taas_run_opts *opts);
void taas_ctx_free(taas_ctx *ctx);
/* The failure recorded by taas_fail (kind 0 when none), and its message. */
int taas_ctx_fail_kind(const taas_ctx *ctx);
const char *taas_ctx_fail_message(const taas_ctx *ctx);

#endif /* TAAS_CORE_RUN_H */
