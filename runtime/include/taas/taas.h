/*
 * taas/taas.h - the API a task body is written against.
 *
 * A task `foo` is declared in task-specs/foo.yaml; the generator writes
 * generated/foo.h with the `foo_input` and `foo_output` structs and the
 * prototype the author implements, in any .c file:
 *
 *     int foo_execute(taas_ctx *ctx, const foo_input *in, foo_output *out);
 *
 * Threads. A body runs on one of the server's worker threads (TAAS_WORKERS of
 * them), never on the thread that serves network calls. Several bodies, of
 * the same or of different tasks, run at the same time on different threads:
 * a body must not keep mutable global state without its own locking. All
 * functions in this header are safe to call from the body's thread with the
 * body's own `ctx`; a `ctx` must not be shared with other threads.
 *
 * Memory. Everything reachable from `in` and everything the body allocates
 * with taas_alloc / taas_strdup / taas_printf lives in the task's arena and
 * is freed by the runtime after the output has been serialized and stored.
 * A body never frees any of it, and must not keep pointers into it after it
 * returns. Strings placed in `out` may point into the arena, into `in`, or
 * at string literals.
 *
 * Results. Return 0 after filling `out` for success. To fail, return the
 * value of taas_fail(): TAAS_RETRYABLE failures are retried while the spec's
 * `retries` allow, TAAS_PERMANENT ones never are. A body's output is checked
 * against the spec's output schema before it is stored; an output that does
 * not conform fails the task (permanently) with the JSON Pointer of the first
 * violation - an invalid result is never stored as a success.
 *
 * Cancellation and deadlines. Long bodies call taas_cancelled() in their
 * loops and return promptly when it is true, by returning taas_fail(...) (any
 * kind): the task then ends CANCELLED, or FAILED with a timeout error when
 * the stop came from its deadline. A body that returns 0 with a valid output
 * despite the request has finished its work, and its result is kept.
 */
#ifndef TAAS_TAAS_H
#define TAAS_TAAS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TAAS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define TAAS_MALLOC __attribute__((malloc))
#else
#define TAAS_PRINTF(fmt, args)
#define TAAS_MALLOC
#endif

/* The per-execution context: arena, progress, cancellation, failure. Opaque. */
typedef struct taas_ctx taas_ctx;

/*
 * Raw JSON text, used for an object schema with no declared properties (a
 * free-form configuration, say) and for values whose schema has no single C
 * type. `text` is valid, NUL-terminated JSON of `len` bytes.
 */
typedef struct taas_json {
    const char *text;
    size_t len;
} taas_json;

/* How a failure should be treated. */
typedef enum taas_fail_kind {
    TAAS_RETRYABLE = 1, /* transient: try again while the spec's retries allow */
    TAAS_PERMANENT = 2  /* the same inputs will fail again: never retried */
} taas_fail_kind;

/* The value every failing path of a body returns (taas_fail returns it). */
#define TAAS_FAILED (-1)

/*
 * Allocate `size` zeroed bytes from the task's arena, aligned for any type.
 * Returns NULL only when the task's memory cap (TAAS_TASK_MEMORY_MAX, default
 * 64 MiB) is reached or the system is out of memory; the body should then
 * `return taas_fail(ctx, TAAS_PERMANENT, "out of memory")`.
 */
TAAS_MALLOC void *taas_alloc(taas_ctx *ctx, size_t size);

/* Copy a NUL-terminated string into the arena. NULL in -> NULL out. */
TAAS_MALLOC char *taas_strdup(taas_ctx *ctx, const char *s);
/* Copy n bytes and add a NUL. */
TAAS_MALLOC char *taas_strndup(taas_ctx *ctx, const char *s, size_t n);

/* printf into a string allocated from the arena. */
TAAS_MALLOC char *taas_printf(taas_ctx *ctx, const char *fmt, ...) TAAS_PRINTF(2, 3);
TAAS_MALLOC char *taas_vprintf(taas_ctx *ctx, const char *fmt, va_list ap);

/*
 * Report progress: `fraction` in [0, 1] (clamped), `message` a short human
 * text (may be NULL; copied, so it may live on the stack). Watchers see every
 * call; the store keeps the latest, written at most a few times a second.
 * Cheap enough to call in a loop.
 */
void taas_progress(taas_ctx *ctx, double fraction, const char *message);

/*
 * True once the task has been cancelled by a client, has passed its
 * deadline, or the server is shutting down and wants the worker back. Bodies
 * that run for more than a moment check it regularly and return promptly.
 */
