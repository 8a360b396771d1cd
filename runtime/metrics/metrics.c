/*
 * runtime/metrics/metrics.c - counters, histograms, the Prometheus
 * exposition and the one-hour history (see metrics.h).
 *
 * Storage is static and sized at compile time: per-task counters are indexed
 * by the task's position in taas_registry[] (sorted, fixed at build time),
 * calls by a fixed table of method names (anything else counts as "other",
 * which keeps label cardinality bounded whatever clients send).
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define MAX_TASKS 256
#define N_STATUS 17
#define N_TRANSPORTS 2

static const char *const methods[] = {
    "/taas.v1.TaskService/SubmitTask",
    "/taas.v1.TaskService/GetTask",
    "/taas.v1.TaskService/ListTasks",
    "/taas.v1.TaskService/CancelTask",
    "/taas.v1.TaskService/WatchTask",
    "/taas.v1.RegistryService/ListTaskTypes",
    "/taas.v1.RegistryService/GetTaskType",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/taas.http/Metrics",
    "/taas.http/MetricsHistory",
    "/taas.http/Mcp",
    "other",
};
#define N_METHODS (sizeof methods / sizeof methods[0])
static const char *const transports[N_TRANSPORTS] = {"grpc", "http"};
static const char *const state_names[6] = {"unspecified", "pending", "running",
                                           "succeeded", "failed", "cancelled"};

/* Histogram buckets, in seconds (upper bounds; +Inf implied). */
static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,   0.5,   1,      2.5,   5,    10,    30,    60,
                                    300,    900,   3600};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define N_BATCH (sizeof batch_bounds / sizeof batch_bounds[0])

struct hist {
    atomic_uint_fast64_t b[N_LAT + 1]; /* per bucket, not cumulative; last = +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;       /* sum in microseconds (or units for batch) */
};

static struct {
    atomic_uint_fast64_t calls[N_TRANSPORTS][N_METHODS][N_STATUS];
    atomic_uint_fast64_t submitted[MAX_TASKS + 1]; /* last = unknown task */
    atomic_uint_fast64_t duplicates;
    atomic_uint_fast64_t finished[MAX_TASKS + 1][6];
    atomic_int_fast64_t running;
    atomic_uint_fast64_t started, retries, timeouts, leases_recovered;
    struct hist submit_ack, queue_wait, run_time, commit_time, batch;
} M;

static pthread_mutex_t states_mu = PTHREAD_MUTEX_INITIALIZER;
static taas_metrics_states_fn states_fn;
static void *states_arg;

static const char *const *task_names;
static size_t n_task_names;

void taas_metrics_set_tasks(const char *const *names, size_t n)
{
    task_names = names;
    n_task_names = n < MAX_TASKS ? n : MAX_TASKS;
}

static size_t task_index(const char *task)
{
    size_t lo = 0, hi = n_task_names;
    while (task && lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(task, task_names[mid]);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return MAX_TASKS;
}

static size_t method_index(const char *m)
{
    for (size_t i = 0; i + 1 < N_METHODS; i++)
        if (m && strcmp(m, methods[i]) == 0)
            return i;
    return N_METHODS - 1;
}

static void hist_add(struct hist *h, const double *bounds, size_t n, double v, uint64_t sum_units)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, sum_units, memory_order_relaxed);
}

static void lat_add(struct hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    hist_add(h, lat_bounds, N_LAT, (double)us / 1e6, (uint64_t)us);
}

void taas_metrics_call(const char *transport, const char *method, taas_status st,
                       int64_t duration_us)
{
    (void)duration_us;
    size_t t = transport && strcmp(transport, "http") == 0 ? 1 : 0;
    size_t s = (unsigned)st < N_STATUS ? (size_t)st : TAAS_ST_UNKNOWN;
    atomic_fetch_add_explicit(&M.calls[t][method_index(method)][s], 1, memory_order_relaxed);
}

