/*
 * examples/tasks/latency_probe.c - a no-op that reports when its body
 * started, to the microsecond, for measuring submit -> body start
 * (taas-bench reads started_us when a task's output has it). Its inputs are
 * raw JSON and never looked at.
 */
#include "latency_probe.h"

#include <time.h>

int latency_probe_execute(taas_ctx *ctx, const latency_probe_input *in,
                          latency_probe_output *out)
{
    (void)ctx;
    (void)in;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    out->started_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return 0;
}
