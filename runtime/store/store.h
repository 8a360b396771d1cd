/*
 * runtime/store/store.h - the storage interface: a versioned vtable with one
 * implementation per backend (sqlite.c and postgres.c, each with its
 * migrate/write/read files), chosen by DATABASE_URL, plus the group-commit
 * writer that every write goes through.
 *
 * Model. One row per task. Writes are expressed as operations
 * (taas_store_op) that the writer thread collects from many callers and hands
 * to the backend's apply() in batches: one transaction per batch, committed
 * durably (SQLite: WAL + synchronous=FULL; PostgreSQL: synchronous_commit
 * on), and only then is each operation's
 * callback run. So a submit is acknowledged only after the commit that holds
 * it, and many submits and completions share one fsync.
 *
 * Fencing. A claim gives the task a new lease_token (strictly increasing per
 * task: attempt tokens). COMPLETE, PROGRESS and extending a lease name the
 * token; the store refuses a stale one (TAAS_STORE_ESTALE), so a worker that
 * lost its lease can never overwrite a newer attempt.
 *
 * Threads. apply() is called only from the writer thread. get() and list()
 * are thread-safe and may run on any thread, concurrently with apply().
 *
 * Ownership. Every string in a taas_task_rec filled by the store is malloc'd
 * and owned by the record: release with taas_task_rec_clear(). Strings in
 * operations are borrowed from the caller until the operation's callback.
 */
#ifndef TAAS_STORE_H
#define TAAS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAAS_STORE_VERSION 1
#define TAAS_ID_LEN 36 /* UUIDv7 text form, time-ordered */
/* How many times an idempotent task's claim may be given back without
 * using an attempt (graceful releases, recoveries of a lost lease: the
 * stored lease_token - attempt, less the claims a server gave back unstarted
 * by choice, counted in given_back). Bounds the re-runs of a body that
 * crashes its server: past it, each interruption uses an attempt (RECOVER). */
#define TAAS_GIVEBACK_MAX 3
#define TAAS_STR_(x) #x
#define TAAS_STR(x) TAAS_STR_(x)

/* Values equal the proto's taas.v1.TaskState. */
typedef enum taas_task_state {
    TAAS_TASK_UNSPECIFIED = 0,
    TAAS_TASK_PENDING = 1,
    TAAS_TASK_RUNNING = 2,
    TAAS_TASK_SUCCEEDED = 3,
    TAAS_TASK_FAILED = 4,
    TAAS_TASK_CANCELLED = 5
} taas_task_state;

const char *taas_task_state_name(taas_task_state s); /* "PENDING", ... */
/* Parses "pending"/"PENDING"/...; returns TAAS_TASK_UNSPECIFIED if unknown. */
taas_task_state taas_task_state_parse(const char *s);
static inline bool taas_task_state_final(taas_task_state s)
{
    return s == TAAS_TASK_SUCCEEDED || s == TAAS_TASK_FAILED || s == TAAS_TASK_CANCELLED;
}

/* Result codes of store functions and of each operation (op->result). */
enum {
    TAAS_STORE_OK = 0,
    TAAS_STORE_ENOTFOUND = -1, /* no such task */
    TAAS_STORE_ESTALE = -2,    /* lease token is not the current one (fenced) */
    TAAS_STORE_ECONFLICT = -3, /* idempotency key reused with different inputs */
    TAAS_STORE_EFINAL = -4,    /* task already in a final state */
    TAAS_STORE_EIO = -5,       /* I/O error, corrupt database */
    TAAS_STORE_EFULL = -6,     /* disk or quota full */
    TAAS_STORE_EBUSY = -7,     /* locked / timeout / connection lost: retry later */
    TAAS_STORE_ENOMEM = -8,
    TAAS_STORE_EINVAL = -9     /* bad URL, bad argument */
};
const char *taas_store_strerror(int code);

