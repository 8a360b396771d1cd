/*
 * runtime/engine/engine_internal.h - the engine's private types, shared by
 * its files and by nothing else (tests included: they go through engine.h).
 *
 * The engine is one object split by seam:
 *
 *   engine.c   the task life and the public API: start/stop, submit,
 *              cancel; options; synchronous start-up/shutdown writes
 *   read.c     get and list
 *   worker.c   the worker side: claiming, the ready queue, worker threads,
 *              running a body, progress, building and committing a completion
 *   sweeper.c  the sweeper thread: heartbeats, recovery, deadlines,
 *              abandonment of stuck bodies, pruning, delayed tasks
 *   cluster.c  the notifier thread: other servers' changes (PostgreSQL
 *              LISTEN/NOTIFY), refresh of one task, resync after a gap
 *   watch.c    watchers: the table, delivery of events, watch/unwatch
 *
 * Locks (no lock is held across a store call, except the watcher snapshot
 * read in taas_engine_watch):
 *   e->mu        the ready queue, the worker slots, busy/reserved counts,
 *                the claim state (claim_inflight, pending_hint, next_due_ms),
 *                the completing list, body_avg_us, abandoned_alive;
 *                work_cv, idle_cv, sweep_cv and completed_cv wait on it
 *   e->watch_mu  the watcher table and nwatch; held while a watcher's
 *                callback runs (see watch.c)
 *   j->pmu       a job's latest progress and its PROGRESS op in flight
 * Order: e->mu before j->pmu; e->watch_mu is never taken with e->mu held.
 * Functions named *_locked expect e->mu held.
 *
 * Names: taas_engine__* are private to the engine (the double underscore).
 */
#ifndef TAAS_ENGINE_INTERNAL_H
#define TAAS_ENGINE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/run.h"
#include "engine.h"

#define WATCH_BUCKETS 1024
/* The priorities a submit (and a schedule, whose fires insert directly)
 * accepts: -TAAS_PRIORITY_MAX to TAAS_PRIORITY_MAX. */
#define TAAS_PRIORITY_MAX 1000000
/* Tasks held here (claimed, or inserted already claimed) may exceed workers
 * + prefetch when bodies are short: as many as the workers are expected to
 * start within HOLD_US (from the bodies' running average duration), at most
 * HOLD_CAP_MAX. Slow bodies keep the prefetch bound, so one server does
 * not hold work other servers could run. */
#define HOLD_US 50000
#define HOLD_CAP_MAX 1024
/* A submit that outranks tasks held here may be held beyond the cap by this
 * many (see taas_engine_submit). */
#define HOLD_JUMP_MAX 64
/* The average before any body has run: assume slow until measured. */
#define BODY_US_INITIAL 100000
#define SWEEP_TICK_MS 100
/* A body still running this long after its start has its start written to
 * the store (riding with other writes in a group commit), so other servers
 * read it RUNNING; shorter bodies go from PENDING to final in the store
 * with no extra write, and this server's readers see them from memory. */
#define START_MARK_MS 20
#define RECOVER_EVERY_MS 2000
/* How long a stop keeps sending completions the store refused. */
#define COMPLETE_STOP_WAIT_MS 10000

typedef struct job job;

struct job {
    job *next;               /* ready queue */
    /* On e->completing from the end of the body until its COMPLETE commits,
     * so readers still find its latest progress. */
    job *cprev, *cnext;
    bool completing;
    taas_engine *e;
    taas_task_rec rec;       /* as claimed; owns its strings */
    const taas_task_type *type;
    atomic_int stop;         /* TAAS_STOP_* */
    int64_t deadline_mono;   /* 0 = none */
    int64_t body_started_ms; /* wall clock when the body started; 0 = not yet */
    /* The start is in the store (a PROGRESS op carried started_ms): other
     * servers' readers see RUNNING from then on. Under pmu. */
    bool start_marked;
    /* The outcome of the last PROGRESS op (under pmu), and the signal of
     * its end: a non-idempotent body waits for its start mark to commit. */
    int progress_result;
    bool clear_mark;         /* the next PROGRESS op clears the start mark */
    pthread_cond_t pcv;
    /* The body has been entered (set by its worker before taas_run): a
     * job still waiting for its start mark has done nothing yet. */
    atomic_bool body_entered;
    int slot;                /* worker index while running, -1 otherwise */
    /* References: the completion path holds one; a body that was abandoned
     * past its deadline (see sweeper) holds a second until it returns. */
    atomic_int refs;
    atomic_bool abandoned;

