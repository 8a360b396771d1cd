/*
 * bench/bench_util.h - what taas-bench and the anchor drivers share: the
 * command line, clocks, latency samples and the report.
 *
 * Every driver runs the same workload (N small JSON jobs, C submits in
 * flight, W workers doing nothing) and prints the same figures, so that
 * bench/compare can put TaaS and its anchors in one table: one line per
 * run, human readable, or one JSON object with --json.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The input every driver submits, the product guide's example task input. */
#define BENCH_DEFAULT_INPUT "{\"param1\":\"x\",\"param2\":1}"

typedef struct bench_opts {
    long n;               /* jobs to submit (-n) */
    long c;               /* submits in flight (-c) */
    double rate;          /* --rate: paced submits per second; 0 = as fast as possible */
    double max_seconds;   /* --max-seconds: the whole run stops after this */
    bool json;            /* --json: one JSON object on stdout */
    long workers;         /* --workers: consumer threads of the anchors */
    const char *server;   /* --server host:port */
    const char *label;    /* --label: configuration name in the report */
    const char *task;     /* --task: TaaS task name */
    const char *input;    /* --input: job payload, JSON text */
    bool verify;          /* TaaS: read every task back (--no-verify turns it off) */
} bench_opts;

/*
 * Parses the shared command line into *out, with `default_server` and
 * `default_label` when the flags are absent. Prints usage and returns 1 for
 * --help, prints the error and returns -1 for a bad flag, returns 0 otherwise.
 */
int bench_opts_parse(bench_opts *out, int argc, char **argv, const char *prog,
                     const char *default_server, const char *default_label);

/* CLOCK_MONOTONIC in nanoseconds (intervals), CLOCK_REALTIME in microseconds
 * (comparisons with a server's wall-clock timestamps). */
int64_t bench_now_ns(void);
int64_t bench_wall_us(void);
/* Sleeps until the monotonic time `t_ns`. */
void bench_sleep_until_ns(int64_t t_ns);

/* A growable set of latency samples in nanoseconds. */
typedef struct bench_lat {
    int64_t *v;
    size_t n, cap;
    bool sorted;
} bench_lat;

void bench_lat_add(bench_lat *l, int64_t ns);
/* Nearest-rank percentile `p` (0..100) in microseconds; -1 with no samples. */
double bench_lat_pct_us(bench_lat *l, double p);
void bench_lat_free(bench_lat *l);

typedef struct bench_result {
    const char *system;   /* "taas", "beanstalkd", "gearmand" */
    const char *label;    /* configuration, e.g. "beanstalkd-f0" */
    long n, c, workers;
    double rate;
    long acked;           /* submits acknowledged */
    long completed;       /* completions observed */
    long errors;          /* failed submits or tasks not SUCCEEDED */
    double submit_s;      /* first submit -> last ack; < 0 = unknown */
    double e2e_s;         /* first submit -> last completion recorded; < 0 = unknown */
    bench_lat ack;        /* submit -> ack */
    bench_lat start;      /* submit -> body start */
    bool timed_out;       /* --max-seconds ended the run */
    char note[256];       /* how completion and body start were observed */
} bench_result;

/* Prints the result (a line, or JSON with opts->json) and returns the exit
 * status: 0 when every job was acknowledged and completed without error. */
int bench_result_report(bench_result *r, const bench_opts *opts);
void bench_result_free(bench_result *r);

/* Splits "host:port" into a host buffer and a port; returns 0 or -1. */
int bench_split_hostport(const char *addr, char *host, size_t cap, int *port);

/* Connects a TCP socket (TCP_NODELAY) to "host:port"; the fd, or -1. */
int bench_tcp_connect(const char *addr);
/* Writes all of buf; 0, or -1 when the peer is gone. */
int bench_send_all(int fd, const void *buf, size_t len);

/* Buffered reading of CRLF-terminated text replies (beanstalkd, gearmand's
 * admin protocol). Blocking unless the caller only reads when the fd polls
 * readable and checks bench_reader_has_line() first. */
typedef struct bench_reader {
    int fd;
    size_t len, off;
    char buf[8192];
} bench_reader;

void bench_reader_init(bench_reader *r, int fd);
/* The next line without its line end, NUL-terminated, valid until the next
 * read; NULL on EOF or error. */
const char *bench_reader_line(bench_reader *r, size_t *len_out);
/* Discards n bytes; 0 or -1. */
int bench_reader_skip(bench_reader *r, size_t n);
/* True when a whole line is already buffered. */
bool bench_reader_has_line(const bench_reader *r);
/* One recv() into the buffer; 0 or -1 on EOF/error. */
int bench_reader_read_some(bench_reader *r);

#endif