typedef struct taas_task_rec {
    char id[TAAS_ID_LEN + 1];
    char *name;
    char *input;               /* JSON text */
    size_t input_len;
    taas_task_state state;
    int priority;              /* higher runs first */
    int attempt;               /* attempts started so far (0 while never claimed) */
    int max_attempts;          /* 1 + the spec's retries */
    int timeout_s;             /* 0 = server default */
    bool idempotent;
    char *idempotency_key;     /* NULL if none */
    char *input_hash;          /* hex digest of the canonical inputs, for idempotency */
    int64_t created_ms;        /* Unix epoch milliseconds */
    int64_t updated_ms;
    int64_t run_after_ms;      /* not claimed before this time */
    int64_t started_ms;        /* last claim, 0 if never */
    int64_t finished_ms;       /* 0 until final */
    double progress;           /* 0..1 */
    char *progress_message;    /* may be NULL */
    char *output;              /* JSON text when SUCCEEDED, else NULL */
    size_t output_len;
    char *error;               /* last error (FAILED/CANCELLED, or of a retried attempt) */
    char *attempts_json;       /* JSON array [{"attempt":1,"error":"...","finished_ms":...}], never NULL once read */
    bool cancel_requested;
    char *lease_owner;         /* NULL unless RUNNING */
    int64_t lease_expires_ms;
    int64_t lease_token;
    /* Who submitted it (the authenticated principal); NULL when the server
     * runs without authentication. Isolation and idempotency keys are per
     * principal. */
    char *principal;
    /* The task whose body submitted this one (taas_submit_child); NULL for
     * a task a client submitted. */
    char *parent_id;
} taas_task_rec;

void taas_task_rec_clear(taas_task_rec *r); /* free owned strings, zero the record */
/* *dst = a deep copy of *src, its input and output texts only when `texts`
 * (else NULL). 0, or -1 out of memory (dst then zeroed). */
int taas_task_rec_copy(taas_task_rec *dst, const taas_task_rec *src, bool texts);

/* A schedule (proto taas.v1.Schedule): submits a task at each due time. */
enum { TAAS_CATCH_UP_SKIP = 1, TAAS_CATCH_UP_RUN_ONCE = 2, TAAS_CATCH_UP_RUN_ALL = 3 };
enum { TAAS_OVERLAP_ALLOW = 1, TAAS_OVERLAP_SKIP = 2 };

typedef struct taas_schedule_rec {
    char id[TAAS_ID_LEN + 1];
    char *principal;           /* who created it; "" or NULL = none */
    char *name;                /* label, may be "" */
    char *cron;                /* the expression, or NULL for an interval schedule */
    char *time_zone;           /* IANA name; "" = UTC */
    int64_t interval_ms;       /* > 0 for an interval schedule */
    char *task_name;
    char *input;               /* JSON text */
    size_t input_len;
    int priority;
    int timeout_s;
    int catch_up;              /* TAAS_CATCH_UP_* */
    int max_catch_up;
    int overlap;               /* TAAS_OVERLAP_* */
    bool paused;
    int64_t next_fire_ms;      /* the next due time not yet handled */
    int64_t last_fire_ms;      /* the latest due time handled, 0 = none */
    char *last_task_id;        /* NULL before the first submit */
    int64_t created_ms;
    int64_t updated_ms;
    int64_t submitted;         /* tasks submitted */
    int64_t skipped;           /* due times not submitted */
} taas_schedule_rec;

void taas_schedule_rec_clear(taas_schedule_rec *r);

/* ------------------------------------------------------------------------ */
/* Write operations */

