/*
 * bench/anchor_gearman.c - the TaaS workload against gearmand, with
 * libgearman: background jobs submitted with C in flight, W worker threads
 * running a no-op function.
 *
 * Method. One client connection in non-blocking mode pipelines up to C
 * SUBMIT_JOB_BG requests (gearman_client_add_task_background + run_tasks);
 * a submit's ack is its JOB_CREATED reply, which gearmand sends after the
 * job is in its queue (and, with a persistent queue such as libsqlite3,
 * after that queue's add and commit). Each worker thread has its own
 * connection and function registration; the body returns at once and
 * libgearman sends WORK_COMPLETE. Gearman has no reply to WORK_COMPLETE, so
 * a worker cannot see its completion recorded: after the workers have done
 * N jobs, the driver polls the admin "status" command until the function's
 * queue is empty, and that reply is the end of the run (for the libsqlite3
 * queue, the job's row has then been deleted and committed).
 *
 * Figures, as taas-bench reports them: submit/s = N / (first submit -> last
 * JOB_CREATED); end-to-end = N / (first submit -> queue seen empty);
 * submit-ack latency per job; submit -> body start = submit -> the worker's
 * function entered (joined on the job handle after the run).
 */
#include "bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <libgearman-1.0/gearman.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct id_time {
    uint64_t id;          /* the number at the end of the job handle */
    int64_t t_ns;
} id_time;

typedef struct worker {
    pthread_t thread;
    id_time *starts;
    size_t n_starts, cap;
    long errors;
    struct run *run;
} worker;

typedef struct run {
    const bench_opts *opts;
    char host[256];
    int port;
    char function[64];
    atomic_long done;
    atomic_int ready;
    atomic_int stop;
    /* client side */
    int64_t *t_submit;    /* by job index */
    id_time *creates;     /* (handle number, submit time) of acked jobs */
    long n_created;
    long inflight;
    int64_t t_last_ack;
    bench_result *res;
} run;

static uint64_t handle_number(const char *handle)
{
    const char *colon = handle ? strrchr(handle, ':') : NULL;
    return colon ? strtoull(colon + 1, NULL, 10) : 0;
}

static gearman_return_t noop_body(gearman_job_st *job, void *context)
{
    worker *w = context;
    int64_t t = bench_now_ns();
    if (w->n_starts == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        id_time *v = realloc(w->starts, cap * sizeof *v);
        if (!v)
            return GEARMAN_SUCCESS;
        w->starts = v;
        w->cap = cap;
    }
    w->starts[w->n_starts].id = handle_number(gearman_job_handle(job));
    w->starts[w->n_starts].t_ns = t;
    w->n_starts++;
    return GEARMAN_SUCCESS;
}

static void *worker_main(void *p)
{
    worker *w = p;
    run *r = w->run;
    gearman_worker_st *gw = gearman_worker_create(NULL);
    if (!gw || gearman_failed(gearman_worker_add_server(gw, r->host, (in_port_t)r->port))) {
        w->errors++;
        atomic_fetch_add(&r->ready, 1);
        if (gw)
            gearman_worker_free(gw);
        return NULL;
    }
    gearman_worker_set_timeout(gw, 100);
    gearman_function_t fn = gearman_function_create(noop_body);
    if (gearman_failed(gearman_worker_define_function(gw, r->function, strlen(r->function), fn,
                                                      0, w))) {
        w->errors++;
        atomic_fetch_add(&r->ready, 1);
        gearman_worker_free(gw);
        return NULL;
    }
    /* gearman_worker_echo connects, so the registration reaches the server
     * before the first job is submitted. */
    gearman_worker_echo(gw, "x", 1);
    atomic_fetch_add(&r->ready, 1);
    while (!atomic_load(&r->stop)) {
        gearman_return_t ret = gearman_worker_work(gw);
        if (ret == GEARMAN_SUCCESS)
            atomic_fetch_add(&r->done, 1);
        else if (ret != GEARMAN_TIMEOUT && ret != GEARMAN_IO_WAIT && ret != GEARMAN_NO_JOBS) {
            fprintf(stderr, "anchor-gearman: worker: %s\n", gearman_worker_error(gw));
            w->errors++;
            break;
        }
    }
    gearman_worker_free(gw);
    return NULL;
}

