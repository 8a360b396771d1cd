/*
 * taas/client.h - libtaas-client, the C client of a TaaS server.
 *
 * A client holds one gRPC channel to one server. Every call is synchronous:
 * it returns when the server has answered, when its deadline passes, or when
 * the call is interrupted. Nothing in this header exposes gRPC or protobuf
 * types; the library is the only place that talks to them.
 *
 * Errors. Every call returns 0 on success or one of the taas_client_code
 * values below (numerically equal to gRPC status codes) on failure. When
 * `err` is not NULL it is filled on failure with the same code and the
 * server's message (for example "/param2: expected number, got string"),
 * never gRPC's internal debug text. On failure nothing is left in the out
 * parameters for the caller to free.
 *
 * Ownership. Objects returned through an `out` parameter belong to the caller
 * and are released with the matching *_free function. Strings inside them are
 * never NULL (absent text is ""). Pointers handed to a callback are valid
 * only during that callback.
 *
 * Threads. A taas_client may be used from several threads at once: each call
 * runs on its own completion queue over the shared channel.
 * taas_client_interrupt() may be called from any thread and from a signal
 * handler. taas_client_close() must not run concurrently with other calls on
 * the same client.
 */
#ifndef TAAS_CLIENT_H
#define TAAS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions (the shared build hides the rest). */
#if defined(__GNUC__)
#define TAAS_CLIENT_API __attribute__((visibility("default")))
#else
#define TAAS_CLIENT_API
#endif

/* Result codes: the values of gRPC status codes, so that they can be compared
 * with any other gRPC client's results. */
typedef enum taas_client_code {
    TAAS_CLIENT_OK = 0,
    TAAS_CLIENT_CANCELLED = 1,
    TAAS_CLIENT_UNKNOWN = 2,
    TAAS_CLIENT_INVALID_ARGUMENT = 3,
    TAAS_CLIENT_DEADLINE_EXCEEDED = 4,
    TAAS_CLIENT_NOT_FOUND = 5,
    TAAS_CLIENT_ALREADY_EXISTS = 6,
    TAAS_CLIENT_PERMISSION_DENIED = 7,
    TAAS_CLIENT_RESOURCE_EXHAUSTED = 8,
    TAAS_CLIENT_FAILED_PRECONDITION = 9,
    TAAS_CLIENT_ABORTED = 10,
    TAAS_CLIENT_OUT_OF_RANGE = 11,
    TAAS_CLIENT_UNIMPLEMENTED = 12,
    TAAS_CLIENT_INTERNAL = 13,
    TAAS_CLIENT_UNAVAILABLE = 14,
    TAAS_CLIENT_DATA_LOSS = 15,
    TAAS_CLIENT_UNAUTHENTICATED = 16
} taas_client_code;

/* "OK", "NOT_FOUND", ...; "UNKNOWN" for values outside the table. Static. */
TAAS_CLIENT_API const char *taas_client_code_name(int code);

/* A failed call's code and message. The message is NUL-terminated and is
 * truncated (not overflowed) when the server's text is longer. */
typedef struct taas_client_error {
    int code;
    char message[1024];
} taas_client_error;

/*
 * One bad value of a refused submit: a JSON Pointer into the inputs ("" =
 * the whole document, "/param2", "/items/3") and what is wrong with it.
 */
typedef struct taas_client_violation {
    char field[256];
    char description[512];
} taas_client_violation;

/*
 * The field violations the server listed (google.rpc.BadRequest in the
 * status details) for the last call on this thread that failed, e.g. a
 * submit refused with TAAS_CLIENT_INVALID_ARGUMENT: every bad value of the
 * inputs, where err->message names only the first. Copies up to `max` into
 * out[] (out may be NULL when max is 0) and returns how many there are; 0
 * when that call carried none. Valid until the next call on this thread.
 */
TAAS_CLIENT_API size_t taas_client_last_violations(taas_client_violation *out, size_t max);

