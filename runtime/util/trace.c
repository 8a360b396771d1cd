/*
 * runtime/util/trace.c - see trace.h.
 */
#include "util/trace.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool taas_trace_on;

typedef struct {
    uint64_t t_ns;
    const char *stage;
    const void *key;
    char id[40];
} trace_rec;

static trace_rec *g_recs;
static size_t g_max;
static atomic_size_t g_next;
static char *g_path;

static _Thread_local const char *const *tl_ids;
static _Thread_local int tl_n;

void taas_trace__rec(const char *stage, const void *key, const char *id)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    size_t i = atomic_fetch_add_explicit(&g_next, 1, memory_order_relaxed);
    if (i >= g_max)
        return; /* counted in g_next, reported at exit */
    trace_rec *r = &g_recs[i];
    r->t_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    r->stage = stage;
    r->key = key;
    if (id) {
        strncpy(r->id, id, sizeof r->id - 1);
        r->id[sizeof r->id - 1] = '\0';
    } else {
        r->id[0] = '\0';
    }
}

void taas_trace_set_batch(const char *const *ids, int n)
{
    tl_ids = ids;
    tl_n = ids ? n : 0;
}

void taas_trace__batch(const char *stage)
{
    for (int i = 0; i < tl_n; i++)
        if (tl_ids[i])
            taas_trace__rec(stage, NULL, tl_ids[i]);
}

/* Written at exit: records are complete by then, except those of threads
 * still running at exit (a stuck body), which may be half-written; a
 * record with no stage is skipped. */
static void trace_dump(void)
{
    size_t n = atomic_load(&g_next);
    size_t kept = n < g_max ? n : g_max;
    FILE *f = fopen(g_path, "w");
    if (!f) {
        fprintf(stderr, "trace: cannot write %s\n", g_path);
        return;
    }
    fprintf(f, "# taas trace: t_ns stage key id; %zu records, %zu dropped\n", kept, n - kept);
    for (size_t i = 0; i < kept; i++) {
        const trace_rec *r = &g_recs[i];
        if (!r->stage)
            continue;
        fprintf(f, "%llu %s %llx %s\n", (unsigned long long)r->t_ns, r->stage,
                (unsigned long long)(uintptr_t)r->key, r->id[0] ? r->id : "-");
    }
    fclose(f);
}

__attribute__((constructor)) static void trace_init(void)
{
    const char *path = getenv("TAAS_TRACE");
    if (!path || !*path)
        return;
    const char *max = getenv("TAAS_TRACE_MAX");
    g_max = max && atol(max) > 0 ? (size_t)atol(max) : 262144;
    g_recs = calloc(g_max, sizeof *g_recs);
    g_path = strdup(path);
    if (!g_recs || !g_path) {
        fprintf(stderr, "trace: TAAS_TRACE=%s: out of memory; tracing stays off\n", path);
        return;
    }
    atexit(trace_dump);
    taas_trace_on = true;
}