typedef enum taas_op_kind {
    TAAS_OP_INSERT = 1,    /* a submitted task */
    TAAS_OP_CLAIM,         /* take up to `max` runnable tasks for `owner` */
    TAAS_OP_COMPLETE,      /* a finished attempt: final state, or back to PENDING for a retry */
    TAAS_OP_PROGRESS,      /* latest progress of a running attempt */
    TAAS_OP_CANCEL,        /* client cancel */
    TAAS_OP_HEARTBEAT,     /* extend every lease held by `owner` */
    TAAS_OP_RECOVER,       /* expired leases -> retry or FAILED("interrupted") */
    TAAS_OP_RELEASE,       /* give back `owner`'s leases (graceful shutdown) */
    TAAS_OP_PRUNE,         /* delete finished tasks older than a cutoff */
    TAAS_OP_SCHED_CREATE,  /* a new schedule */
    TAAS_OP_SCHED_SET,     /* pause, resume or delete a schedule */
    TAAS_OP_SCHED_FIRE     /* submit a schedule's due tasks and move it on */
} taas_op_kind;

typedef struct taas_store_op taas_store_op;
typedef void (*taas_op_done_fn)(taas_store_op *op, void *arg);

struct taas_store_op {
    taas_op_kind kind;
    int result;                 /* out: TAAS_STORE_OK or TAAS_STORE_E* */
    /* Queue links and callback: set by taas_writer_enqueue(). */
    taas_store_op *next;
    taas_op_done_fn done;
    void *done_arg;
    union {
        struct {
            /* in: id, name, input, priority, max_attempts, timeout_s, idempotent,
             * idempotency_key, input_hash, created_ms, run_after_ms, principal. An id that
             * is not UUID text, or no name or input -> TAAS_STORE_EINVAL; an id
             * already stored -> TAAS_STORE_ECONFLICT. */
            const taas_task_rec *task;
            /* in: claim the task in its own insert: when claim_owner is not
             * NULL and the row is added, it is stored RUNNING for that
             * owner, as a CLAIM at created_ms would leave it: attempt 1,
             * lease_token 1, started_ms 0, lease until created_ms
             * + lease_ms. Saves a write and the wait for one before the body
             * starts. Not with a future run_after_ms. */
            const char *claim_owner;
            int64_t lease_ms;
            /* out: with a key already stored for this principal and task name
             * and the same input_hash, no row is added: duplicate = true and
             * existing_id is the original task. Same key, other hash ->
             * TAAS_STORE_ECONFLICT. Keys of different principals never meet. */
            bool duplicate;
            char existing_id[TAAS_ID_LEN + 1];
        } insert;
        struct {
            const char *owner;  /* node/worker identity */
            int max;            /* at most this many */
            int64_t now_ms;
            int64_t lease_ms;   /* lease length */
            /* out: claimed tasks, in claim order: state RUNNING, attempt
             * incremented, new lease_token, started_ms 0 (held: the body
             * has not started; readers see a claimed task with started_ms
             * 0 as PENDING). Array of `max`, caller-allocated;
             * fill with taas_task_rec records owned by the caller afterwards. */
            taas_task_rec *out;
            int n;
        } claim;
        struct {
            const char *id;
            int64_t lease_token;
            /* SUCCEEDED, FAILED, CANCELLED, or PENDING to schedule a retry at run_after_ms */
            taas_task_state state;
            const char *output; /* SUCCEEDED only */
            size_t output_len;
            const char *error;  /* appended to attempts_json for this attempt; may be NULL */
            int64_t run_after_ms;
            int64_t now_ms;
            /* When this attempt's body started (its started_ms from now
             * on); 0 keeps what is stored (0: the body never started). */
            int64_t started_ms;
            /* The last progress the body reported, kept in the final record
             * (has_progress false: SUCCEEDED stores 1.0, others keep the
             * stored progress). Ignored for a retry (PENDING resets it). */
            bool has_progress;
            double progress;
            const char *progress_message;
        } complete;
        struct {
            const char *id;
            int64_t lease_token;
            double progress;
            const char *message;
            int64_t now_ms;
            /* > 0: the body started then (the start mark: readers see the
             * task RUNNING from this commit on, and recovery counts the
             * attempt); 0 leaves it; < 0 clears it (a body marked but then
             * not started, because the node stops). */
            int64_t started_ms;
        } progress;
        struct {
            const char *id;
            int64_t now_ms;
            /* NULL, or only a task of this principal: another's is
             * TAAS_STORE_ENOTFOUND, as if the id were unknown. */
            const char *principal;
            /* out: state after the call. PENDING tasks become CANCELLED at once;
             * RUNNING ones get cancel_requested = true (state stays RUNNING);
             * final ones are unchanged and result is TAAS_STORE_EFINAL. */
            taas_task_state state_after;
            int64_t lease_token;     /* out: current token, when RUNNING */
            /* out, whenever the task was found (OK and EFINAL): the state
             * readers saw just before the cancel (PENDING also for a task
             * claimed whose body has not started), and the task's name
             * (cut to fit; registered names are far shorter), so that the
             * caller need not read the task back. */
            taas_task_state state_seen;
            char name[128];
        } cancel;
        struct {
            const char *owner;
            int64_t lease_expires_ms;
        } heartbeat;
        struct {
            /* Leases with lease_expires_ms <= the cutoff. A task with a
             * cancel request becomes CANCELLED (counted in failed). Else:
             *  - no start mark (started_ms 0) on a non-idempotent task: its
             *    body never started (it starts only after its mark
             *    commits): PENDING, the attempt given back, nothing
             *    appended to attempts_json;
             *  - idempotent, given back fewer than TAAS_GIVEBACK_MAX times:
             *    PENDING, the attempt given back ("interrupted" appended
             *    when it has a start mark);
             *  - idempotent with attempts left: PENDING, the attempt used;
             *  - otherwise FAILED "interrupted" (a non-idempotent body that
             *    may have started never runs again).
             * now_ms is the time written into recovered rows. */
            int64_t now_ms;
            /* 0 = now_ms. A single-process store recovers every lease at
             * start-up by passing INT64_MAX (every holder is gone). */
            int64_t lease_cutoff_ms;
            int retried; /* out */
            int failed;  /* out */
        } recover;
        struct {
            const char *owner;
            int64_t now_ms;
            /* in: NULL for every lease of `owner`; else give back only this
             * task, and only while it is held under lease_token and its
             * body never started (no start mark): the same change as below
             * for one task a node claimed but cannot start soon. released
             * is 1 then, 0 when it started, ended or was claimed again. */
            const char *id;
            int64_t lease_token;
            /* out: back to PENDING without consuming an attempt; tasks with a
             * cancel request become CANCELLED instead (not counted). A
             * non-idempotent task with a start mark (its body may have
             * started) is left alone: its lease expires and RECOVER fails
             * it, so a stop never makes a started body run again. */
            int released;
        } release;
        struct {
            int64_t finished_before_ms;
            int limit;   /* > 0; oldest finished first */
            int deleted; /* out */
        } prune;
        struct {
            /* in: every field but last_task_id, submitted, skipped. An id
             * already stored -> TAAS_STORE_ECONFLICT. */
            const taas_schedule_rec *sched;
        } sched_create;
        struct {
            const char *id;
            enum { TAAS_SCHED_PAUSE = 1, TAAS_SCHED_RESUME, TAAS_SCHED_DELETE } action;
            int64_t now_ms;
            /* TAAS_STORE_ENOTFOUND for an unknown id. Deleting keeps the tasks
             * it submitted. */
        } sched_set;
        struct {
            /*
             * in: move schedule `id` from its due time expect_next_ms to
             * new_next_ms, and in the same transaction insert `tasks` (as
             * INSERT would, unclaimed; an idempotency key already used is a
             * due time already submitted and inserts nothing). last_fire_ms
             * becomes last_due_ms, skipped grows by skipped_add. The move is
             * the fence that makes each due time fire once across servers:
             * a schedule that is paused, or whose next_fire_ms is no longer
             * expect_next_ms, is left alone with TAAS_STORE_ESTALE.
             * With skip_if_running, when the schedule's last task is not
             * final no task is inserted and all count as skipped.
             */
            const char *id;
            int64_t expect_next_ms;
            int64_t new_next_ms;
            int64_t last_due_ms;
            const taas_task_rec *tasks;
            int ntasks;
            int64_t skipped_add;
            bool skip_if_running;
            int64_t now_ms;
            int inserted;     /* out: tasks added */
            bool overlapped;  /* out: skipped because the last task still ran */
        } sched_fire;
    } u;
};

