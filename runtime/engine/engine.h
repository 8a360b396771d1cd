/*
 * runtime/engine/engine.h - the task engine: accepts submits, runs bodies on
 * a worker pool, keeps the task life (leases, attempt tokens, retries),
 * fans progress out to watchers. Services call only this; the engine calls
 * the store.
 *
 * Callbacks. Submit and cancel complete asynchronously: the callback runs on
 * the store's writer thread after the commit that holds the change (so an
 * acknowledgement always means "durable"). Watch callbacks run on a worker
 * thread (progress) or on the writer thread (state changes). Callbacks must
 * not block; they typically queue a message on a gRPC stream.
 *
 * A function that returns an error status never calls its callback.
 */
#ifndef TAAS_ENGINE_H
#define TAAS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct taas_engine taas_engine;

/*
 * Options left at 0 (NULL) take the value of an environment variable when it
 * is set, else the default: TAAS_LEASE_MS, TAAS_PREFETCH (-1 = none),
 * TAAS_STUCK_GRACE_MS, TAAS_DEFAULT_TIMEOUT_S, TAAS_RETRY_BASE_MS,
 * TAAS_RETRY_CAP_MS, TAAS_PROGRESS_STORE_MS, TAAS_RETENTION_S (-1 = keep
 * forever), TAAS_CLAIM_ON_SUBMIT (-1 = off), TAAS_NODE_ID,
 * TAAS_WATCH_INTERVAL_MS, TAAS_WATCH_RATE.
 */
typedef struct taas_engine_opts {
    int workers;              /* body threads; 0 = number of online CPUs */
    const char *node_id;      /* lease owner name; NULL = "<hostname>:<pid>" */
    int lease_ms;             /* default 30000; renewed by heartbeats every lease/3 */
    int default_timeout_s;    /* for task types with timeout_s 0; default 3600 */
    int progress_store_ms;    /* min interval between stored progress writes; default 250 */
    bool run_workers;         /* false: accept and serve, but run no bodies (role api) */
    /* Finished tasks (and so their idempotency keys) are deleted this long
     * after they finish, in batches of prune_batch every prune_every_ms.
     * retention_s < 0 keeps them forever; 0 = default 7 days. */
    int64_t retention_s;
    int prune_batch;          /* default 500 */
    int prune_every_ms;       /* default 10000 */
    /* Bodies waiting for children off their worker slots at once (each
     * keeps its own thread); 0 = default 1024. Past it a waiting body keeps
     * its slot while another slot is free of waiters, and is otherwise told
     * at once that the server is full (docs/author-api.md). */
    int max_waiting;
    /* Tasks claimed beyond the free workers, waiting in memory for one: one
     * durable claim then feeds many short bodies. 0 = default 64, < 0 = none.
     * While bodies are short, the engine holds more: as many as its workers
     * are expected to start within 50 ms (from the bodies' running average
     * duration), at most 1024; slow bodies keep this bound.
     * Trade-off: a crash fails the non-idempotent tasks among them as
     * "interrupted" although their bodies never started (at-most-once holds);
     * idempotent ones run again. */
    int prefetch;
    /* A submit that finds a free slot here, while this node knows of no
     * runnable task waiting in the store, is inserted already claimed for
     * this node: one durable write instead of two (insert, then claim), and
     * its body can start as soon as the submit is acknowledged. 0 = default
     * on; < 0 = off (every task waits for a claim), e.g. to spread tasks over
     * several servers by claims only. The same crash trade-off as prefetch. */
    int claim_on_submit;
    /* A body still running this long after its deadline (it ignores
     * taas_cancelled) is abandoned: its task fails with a timeout error and a
     * fresh thread takes its worker slot. Default 10000. */
    int stuck_grace_ms;
    /* Retry backoff: delay = min(retry_cap_ms, retry_base_ms * 2^(attempt-1)),
     * of which half is fixed and half uniformly random ("equal jitter").
     * Defaults 1000 and 300000. */
    int retry_base_ms;
    int retry_cap_ms;
    /* Progress to watchers: a watcher gets at most one progress event per
     * watch_interval_ms (default 100), and all watchers together at most
     * watch_rate progress events per second (default 4000: with more
     * watchers each one's interval grows). The latest progress always goes
     * out; state changes and the final event are never held back. */
    int watch_interval_ms;
    int watch_rate;
} taas_engine_opts;

/* Start the engine on an open store (not owned). Runs recovery first. */
taas_engine *taas_engine_start(taas_store *store, const taas_engine_opts *opts, char *err,
                               size_t errlen);
