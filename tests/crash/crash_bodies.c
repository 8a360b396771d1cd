/*
 * Bodies of the crash-test tasks (tests/crash/specs), linked only into
 * taas-server-fi.
 *
 * Each body first appends "<task id> <attempt>\n" to the file named by
 * TAAS_CRASH_RECORD and fsyncs it, so that every execution that began is on
 * disk before the process can die; the tests count executions from that
 * file. Then the fault point task.mid_body (a crash with the body started
 * and its completion not yet possible), then the work: `ms` milliseconds in
 * 10 ms steps, reporting progress and honouring taas_cancelled() unless
 * told to ignore it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crash_idem.h"
#include "crash_idem0.h"
#include "crash_probe.h"
#include "util/fault.h"

/* Executions of this task recorded before this one (0: the first). */
static int earlier_runs(const char *path, const char *id)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[128];
    int n = 0;
    size_t len = strlen(id);
    while (fgets(line, sizeof line, f))
        n += strncmp(line, id, len) == 0 && line[len] == ' ';
    fclose(f);
    return n;
}

/* Record this execution; returns its number among the task's executions
 * (1-based, from the record file; 0 without one). */
static int record(taas_ctx *ctx)
{
    const char *path = getenv("TAAS_CRASH_RECORD");
    if (!path || !*path)
        return 0;
    int before = earlier_runs(path, taas_task_id(ctx));
    char line[96];
    int n = snprintf(line, sizeof line, "%s %d\n", taas_task_id(ctx), taas_attempt(ctx));
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "crash_bodies: %s: %s\n", path, strerror(errno));
        abort(); /* a lost record would make the test blind */
    }
    /* One write() of a short line with O_APPEND: lines never interleave. */
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        fprintf(stderr, "crash_bodies: %s: %s\n", path, strerror(errno));
        abort();
    }
    close(fd);
    return before + 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Work for ms milliseconds; false when stopped by taas_cancelled(). */
static bool work(taas_ctx *ctx, long ms, bool ignore_cancel)
{
    for (long done = 0; done < ms; done += 10) {
        if (!ignore_cancel && taas_cancelled(ctx))
            return false;
        sleep_ms(10);
        if (done % 100 == 0)
            taas_progress(ctx, (double)done / (double)ms, "working");
    }
    return true;
}

int crash_probe_execute(taas_ctx *ctx, const crash_probe_input *in, crash_probe_output *out)
{
    record(ctx);
    TAAS_FAULT_POINT("task.mid_body");
    if (!work(ctx, (long)in->ms, in->ignore_cancel))
        return taas_fail(ctx, TAAS_PERMANENT, "stopped");
    out->attempt = taas_attempt(ctx);
    return 0;
}

int crash_idem_execute(taas_ctx *ctx, const crash_idem_input *in, crash_idem_output *out)
{
    int run = record(ctx);
    TAAS_FAULT_POINT("task.mid_body");
    int attempt = taas_attempt(ctx);
    if (in->hold_run == run)
        sleep_ms((long)in->hold_ms); /* deaf to everything: a stalled worker */
    if (attempt < in->fail_before)
        return taas_fail(ctx, TAAS_RETRYABLE, "transient failure on attempt %d", attempt);
    if (!work(ctx, (long)in->ms, false))
        return taas_fail(ctx, TAAS_PERMANENT, "stopped");
    out->attempt = attempt;
    out->run = run;
    return 0;
}

int crash_idem0_execute(taas_ctx *ctx, const crash_idem0_input *in, crash_idem0_output *out)
{
    int run = record(ctx);
    TAAS_FAULT_POINT("task.mid_body");
    if (!work(ctx, (long)in->ms, false))
        return taas_fail(ctx, TAAS_PERMANENT, "stopped");
    out->attempt = taas_attempt(ctx);
    out->run = run;
    return 0;
}
