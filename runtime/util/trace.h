/*
 * runtime/util/trace.h - opt-in timestamps of a request's stages, for the
 * per-stage latency breakdown of bench/trace.
 *
 * Off unless the environment has TAAS_TRACE=FILE when the process starts.
 * Off, a trace point is one load of a global flag and a predicted branch:
 * nothing is formatted, allocated or locked. On, each point appends
 * (monotonic ns, stage, key, task id) to a preallocated array with one
 * atomic add (no lock, no syscall, so the trace barely moves what it
 * measures), and the array is written to FILE as text when the process
 * exits normally. When the array is full (TAAS_TRACE_MAX records, default
 * 262144) later points are counted and dropped; the file says how many.
 *
 * A record names what it belongs to by a key (e.g. a call's address), a
 * task id, or both; bench/trace joins them. Stages are string literals.
 */
#ifndef TAAS_TRACE_H
#define TAAS_TRACE_H

#include <stdbool.h>
#include <stdint.h>

extern bool taas_trace_on;

void taas_trace__rec(const char *stage, const void *key, const char *id);

/* Record `stage` now for `key` (may be NULL) and task `id` (may be NULL). */
static inline void taas_trace(const char *stage, const void *key, const char *id)
{
    if (__builtin_expect(taas_trace_on, 0))
        taas_trace__rec(stage, key, id);
}

/* The writer thread names the task ids of the batch it is applying, so a
 * point that only knows it is inside that batch (a WAL write, a sync)
 * records one line per task of the batch. ids: n pointers, or NULL to
 * clear. Only read and written by the thread that sets it. */
void taas_trace_set_batch(const char *const *ids, int n);
/* Record `stage` now for every task of this thread's current batch. */
void taas_trace__batch(const char *stage);
static inline void taas_trace_batch(const char *stage)
{
    if (__builtin_expect(taas_trace_on, 0))
        taas_trace__batch(stage);
}

#endif