/*
 * Stop: refuse new submits (UNAVAILABLE), let running bodies finish for up to
 * grace_ms, then ask the rest to stop (taas_cancelled() turns true) and give
 * them one more second; release the leases of every task still held, flush
 * the writer, free everything. Returns 0; the store stays open for the caller
 * to close.
 *
 * A body that ignores cancellation cannot be killed (it is a thread of this
 * process). Then stop releases its lease all the same, logs it, and returns
 * the number of such bodies (> 0) WITHOUT freeing the engine or stopping the
 * writer: the caller must not close the store and should exit the process.
 */
int taas_engine_stop(taas_engine *e, int grace_ms);

/* True while the engine accepts work (for health checks). */
bool taas_engine_serving(const taas_engine *e);

/* ------------------------------------------------------------------------ */

typedef struct taas_submit_req {
    const char *task_name;
    const char *input;        /* JSON text (need not be NUL-terminated) */
    size_t input_len;
    const char *idempotency_key; /* NULL or "" = none */
    int priority;
    int64_t run_after_ms;     /* 0 = now */
    int timeout_s;            /* 0 = the type's */
    /* The authenticated principal submitting it, or NULL. Stored with the
     * task; idempotency keys are scoped to it. */
    const char *principal;
    /* The task whose body submits this one (a child task), or NULL. */
    const char *parent_id;
    /* Optional (NULL: not wanted). When the inputs break the task's schema,
     * *violations gets a malloc'd array (the caller frees it) of at most
     * max_violations violations - JSON Pointer and reason, in document
     * order, as the schema runtime words them - and *n_violations their
     * number; on every other outcome NULL and 0. */
    struct taas_error **violations;
    size_t *n_violations;
    size_t max_violations;
} taas_submit_req;

typedef struct taas_submit_result {
    taas_status status;       /* OK, ALREADY_EXISTS, UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL */
    const char *message;      /* for non-OK */
    const char *task_id;
    bool duplicate;
    /* PENDING for a new task (its body has not started). For a duplicate,
     * the original task's current state, and `original` its record (output
     * included once finished; valid during the callback only; NULL if the
     * read failed, state is then PENDING). */
    int state;                /* taas_task_state */
    const taas_task_rec *original;
} taas_submit_result;

typedef void (*taas_submit_fn)(void *arg, const taas_submit_result *res);

/*
 * Validate and queue a submit. Synchronous errors (returned, callback not
 * called): INVALID_ARGUMENT for a missing task name, a priority outside
 * +-1,000,000, a negative timeout_s or run_after_ms ("field: reason"),
 * NOT_FOUND for an unknown task name (message names the closest registered
 * names), INVALID_ARGUMENT for inputs that are not valid JSON or break the
 * schema ("/param2: expected number, got string"), UNAVAILABLE when
 * stopping. `msg` receives the message. On TAAS_ST_OK, `done` is called once
 * after the durable commit (or with an error status if the commit failed).
 */
taas_status taas_engine_submit(taas_engine *e, const taas_submit_req *req, taas_submit_fn done,
                               void *arg, char *msg, size_t msglen);

/*
 * Who may see a task. get, cancel and watch take the caller's principal:
 * NULL sees every task (no authentication, or an admin); otherwise a task
 * submitted by another principal is answered NOT_FOUND with the very
 * message of an unknown id, so its existence is not revealed. (ListTasks
 * carries the same filter in taas_list_query.principal.) An empty id is
 * INVALID_ARGUMENT ("task_id: required"); an id that is not a UUID is
 * NOT_FOUND.
 */

/* Read one task (thread-safe). NOT_FOUND or UNAVAILABLE with msg. */
taas_status taas_engine_get(taas_engine *e, const char *id, const char *principal,
                            taas_task_rec *out, char *msg, size_t msglen);

/* Tasks PENDING and RUNNING in the store, all servers' (thread-safe):
 * counts[state]. UNIMPLEMENTED when the store cannot count. */
taas_status taas_engine_count_live(taas_engine *e, int64_t counts[6]);

/* ListTasks (thread-safe). See taas_store.list for ownership of *out. */
taas_status taas_engine_list(taas_engine *e, const taas_list_query *q, taas_task_rec **out,
                             size_t *n, char next_token[64], char *msg, size_t msglen);

typedef void (*taas_cancel_fn)(void *arg, taas_status st, int state_after, const char *message);

/* Cancel (see CancelTaskResponse). NOT_FOUND for an unknown id is reported
 * through the callback. */
taas_status taas_engine_cancel(taas_engine *e, const char *id, const char *principal,
                               taas_cancel_fn done, void *arg, char *msg, size_t msglen);

