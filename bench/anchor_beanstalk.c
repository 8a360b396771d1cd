/*
 * bench/anchor_beanstalk.c - the TaaS workload against beanstalkd, over its
 * text protocol (protocol.txt in beanstalkd's sources), with our own client.
 *
 * Method. One thread drives C producer connections with poll(): each has at
 * most one "put" outstanding, so C puts are in flight; a put's ack is the
 * "INSERTED <id>" reply (with -b DIR -f0, beanstalkd writes and fsyncs its
 * binlog before it replies). W consumer threads, one connection each, loop
 * "reserve" -> (no-op) -> "delete <id>" and wait for "DELETED", which with
 * -f0 is also fsynced before the reply: that is the completion, durably
 * recorded when the server is durable. Every run uses its own tube, so a
 * server that is reused between runs starts each one empty.
 *
 * Figures, as taas-bench reports them: submit/s = N / (first put -> last
 * INSERTED); end-to-end = N / (first put -> last DELETED); submit-ack
 * latency per put; submit -> body start = put sent -> RESERVED received by
 * a consumer (joined on the job id after the run; both clocks are this
 * process's monotonic clock).
 */
#include "bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct id_time {
    uint64_t id;
    int64_t t_ns;
} id_time;

typedef struct consumer {
    pthread_t thread;
    int fd;
    id_time *starts;      /* (job id, reserve reply time) of every job taken */
    size_t n_starts, cap;
    long errors;
} consumer;

typedef struct run {
    const bench_opts *opts;
    char tube[64];
    long n;
    atomic_long completed;
    atomic_llong t_last_done_ns;
    atomic_int ready;     /* consumers watching the tube */
    atomic_int stop;
} run;

typedef struct consumer_arg {
    run *run;
    consumer *self;
} consumer_arg;

/* Sends a command and expects a reply line starting with `want`. */
static int command(bench_reader *rd, const char *cmd, const char *want)
{
    if (bench_send_all(rd->fd, cmd, strlen(cmd)))
        return -1;
    const char *line = bench_reader_line(rd, NULL);
    if (!line || strncmp(line, want, strlen(want)) != 0) {
        fprintf(stderr, "anchor-beanstalkd: '%.*s' -> '%s'\n", (int)strcspn(cmd, "\r"), cmd,
                line ? line : "(connection closed)");
        return -1;
    }
    return 0;
}

static void *consumer_main(void *p)
{
    consumer_arg *arg = p;
    run *r = arg->run;
    consumer *c = arg->self;
    bench_reader *rd = malloc(sizeof *rd);
    char cmd[128];

    if (!rd)
        goto out;
    bench_reader_init(rd, c->fd);
    snprintf(cmd, sizeof cmd, "watch %s\r\n", r->tube);
    if (command(rd, cmd, "WATCHING") || command(rd, "ignore default\r\n", "WATCHING")) {
        c->errors++;
        atomic_fetch_add(&r->ready, 1);
        goto out;
    }
    atomic_fetch_add(&r->ready, 1);

    while (!atomic_load(&r->stop)) {
        if (bench_send_all(c->fd, "reserve\r\n", 9))
            break;
        const char *line = bench_reader_line(rd, NULL);
        if (!line)
            break; /* the main thread shut the socket down: the run is over */
        int64_t t = bench_now_ns();
        uint64_t id;
        size_t bytes;
        if (sscanf(line, "RESERVED %" SCNu64 " %zu", &id, &bytes) != 2) {
            fprintf(stderr, "anchor-beanstalkd: reserve -> '%s'\n", line);
            c->errors++;
            break;
        }
        if (bench_reader_skip(rd, bytes + 2))
            break;
        /* the job's body: nothing */
        if (c->n_starts == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            id_time *v = realloc(c->starts, cap * sizeof *v);
            if (!v)
                break;
            c->starts = v;
            c->cap = cap;
        }
        c->starts[c->n_starts].id = id;
        c->starts[c->n_starts].t_ns = t;
        c->n_starts++;
        snprintf(cmd, sizeof cmd, "delete %" PRIu64 "\r\n", id);
        if (command(rd, cmd, "DELETED")) {
            c->errors++;
            break;
        }
        int64_t done = bench_now_ns();
        atomic_store(&r->t_last_done_ns, done);
        atomic_fetch_add(&r->completed, 1);
    }
out:
    free(rd);
    return NULL;
}