    /* Progress: the latest report, and at most one PROGRESS op in flight. */
    pthread_mutex_t pmu;
    int64_t last_store_mono;
    bool progress_inflight;
    bool reported;           /* the body reported progress at least once */
    double progress;
    char progress_msg[256];
    char progress_msg_op[256];
    taas_store_op progress_op;

    /* While its body waits for child tasks, the job gives its worker slot
     * to a fresh worker and runs on off the slots, on e->offslot (see
     * children.c); its thread ends with the body. */
    bool offslot;
    job *onext;
    /* The child tasks its body submitted in this attempt, for the cancel
     * cascade; touched only by the body's thread. */
    char (*children)[TAAS_ID_LEN + 1];
    int nchildren, children_cap;
    int child_seq;

    /* Completion. A COMPLETE the store refused for a passing reason (busy,
     * I/O, full) is sent again at cretry_mono (0: none due) while the job
     * stays on the completing list: the body's result is kept until the
     * store takes it or this node dies. */
    int64_t cretry_mono;
    int cretries;
    taas_store_op complete_op;
    taas_run_result res;
    char error[1100];
};

struct taas_engine {
    taas_store *store;
    taas_writer *writer;
    taas_engine_opts opts;
    char node_id[128];

    pthread_mutex_t mu;
    pthread_cond_t work_cv;      /* workers wait for ready jobs */
    pthread_cond_t idle_cv;      /* stop() waits for workers to go idle */
    /* Readers of a task whose completion is being committed wait on
     * completed_cv for it to leave the completing list (read.c);
     * completed_waiters says whether anyone waits. */
    pthread_cond_t completed_cv;
    int completed_waiters;
    job *ready_head, *ready_tail;
    int ready_count;
    job *completing;             /* bodies done, completion not yet committed */
    job **slots;                 /* per worker: the running job or NULL */
    int busy;                    /* workers running a body */
    bool claim_inflight;
    /* Submits being inserted already claimed for this node (see
     * taas_engine_submit): they hold a slot until their insert commits. */
    int reserved;
    bool pending_hint;           /* there may be runnable tasks in the store */
    /* While pending_hint: no runnable task in the store has a higher
     * priority than this (INT_MAX: unknown, e.g. another server's). A
     * submit that outranks it may be claimed in its own insert and go
     * ahead of the tasks held here (see taas_engine_submit). */
    int pending_prio_max;
    int64_t next_due_ms;         /* earliest known run_after in the future, 0 = none */
    taas_store_op claim_op;
    taas_task_rec *claim_buf;
    int claim_buf_len;
    /* The sweeper's periodic operations; reused once the previous use has committed. */
    taas_store_op hb_op, rc_op, prune_op;
    atomic_bool hb_busy, rc_busy, prune_busy;
    /* The last heartbeat failed: our leases may have lapsed in the store
     * while our bodies still run. Recovery waits until one commits again,
     * so an outage does not make us settle our own running tasks. */
    atomic_bool hb_failed;
    int64_t pruned_total;

    pthread_t *workers;
    int nworkers;
    int claim_cap;               /* workers + prefetch: most tasks held at once */
    int64_t body_avg_us;         /* running average of body durations (1/8 weight) */
    int abandoned_alive;         /* abandoned bodies whose threads still run */
    job *offslot;                /* bodies waiting for children, off the slots */
    int offslot_alive;           /* their number (their threads still run) */
    int onslot_waiters;          /* bodies waiting for children on their slots */
    /* A started attempt whose completion the store refused and that is not
     * retried (an abandoned body's): its row may still be RUNNING under our
     * lease, so the RELEASE at stop, which makes our RUNNING rows PENDING,
     * would run it again. Stop then leaves every lease to expire instead. */
    atomic_bool release_unsafe;
    /* Set by stop once it stops re-sending completions. */
    atomic_bool completions_closed;
    pthread_t notifier;
    bool notifier_started;
    pthread_t sweeper;
    bool sweeper_started;
    pthread_t scheduler;         /* schedules.c: fires due schedules */
    bool scheduler_started;
    pthread_cond_t sweep_cv;
    /* cancel.c: parents cancelled before their body ran, whose leftover
     * children the sweeper cancels (off the writer's thread). e->mu. */
    struct orphan_scan *orphans;
    atomic_bool accepting;       /* submits accepted */
    atomic_bool stopping;        /* no new claims */

    pthread_mutex_t watch_mu;
    taas_watch *watch[WATCH_BUCKETS];
    int nwatch;

    /* Events waiting for the watch thread (watch.c), under wq_mu. */
    pthread_mutex_t wq_mu;
    pthread_cond_t wq_cv;
    struct wgroup *wgroups[WATCH_BUCKETS]; /* per watched task */
    struct wgroup *wready;                 /* groups with events waiting */
    uint64_t wseq;                         /* event and registration order */
    int wq_nwatch;                         /* registered watchers */
    bool wq_stop;
    pthread_t watcher;
    bool watcher_started;
};