/* ------------------------------------------------------------------------ */
/* Backend vtable */

typedef struct taas_list_query {
    taas_task_state state;  /* TAAS_TASK_UNSPECIFIED = any */
    const char *name;       /* NULL = any */
    const char *principal;  /* NULL = any; "" = tasks submitted without one */
    const char *parent_id;  /* NULL = any; else only the children of that task */
    int limit;              /* 1..1000, else TAAS_STORE_EINVAL */
    const char *page_token; /* NULL or "" = first page; else a token from a previous page
                             * (a malformed one -> TAAS_STORE_EINVAL) */
} taas_list_query;

typedef struct taas_store taas_store;
struct taas_store {
    int version;            /* TAAS_STORE_VERSION */
    const char *backend;    /* "sqlite", "postgresql" */
    /* Apply a batch in one durable transaction. Returns 0 when committed
     * (each op->result tells its own outcome) or a negative TAAS_STORE_E*
     * code when the transaction failed, in which case nothing was applied
     * and every op->result is set to that code. */
    int (*apply)(taas_store *s, taas_store_op *ops[], size_t n);
    int (*get)(taas_store *s, const char *id, taas_task_rec *out);
    /* Newest first. *out is a malloc'd array of *n records (free each with
     * taas_task_rec_clear, then free the array); next_token is "" on the
     * last page. Records carry no input/output text (NULL) - summaries. */
    int (*list)(taas_store *s, const taas_list_query *q, taas_task_rec **out, size_t *n,
                char next_token[64]);
    /* Optional (NULL: not supported). counts[state] of the live states,
     * PENDING and RUNNING (the others are left 0): the queue depth for
     * /metrics. Walks the (state, id) index; meant for a sampler every few
     * seconds, not for a hot path. Thread-safe like get(). */
    int (*count_live)(taas_store *s, int64_t counts[6]);
    /* Human description for the start-up log, e.g. "sqlite:///taas.db (WAL, synchronous=FULL)". */
    const char *(*describe)(taas_store *s);
    /* Last error text of this thread's connection, for logs and messages. */
    const char *(*last_error)(taas_store *s);
    void (*close)(taas_store *s);

