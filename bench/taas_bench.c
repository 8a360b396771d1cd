/*
 * bench/taas_bench.c - taas-bench: N no-op tasks against a TaaS server with
 * C submits in flight, from one thread.
 *
 * Method.
 * 1. Warm-up: GetTaskType(--task) opens the connection and checks that the
 *    task exists, before the clock starts.
 * 2. Submit: SubmitTask calls with the same small JSON input, C in flight
 *    on one completion queue (grpc_driver.c), or paced at --rate. The clock
 *    starts at the first submit; a submit's ack is its reply, which the
 *    server sends only after the task's row is committed.
 * 3. Completion: after the last ack, ListTasks(state=PENDING, page_size=1)
 *    and then ListTasks(state=RUNNING, page_size=1) for the task name, one
 *    at a time, until both pages are empty. ListTasks reads the database, so
 *    an empty pair means every task's final state is committed, except the
 *    few whose completion is being committed at that moment (their body
 *    has ended; readers may then list them in neither state): step 4 reads
 *    those again until they are final, and the last one's final read is
 *    the end of the run. Rounds are spaced by max(2 ms, 5 x the last round's time), which
 *    keeps the observer under ~1 call per ms and under ~20% of one server
 *    thread even if the listing were slow. Watching every task instead
 *    (WatchTask) would add a server stream per task, doubling the server's
 *    gRPC work for the very thing being measured.
 * 4. Verify (unless --no-verify): GetTask for every task, C in flight,
 *    after the clock stopped: each must be SUCCEEDED; one still PENDING or
 *    RUNNING is read again, 1 ms apart, until final (and moves the end). Submit -> body start
 *    is the body's start minus the submit's wall-clock time. With
 *    --task latency_probe the body's output says when it started, in
 *    microseconds of the same clock (server and bench share the machine);
 *    for other tasks it is started_at_ms, which the server stamps in
 *    milliseconds, taken as started_at_ms + 0.5 ms (the middle of its
 *    millisecond): each sample is off by up to +-0.5 ms.
 *
 * With TAAS_BENCH_TRACE=FILE, each acked submit's send, reply and decoded
 * times go to FILE (bench/trace joins them with the server's TAAS_TRACE).
 */
#include "bench_util.h"
#include "grpc_driver.h"
#include "taas/v1/taas.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 30000

typedef struct job {
    int64_t t_submit_ns;
    int64_t t_reply_ns, t_parsed_ns; /* the reply's callback entered; its message decoded */
    int64_t wall_submit_us;
    char id[40];
    int acked;
    int rechecks; /* GetTask asked again: not final at the first read */
} job;

typedef struct bench {
    bench_opts opts;
    bench_result res;
    gd_channel *ch;
    void *m_submit, *m_get, *m_list, *m_get_type;
    job *jobs;
    long acked, errors, printed_errors;
    int64_t t0, t_last_ack;
    /* completion rounds */
    int list_phase;       /* 0 idle, 1 PENDING asked, 2 RUNNING asked */
    int list_done;
    int64_t round_start_ns, round_ns, t_end;
    long rounds;
    int64_t round_total_ns;
    /* verification */
    long verified, succeeded;
    job **recheck;   /* not final when read: read again (at most n) */
    long nrecheck, stragglers;
    int warm_status;
    char warm_details[256];
} bench;

static bench B;

static void report_error(const char *what, int status, const char *details)
{
    if (B.printed_errors++ < 5)
        fprintf(stderr, "taas-bench: %s failed: status %d: %s\n", what, status, details);
}

static void on_submit(void *payload, int status, const char *details, const uint8_t *resp,
                      size_t len)
{
    job *j = payload;
    int64_t t = bench_now_ns();
    if (status != 0) {
        B.errors++;
        report_error("SubmitTask", status, details);
        return;
    }
    Taas__V1__SubmitTaskResponse *r = taas__v1__submit_task_response__unpack(NULL, len, resp);
    if (!r) {
        B.errors++;
        report_error("SubmitTask", -1, "reply does not decode");
        return;
    }
    snprintf(j->id, sizeof j->id, "%s", r->task_id);
    taas__v1__submit_task_response__free_unpacked(r, NULL);
    j->t_reply_ns = t;
    j->t_parsed_ns = bench_now_ns();
    j->acked = 1;
    bench_lat_add(&B.res.ack, t - j->t_submit_ns);
    B.acked++;
    B.t_last_ack = t;
}