/* What a worker thread is started with (owned by the thread, which frees it). */
typedef struct worker_arg {
    taas_engine *e;
    int index;
} worker_arg;

/* ---- engine.c ---------------------------------------------------------- */

/* snprintf into a caller's optional message buffer (NULL or 0 length: nothing). */
void taas_engine__msg(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* TAAS_ST_OK when `id` looks like a task id; else INVALID_ARGUMENT (empty)
 * or NOT_FOUND, with the message. */
taas_status taas_engine__check_id(const char *id, char *msg, size_t msglen);
/* The status for a store code. */
taas_status taas_engine__store_status(int code);
/* The message a client sees for a store error code. */
const char *taas_engine__store_message(int code);
/* NOT_FOUND with the unknown-id message. */
taas_status taas_engine__not_found(const char *id, char *msg, size_t msglen);
/* Whether `principal` may see the task `r` (NULL sees all). */
bool taas_engine__may_see(const taas_task_rec *r, const char *principal);
/* Wait on `cv` (with `mu` held) for at most `ms` milliseconds. */
void taas_engine__cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms);
/* Newer progress (and the real start) of a task running here, over a read
 * record. Takes e->mu. Returns true when the record must be read again
 * once the task is off the completing list: its body has ended here and
 * its completion is being committed, or committed since the record was
 * read (readers wait for the commit and read again: read.c). */
bool taas_engine__overlay_progress(taas_engine *e, taas_task_rec *r);
/* GetTask without waiting for a completion being committed (for the writer
 * thread, which commits it). */
taas_status taas_engine__get_nowait(taas_engine *e, const char *id, const char *principal,
                                    taas_task_rec *out, char *msg, size_t msglen);
/* ListTasks likewise, for the writer thread (cancel.c). */
taas_status taas_engine__list_nowait(taas_engine *e, const taas_list_query *q,
                                     taas_task_rec **out, size_t *n, char next_token[64],
                                     char *msg, size_t msglen);

/* Queue op on the writer and wait for its commit; op->result. */
int taas_engine__write_sync(taas_engine *e, taas_store_op *op);

/* ---- worker.c ---------------------------------------------------------- */

void *taas_engine__worker_main(void *p);
/* Tasks this node may still take: claim, or insert already claimed. */
int taas_engine__free_slots_locked(const taas_engine *e);
/* Append the chain `first` (n jobs, linked by next) to the ready queue and
 * wake the workers. */
void taas_engine__ready_append_locked(taas_engine *e, job *first, int n);
/* A node whose workers all run long bodies (none frees within HOLD_US)
 * starts nothing it holds soon, while other nodes' workers may free first
 * and take lower priorities from the store, and a higher-priority task
 * submitted here waits in the store behind what is held. Such a node gives
 * back what it holds, in the sweep: take_unstartable takes the ready queue
 * (NULL when some worker frees soon), give_back returns each task to the
 * store as it was (PENDING, its attempt given back, a RELEASE of that task
 * alone, fenced by its lease token) and frees the job. */
job *taas_engine__take_unstartable_locked(taas_engine *e);
void taas_engine__give_back(taas_engine *e, job *list);
/* Issue a CLAIM if workers are free and the store may hold runnable tasks. */
void taas_engine__maybe_claim_locked(taas_engine *e);
/* There may be runnable tasks in the store: claim if workers are free. */
void taas_engine__wake_claimer(taas_engine *e);
/* A job for a claimed record; takes the record's strings. NULL: out of memory. */
job *taas_engine__job_new(taas_engine *e, taas_task_rec *rec);
void taas_engine__job_free(job *j);
void taas_engine__job_unref(job *j);
/* Ask the body of task `id` to stop if it runs here. A cancelled one that
 * waits here for a worker is taken off the ready queue and completed
 * CANCELLED at once (its body never starts). */
void taas_engine__stop_local(taas_engine *e, const char *id, int why);
/* Take task `id` off the ready queue (held here, not started); NULL if it
 * is not there, or principal is not NULL and not the task's. */
job *taas_engine__take_held_locked(taas_engine *e, const char *id, const char *principal);
/* Complete a job taken off the ready queue as CANCELLED: one COMPLETE,
 * whose callback is done(op, arg), or taas_engine__complete_done(op, j)
 * when done is NULL (done must then call that itself). Returns -1 when the
 * writer is stopping (the job is released, done is not called). Takes e->mu. */