typedef struct producer {
    bench_reader rd;
    long job;             /* job index in flight, or -1 */
} producer;

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const id_time *)a)->id, y = ((const id_time *)b)->id;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    bench_opts opts;
    int rc = bench_opts_parse(&opts, argc, argv, "anchor-beanstalk", "127.0.0.1:11300",
                              "beanstalkd");
    if (rc)
        return rc > 0 ? 0 : 64;

    run r;
    memset(&r, 0, sizeof r);
    r.opts = &opts;
    r.n = opts.n;
    snprintf(r.tube, sizeof r.tube, "taasbench%ld", (long)getpid());

    bench_result res;
    memset(&res, 0, sizeof res);
    res.system = "beanstalkd";
    res.label = opts.label;
    res.n = opts.n;
    res.c = opts.c;
    res.workers = opts.workers;
    res.rate = opts.rate;
    res.submit_s = res.e2e_s = -1;
    snprintf(res.note, sizeof res.note,
             "ack = INSERTED; completion = DELETED reply to a worker; body start = RESERVED");

    int64_t *t_put = calloc((size_t)opts.n, sizeof *t_put);
    id_time *puts = calloc((size_t)opts.n, sizeof *puts);
    producer *prod = calloc((size_t)opts.c, sizeof *prod);
    struct pollfd *pfd = calloc((size_t)opts.c, sizeof *pfd);
    consumer *cons = calloc((size_t)opts.workers, sizeof *cons);
    consumer_arg *cargs = calloc((size_t)opts.workers, sizeof *cargs);
    if (!t_put || !puts || !prod || !pfd || !cons || !cargs) {
        fprintf(stderr, "anchor-beanstalk: out of memory\n");
        return 70;
    }

    /* Consumers first, so that they are watching when the first put lands. */
    long started = 0;
    for (long i = 0; i < opts.workers; i++) {
        cons[i].fd = bench_tcp_connect(opts.server);
        if (cons[i].fd < 0) {
            fprintf(stderr, "anchor-beanstalk: cannot connect to %s: %s\n", opts.server,
                    strerror(errno));
            return 69;
        }
        cargs[i].run = &r;
        cargs[i].self = &cons[i];
        if (pthread_create(&cons[i].thread, NULL, consumer_main, &cargs[i]) != 0)
            break;
        started++;
    }
    while (atomic_load(&r.ready) < started)
        usleep(1000);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "use %s\r\n", r.tube);
    for (long i = 0; i < opts.c; i++) {
        int fd = bench_tcp_connect(opts.server);
        if (fd < 0) {
            fprintf(stderr, "anchor-beanstalk: cannot connect to %s\n", opts.server);
            return 69;
        }
        bench_reader_init(&prod[i].rd, fd);
        prod[i].job = -1;
        if (command(&prod[i].rd, cmd, "USING"))
            return 69;
        pfd[i].fd = fd;
        pfd[i].events = POLLIN;
    }

    size_t in_len = strlen(opts.input);
    char *put = malloc(in_len + 64);
    int put_head = snprintf(put, 64, "put 1024 0 60 %zu\r\n", in_len);
    memcpy(put + put_head, opts.input, in_len);
    memcpy(put + put_head + in_len, "\r\n", 2);
    size_t put_len = (size_t)put_head + in_len + 2;

    int64_t t0 = bench_now_ns();
    int64_t deadline = t0 + (int64_t)(opts.max_seconds * 1e9);
    int64_t t_last_ack = t0;
    long next = 0, acked = 0, inflight = 0;
    long n_puts = 0;

    while (acked + res.errors < opts.n) {
        int64_t now = bench_now_ns();
        if (now > deadline) {
            res.timed_out = true;
            break;
        }
        /* Fill idle connections, as the pace allows. */
        int64_t wait_ns = 100 * 1000000LL;
        for (long i = 0; i < opts.c && next < opts.n; i++) {
            if (prod[i].job >= 0)
                continue;
            if (opts.rate > 0) {
                int64_t due = t0 + (int64_t)((double)next * 1e9 / opts.rate);
                if (due > now) {
                    wait_ns = due - now;
                    break;
                }
            }
            t_put[next] = bench_now_ns();
            if (next == 0)
                t0 = t_put[0]; /* the clock starts at the first submit */
            if (bench_send_all(pfd[i].fd, put, put_len)) {
                res.errors++;
                next++;
                continue;
            }
            prod[i].job = next++;
            inflight++;
        }
        if (inflight == 0) {
            if (next >= opts.n)
                break;
            bench_sleep_until_ns(bench_now_ns() + wait_ns);
            continue;
        }
        int timeout_ms = (int)(wait_ns / 1000000);
        if (opts.rate > 0 && timeout_ms > 1)
            timeout_ms = 1;
        int pr = poll(pfd, (nfds_t)opts.c, timeout_ms);
        if (pr < 0 && errno != EINTR)
            break;
        for (long i = 0; pr > 0 && i < opts.c; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            producer *p = &prod[i];
            if (bench_reader_read_some(&p->rd)) {
                res.errors++;
                pfd[i].fd = -1;
                if (p->job >= 0)
                    inflight--;
                p->job = -2;
                continue;
            }
            while (p->job >= 0 && bench_reader_has_line(&p->rd)) {
                const char *line = bench_reader_line(&p->rd, NULL);
                int64_t t = bench_now_ns();
                uint64_t id;
                if (line && sscanf(line, "INSERTED %" SCNu64, &id) == 1) {
                    bench_lat_add(&res.ack, t - t_put[p->job]);
                    puts[n_puts].id = id;
                    puts[n_puts].t_ns = t_put[p->job];
                    n_puts++;
                    acked++;
                    t_last_ack = t;
                } else {
                    fprintf(stderr, "anchor-beanstalk: put -> '%s'\n", line ? line : "?");
                    res.errors++;
                }
                p->job = -1;
                inflight--;
            }
        }
    }
    res.acked = acked;
    res.submit_s = (double)(t_last_ack - t0) / 1e9;

    /* Wait for the consumers to delete every job. */
    while (!res.timed_out && atomic_load(&r.completed) < acked) {
        if (bench_now_ns() > deadline) {
            res.timed_out = true;
            break;
        }
        usleep(200);
    }
    res.completed = atomic_load(&r.completed);
    res.e2e_s = (double)(atomic_load(&r.t_last_done_ns) - t0) / 1e9;

    atomic_store(&r.stop, 1);
    for (long i = 0; i < started; i++)
        shutdown(cons[i].fd, SHUT_RDWR);
    for (long i = 0; i < started; i++) {
        pthread_join(cons[i].thread, NULL);
        close(cons[i].fd);
        res.errors += cons[i].errors;
    }
    for (long i = 0; i < opts.c; i++)
        if (prod[i].rd.fd >= 0)
            close(prod[i].rd.fd);

    /* Join puts and reserves on the job id: submit -> body start. */
    size_t n_starts = 0;
    for (long i = 0; i < started; i++)
        n_starts += cons[i].n_starts;
    id_time *starts = malloc((n_starts + 1) * sizeof *starts);
    if (starts) {
        size_t k = 0;
        for (long i = 0; i < started; i++) {
            memcpy(starts + k, cons[i].starts, cons[i].n_starts * sizeof *starts);
            k += cons[i].n_starts;
        }
        qsort(starts, n_starts, sizeof *starts, cmp_id);
        qsort(puts, (size_t)n_puts, sizeof *puts, cmp_id);
        size_t a = 0, b = 0;
        while (a < (size_t)n_puts && b < n_starts) {
            if (puts[a].id < starts[b].id)
                a++;
            else if (puts[a].id > starts[b].id)
                b++;
            else {
                bench_lat_add(&res.start, starts[b].t_ns - puts[a].t_ns);
                a++;
                b++;
            }
        }
        free(starts);
    }
    for (long i = 0; i < opts.workers; i++)
        free(cons[i].starts);

    rc = bench_result_report(&res, &opts);
    bench_result_free(&res);
    free(put);
    free(t_put);
    free(puts);
    free(prod);
    free(pfd);
    free(cons);
    free(cargs);
    return rc;
}
