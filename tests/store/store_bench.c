/*
 * tests/store/store_bench.c - throughput of the store through the
 * group-commit writer, without gRPC: each of T threads submits a window of
 * K tasks, waits for their commit, claims up to K runnable tasks, completes
 * them, and repeats until N tasks have succeeded. Every step is a durable
 * commit (WAL, synchronous=FULL) shared by whatever the other threads queued
 * meanwhile. Not a ctest test; docs/storage.md records its figures.
 *
 *   store_bench [-n tasks] [-t threads] [-k window] [-b max_batch] [-d dir]
 */
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>
#include <sys/resource.h>

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static atomic_ullong id_counter;

/* Time-ordered ids in UUIDv7 layout: millisecond prefix, then a counter. */
static void bench_id(char out[TAAS_ID_LEN + 1])
{
    unsigned long long c = atomic_fetch_add(&id_counter, 1);
    unsigned long long ms = (unsigned long long)wall_ms();
    snprintf(out, TAAS_ID_LEN + 1, "%08llx-%04llx-7000-8000-%012llx", (ms >> 16) & 0xffffffffULL,
             ms & 0xffffULL, c & 0xffffffffffffULL);
}

typedef struct batch_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int errors;
} batch_wait;

static void on_done(taas_store_op *op, void *arg)
{
    batch_wait *b = arg;
    pthread_mutex_lock(&b->mu);
    if (op->result != 0)
        b->errors++;
    if (--b->left == 0)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void wait_all(batch_wait *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->left > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

typedef struct cfg {
    taas_writer *w;
    int n, threads, window;
    atomic_int completed;
    atomic_int errors;
} cfg;

typedef struct worker {
    cfg *c;
    int quota;
    char owner[32];
} worker;

static void *run(void *arg)
{
    worker *wk = arg;
    cfg *c = wk->c;
    int k = c->window;
    taas_store_op *ops = calloc((size_t)k, sizeof(*ops));
    taas_task_rec *recs = calloc((size_t)k, sizeof(*recs));
    taas_task_rec *claimed = calloc((size_t)k, sizeof(*claimed));
    batch_wait b;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    int submitted = 0;
    while (atomic_load(&c->completed) < c->n) {
        int m = wk->quota - submitted < k ? wk->quota - submitted : k;
        if (m > 0) {
            b.left = m;
            b.errors = 0;
            for (int i = 0; i < m; i++) {
                memset(&recs[i], 0, sizeof(recs[i]));
                bench_id(recs[i].id);
                recs[i].name = "noop";
                recs[i].input = "{\"x\":1}";
                recs[i].max_attempts = 1;
                recs[i].created_ms = wall_ms();
                memset(&ops[i], 0, sizeof(ops[i]));
                ops[i].kind = TAAS_OP_INSERT;
                ops[i].u.insert.task = &recs[i];
                taas_writer_enqueue(c->w, &ops[i], on_done, &b);
            }
            wait_all(&b);
            atomic_fetch_add(&c->errors, b.errors);
            submitted += m;
        }
        taas_store_op claim = {.kind = TAAS_OP_CLAIM};
        claim.u.claim.owner = wk->owner;
        claim.u.claim.max = k;
        claim.u.claim.now_ms = wall_ms();
        claim.u.claim.lease_ms = 30000;
        claim.u.claim.out = claimed;
        b.left = 1;
        b.errors = 0;
        taas_writer_enqueue(c->w, &claim, on_done, &b);
        wait_all(&b);
        atomic_fetch_add(&c->errors, b.errors);
        int got = claim.u.claim.n;
        if (got == 0) {
            usleep(100); /* the rest is held by other threads */
            continue;
        }
        b.left = got;
        b.errors = 0;
        for (int i = 0; i < got; i++) {
            memset(&ops[i], 0, sizeof(ops[i]));
            ops[i].kind = TAAS_OP_COMPLETE;
            ops[i].u.complete.id = claimed[i].id;
            ops[i].u.complete.lease_token = claimed[i].lease_token;
            ops[i].u.complete.state = TAAS_TASK_SUCCEEDED;
            ops[i].u.complete.output = "{\"ok\":true}";
            ops[i].u.complete.now_ms = wall_ms();
            taas_writer_enqueue(c->w, &ops[i], on_done, &b);
        }
        wait_all(&b);
        atomic_fetch_add(&c->errors, b.errors);
        for (int i = 0; i < got; i++)
            taas_task_rec_clear(&claimed[i]);
        atomic_fetch_add(&c->completed, got);
    }
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    free(ops);
    free(recs);
    free(claimed);
    return NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    int n = 100000, threads = 8, window = 64, max_batch = 256, opt;
    const char *base = ".";
    while ((opt = getopt(argc, argv, "n:t:k:b:d:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'k': window = atoi(optarg); break;
        case 'b': max_batch = atoi(optarg); break;
        case 'd': base = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-n tasks] [-t threads] [-k window] [-b max_batch] "
                            "[-d dir]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1 || threads < 1 || window < 1 || max_batch < 1) {
        fprintf(stderr, "store_bench: every number must be positive\n");
        return 2;
    }
    char dir[4096], url[4200], err[512];
    snprintf(dir, sizeof(dir), "%s/taas-bench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char abs[4096];
    if (!realpath(dir, abs)) {
        perror("realpath");
        return 1;
    }
    snprintf(url, sizeof(url), "sqlite:///%s/bench.db", abs);
    taas_store *s = taas_store_open(url, NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    taas_writer *w = taas_writer_start(s, &(taas_writer_opts){.max_batch = max_batch});
    cfg c = {.w = w, .n = n, .threads = threads, .window = window};
    worker *wk = calloc((size_t)threads, sizeof(*wk));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    int64_t t0 = mono_us();
    for (int i = 0; i < threads; i++) {
        wk[i].c = &c;
        wk[i].quota = n / threads + (i < n % threads ? 1 : 0);
        snprintf(wk[i].owner, sizeof(wk[i].owner), "bench/%d", i);
        pthread_create(&th[i], NULL, run, &wk[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    int64_t us = mono_us() - t0;
    taas_writer_stats st;
    taas_writer_get_stats(w, &st);
    taas_writer_stop(w);
    s->close(s);
    nftw(abs, rm_one, 8, FTW_DEPTH | FTW_PHYS);

    double secs = (double)us / 1e6;
    printf("store_bench: %d tasks (insert+claim+complete), %d threads, window %d, max_batch %d\n",
           n, threads, window, max_batch);
    printf("  %.0f tasks/s  (%.2f s)\n", n / secs, secs);
    printf("  %llu commits, %.0f commits/s, %.1f ops/commit (largest %d), %llu ops\n",
           (unsigned long long)st.batches, (double)st.batches / secs,
           st.batches ? (double)st.ops / (double)st.batches : 0.0, st.max_batch_seen,
           (unsigned long long)st.ops);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("  writer: %.2f ms per commit (%.2f ms of it CPU), %.1f us CPU per op;"
           " process: %.1f us CPU per task\n",
           st.batches ? (double)st.apply_us / 1e3 / (double)st.batches : 0.0,
           st.batches ? (double)st.apply_cpu_us / 1e3 / (double)st.batches : 0.0,
           st.ops ? (double)st.apply_cpu_us / (double)st.ops : 0.0, cpu_us / n);
    int errors = atomic_load(&c.errors);
    if (errors || st.failed) {
        printf("  %d op errors, %llu failed commits\n", errors, (unsigned long long)st.failed);
        return 1;
    }
    free(wk);
    free(th);
    return 0;
}
