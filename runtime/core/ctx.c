/*
 * runtime/core/ctx.c - taas_ctx (the author API of taas/taas.h) and taas_run,
 * the one path from JSON inputs to a stored-ready JSON output.
 *
 * A context lives for one execution: it owns the arena that holds the parsed
 * inputs, everything the body allocates and the output struct; progress and
 * cancellation go through the callbacks and the stop flag the caller gives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "run.h"
#include "util/utf8.h"

#define TAAS_TASK_MEMORY_DEFAULT ((size_t)64 << 20)

struct taas_ctx {
    taas_arena arena;
    const char *task_id;
    int attempt;
    taas_progress_fn progress;
    void *progress_arg;
    atomic_int *stop;
    const taas_children_ops *children;
    void *children_arg;
    int fail_kind;
    char fail_msg[1024];
};

static void ctx_init(taas_ctx *c, const taas_run_opts *opts)
{
    taas_arena_init(&c->arena, opts && opts->memory_max ? opts->memory_max
                                                        : TAAS_TASK_MEMORY_DEFAULT);
    c->task_id = opts && opts->task_id ? opts->task_id : "";
    c->attempt = opts && opts->attempt > 0 ? opts->attempt : 1;
    c->progress = opts ? opts->progress : NULL;
    c->progress_arg = opts ? opts->progress_arg : NULL;
    c->stop = opts ? opts->stop : NULL;
    c->children = opts ? opts->children : NULL;
    c->children_arg = opts ? opts->children_arg : NULL;
    c->fail_kind = 0;
    c->fail_msg[0] = '\0';
}

taas_ctx *taas_ctx_new(const taas_run_opts *opts)
{
    taas_ctx *c = malloc(sizeof *c);
    if (c)
        ctx_init(c, opts);
    return c;
}

void taas_ctx_free(taas_ctx *c)
{
    if (!c)
        return;
    taas_arena_free(&c->arena);
    free(c);
}

int taas_ctx_fail_kind(const taas_ctx *c) { return c->fail_kind; }
const char *taas_ctx_fail_message(const taas_ctx *c) { return c->fail_msg; }

/* ---- author API ---------------------------------------------------------- */

void *taas_alloc(taas_ctx *c, size_t size) { return taas_arena_alloc(&c->arena, size); }

char *taas_strndup(taas_ctx *c, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = taas_arena_alloc(&c->arena, n + 1);
    if (p)
        memcpy(p, s, n); /* arena memory is zeroed: p[n] is already NUL */
    return p;
}

char *taas_strdup(taas_ctx *c, const char *s) { return s ? taas_strndup(c, s, strlen(s)) : NULL; }