    /*
     * Optional; NULL where one process owns the database (SQLite). Waits up
     * to timeout_ms for notifications sent by the commits of any server on
     * this database (including this one), and delivers each, on the calling
     * thread, as on_event(arg, kind, id):
     *   TAAS_NOTIFY_RUNNABLE (id NULL)  tasks may have become claimable
     *   TAAS_NOTIFY_TASK     (id set)   that task changed: state or progress
     *   TAAS_NOTIFY_CANCEL   (id set)   a cancel of that task was requested
     *   TAAS_NOTIFY_RESYNC   (id NULL)  notifications may have been lost (the
     *                                   listening connection was re-made):
     *                                   re-check everything of interest
     * Returns the number delivered (0 on timeout) or a negative TAAS_STORE_E*
     * code (then the caller waits a moment and calls again). Only one thread
     * calls it.
     */
    int (*wait_notify)(taas_store *s, int timeout_ms,
                       void (*on_event)(void *arg, int kind, const char *id), void *arg);

    /* Schedules (thread-safe reads). sched_get: TAAS_STORE_ENOTFOUND for an
     * unknown id. sched_list: oldest first (by id), `principal` NULL = all;
     * page tokens as for list(). sched_due: schedules not paused whose
     * next_fire_ms <= now_ms, earliest first, at most `limit`. Arrays are
     * malloc'd: clear each record, then free the array. */
    int (*sched_get)(taas_store *s, const char *id, taas_schedule_rec *out);
    int (*sched_list)(taas_store *s, const char *principal, int limit, const char *page_token,
                      taas_schedule_rec **out, size_t *n, char next_token[64]);
    int (*sched_due)(taas_store *s, int64_t now_ms, int limit, taas_schedule_rec **out,
                     size_t *n);
};

