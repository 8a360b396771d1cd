/*
 * runtime/util/fault.c - the fault points of test builds (see fault.h).
 *
 * Method. The environment is parsed once, at the first hit of any point,
 * into a small table of armed points. Each armed point counts its hits with
 * an atomic counter, so the Nth hit is the Nth across all threads, and fires
 * its action when the count matches. Names are compared as strings: points
 * are few and hit at most a few thousand times a second in the tests, well
 * below what a comparison costs.
 *
 * Only compiled into binaries built with TAAS_FAULT_INJECTION.
 */
#include "util/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARMED 8

enum { ACT_KILL = 0, ACT_PAUSE, ACT_SKIP };

typedef struct armed {
    char name[64];
    long hit;       /* fire on this hit ... */
    bool onwards;   /* ... or on every hit from it on */
    int action;
    long pause_ms;
    atomic_long count;
} armed;

static armed g_armed[MAX_ARMED];
static int g_narmed;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The i-th comma-separated field of s into out ("" when s has fewer). */
static void field(const char *s, int i, char *out, size_t cap)
{
    out[0] = '\0';
    if (!s)
        return;
    for (; i > 0 && s; i--) {
        s = strchr(s, ',');
        if (s)
            s++;
    }
    if (!s)
        return;
    size_t n = strcspn(s, ",");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static void load(void)
{
    const char *points = getenv("TAAS_FAULT_POINT");
    const char *hits = getenv("TAAS_FAULT_HIT");
    const char *actions = getenv("TAAS_FAULT_ACTION");
    if (!points || !*points)
        return;
    for (int i = 0; i < MAX_ARMED; i++) {
        armed *a = &g_armed[g_narmed];
        char f[64];
        field(points, i, a->name, sizeof a->name);
        if (!a->name[0])
            break;
        field(hits, i, f, sizeof f);
        a->hit = f[0] ? strtol(f, NULL, 10) : 1;
        if (a->hit < 1)
            a->hit = 1;
        a->onwards = f[0] && f[strlen(f) - 1] == '+';
        field(actions, i, f, sizeof f);
        if (strncmp(f, "pause:", 6) == 0) {
            a->action = ACT_PAUSE;
            a->pause_ms = strtol(f + 6, NULL, 10);
        } else if (strcmp(f, "skip") == 0) {
            a->action = ACT_SKIP;
        } else {
            a->action = ACT_KILL;
        }
        atomic_init(&a->count, 0);
        g_narmed++;
    }
}

/* The armed entry for `name` whose hit is due now, or NULL. */
static armed *due(const char *name)
{
    pthread_once(&g_once, load);
    for (int i = 0; i < g_narmed; i++) {
        armed *a = &g_armed[i];
        if (strcmp(a->name, name) != 0)
            continue;
        long n = atomic_fetch_add(&a->count, 1) + 1;
        if (n == a->hit || (a->onwards && n > a->hit)) {
            char line[160];
            int len = snprintf(line, sizeof line, "fault: %s hit %ld %s\n", name, n,
                               a->action == ACT_KILL    ? "kill"
                               : a->action == ACT_PAUSE ? "pause"
                                                        : "skip");
            if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
                /* nothing to do: the log line is a courtesy */
            }
            return a;
        }
    }
    return NULL;
}

static void fire(armed *a)
{
    if (a->action == ACT_KILL) {
        raise(SIGKILL);
        _exit(137); /* not reached */
    }
    if (a->action == ACT_PAUSE) {
        struct timespec ts = {a->pause_ms / 1000, (a->pause_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
}

void taas_fault_point(const char *name)
{
    armed *a = due(name);
    if (a)
        fire(a);
}

bool taas_fault_skip(const char *name)
{
    armed *a = due(name);
    if (!a)
        return false;
    if (a->action == ACT_SKIP)
        return true;
    fire(a);
    return false;
}

void taas_fault_point_op(const char *prefix, int kind)
{
    static const char *const ops[] = {"insert", "claim",     "complete", "progress", "cancel",
                                      "heartbeat", "recover", "release", "prune"};
    char name[96];
    if (kind < 1 || kind > (int)(sizeof ops / sizeof ops[0]))
        return;
    snprintf(name, sizeof name, "%s.%s", prefix, ops[kind - 1]);
    taas_fault_point(name);
}