static run *g_run; /* the created callback has no user pointer of its own */

static gearman_return_t on_created(gearman_task_st *task)
{
    run *r = g_run;
    int64_t t = bench_now_ns();
    long job = (long)(intptr_t)gearman_task_context(task);
    bench_lat_add(&r->res->ack, t - r->t_submit[job]);
    r->creates[r->n_created].id = handle_number(gearman_task_job_handle(task));
    r->creates[r->n_created].t_ns = r->t_submit[job];
    r->n_created++;
    r->inflight--;
    r->t_last_ack = t;
    return GEARMAN_SUCCESS;
}

/* Total jobs queued or running for `function`, from the admin protocol's
 * "status" command; -1 on error. */
static long queued_jobs(bench_reader *rd, const char *function)
{
    if (bench_send_all(rd->fd, "status\n", 7))
        return -1;
    long total = 0;
    for (;;) {
        const char *line = bench_reader_line(rd, NULL);
        if (!line)
            return -1;
        if (strcmp(line, ".") == 0)
            return total;
        size_t fl = strlen(function);
        if (strncmp(line, function, fl) == 0 && line[fl] == '\t')
            total += strtol(line + fl + 1, NULL, 10);
    }
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const id_time *)a)->id, y = ((const id_time *)b)->id;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    bench_opts opts;
    int rc = bench_opts_parse(&opts, argc, argv, "anchor-gearman", "127.0.0.1:4730", "gearmand");
    if (rc)
        return rc > 0 ? 0 : 64;

    run r;
    memset(&r, 0, sizeof r);
    r.opts = &opts;
    if (bench_split_hostport(opts.server, r.host, sizeof r.host, &r.port)) {
        fprintf(stderr, "anchor-gearman: bad --server %s\n", opts.server);
        return 64;
    }
    snprintf(r.function, sizeof r.function, "taasbench%ld", (long)getpid());

    bench_result res;
    memset(&res, 0, sizeof res);
    res.system = "gearmand";
    res.label = opts.label;
    res.n = opts.n;
    res.c = opts.c;
    res.workers = opts.workers;
    res.rate = opts.rate;
    res.submit_s = res.e2e_s = -1;
    snprintf(res.note, sizeof res.note,
             "ack = JOB_CREATED; completion = admin status shows the queue empty after the "
             "workers' WORK_COMPLETE; body start = worker function entered");
    r.res = &res;
    g_run = &r;

    r.t_submit = calloc((size_t)opts.n, sizeof *r.t_submit);
    r.creates = calloc((size_t)opts.n, sizeof *r.creates);
    worker *workers = calloc((size_t)opts.workers, sizeof *workers);
    if (!r.t_submit || !r.creates || !workers) {
        fprintf(stderr, "anchor-gearman: out of memory\n");
        return 70;
    }

    long started = 0;
    for (long i = 0; i < opts.workers; i++) {
        workers[i].run = &r;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
            break;
        started++;
    }
    while (atomic_load(&r.ready) < started)
        usleep(1000);

    int admin_fd = bench_tcp_connect(opts.server);
    if (admin_fd < 0) {
        fprintf(stderr, "anchor-gearman: cannot connect to %s: %s\n", opts.server,
                strerror(errno));
        return 69;
    }
    bench_reader *admin = malloc(sizeof *admin);
    bench_reader_init(admin, admin_fd);

    gearman_client_st *client = gearman_client_create(NULL);
    if (!client || gearman_failed(gearman_client_add_server(client, r.host, (in_port_t)r.port))) {
        fprintf(stderr, "anchor-gearman: client setup failed\n");
        return 69;
    }
    gearman_client_add_options(client, GEARMAN_CLIENT_NON_BLOCKING | GEARMAN_CLIENT_FREE_TASKS);
    gearman_client_set_created_fn(client, on_created);
    gearman_client_set_timeout(client, opts.rate > 0 ? 1 : 100);

    size_t in_len = strlen(opts.input);
    int64_t t0 = bench_now_ns();
    int64_t deadline = t0 + (int64_t)(opts.max_seconds * 1e9);
    long next = 0;
    r.t_last_ack = t0;

    while (r.n_created + res.errors < opts.n) {
        int64_t now = bench_now_ns();
        if (now > deadline) {
            res.timed_out = true;
            break;
        }
        while (next < opts.n && r.inflight < opts.c) {
            if (opts.rate > 0) {
                int64_t due = t0 + (int64_t)((double)next * 1e9 / opts.rate);
                if (due > bench_now_ns())
                    break;
            }
            gearman_return_t ret;
            r.t_submit[next] = bench_now_ns();
            if (next == 0)
                t0 = r.t_submit[0];
            gearman_task_st *t = gearman_client_add_task_background(
                client, NULL, (void *)(intptr_t)next, r.function, NULL, opts.input, in_len, &ret);
            next++;
            if (!t || gearman_failed(ret)) {
                res.errors++;
                continue;
            }
            r.inflight++;
        }
        if (r.inflight == 0) {
            bench_sleep_until_ns(bench_now_ns() + 200000);
            continue;
        }
        gearman_return_t ret = gearman_client_run_tasks(client);
        if (ret == GEARMAN_IO_WAIT) {
            ret = gearman_client_wait(client);
            if (ret != GEARMAN_SUCCESS && ret != GEARMAN_TIMEOUT && ret != GEARMAN_IO_WAIT) {
                fprintf(stderr, "anchor-gearman: wait: %s\n", gearman_client_error(client));
                res.errors += r.inflight;
                r.inflight = 0;
                break;
            }
        } else if (ret != GEARMAN_SUCCESS) {
            fprintf(stderr, "anchor-gearman: run_tasks: %s\n", gearman_client_error(client));
            res.errors += r.inflight;
            r.inflight = 0;
            break;
        }
    }
    res.acked = r.n_created;
    res.submit_s = (double)(r.t_last_ack - t0) / 1e9;

    /* The workers' count first, then the server's view of the queue. */
    while (!res.timed_out && atomic_load(&r.done) < res.acked) {
        if (bench_now_ns() > deadline) {
            res.timed_out = true;
            break;
        }
        usleep(200);
    }
    int64_t t_end = bench_now_ns();
    while (!res.timed_out) {
        long q = queued_jobs(admin, r.function);
        t_end = bench_now_ns();
        if (q == 0)
            break;
        if (q < 0 || t_end > deadline) {
            res.timed_out = q >= 0;
            res.errors += q < 0;
            break;
        }
        usleep(200);
    }
    res.completed = atomic_load(&r.done);
    res.e2e_s = (double)(t_end - t0) / 1e9;

    atomic_store(&r.stop, 1);
    for (long i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        res.errors += workers[i].errors;
    }
    gearman_client_free(client);
    close(admin_fd);
    free(admin);

    size_t n_starts = 0;
    for (long i = 0; i < started; i++)
        n_starts += workers[i].n_starts;
    id_time *starts = malloc((n_starts + 1) * sizeof *starts);
    if (starts) {
        size_t k = 0;
        for (long i = 0; i < started; i++) {
            memcpy(starts + k, workers[i].starts, workers[i].n_starts * sizeof *starts);
            k += workers[i].n_starts;
        }
        qsort(starts, n_starts, sizeof *starts, cmp_id);
        qsort(r.creates, (size_t)r.n_created, sizeof *r.creates, cmp_id);
        size_t a = 0, b = 0;
        while (a < (size_t)r.n_created && b < n_starts) {
            if (r.creates[a].id < starts[b].id)
                a++;
            else if (r.creates[a].id > starts[b].id)
                b++;
            else {
                bench_lat_add(&res.start, starts[b].t_ns - r.creates[a].t_ns);
                a++;
                b++;
            }
        }
        free(starts);
    }
    for (long i = 0; i < opts.workers; i++)
        free(workers[i].starts);

    rc = bench_result_report(&res, &opts);
    bench_result_free(&res);
    free(r.t_submit);
    free(r.creates);
    free(workers);
    return rc;
}