void taas_metrics_submitted(const char *task, int duplicate, int64_t submit_to_ack_us)
{
    if (duplicate) {
        atomic_fetch_add_explicit(&M.duplicates, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&M.submitted[task_index(task)], 1, memory_order_relaxed);
    lat_add(&M.submit_ack, submit_to_ack_us);
}

void taas_metrics_finished(const char *task, int state)
{
    if (state < 0 || state > 5)
        state = 0;
    atomic_fetch_add_explicit(&M.finished[task_index(task)][state], 1, memory_order_relaxed);
}

void taas_metrics_started(int64_t queue_wait_ms)
{
    atomic_fetch_add_explicit(&M.running, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.started, 1, memory_order_relaxed);
    lat_add(&M.queue_wait, queue_wait_ms * 1000);
}

void taas_metrics_ended(int64_t run_ms)
{
    atomic_fetch_sub_explicit(&M.running, 1, memory_order_relaxed);
    lat_add(&M.run_time, run_ms * 1000);
}

void taas_metrics_retry(void)
{
    atomic_fetch_add_explicit(&M.retries, 1, memory_order_relaxed);
}

void taas_metrics_timeout(void)
{
    atomic_fetch_add_explicit(&M.timeouts, 1, memory_order_relaxed);
}

void taas_metrics_lease_recovered(int64_t n)
{
    if (n > 0)
        atomic_fetch_add_explicit(&M.leases_recovered, (uint64_t)n, memory_order_relaxed);
}

void taas_metrics_commit(size_t batch, int64_t commit_us)
{
    lat_add(&M.commit_time, commit_us);
    hist_add(&M.batch, batch_bounds, N_BATCH, (double)batch, batch);
}

void taas_metrics_set_states(taas_metrics_states_fn fn, void *arg)
{
    pthread_mutex_lock(&states_mu);
    states_fn = fn;
    states_arg = arg;
    pthread_mutex_unlock(&states_mu);
}

static int read_states(int64_t counts[6])
{
    int rc = -1;
    memset(counts, 0, 6 * sizeof counts[0]);
    pthread_mutex_lock(&states_mu);
    if (states_fn)
        rc = states_fn(states_arg, counts);
    pthread_mutex_unlock(&states_mu);
    return rc;
}

void taas_metrics_reset(void)
{
    memset(&M, 0, sizeof M);
}

/* ------------------------------------------------------------------------ */
/* Exposition */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t ld(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void hist_render(struct buf *b, const char *name, const char *help, struct hist *h,
                        const double *bounds, size_t n, double sum_scale)
{
    family(b, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += ld(&h->b[i]);
        bprintf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += ld(&h->b[n]);
    /* The count is the +Inf bucket's own sum so the two always agree. */
    bprintf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    bprintf(b, "%s_sum %.6f\n", name, (double)ld(&h->sum_us) * sum_scale);
    bprintf(b, "%s_count %llu\n", name, (unsigned long long)cum);
}

static const char *task_label(size_t i)
{
    return i < n_task_names ? task_names[i] : "unknown";
}

char *taas_metrics_render(const char *version, size_t *len)
{
    struct buf b = {0};
    size_t nt = n_task_names;

    family(&b, "taas_build_info", "gauge", "Version of this server; the value is always 1.");
    bprintf(&b, "taas_build_info{version=\"%s\"} 1\n", version ? version : "unknown");

    family(&b, "taas_tasks_submitted_total", "counter",
           "Tasks accepted (durably stored), by task type; duplicates are not counted.");
    for (size_t i = 0; i <= MAX_TASKS; i++) {
        if (i >= nt && i != MAX_TASKS)
            continue;
        uint64_t v = ld(&M.submitted[i]);
        if (i == MAX_TASKS && !v)
            continue;
        bprintf(&b, "taas_tasks_submitted_total{task=\"%s\"} %llu\n", task_label(i),
                (unsigned long long)v);
    }
    family(&b, "taas_tasks_duplicate_submits_total", "counter",
           "Submits answered with an existing task of the same idempotency key.");
    bprintf(&b, "taas_tasks_duplicate_submits_total %llu\n", (unsigned long long)ld(&M.duplicates));

    family(&b, "taas_tasks_finished_total", "counter",
           "Tasks that reached a final state, by task type and state.");
    for (size_t i = 0; i <= MAX_TASKS; i++) {
        if (i >= nt && i != MAX_TASKS)
            continue;
        for (int s = 3; s <= 5; s++) {
            uint64_t v = ld(&M.finished[i][s]);
            if (i == MAX_TASKS && !v)
                continue;
            bprintf(&b, "taas_tasks_finished_total{task=\"%s\",state=\"%s\"} %llu\n",
                    task_label(i), state_names[s], (unsigned long long)v);
        }
    }

    int64_t counts[6];
    if (read_states(counts) == 0) {
        family(&b, "taas_tasks", "gauge",
               "Tasks in the store (all servers) waiting (pending: the queue depth) or running.");
        for (int s = 1; s <= 2; s++)
            bprintf(&b, "taas_tasks{state=\"%s\"} %lld\n", state_names[s], (long long)counts[s]);
    }
    family(&b, "taas_tasks_running", "gauge", "Task bodies running on this server now.");
    int64_t running = atomic_load_explicit(&M.running, memory_order_relaxed);
    bprintf(&b, "taas_tasks_running %lld\n", (long long)(running < 0 ? 0 : running));
    family(&b, "taas_task_retries_total", "counter", "Attempts scheduled again after a retryable failure.");
    bprintf(&b, "taas_task_retries_total %llu\n", (unsigned long long)ld(&M.retries));
    family(&b, "taas_task_timeouts_total", "counter", "Attempts that ran past their deadline.");
    bprintf(&b, "taas_task_timeouts_total %llu\n", (unsigned long long)ld(&M.timeouts));
    family(&b, "taas_leases_recovered_total", "counter",
           "Expired leases of other (dead) servers taken back for their tasks.");
    bprintf(&b, "taas_leases_recovered_total %llu\n", (unsigned long long)ld(&M.leases_recovered));

    hist_render(&b, "taas_submit_ack_seconds",
                "Time from a submit's arrival to its acknowledgement (after the durable commit).",
                &M.submit_ack, lat_bounds, N_LAT, 1e-6);
    hist_render(&b, "taas_task_queue_wait_seconds",
                "Time a task waited from runnable to its body starting.", &M.queue_wait,
                lat_bounds, N_LAT, 1e-6);
    hist_render(&b, "taas_task_run_seconds", "Time a task body ran (one attempt).", &M.run_time,
                lat_bounds, N_LAT, 1e-6);
    hist_render(&b, "taas_store_commit_seconds",
                "Time of one group commit of the store's writer, fsync included.", &M.commit_time,
                lat_bounds, N_LAT, 1e-6);
    hist_render(&b, "taas_store_commit_batch_operations",
                "Operations committed together in one group commit.", &M.batch, batch_bounds,
                N_BATCH, 1.0);

    family(&b, "taas_calls_total", "counter",
           "API calls answered, by transport (grpc, http), method and status code.");
    for (size_t t = 0; t < N_TRANSPORTS; t++)
        for (size_t m = 0; m < N_METHODS; m++)
            for (size_t s = 0; s < N_STATUS; s++) {
                uint64_t v = ld(&M.calls[t][m][s]);
                if (v)
                    bprintf(&b, "taas_calls_total{transport=\"%s\",method=\"%s\",code=\"%s\"} %llu\n",
                            transports[t], methods[m], taas_status_name((taas_status)s),
                            (unsigned long long)v);
            }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ------------------------------------------------------------------------ */
/* History */

struct sample {
    int64_t t_ms;
    uint64_t submitted, finished;
    int64_t queue; /* -1: unknown */
    int64_t running;
    uint64_t lat[N_LAT + 1]; /* submit->ack buckets, cumulative-free, as of t */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thr;
    bool started, stop;
    struct sample ring[TAAS_METRICS_HISTORY + 1];
    size_t head, n; /* n samples ending before head */
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void take_sample(struct sample *s)
{
    memset(s, 0, sizeof *s);
    s->t_ms = taas_now_ms();
    for (size_t i = 0; i <= MAX_TASKS; i++) {
        s->submitted += ld(&M.submitted[i]);
        for (int st = 3; st <= 5; st++)
            s->finished += ld(&M.finished[i][st]);
    }
    int64_t counts[6];
    s->queue = read_states(counts) == 0 ? counts[1] : -1;
    s->running = atomic_load_explicit(&M.running, memory_order_relaxed);
    for (size_t i = 0; i <= N_LAT; i++)
        s->lat[i] = ld(&M.submit_ack.b[i]);
}

static void *sampler(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&H.mu);
    while (!H.stop) {
        pthread_mutex_unlock(&H.mu);
        struct sample s;
        take_sample(&s);
        pthread_mutex_lock(&H.mu);
        H.ring[H.head] = s;
        H.head = (H.head + 1) % (TAAS_METRICS_HISTORY + 1);
        if (H.n < TAAS_METRICS_HISTORY + 1)
            H.n++;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += TAAS_METRICS_SAMPLE_S;
        while (!H.stop && pthread_cond_timedwait(&H.cv, &H.mu, &ts) == 0) {
        }
    }
    pthread_mutex_unlock(&H.mu);
    return NULL;
}

int taas_metrics_history_start(void)
{
    pthread_mutex_lock(&H.mu);
    int rc = 0;
    if (!H.started) {
        H.stop = false;
        rc = pthread_create(&H.thr, NULL, sampler, NULL) == 0 ? 0 : -1;
        H.started = rc == 0;
    }
    pthread_mutex_unlock(&H.mu);
    return rc;
}

void taas_metrics_history_stop(void)
{
    pthread_mutex_lock(&H.mu);
    bool join = H.started;
    H.stop = true;
    H.started = false;
    pthread_cond_broadcast(&H.cv);
    pthread_mutex_unlock(&H.mu);
    if (join)
        pthread_join(H.thr, NULL);
}

/* The q-quantile in milliseconds of the bucket counts d[], by linear
 * interpolation inside the bucket; -1 without observations. */
static double quantile_ms(const uint64_t *d, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= N_LAT; i++)
        total += d[i];
    if (!total)
        return -1;
    double rank = q * (double)total, cum = 0;
    for (size_t i = 0; i <= N_LAT; i++) {
        if (cum + (double)d[i] >= rank && d[i]) {
            double lo = i ? lat_bounds[i - 1] : 0;
            double hi = i < N_LAT ? lat_bounds[i] : lat_bounds[N_LAT - 1];
            return (lo + (hi - lo) * ((rank - cum) / (double)d[i])) * 1000.0;
        }
        cum += (double)d[i];
    }
    return lat_bounds[N_LAT - 1] * 1000.0;
}

char *taas_metrics_history_json(size_t *len)
{
    struct buf b = {0};
    struct sample now;
    take_sample(&now);
    pthread_mutex_lock(&H.mu);
    size_t n = H.n;
    struct sample *all = malloc((n + 1) * sizeof *all);
    if (!all) {
        pthread_mutex_unlock(&H.mu);
        return NULL;
    }
    size_t start = (H.head + (TAAS_METRICS_HISTORY + 1) - n) % (TAAS_METRICS_HISTORY + 1);
    for (size_t i = 0; i < n; i++)
        all[i] = H.ring[(start + i) % (TAAS_METRICS_HISTORY + 1)];
    pthread_mutex_unlock(&H.mu);
    all[n++] = now; /* the partial interval up to now */
    bprintf(&b, "{\"interval_s\":%d,\"samples\":[", TAAS_METRICS_SAMPLE_S);
    for (size_t i = 1; i < n; i++) {
        const struct sample *p = &all[i - 1], *s = &all[i];
        uint64_t d[N_LAT + 1];
        for (size_t k = 0; k <= N_LAT; k++)
            d[k] = s->lat[k] - p->lat[k];
        double q[3] = {quantile_ms(d, 0.5), quantile_ms(d, 0.9), quantile_ms(d, 0.99)};
        bprintf(&b, "%s{\"t\":%lld,\"seconds\":%.3f,\"submitted\":%llu,\"finished\":%llu,",
                i > 1 ? "," : "", (long long)s->t_ms, (double)(s->t_ms - p->t_ms) / 1000.0,
                (unsigned long long)(s->submitted - p->submitted),
                (unsigned long long)(s->finished - p->finished));
        if (s->queue >= 0)
            bprintf(&b, "\"queue\":%lld,", (long long)s->queue);
        else
            bprintf(&b, "\"queue\":null,");
        bprintf(&b, "\"running\":%lld", (long long)s->running);
        const char *names[3] = {"p50_ms", "p90_ms", "p99_ms"};
        for (int k = 0; k < 3; k++) {
            if (q[k] < 0)
                bprintf(&b, ",\"%s\":null", names[k]);
            else
                bprintf(&b, ",\"%s\":%.3f", names[k], q[k]);
        }
        bprintf(&b, "}");
    }
    bprintf(&b, "]}");
    free(all);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