int taas_engine__cancel_held(taas_engine *e, job *j, taas_op_done_fn done, void *arg);
/* Queue a PROGRESS op for j carrying its latest progress and its start
 * (the start mark). With j->pmu held and no PROGRESS op in flight; with
 * e->mu held too when called for a job in a worker slot, so the job cannot
 * complete (and be freed) before the op is queued ahead of its COMPLETE. */
void taas_engine__queue_progress_pmu(taas_engine *e, job *j);
/* progress.c: before a non-idempotent body runs, write its start mark and
 * wait for the commit (true: the body may start; see the comment there);
 * the body's progress callback (arg: the job). */
bool taas_engine__mark_start(taas_engine *e, job *j);
void taas_engine__on_progress(void *arg, double fraction, const char *message);
/* worker.c: store errors that pass (busy, unreachable, disk full or failing
 * for now), worth sending again. */
bool taas_engine__store_transient(int result);
/* Whether `priority` is higher than that of a task held here, not started. */
bool taas_engine__outranks_held_locked(const taas_engine *e, int priority);
/* The timeout of j's attempt in seconds: the task's, its type's, or the default. */
int taas_engine__timeout_s(const taas_engine *e, const job *j);
/* Reset j->complete_op to a COMPLETE of j's attempt (id, lease, now). */
void taas_engine__complete_begin(job *j);
/* The writer's callback for j->complete_op; drops the job's reference. */
void taas_engine__complete_done(taas_store_op *op, void *arg);
/* Send again the completions whose retry is due; takes e->mu. Returns how
 * many jobs are still on the completing list. */
int taas_engine__resend_completions(taas_engine *e);

/* A body is about to wait for child tasks: give its worker slot to a fresh
 * worker thread, so that waiting parents never hold every worker (the
 * children must run somewhere). Its thread ends when the body returns. A
 * no-op when already done, when stopping, or at the cap of off-slot bodies. */
int taas_engine__block_begin(taas_engine *e, job *j);
void taas_engine__block_end(taas_engine *e);

/* ---- children.c -------------------------------------------------------- */

/* The child-task operations a body's context uses (taas_submit_child,
 * taas_wait_child); their argument is the job. */
extern const taas_children_ops taas_engine__children;
/* After j's body: a body that was stopped (cancelled, timed out, shut
 * down) takes its unfinished children with it. Frees the child list. */
void taas_engine__children_end(taas_engine *e, job *j);

/* ---- sweeper.c --------------------------------------------------------- */

void *taas_engine__sweeper_main(void *p);
/* cancel.c: cancel the children left by the parents queued in e->orphans
 * (a bounded number of pages per call; the rest stay queued). Called by
 * the sweeper with no lock held. Free what is still queued at the end. */
void taas_engine__cancel_orphans_step(taas_engine *e);
void taas_engine__orphans_free(taas_engine *e);
/* Fail an abandoned job's task with `why` (j->res is left to its body). */
void taas_engine__fail_abandoned(taas_engine *e, job *j, const char *why);

/* ---- schedules.c ------------------------------------------------------- */

void *taas_engine__scheduler_main(void *p);

/* ---- cluster.c --------------------------------------------------------- */

void *taas_engine__notifier_main(void *p);

/* ---- watch.c ----------------------------------------------------------- */

/* Queue an event for every watcher of `id` (delivered by the watch thread,
 * in order; progress coalesces); a final event ends them. Never waits for
 * delivery. */
void taas_engine__notify(taas_engine *e, const char *id, int state, double progress,
                         const char *message, const taas_task_rec *final_task);
bool taas_engine__has_watchers(taas_engine *e, const char *id);
/* Read the stored record and deliver it as the final event. */
void taas_engine__notify_final(taas_engine *e, const char *id);
/* Copy up to `max` watched task ids into ids; returns how many. */
int taas_engine__watched_ids(taas_engine *e, char (*ids)[TAAS_ID_LEN + 1], int max);
/* At shutdown: watchers still registered get nothing more; their owners unwatch. */
void taas_engine__unwatch_all(taas_engine *e);
/* The watch thread: start at engine start; stop delivers what is queued. */
int taas_engine__watcher_start(taas_engine *e);
void taas_engine__watcher_stop(taas_engine *e);

/* ---- input_hash.c ------------------------------------------------------ */

/*
 * A 128-bit digest (32 hex characters + NUL) of the canonical form of JSON
 * inputs: object keys sorted, insignificant whitespace dropped, strings and
 * numbers normalized. Two submits carry "the same inputs" for idempotency
 * exactly when their digests are equal. `input` must be valid JSON (it has
 * passed the input schema); otherwise the raw bytes are hashed.
 */
void taas_engine_input_hash(const char *input, size_t len, char out[33]);

#endif
