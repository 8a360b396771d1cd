/*
 * examples/tasks/countdown.c - waits, reports progress, honours cancellation.
 *
 * The workload of the progress, cancellation and crash tests, so its timing
 * is part of its contract: progress at the start of every step, and a
 * cancellation noticed within one step or 100 ms, whichever is less. The
 * body therefore sleeps in slices of at most min(step_ms, 50 ms) and checks
 * taas_cancelled() after each. Deadlines are absolute on the monotonic
 * clock, so sleeping late never makes the countdown drift.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "countdown.h"

#define POLL_MS 50

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int countdown_execute(taas_ctx *ctx, const countdown_input *in, countdown_output *out)
{
    const int64_t total_ms = in->seconds * 1000;
    const int64_t step_ms = in->step_ms;
    const int64_t steps = (total_ms + step_ms - 1) / step_ms;
    const int64_t slice = step_ms < POLL_MS ? step_ms : POLL_MS;
    const int64_t start = mono_ms();

    for (int64_t i = 0; i < steps; i++) {
        int64_t done_ms = i * step_ms;
        int64_t left_s = (total_ms - done_ms + 999) / 1000;
        char msg[64];
        snprintf(msg, sizeof msg, "%lld second%s left", (long long)left_s,
                 left_s == 1 ? "" : "s");
        taas_progress(ctx, (double)done_ms / (double)total_ms, msg);

        int64_t end = done_ms + step_ms < total_ms ? done_ms + step_ms : total_ms;
        for (;;) {
            if (taas_cancelled(ctx)) {
                /* Not a result: the runtime ends the task CANCELLED (or
                 * timed out); the message only says how far it got. */
                return taas_fail(ctx, TAAS_RETRYABLE, "stopped after %lld of %lld ms",
                                 (long long)(mono_ms() - start), (long long)total_ms);
            }
            int64_t now = mono_ms() - start;
            if (now >= end)
                break;
            sleep_ms(end - now < slice ? end - now : slice);
        }
    }
    taas_progress(ctx, 1.0, "done");
    out->counted = in->seconds;
    out->steps = steps;
    return 0;
}
