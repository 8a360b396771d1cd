/*
 * bench/bench_util.c - shared command line, clocks, percentiles and report
 * of the benchmark drivers. See bench_util.h.
 */
#include "bench_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f, const char *prog, const char *default_server)
{
    fprintf(f,
            "usage: %s [options]\n"
            "  -n N               jobs to submit (default 20000)\n"
            "  -c C               submits in flight (default 64)\n"
            "  --rate R           pace submits at R per second (default: as fast as possible)\n"
            "  --server ADDR      host:port (default %s)\n"
            "  --workers W        worker threads of an anchor (default 2)\n"
            "  --task NAME        TaaS task to submit (default noop)\n"
            "  --input JSON       job input (default %s)\n"
            "  --label NAME       configuration name in the report\n"
            "  --max-seconds S    stop the run after S seconds (default 120)\n"
            "  --no-verify        TaaS: do not read every task back after the run\n"
            "  --json             print one JSON object\n"
            "  -h, --help         this text\n",
            prog, default_server, BENCH_DEFAULT_INPUT);
}

static int parse_long(const char *s, long min, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min))
        return -1;
    *out = v;
    return 0;
}

int bench_opts_parse(bench_opts *out, int argc, char **argv, const char *prog,
                     const char *default_server, const char *default_label)
{
    enum { O_RATE = 256, O_SERVER, O_WORKERS, O_TASK, O_INPUT, O_LABEL, O_MAX, O_NOVERIFY, O_JSON };
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, O_RATE},
        {"server", required_argument, NULL, O_SERVER},
        {"workers", required_argument, NULL, O_WORKERS},
        {"task", required_argument, NULL, O_TASK},
        {"input", required_argument, NULL, O_INPUT},
        {"label", required_argument, NULL, O_LABEL},
        {"max-seconds", required_argument, NULL, O_MAX},
        {"no-verify", no_argument, NULL, O_NOVERIFY},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(out, 0, sizeof *out);
    out->n = 20000;
    out->c = 64;
    out->max_seconds = 120;
    out->workers = 2;
    out->server = default_server;
    out->label = default_label;
    out->task = "noop";
    out->input = BENCH_DEFAULT_INPUT;
    out->verify = true;

    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "n:c:h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'n': bad = parse_long(optarg, 1, &out->n); break;
        case 'c': bad = parse_long(optarg, 1, &out->c); break;
        case O_RATE: bad = parse_double(optarg, 0, &out->rate); break;
        case O_SERVER: out->server = optarg; break;
        case O_WORKERS: bad = parse_long(optarg, 1, &out->workers); break;
        case O_TASK: out->task = optarg; break;
        case O_INPUT: out->input = optarg; break;
        case O_LABEL: out->label = optarg; break;
        case O_MAX: bad = parse_double(optarg, 0.001, &out->max_seconds); break;
        case O_NOVERIFY: out->verify = false; break;
        case O_JSON: out->json = true; break;
        case 'h': usage(stdout, prog, default_server); return 1;
        default: usage(stderr, prog, default_server); return -1;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value for option: %s\n", prog, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument: %s\n", prog, argv[optind]);
        return -1;
    }
    if (out->c > out->n)
        out->c = out->n;
    return 0;
}

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bench_sleep_until_ns(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void bench_lat_add(bench_lat *l, int64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        int64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return; /* a lost sample is better than a lost run */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    l->sorted = false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double bench_lat_pct_us(bench_lat *l, double p)
{
    if (l->n == 0)
        return -1;
    if (!l->sorted) {
        qsort(l->v, l->n, sizeof *l->v, cmp_i64);
        l->sorted = true;
    }
    /* nearest rank: the smallest sample with at least p% at or below it */
    size_t rank = (size_t)((p / 100.0) * (double)l->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return (double)l->v[rank - 1] / 1000.0;
}

void bench_lat_free(bench_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

void bench_result_free(bench_result *r)
{
    bench_lat_free(&r->ack);
    bench_lat_free(&r->start);
}

static double per_s(long count, double s)
{
    return s > 0 ? (double)count / s : -1;
}

/* Writes s as a JSON string (the note is ours: ASCII without control bytes,
 * but quotes and backslashes are escaped anyway). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s >= 0x20)
            putchar(*s);
    }
    putchar('"');
}

int bench_result_report(bench_result *r, const bench_opts *opts)
{
    int ok = r->acked == r->n && r->completed == r->n && r->errors == 0 && !r->timed_out;
    double submit_rate = per_s(r->acked, r->submit_s);
    double e2e_rate = per_s(r->completed, r->e2e_s);
    double a50 = bench_lat_pct_us(&r->ack, 50), a90 = bench_lat_pct_us(&r->ack, 90);
    double a99 = bench_lat_pct_us(&r->ack, 99), amax = bench_lat_pct_us(&r->ack, 100);
    double s50 = bench_lat_pct_us(&r->start, 50), s90 = bench_lat_pct_us(&r->start, 90);
    double s99 = bench_lat_pct_us(&r->start, 99);

    if (opts->json) {
        printf("{\"system\":");
        json_str(r->system);
        printf(",\"label\":");
        json_str(r->label);
        printf(",\"ok\":%s,\"n\":%ld,\"c\":%ld,\"workers\":%ld,\"rate\":%.3f,"
               "\"acked\":%ld,\"completed\":%ld,\"errors\":%ld,\"timed_out\":%s,"
               "\"submit_s\":%.6f,\"submit_per_s\":%.1f,\"e2e_s\":%.6f,\"e2e_per_s\":%.1f,"
               "\"ack_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
               "\"start_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"samples\":%zu},\"note\":",
               ok ? "true" : "false", r->n, r->c, r->workers, r->rate, r->acked, r->completed,
               r->errors, r->timed_out ? "true" : "false", r->submit_s, submit_rate, r->e2e_s,
               e2e_rate, a50, a90, a99, amax, s50, s90, s99, r->start.n);
        json_str(r->note);
        printf("}\n");
    } else {
        printf("%s [%s] n=%ld c=%ld workers=%ld\n", r->system, r->label, r->n, r->c,
               r->workers);
        if (r->rate > 0)
            printf("  paced at %.0f/s\n", r->rate);
        printf("  submit:     %8.0f /s   (%ld acked in %.3f s)\n", submit_rate, r->acked,
               r->submit_s);
        printf("  end-to-end: %8.0f /s   (%ld completed in %.3f s)\n", e2e_rate, r->completed,
               r->e2e_s);
        printf("  submit-ack:      p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us\n",
               a50, a90, a99, amax);
        if (r->start.n)
            printf("  submit->start:   p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  (%zu samples)\n",
                   s50, s90, s99, r->start.n);
        if (r->errors || r->timed_out)
            printf("  errors: %ld%s\n", r->errors, r->timed_out ? " (stopped by --max-seconds)" : "");
        if (r->note[0])
            printf("  note: %s\n", r->note);
    }
    fflush(stdout);
    return ok ? 0 : 2;
}

int bench_split_hostport(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= cap)
        return -1;
    long p;
    if (parse_long(colon + 1, 1, &p) || p > 65535)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return 0;
}

int bench_tcp_connect(const char *addr)
{
    char host[256], port_s[16];
    int port;
    if (bench_split_hostport(addr, host, sizeof host, &port))
        return -1;
    snprintf(port_s, sizeof port_s, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port_s, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int bench_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void bench_reader_init(bench_reader *r, int fd)
{
    r->fd = fd;
    r->len = 0;
    r->off = 0;
}

/* Moves unread bytes to the front and reads once more. 0, or -1 on EOF/error. */
static int reader_fill(bench_reader *r)
{
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len == sizeof r->buf)
        return -1; /* a line longer than the buffer: not a reply we know */
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        r->len += (size_t)n;
        return 0;
    }
}

const char *bench_reader_line(bench_reader *r, size_t *len_out)
{
    for (;;) {
        char *start = r->buf + r->off;
        char *nl = memchr(start, '\n', r->len - r->off);
        if (nl) {
            size_t len = (size_t)(nl - start);
            if (len > 0 && start[len - 1] == '\r')
                len--;
            start[len] = '\0';
            r->off = (size_t)(nl - r->buf) + 1;
            if (len_out)
                *len_out = len;
            return start;
        }
        if (reader_fill(r))
            return NULL;
    }
}

int bench_reader_skip(bench_reader *r, size_t n)
{
    while (r->len - r->off < n) {
        n -= r->len - r->off;
        r->off = r->len;
        if (reader_fill(r))
            return -1;
    }
    r->off += n;
    return 0;
}

bool bench_reader_has_line(const bench_reader *r)
{
    return memchr(r->buf + r->off, '\n', r->len - r->off) != NULL;
}

int bench_reader_read_some(bench_reader *r)
{
    return reader_fill(r);
}
