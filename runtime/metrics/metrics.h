/*
 * runtime/metrics/metrics.h - the server's own counters, exposed at
 * /metrics in the Prometheus text format 0.0.4 (docs/http-api.md lists
 * every family).
 *
 * Every hook is a few relaxed atomic additions on static storage: no lock,
 * no allocation, so the engine, the writer and the transports may call them
 * on their hot paths from any thread. Only taas_metrics_render() and the
 * history sampler read them, and a reader may see one counter a moment
 * ahead of another; each value on its own is exact.
 *
 * History. taas_metrics_history_start() samples the counters every
 * TAAS_METRICS_SAMPLE_S seconds and keeps the last hour, so that the
 * dashboard draws throughput, queue depth and latency percentiles over the
 * last hour without an external time-series database.
 */
#ifndef TAAS_METRICS_H
#define TAAS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TAAS_METRICS_SAMPLE_S 10
#define TAAS_METRICS_HISTORY 360 /* one hour of samples */

/* The task names of this server, sorted (taas_registry[] order), for the
 * per-task label; set once at start-up, before any hook runs. Other names
 * count as task="unknown". */
void taas_metrics_set_tasks(const char *const *names, size_t n);

/* One finished call: transport "grpc" or "http", its method name
 * ("/taas.v1.TaskService/SubmitTask") and status. */
void taas_metrics_call(const char *transport, const char *method, taas_status st,
                       int64_t duration_us);

/* A submit acknowledged after its durable commit: the task name, whether it
 * was a duplicate (idempotency key), and the time from the call's arrival to
 * the acknowledgement. */
void taas_metrics_submitted(const char *task, int duplicate, int64_t submit_to_ack_us);
/* A task reached a final state (taas_task_state: 3 SUCCEEDED, 4 FAILED,
 * 5 CANCELLED). */
void taas_metrics_finished(const char *task, int state);
/* A body started after waiting queue_wait_ms since it became runnable. */
void taas_metrics_started(int64_t queue_wait_ms);
/* A body returned after run_ms. */
void taas_metrics_ended(int64_t run_ms);
void taas_metrics_retry(void);
void taas_metrics_timeout(void);
void taas_metrics_lease_recovered(int64_t n);
/* One group commit of the store's writer: operations in it, time to commit. */
void taas_metrics_commit(size_t batch, int64_t commit_us);

/*
 * Tasks by state. The count of tasks in each live state comes from whoever
 * knows it (the store): `fn` fills counts[state] for states 1..2 and returns 0,
 * or -1 when it cannot tell (the family is then left out). Called by the
 * renderer and the sampler, never on a hot path.
 */
typedef int (*taas_metrics_states_fn)(void *arg, int64_t counts[6]);
void taas_metrics_set_states(taas_metrics_states_fn fn, void *arg);

/* The whole exposition, malloc'd (caller frees), NULL when out of memory. */
char *taas_metrics_render(const char *version, size_t *len);

/* The sampler (one thread). Idempotent start; stop joins it. */
int taas_metrics_history_start(void);
void taas_metrics_history_stop(void);
/* The last hour as JSON (malloc'd): {"interval_s":10,"samples":[{"t":ms,
 * "submitted":n,"finished":n,"queue":n|null,"running":n,"p50_ms":x,
 * "p90_ms":x,"p99_ms":x}, ...]} oldest first. Rates are per interval. */
char *taas_metrics_history_json(size_t *len);

/* The middleware counting every call (middleware/middleware.h); push it
 * first so that it sees calls the others refuse. */
struct taas_middleware;
struct taas_middleware *taas_metrics_middleware_new(void);

/* Reset every counter (tests). */
void taas_metrics_reset(void);

#ifdef __cplusplus
}
#endif
#endif