enum { TAAS_NOTIFY_RUNNABLE = 1, TAAS_NOTIFY_TASK = 2, TAAS_NOTIFY_RESYNC = 3,
       TAAS_NOTIFY_CANCEL = 4 };

typedef struct taas_store_opts {
    int busy_timeout_ms;    /* default 5000 */
    /* Size quota in bytes; 0 = none. A transaction that would grow the
     * database past it fails with TAAS_STORE_EFULL (SQLite: max_page_count). */
    int64_t max_bytes;
    /* Read connections that get()/list() may hold at once; default 16.
     * A caller beyond that waits for one to be released. */
    int max_readers;
    /* PostgreSQL: open even when synchronous_commit is off (an acknowledged
     * task could then vanish in a crash). Off by default: such a server
     * refuses to start. */
    bool allow_async_commit;
} taas_store_opts;

/*
 * Open the store named by a SQLAlchemy-style URL:
 *   sqlite:///taas.db            relative path (the default)
 *   sqlite:////var/lib/taas.db   absolute path
 *   sqlite://                    (or sqlite:///:memory:) in memory, tests only
 *   postgresql://user:pass@host:5432/db
 * Runs versioned migrations. Returns NULL with a message in err on failure.
 */
taas_store *taas_store_open(const char *url, const taas_store_opts *opts, char *err,
                            size_t errlen);

/* ------------------------------------------------------------------------ */
/* Group-commit writer */

typedef struct taas_writer taas_writer;

typedef struct taas_writer_opts {
    int max_batch;          /* ops per transaction; default 256 */
} taas_writer_opts;

/* Start the writer thread over `s` (not owned). */
taas_writer *taas_writer_start(taas_store *s, const taas_writer_opts *opts);
/*
 * Queue `op`; `done(op, arg)` runs on the writer thread after the batch that
 * holds it has committed or failed. The op must stay valid until then.
 * Returns 0, or TAAS_STORE_EINVAL once the writer is stopping (done is then
 * not called).
 */
int taas_writer_enqueue(taas_writer *w, taas_store_op *op, taas_op_done_fn done, void *arg);
/*
 * on: let this thread's next taas_writer_enqueue() (and only that one)
 * apply its op right there, on this thread, when the writer is idle
 * (nothing queued or being applied, and the load low); `done` then runs on
 * this thread before taas_writer_enqueue() returns. A latency measure for a
 * request thread: whatever runs between on and off must call enqueue with
 * no lock held that `done` (or anything it calls) takes. off: withdraw it
 * (when no enqueue happened, e.g. the request was refused).
 */
void taas_writer_allow_inline(bool on);
/* Apply everything queued, then stop the thread and free the writer. */
void taas_writer_stop(taas_writer *w);

typedef struct taas_writer_stats {
    uint64_t batches;       /* apply() calls, i.e. transactions */
    uint64_t ops;           /* operations applied */
    uint64_t failed;        /* batches whose transaction failed */
    int max_batch_seen;     /* largest batch so far */
    uint64_t apply_us;      /* wall time inside apply(), commits included */
    uint64_t apply_cpu_us;  /* CPU time of the writer thread inside apply() */
    uint64_t callback_us;   /* wall time in the ops' callbacks (replies, hand-offs) */
    uint64_t busy_us;       /* wall time not waiting for work: apply + callbacks */
} taas_writer_stats;
/* Counters since start; thread-safe. */
void taas_writer_get_stats(taas_writer *w, taas_writer_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_STORE_H */