static void start_list(Taas__V1__TaskState state);

static void on_list(void *payload, int status, const char *details, const uint8_t *resp,
                    size_t len)
{
    int64_t t = bench_now_ns();
    size_t n = 1;
    if (status == 0) {
        Taas__V1__ListTasksResponse *r = taas__v1__list_tasks_response__unpack(NULL, len, resp);
        if (r) {
            n = r->n_tasks;
            taas__v1__list_tasks_response__free_unpacked(r, NULL);
        }
    } else {
        report_error("ListTasks", status, details);
    }
    if (B.list_phase == 1 && n == 0) {
        B.list_phase = 2;
        start_list(TAAS__V1__TASK_STATE__TASK_STATE_RUNNING);
        return;
    }
    if (B.list_phase == 2 && n == 0) {
        B.list_done = 1;
        B.t_end = t;
    }
    B.list_phase = 0;
    B.round_ns = t - B.round_start_ns;
    B.rounds++;
    B.round_total_ns += B.round_ns;
}

static void start_list(Taas__V1__TaskState state)
{
    Taas__V1__ListTasksRequest req = TAAS__V1__LIST_TASKS_REQUEST__INIT;
    uint8_t buf[256];
    req.state = state;
    req.task_name = (char *)B.opts.task;
    req.page_size = 1;
    size_t len = taas__v1__list_tasks_request__get_packed_size(&req);
    if (len > sizeof buf || (taas__v1__list_tasks_request__pack(&req, buf),
                             gd_unary(B.ch, B.m_list, buf, len, CALL_TIMEOUT_MS, on_list, NULL))) {
        B.list_phase = 0;
        B.errors++;
    }
}

static void on_get(void *payload, int status, const char *details, const uint8_t *resp,
                   size_t len)
{
    job *j = payload;
    B.verified++;
    if (status != 0) {
        report_error("GetTask", status, details);
        return;
    }
    Taas__V1__GetTaskResponse *r = taas__v1__get_task_response__unpack(NULL, len, resp);
    if (!r || !r->task) {
        report_error("GetTask", -1, "reply does not decode");
        if (r)
            taas__v1__get_task_response__free_unpacked(r, NULL);
        return;
    }
    Taas__V1__TaskState st = r->task->state;
    if (st == TAAS__V1__TASK_STATE__TASK_STATE_PENDING ||
        st == TAAS__V1__TASK_STATE__TASK_STATE_RUNNING) {
        /* Its completion was still being committed when the lists came back
         * empty (a task whose result is not yet durable may be in neither
         * list): read it again, and the run ends when it is final. */
        if (!j->rechecks++)
            B.stragglers++;
        B.recheck[B.nrecheck++] = j;
        taas__v1__get_task_response__free_unpacked(r, NULL);
        return;
    }
    if (j->rechecks) {
        int64_t t = bench_now_ns();
        if (t > B.t_end)
            B.t_end = t;
    }
    if (r->task->state == TAAS__V1__TASK_STATE__TASK_STATE_SUCCEEDED) {
        B.succeeded++;
        const char *us = r->task->output_json ? strstr(r->task->output_json, "\"started_us\":")
                                               : NULL;
        if (us) {
            bench_lat_add(&B.res.start, (strtoll(us + 13, NULL, 10) - j->wall_submit_us) * 1000);
        } else if (r->task->started_at_ms > 0) {
            bench_lat_add(&B.res.start,
                          (r->task->started_at_ms * 1000 + 500 - j->wall_submit_us) * 1000);
        }
    } else if (B.printed_errors++ < 5) {
        fprintf(stderr, "taas-bench: task %s ended in state %d: %s\n", j->id, r->task->state,
                r->task->error ? r->task->error : "");
    }
    taas__v1__get_task_response__free_unpacked(r, NULL);
}

static void on_warm(void *payload, int status, const char *details, const uint8_t *resp,
                    size_t len)
{
    B.warm_status = status;
    snprintf(B.warm_details, sizeof B.warm_details, "%s", details);
}

static int past(int64_t deadline)
{
    if (bench_now_ns() > deadline) {
        B.res.timed_out = true;
        return 1;
    }
    return 0;
}