bool taas_cancelled(taas_ctx *ctx);

/*
 * Record a failure and return TAAS_FAILED, so a body writes
 *     return taas_fail(ctx, TAAS_RETRYABLE, "upstream %s unreachable", host);
 * The message (truncated to 1 KiB) is stored with the attempt and shown by
 * GetTask. The first call wins if a body calls it more than once.
 */
int taas_fail(taas_ctx *ctx, taas_fail_kind kind, const char *fmt, ...) TAAS_PRINTF(3, 4);

/*
 * Child tasks. A body may submit other tasks and wait for their results:
 *
 *     char id[TAAS_CHILD_ID_SIZE], err[512];
 *     if (taas_submit_child(ctx, "my_custom_task", "{\"param1\":\"a\"}", id, err,
 *                           sizeof err) != 0)
 *         return taas_fail(ctx, TAAS_PERMANENT, "%s", err);
 *     taas_child_result r;
 *     if (taas_wait_child(ctx, id, &r) != 0)
 *         return taas_fail(ctx, TAAS_RETRYABLE, "%s", r.error);  // we were stopped
 *     if (r.state != TAAS_CHILD_SUCCEEDED) ...                    // r.error says why
 *
 * A child is a task like any other: stored durably, with its parent's id
 * (GetTask shows it, ListTasks filters by it), run by any worker, under the
 * parent's principal (so it is isolated as the parent is). Submit several,
 * then wait for each: they run in parallel. A parent that waits gives its
 * worker back to the pool for the time it waits, so parents waiting on
 * children never starve the children of workers.
 *
 * A parent cancelled (or timed out, or stopped by a shutdown) takes its
 * unfinished children with it: they are cancelled when its body returns,
 * and taas_wait_child returns TAAS_FAILED at once with the reason.
 *
 * After a crash. The parent's attempt is recovered like any task's (run
 * again if its retries allow, else FAILED "interrupted"); its children are
 * tasks of their own and carry on. The n-th child a body submits in an
 * attempt is keyed by (parent id, n), so an attempt that runs again and
 * submits the same children in the same order gets the same tasks back -
 * already finished, or still running - instead of duplicates: a body that
 * submits deterministically resumes where the crash left it. Submitting
 * different inputs as the n-th child is an error (ALREADY_EXISTS-like
 * conflict), reported by taas_submit_child.
 */
#define TAAS_CHILD_ID_SIZE 37 /* a task id and its NUL */

typedef enum taas_child_state {
    TAAS_CHILD_SUCCEEDED = 3,
    TAAS_CHILD_FAILED = 4,
    TAAS_CHILD_CANCELLED = 5
} taas_child_state;

typedef struct taas_child_result {
    taas_child_state state;
    const char *output; /* the child's output (JSON text, in the arena) when SUCCEEDED */
    const char *error;  /* why not, otherwise (in the arena or static) */
} taas_child_result;

/* Submit task `task_name` with `inputs_json` (NULL = "{}") as a child of the
 * running task. Returns 0 with its id in `id`, or TAAS_FAILED with the
 * reason in err (unknown task, inputs refused with the JSON Pointer of the
 * bad value, outside a server, ...). */
int taas_submit_child(taas_ctx *ctx, const char *task_name, const char *inputs_json,
                      char id[TAAS_CHILD_ID_SIZE], char *err, size_t errlen);

/* Wait until the child ends. Returns 0 with res filled (state, output or
 * error), or TAAS_FAILED with res->error set when this body was asked to
 * stop (cancelled, deadline, shutdown) - return promptly then - or when the
 * child cannot be read. */
int taas_wait_child(taas_ctx *ctx, const char *child_id, taas_child_result *res);

/* The same, telling `fn(arg, fraction, message)` the child's progress while
 * it runs: each time the child's stored progress or message changes (as
 * often as GetTask would show it; `message` may be "" and is valid during
 * the call only). `fn` runs on this body's thread, between waits: it may
 * call taas_progress to pass the child's progress up. */
typedef void (*taas_child_progress_fn)(void *arg, double fraction, const char *message);
int taas_wait_child_progress(taas_ctx *ctx, const char *child_id, taas_child_result *res,
                             taas_child_progress_fn fn, void *arg);

/* The id of the task being executed ("" outside the server). */
const char *taas_task_id(const taas_ctx *ctx);
/* The attempt number, 1 for the first execution. */
int taas_attempt(const taas_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_TAAS_H */