/* The life of a task: PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED. */
typedef enum taas_client_state {
    TAAS_CLIENT_STATE_UNSPECIFIED = 0,
    TAAS_CLIENT_STATE_PENDING = 1,
    TAAS_CLIENT_STATE_RUNNING = 2,
    TAAS_CLIENT_STATE_SUCCEEDED = 3,
    TAAS_CLIENT_STATE_FAILED = 4,
    TAAS_CLIENT_STATE_CANCELLED = 5
} taas_client_state;

/* "PENDING", "RUNNING", ...; "UNSPECIFIED" for 0 and unknown values. Static. */
TAAS_CLIENT_API const char *taas_client_state_name(taas_client_state state);
/* Parses a state name, case-insensitive, with or without the "TASK_STATE_"
 * prefix. Returns 0 and sets *out, or -1 for an unknown name. */
TAAS_CLIENT_API int taas_client_state_parse(taas_client_state *out, const char *name);
/* True for SUCCEEDED, FAILED and CANCELLED. */
TAAS_CLIENT_API bool taas_client_state_is_final(taas_client_state state);

/* ------------------------------------------------------------------------ */
/* Connecting */

/* 2 added tls_cert_pem and tls_key_pem; version 1 structs are still accepted. */
#define TAAS_CLIENT_OPTIONS_VERSION 2
/* Default server address when neither the options nor TAAS_SERVER name one. */
#define TAAS_CLIENT_DEFAULT_ADDRESS "127.0.0.1:50051"