/* TAAS_BENCH_TRACE=FILE: each acked submit's client-side times (CLOCK_MONOTONIC
 * ns, the clock of the server's TAAS_TRACE), for bench/trace to join with the
 * server's stages by task id. */
static void write_trace(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "taas-bench: cannot write %s\n", path);
        return;
    }
    fprintf(f, "# taas-bench trace: id t_submit_ns t_reply_ns t_parsed_ns\n");
    for (long i = 0; i < n; i++) {
        const job *j = &B.jobs[i];
        if (j->acked)
            fprintf(f, "%s %lld %lld %lld\n", j->id, (long long)j->t_submit_ns,
                    (long long)j->t_reply_ns, (long long)j->t_parsed_ns);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *env_server = getenv("TAAS_SERVER");
    int rc = bench_opts_parse(&B.opts, argc, argv, "taas-bench",
                              env_server && *env_server ? env_server : "127.0.0.1:50051", "taas");
    if (rc)
        return rc > 0 ? 0 : 64;
    bench_opts *o = &B.opts;
    bench_result *res = &B.res;
    res->system = "taas";
    res->label = o->label;
    res->n = o->n;
    res->c = o->c;
    res->workers = o->workers;
    const char *w = getenv("TAAS_WORKERS");
    if (w && atol(w) > 0)
        res->workers = atol(w);
    res->rate = o->rate;
    res->submit_s = res->e2e_s = -1;
    snprintf(res->note, sizeof res->note,
             "ack = SubmitTask reply (after commit); completion = ListTasks shows no PENDING "
             "and no RUNNING task; body start = %s%s",
             strcmp(o->task, "latency_probe") == 0 ? "the body's own clock (1 us)"
                                                  : "started_at_ms (1 ms resolution)",
             o->verify ? "" : "; not verified");

    B.jobs = calloc((size_t)o->n, sizeof *B.jobs);
    if (!B.jobs || gd_open(&B.ch, o->server)) {
        fprintf(stderr, "taas-bench: cannot set up a channel to %s\n", o->server);
        return 69;
    }
    B.m_submit = gd_method(B.ch, "/taas.v1.TaskService/SubmitTask");
    B.m_get = gd_method(B.ch, "/taas.v1.TaskService/GetTask");
    B.m_list = gd_method(B.ch, "/taas.v1.TaskService/ListTasks");
    B.m_get_type = gd_method(B.ch, "/taas.v1.RegistryService/GetTaskType");

    int64_t deadline = bench_now_ns() + (int64_t)(o->max_seconds * 1e9);

    /* 1. Warm-up. */
    {
        Taas__V1__GetTaskTypeRequest req = TAAS__V1__GET_TASK_TYPE_REQUEST__INIT;
        req.name = (char *)o->task;
        size_t len = taas__v1__get_task_type_request__get_packed_size(&req);
        uint8_t *buf = malloc(len + 1);
        taas__v1__get_task_type_request__pack(&req, buf);
        B.warm_status = -1;
        if (gd_unary(B.ch, B.m_get_type, buf, len, 10000, on_warm, NULL) == 0)
            while (gd_in_flight(B.ch) > 0 && !past(deadline))
                gd_poll(B.ch, 100 * 1000000LL);
        free(buf);
        if (B.warm_status != 0) {
            fprintf(stderr, "taas-bench: GetTaskType(%s) on %s: status %d: %s\n", o->task,
                    o->server, B.warm_status, B.warm_details);
            gd_close(B.ch);
            return 69;
        }
    }

    /* The request is the same for every task: encode it once. */
    Taas__V1__SubmitTaskRequest sreq = TAAS__V1__SUBMIT_TASK_REQUEST__INIT;
    sreq.task_name = (char *)o->task;
    sreq.inputs_json = (char *)o->input;
    size_t slen = taas__v1__submit_task_request__get_packed_size(&sreq);
    uint8_t *sbuf = malloc(slen + 1);
    taas__v1__submit_task_request__pack(&sreq, sbuf);

    /* 2. Submit. */
    long next = 0;
    B.t0 = bench_now_ns();
    while (B.acked + B.errors < o->n && !past(deadline)) {
        int64_t wait_ns = 100 * 1000000LL;
        while (next < o->n && gd_in_flight(B.ch) < o->c) {
            int64_t now = bench_now_ns();
            if (o->rate > 0) {
                int64_t due = B.t0 + (int64_t)((double)next * 1e9 / o->rate);
                if (due > now) {
                    wait_ns = due - now;
                    break;
                }
            }
            job *j = &B.jobs[next];
            j->t_submit_ns = now;
            j->wall_submit_us = bench_wall_us();
            if (next == 0)
                B.t0 = now;
            next++;
            if (gd_unary(B.ch, B.m_submit, sbuf, slen, CALL_TIMEOUT_MS, on_submit, j)) {
                B.errors++;
                report_error("SubmitTask", -1, "call not started");
            }
        }
        if (gd_in_flight(B.ch) == 0 && next < o->n)
            bench_sleep_until_ns(bench_now_ns() + wait_ns);
        else
            gd_poll(B.ch, wait_ns);
    }
    free(sbuf);
    res->acked = B.acked;
    res->submit_s = (double)(B.t_last_ack - B.t0) / 1e9;

    /* 3. Completion. */
    int64_t next_round = bench_now_ns();
    while (B.acked > 0 && !B.list_done && !past(deadline)) {
        if (B.list_phase == 0) {
            int64_t now = bench_now_ns();
            if (now < next_round) {
                bench_sleep_until_ns(next_round);
                continue;
            }
            B.round_start_ns = now;
            B.list_phase = 1;
            start_list(TAAS__V1__TASK_STATE__TASK_STATE_PENDING);
            if (B.list_phase == 0)
                break; /* could not even start the call */
            continue;
        }
        gd_poll(B.ch, 100 * 1000000LL);
        if (B.list_phase == 0 && !B.list_done) {
            int64_t gap = B.round_ns * 5;
            if (gap < 2000000)
                gap = 2000000;
            next_round = B.round_start_ns + B.round_ns + gap;
        }
    }
    if (B.list_done) {
        res->e2e_s = (double)(B.t_end - B.t0) / 1e9;
        res->completed = B.acked;
    }

    /* 4. Verify. */
    if (o->verify && B.list_done) {
        long gnext = 0;
        long want = o->n;
        uint8_t gbuf[128];
        B.recheck = calloc((size_t)o->n, sizeof *B.recheck);
        while ((gnext < want || B.nrecheck > 0 || gd_in_flight(B.ch) > 0) && !past(deadline)) {
            if (gnext >= want && B.nrecheck > 0 && gd_in_flight(B.ch) == 0)
                bench_sleep_until_ns(bench_now_ns() + 1000000); /* 1 ms between re-reads */
            while ((gnext < want || B.nrecheck > 0) &&
                   gd_in_flight(B.ch) < (o->c < 16 ? 16 : o->c)) {
                job *j = B.nrecheck > 0 ? B.recheck[--B.nrecheck] : &B.jobs[gnext++];
                if (!j->acked)
                    continue;
                Taas__V1__GetTaskRequest req = TAAS__V1__GET_TASK_REQUEST__INIT;
                req.task_id = j->id;
                size_t len = taas__v1__get_task_request__get_packed_size(&req);
                taas__v1__get_task_request__pack(&req, gbuf);
                if (gd_unary(B.ch, B.m_get, gbuf, len, CALL_TIMEOUT_MS, on_get, j))
                    report_error("GetTask", -1, "call not started");
            }
            gd_poll(B.ch, 100 * 1000000LL);
        }
        res->completed = B.succeeded;
        free(B.recheck);
        B.recheck = NULL;
        /* Stragglers moved the end: end-to-end counts to the last one's
         * final read. */
        res->e2e_s = (double)(B.t_end - B.t0) / 1e9;
        if (B.stragglers) {
            size_t used = strlen(res->note);
            snprintf(res->note + used, sizeof res->note - used,
                     "; %ld tasks not yet final when the lists were empty, read again until final",
                     B.stragglers);
        }
    }
    res->errors = B.errors;
    gd_close(B.ch);
    if (B.rounds) {
        size_t used = strlen(res->note);
        snprintf(res->note + used, sizeof res->note - used,
                 "; %ld ListTasks rounds, mean %.2f ms", B.rounds,
                 (double)B.round_total_ns / (double)B.rounds / 1e6);
    }

    const char *trace = getenv("TAAS_BENCH_TRACE");
    if (trace && *trace)
        write_trace(trace, o->n);
    rc = bench_result_report(res, o);
    bench_result_free(res);
    free(B.jobs);
    return rc;
}