/* The message for a task name that is not registered, naming the closest
 * registered names ("unknown task 'x'; did you mean y?"). */
void taas_engine_unknown_task(const char *name, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* Schedules
 *
 * A scheduler thread on every server fires due schedules through the
 * writer: the submits of a due time and the move of the schedule to its
 * next due time are one commit, fenced on the due time read, so each due
 * time is submitted once across servers. A due time older than
 * TAAS_SCHEDULE_MISFIRE_MS (default 60000) when the scheduler sees it was
 * missed (no server ran then, or the schedule was paused): the schedule's
 * catch-up policy decides. Tasks a schedule submits carry the idempotency
 * key "schedule:<schedule id>:<due time ms>" and the schedule's principal.
 */

typedef struct taas_schedule_req {
    const char *name;         /* label; may be NULL */
    const char *cron;         /* NULL or "" for an interval schedule */
    const char *time_zone;    /* IANA name; NULL or "" = UTC */
    int64_t interval_ms;
    const char *task_name;
    const char *input;        /* JSON text, NULL or "" = {} */
    size_t input_len;
    int priority;
    int timeout_s;
    int catch_up;             /* TAAS_CATCH_UP_*, 0 = SKIP */
    int max_catch_up;         /* 0 = 10 */
    int overlap;              /* TAAS_OVERLAP_*, 0 = ALLOW */
    bool paused;
    const char *principal;    /* owner, or NULL */
} taas_schedule_req;

/* st is OK with rec set (valid during the call only), or an error with msg. */
typedef void (*taas_schedule_fn)(void *arg, taas_status st, const char *msg,
                                 const taas_schedule_rec *rec);

/* Validate and store a schedule. Synchronous errors (callback not called):
 * INVALID_ARGUMENT naming the field ("cron: hour field: 24 is out of range
 * 0-23", "time_zone: unknown time zone ...", "inputs_json: ..."), NOT_FOUND
 * for an unknown task name, UNAVAILABLE when stopping. */
taas_status taas_engine_schedule_create(taas_engine *e, const taas_schedule_req *req,
                                        taas_schedule_fn done, void *arg, char *msg,
                                        size_t msglen);
/* Read one (NOT_FOUND, UNAVAILABLE with msg). Clear *out after use. */
taas_status taas_engine_schedule_get(taas_engine *e, const char *id, taas_schedule_rec *out,
                                     char *msg, size_t msglen);
/* Oldest first; principal NULL = all. As taas_store.sched_list. */
taas_status taas_engine_schedule_list(taas_engine *e, const char *principal, int limit,
                                      const char *page_token, taas_schedule_rec **out,
                                      size_t *n, char next_token[64], char *msg, size_t msglen);
/* Pause, resume (TAAS_SCHED_PAUSE/RESUME) or delete a schedule; done gets
 * the schedule after the change (NULL after a delete), or NOT_FOUND. */
taas_status taas_engine_schedule_set(taas_engine *e, const char *id, int action,
                                     taas_schedule_fn done, void *arg, char *msg, size_t msglen);
/* Up to max next due times after from_ms of a stored schedule; how many. */
int taas_engine_schedule_upcoming(const taas_schedule_rec *r, int64_t from_ms, int64_t *out,
                                  int max);

/* ------------------------------------------------------------------------ */
/* Watching */

typedef struct taas_watch_event {
    const char *task_id;
    int state;                /* taas_task_state */
    double progress;
    const char *progress_message; /* may be NULL */
    int64_t at_ms;
    /* Non-NULL only on the final event: the full record as stored. */
    const taas_task_rec *final_task;
} taas_watch_event;

/* Return value ignored; must not block and must not call into the engine. */
typedef void (*taas_watch_fn)(void *arg, const taas_watch_event *ev);

typedef struct taas_watch taas_watch;

/*
 * Follow a task: `fn` is called first with the current state (from the
 * store), then on every progress report and state change, last with the
 * final state (final_task set), after which no more calls come. If the task
 * is already final, that single final event is delivered before this
 * returns. NOT_FOUND for an unknown id (no callback).
 * *out is the handle for taas_engine_unwatch (NULL when already final, in
 * which case there is nothing to release). Every non-NULL handle is passed to
 * taas_engine_unwatch exactly once, also after its final event.
 */
taas_status taas_engine_watch(taas_engine *e, const char *id, const char *principal,
                              taas_watch_fn fn, void *arg, taas_watch **out, char *msg,
                              size_t msglen);

/* Stop a watch. After it returns, `fn` is not running and will not be called. */
void taas_engine_unwatch(taas_engine *e, taas_watch *w);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_ENGINE_H */