typedef struct taas_client_options {
    int version;              /* TAAS_CLIENT_OPTIONS_VERSION */
    /* "host:port" or any gRPC target; NULL = $TAAS_SERVER, else the default. */
    const char *address;
    /* Deadline of each call that is not given its own, in milliseconds;
     * 0 = 30000. Watches have no deadline unless given one per call. */
    int64_t timeout_ms;
    /* Largest message accepted from the server, bytes; 0 = 16 MiB. */
    int32_t max_receive_bytes;
    /* Transport security. With use_tls false the channel is plaintext
     * (loopback and trusted networks). With use_tls true the channel uses
     * TLS, verifying the server against tls_ca_pem (PEM text; NULL = the
     * system's roots). */
    bool use_tls;
    const char *tls_ca_pem;
    /* When not NULL, sent as "authorization: Bearer <token>" on every call.
     * Send tokens over TLS only: on a plaintext channel anyone on the path
     * can read them. */
    const char *bearer_token;
    /* Mutual TLS (use_tls true): this client's certificate chain and private
     * key, PEM text; both or neither. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
} taas_client_options;

#define TAAS_CLIENT_OPTIONS_INIT                                                                   \
    { TAAS_CLIENT_OPTIONS_VERSION, NULL, 0, 0, false, NULL, NULL, NULL, NULL }

typedef struct taas_client taas_client;

/*
 * Creates a client for the server named by `opts` (NULL = all defaults).
 * The connection is made lazily by the first call; use taas_client_health()
 * to check that the server is there. The strings in `opts` are copied.
 * Free the client with taas_client_close().
 */
TAAS_CLIENT_API int taas_client_connect(taas_client **out, const taas_client_options *opts,
                        taas_client_error *err);

/* Closes the channel and frees the client. NULL is allowed. */
TAAS_CLIENT_API void taas_client_close(taas_client *client);

/* The address the client talks to. Owned by the client. */
TAAS_CLIENT_API const char *taas_client_address(const taas_client *client);

/*
 * Makes every call in progress on `client` (and any started later, until
 * taas_client_reset_interrupt()) end promptly with TAAS_CLIENT_CANCELLED.
 * Async-signal-safe: a SIGINT handler may call it.
 */
TAAS_CLIENT_API void taas_client_interrupt(taas_client *client);
TAAS_CLIENT_API void taas_client_reset_interrupt(taas_client *client);

/* Per-call settings; pass NULL for the client's defaults. */
typedef struct taas_call_options {
    /* The call's deadline in milliseconds from now; 0 = the client's
     * default (no deadline for watches); negative = no deadline. */
    int64_t timeout_ms;
} taas_call_options;

/* ------------------------------------------------------------------------ */
/* Tasks */

typedef struct taas_client_attempt {
    int32_t number;           /* 1 for the first execution */
    char *error;              /* why it failed; "" for a success */
    int64_t finished_at_ms;
} taas_client_attempt;

/* A task as the server stores it; times are Unix epoch milliseconds, 0 when
 * not (yet) applicable. */
typedef struct taas_client_task {
    char *id;
    char *task_name;
    taas_client_state state;
    char *inputs_json;        /* "" in list summaries */
    char *output_json;        /* "" unless SUCCEEDED (and in list summaries) */
    char *error;
    double progress;          /* 0.0 to 1.0 */
    char *progress_message;
    int32_t attempt;
    int32_t max_attempts;
    int32_t priority;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t run_after_ms;
    int64_t started_at_ms;
    int64_t finished_at_ms;
    char *idempotency_key;
    bool cancel_requested;
    size_t n_attempts;
    taas_client_attempt *attempts;
} taas_client_task;

/* The id of the task that submitted this one as a child; "" for a top-level
 * task. Valid as long as the task is. (An accessor rather than a field keeps
 * taas_client_task's size, which list arrays depend on, unchanged.) */
TAAS_CLIENT_API const char *taas_client_task_parent_id(const taas_client_task *task);

/* Frees a task returned by the library and everything in it. NULL is allowed. */
TAAS_CLIENT_API void taas_client_task_free(taas_client_task *task);

typedef struct taas_client_submit_request {
    const char *task_name;        /* required */
    const char *inputs_json;      /* a JSON object; NULL = "{}" */
    const char *idempotency_key;  /* NULL or "" = none */
    int32_t priority;             /* higher runs first; default 0 */
    int64_t run_after_ms;         /* Unix epoch ms; 0 = now */
    int32_t timeout_s;            /* 0 = the task type's */
} taas_client_submit_request;

typedef struct taas_client_submit_result {
    char task_id[128];
    bool duplicate;               /* an earlier submit with the same key */
    taas_client_state state;
} taas_client_submit_result;

/* Submits a task. INVALID_ARGUMENT: bad inputs (the message starts with the
 * JSON Pointer of the first bad value); NOT_FOUND: unknown task name. */
TAAS_CLIENT_API int taas_client_submit(taas_client *client, taas_client_submit_result *out,
                       const taas_client_submit_request *req,
                       const taas_call_options *call, taas_client_error *err);

/* Reads one task with its output, error and attempts. Free *out with
 * taas_client_task_free(). */
TAAS_CLIENT_API int taas_client_get(taas_client *client, taas_client_task **out, const char *task_id,
                    const taas_call_options *call, taas_client_error *err);

typedef struct taas_client_list_request {
    taas_client_state state;      /* UNSPECIFIED = any */
    const char *task_name;        /* NULL or "" = any */
    int32_t page_size;            /* 1..1000; 0 = the server's default (50) */
    const char *page_token;       /* NULL or "" = the first page */
} taas_client_list_request;

typedef struct taas_client_task_list {
    size_t count;
    taas_client_task *tasks;      /* summaries, newest first */
    char *next_page_token;        /* "" on the last page */
} taas_client_task_list;

TAAS_CLIENT_API void taas_client_task_list_free(taas_client_task_list *list);

/* One page of tasks. Free *out with taas_client_task_list_free(). */
TAAS_CLIENT_API int taas_client_list(taas_client *client, taas_client_task_list **out,
                     const taas_client_list_request *req,
                     const taas_call_options *call, taas_client_error *err);

/* The same, only the children the task parent_id submitted (NULL or "" =
 * any task, exactly taas_client_list). A separate function because
 * taas_client_list_request is the caller's struct and cannot grow. */
TAAS_CLIENT_API int taas_client_list_children(taas_client *client, taas_client_task_list **out,
                              const char *parent_id, const taas_client_list_request *req,
                              const taas_call_options *call, taas_client_error *err);

/* Cancels a pending task, or asks a running one to stop. *out_state (may be
 * NULL) receives CANCELLED, RUNNING (stop requested; watch it end) or the
 * final state of a task that had already finished. */
TAAS_CLIENT_API int taas_client_cancel(taas_client *client, taas_client_state *out_state, const char *task_id,
                       const taas_call_options *call, taas_client_error *err);

/* One event of a watch. Valid only during the callback. */
typedef struct taas_client_event {
    const char *task_id;
    taas_client_state state;
    double progress;
    const char *progress_message;
    int64_t seq;                  /* 1-based count of events on this watch */
    int64_t at_ms;
    /* On the last event (a final state): the whole task, with its output or
     * error. NULL on the others. */
    const taas_client_task *task;
} taas_client_event;

/* Called once per event, on the thread that called taas_client_watch().
 * Return 0 to go on; any other value stops the watch, and
 * taas_client_watch() returns TAAS_CLIENT_CANCELLED. */
typedef int (*taas_client_watch_cb)(const taas_client_event *event, void *payload);

/*
 * Follows a task: the callback sees its current state, then every change,
 * until an event with a final state, after which this returns 0. If `final`
 * is not NULL it receives that last task (free with taas_client_task_free()).
 * Stops early with TAAS_CLIENT_CANCELLED when the callback asks to or
 * taas_client_interrupt() is called, with DEADLINE_EXCEEDED when the call's
 * deadline passes, or with the server's error (NOT_FOUND for an unknown id).
 */
TAAS_CLIENT_API int taas_client_watch(taas_client *client, taas_client_task **final, const char *task_id,
                      taas_client_watch_cb cb, void *payload,
                      const taas_call_options *call, taas_client_error *err);

/* ------------------------------------------------------------------------ */
/* Discovery */

typedef struct taas_client_task_type {
    char *name;
    char *version;
    char *description;
    char *input_schema_json;
    char *output_schema_json;
    bool idempotent;
    int32_t retries;
    int32_t timeout_s;            /* 0 = the server's default */
} taas_client_task_type;

typedef struct taas_client_task_type_list {
    size_t count;
    taas_client_task_type *types; /* sorted by name */
} taas_client_task_type_list;

TAAS_CLIENT_API void taas_client_task_type_free(taas_client_task_type *type);
TAAS_CLIENT_API void taas_client_task_type_list_free(taas_client_task_type_list *list);

TAAS_CLIENT_API int taas_client_list_task_types(taas_client *client, taas_client_task_type_list **out,
                                const taas_call_options *call, taas_client_error *err);
/* NOT_FOUND for an unknown name. Free *out with taas_client_task_type_free(). */
TAAS_CLIENT_API int taas_client_get_task_type(taas_client *client, taas_client_task_type **out,
                              const char *name, const taas_call_options *call,
                              taas_client_error *err);

/* ------------------------------------------------------------------------ */
/* Health (grpc.health.v1) */

typedef enum taas_client_health_status {
    TAAS_CLIENT_HEALTH_UNKNOWN = 0,
    TAAS_CLIENT_HEALTH_SERVING = 1,
    TAAS_CLIENT_HEALTH_NOT_SERVING = 2,
    TAAS_CLIENT_HEALTH_SERVICE_UNKNOWN = 3
} taas_client_health_status;

/* "SERVING", "NOT_SERVING", ... Static. */
TAAS_CLIENT_API const char *taas_client_health_name(taas_client_health_status status);

/* Health.Check for `service` (NULL or "" = the whole server). */
TAAS_CLIENT_API int taas_client_health(taas_client *client, taas_client_health_status *out,
                       const char *service, const taas_call_options *call,
                       taas_client_error *err);

/* ------------------------------------------------------------------------ */
/* Schedules (taas.v1.ScheduleService) */

typedef enum taas_client_catch_up {
    TAAS_CLIENT_CATCH_UP_DEFAULT = 0,  /* the server's default (skip) */
    TAAS_CLIENT_CATCH_UP_SKIP = 1,     /* fire times missed during downtime are skipped */
    TAAS_CLIENT_CATCH_UP_RUN_ONCE = 2, /* one submit stands for all missed fire times */
    TAAS_CLIENT_CATCH_UP_RUN_ALL = 3   /* one submit per missed time, at most max_catch_up */
} taas_client_catch_up;

typedef enum taas_client_overlap {
    TAAS_CLIENT_OVERLAP_DEFAULT = 0,   /* the server's default (allow) */
    TAAS_CLIENT_OVERLAP_ALLOW = 1,
    TAAS_CLIENT_OVERLAP_SKIP = 2       /* skip a fire while the previous task has not ended */
} taas_client_overlap;

/* "SKIP", "RUN_ONCE", "RUN_ALL" ("DEFAULT" for 0). Static. */
TAAS_CLIENT_API const char *taas_client_catch_up_name(taas_client_catch_up policy);
/* "ALLOW", "SKIP" ("DEFAULT" for 0). Static. */
TAAS_CLIENT_API const char *taas_client_overlap_name(taas_client_overlap policy);

/* A schedule. In a create request only name, cron + time_zone or interval_ms,
 * task_name, inputs_json, priority, timeout_s, catch_up, max_catch_up,
 * overlap and paused are read (NULL strings count as empty). */
typedef struct taas_client_schedule {
    char *id;
    char *name;
    char *cron;                   /* 5-field cron expression, or "" */
    char *time_zone;              /* IANA name the cron is read in ("" = UTC) */
    int64_t interval_ms;          /* fixed interval, or 0 when cron is set */
    char *task_name;
    char *inputs_json;
    int32_t priority;
    int32_t timeout_s;
    taas_client_catch_up catch_up;
    int32_t max_catch_up;
    taas_client_overlap overlap;
    bool paused;
    int64_t next_fire_at_ms;      /* 0 while paused */
    int64_t last_fire_at_ms;
    char *last_task_id;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t submitted;            /* tasks submitted so far */
    int64_t skipped;              /* fire times skipped (catch-up or overlap) */
    size_t upcoming_count;
    int64_t *upcoming_at_ms;      /* the next fire times, soonest first */
} taas_client_schedule;

typedef struct taas_client_schedule_list {
    size_t count;
    taas_client_schedule *schedules;
    char *next_page_token;        /* "" on the last page */
} taas_client_schedule_list;

TAAS_CLIENT_API void taas_client_schedule_free(taas_client_schedule *schedule);
TAAS_CLIENT_API void taas_client_schedule_list_free(taas_client_schedule_list *list);

/* CreateSchedule; INVALID_ARGUMENT (with violations) for a bad expression,
 * time zone, task name or inputs. Free *out with taas_client_schedule_free(). */
TAAS_CLIENT_API int taas_client_create_schedule(taas_client *client, taas_client_schedule **out,
                                const taas_client_schedule *req,
                                const taas_call_options *call, taas_client_error *err);
/* NOT_FOUND for an unknown id. pause=false resumes. */
TAAS_CLIENT_API int taas_client_get_schedule(taas_client *client, taas_client_schedule **out,
                             const char *schedule_id, const taas_call_options *call,
                             taas_client_error *err);
TAAS_CLIENT_API int taas_client_pause_schedule(taas_client *client, taas_client_schedule **out,
                               const char *schedule_id, bool pause,
                               const taas_call_options *call, taas_client_error *err);
TAAS_CLIENT_API int taas_client_delete_schedule(taas_client *client, const char *schedule_id,
                                const taas_call_options *call, taas_client_error *err);
TAAS_CLIENT_API int taas_client_list_schedules(taas_client *client, taas_client_schedule_list **out,
                              int32_t page_size, const char *page_token,
                              const taas_call_options *call, taas_client_error *err);

#ifdef __cplusplus
}
#endif

#endif