char *taas_vprintf(taas_ctx *c, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = taas_arena_alloc(&c->arena, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *taas_printf(taas_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = taas_vprintf(c, fmt, ap);
    va_end(ap);
    return p;
}

void taas_progress(taas_ctx *c, double fraction, const char *message)
{
    if (isnan(fraction))
        return;
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    /* The message is stored and sent as a protobuf string: a body that
     * cut a text at a byte count must not make its task unreadable. */
    if (message && !taas_utf8_text_ok(message, strlen(message), NULL)) {
        char *fixed = taas_printf(c, "%s", message);
        if (!fixed)
            return;
        taas_utf8_fix(fixed);
        message = fixed;
    }
    if (c->progress)
        c->progress(c->progress_arg, fraction, message);
}

bool taas_cancelled(taas_ctx *c) { return c->stop && atomic_load(c->stop) != TAAS_STOP_NONE; }

int taas_fail(taas_ctx *c, taas_fail_kind kind, const char *fmt, ...)
{
    if (c->fail_kind == 0) {
        c->fail_kind = kind == TAAS_RETRYABLE ? TAAS_RETRYABLE : TAAS_PERMANENT;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->fail_msg, sizeof c->fail_msg, fmt, ap);
        va_end(ap);
    }
    return TAAS_FAILED;
}

const char *taas_task_id(const taas_ctx *c) { return c->task_id; }
int taas_attempt(const taas_ctx *c) { return c->attempt; }

/* ---- running ------------------------------------------------------------- */

/* Defined here, not beside the registry lookups, so that code validating
 * JSON without running tasks does not need a registry linked in. */
const char *taas_error_format(const taas_error *e, char *buf, size_t cap)
{
    if (e->path[0])
        snprintf(buf, cap, "%s: %s", e->path, e->message);
    else
        snprintf(buf, cap, "%s", e->message);
    return buf;
}


int taas_check_input(const taas_task_type *type, const char *input, size_t input_len,
                     taas_error *err)
{
    taas_ctx c; /* on the stack: the submit path validates without malloc for small inputs */
    ctx_init(&c, NULL);
    int rc = -1;
    void *in = taas_arena_alloc(&c.arena, type->input_size);
    if (!in) {
        err->path[0] = '\0';
        snprintf(err->message, sizeof err->message, "out of memory");
    } else {
        rc = type->parse_input(&c, input, input_len, in, err) == 0 ? 0 : -1;
    }
    taas_arena_free(&c.arena);
    return rc;
}

int taas_run(const taas_task_type *type, const char *input, size_t input_len,
             const taas_run_opts *opts, taas_run_result *res)
{
    memset(res, 0, sizeof *res);
    taas_ctx *c = taas_ctx_new(opts);
    if (!c) {
        res->outcome = TAAS_OUTCOME_FAILED_RETRYABLE;
        snprintf(res->error, sizeof res->error, "out of memory");
        return -1;
    }
    taas_error err = {{0}, {0}};
    char buf[sizeof err.path + sizeof err.message + 4];
    void *in = taas_alloc(c, type->input_size);
    void *out = taas_alloc(c, type->output_size);
    if (!in || !out) {
        res->outcome = TAAS_OUTCOME_FAILED_RETRYABLE;
        snprintf(res->error, sizeof res->error, "out of memory");
        goto done;
    }
    if (type->parse_input(c, input, input_len, in, &err) != 0) {
        res->outcome = TAAS_OUTCOME_INVALID_INPUT;
        snprintf(res->error, sizeof res->error, "invalid inputs: %s",
                 taas_error_format(&err, buf, sizeof buf));
        goto done;
    }

    int rc = type->execute(c, in, out);
    int stop = c->stop ? atomic_load(c->stop) : TAAS_STOP_NONE;
    if (rc != 0 && stop != TAAS_STOP_NONE) {
        res->outcome = TAAS_OUTCOME_STOPPED;
        res->stop_reason = stop;
        snprintf(res->error, sizeof res->error, "%s",
                 stop == TAAS_STOP_TIMEOUT    ? "timed out"
                 : stop == TAAS_STOP_CANCEL   ? "cancelled"
                                              : "interrupted by shutdown");
        goto done;
    }
    if (rc != 0) {
        if (c->fail_kind == TAAS_RETRYABLE) {
            res->outcome = TAAS_OUTCOME_FAILED_RETRYABLE;
            snprintf(res->error, sizeof res->error, "%s", c->fail_msg);
        } else if (c->fail_kind == TAAS_PERMANENT) {
            res->outcome = TAAS_OUTCOME_FAILED_PERMANENT;
            snprintf(res->error, sizeof res->error, "%s", c->fail_msg);
        } else {
            res->outcome = TAAS_OUTCOME_FAILED_PERMANENT;
            snprintf(res->error, sizeof res->error,
                     "%s_execute returned %d without calling taas_fail", type->name, rc);
        }
        goto done;
    }
    if (type->serialize_output(c, out, &res->output, &res->output_len, &err) != 0) {
        res->outcome = TAAS_OUTCOME_INVALID_OUTPUT;
        res->output = NULL;
        res->output_len = 0;
        snprintf(res->error, sizeof res->error, "output does not match the output schema: %s",
                 taas_error_format(&err, buf, sizeof buf));
        goto done;
    }
    res->outcome = TAAS_OUTCOME_SUCCEEDED;
done:
    /* Error texts quote inputs and are cut at a byte count; they are stored
     * and sent as protobuf strings. */
    taas_utf8_fix(res->error);
    taas_ctx_free(c);
    return res->outcome == TAAS_OUTCOME_SUCCEEDED ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Child tasks */

int taas_submit_child(taas_ctx *c, const char *task_name, const char *inputs_json,
                      char id[TAAS_CHILD_ID_SIZE], char *err, size_t errlen)
{
    if (id)
        id[0] = '\0';
    if (!c->children || c->children->version != TAAS_CHILDREN_OPS_VERSION) {
        if (err && errlen)
            snprintf(err, errlen, "child tasks need a server: this body runs outside one");
        return TAAS_FAILED;
    }
    if (!task_name || !id) {
        if (err && errlen)
            snprintf(err, errlen, "a task name and an id buffer are required");
        return TAAS_FAILED;
    }
    char buf[512];
    if (c->children->submit(c->children_arg, task_name, inputs_json ? inputs_json : "{}", id,
                            TAAS_CHILD_ID_SIZE, buf, sizeof buf) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", buf);
        return TAAS_FAILED;
    }
    return 0;
}

int taas_wait_child(taas_ctx *c, const char *child_id, taas_child_result *res)
{
    return taas_wait_child_progress(c, child_id, res, NULL, NULL);
}

int taas_wait_child_progress(taas_ctx *c, const char *child_id, taas_child_result *res,
                             taas_child_progress_fn fn, void *arg)
{
    memset(res, 0, sizeof *res);
    if (!c->children || c->children->version != TAAS_CHILDREN_OPS_VERSION) {
        res->error = "child tasks need a server: this body runs outside one";
        return TAAS_FAILED;
    }
    int state = 0;
    char *output = NULL, *error = NULL;
    int rc = c->children->wait(c->children_arg, child_id ? child_id : "", &state, &output,
                               &error, fn, arg);
    res->state = (taas_child_state)state;
    res->output = output ? taas_strdup(c, output) : NULL;
    res->error = error ? taas_strdup(c, error) : NULL;
    bool oom = (output && !res->output) || (error && !res->error);
    free(output);
    free(error);
    if (oom) {
        res->error = "out of memory";
        return TAAS_FAILED;
    }
    return rc == 0 ? 0 : TAAS_FAILED;
}
