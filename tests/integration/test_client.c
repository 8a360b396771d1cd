/*
 * tests/integration/test_client.c - libtaas-client against a real server.
 *
 * Run by with_server.py, which starts taas-server on a free port and sets
 * TAAS_SERVER. Each test is a function; CHECK failures print the file, line
 * and the library's error, and the run continues with the next test. Every
 * wait is bounded: calls have deadlines, polling loops have limits.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "taas/client.h"

static taas_client *client;
static int failures;
static int test_failed;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            test_failed = 1;                                                          \
            return;                                                                   \
        }                                                                             \
    } while (0)

#define CHECK_OK(rc, err) CHECK((rc) == 0, "%s: %s", taas_client_code_name(rc), (err).message)

static const taas_call_options call10 = { 10000 };

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Copies JSON text without whitespace outside strings, for comparisons. */
static void squeeze(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    bool str = false, esc = false;
    for (; *in && o + 1 < cap; in++) {
        char ch = *in;
        if (str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                str = false;
        } else if (ch == '"') {
            str = true;
        } else if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
            continue;
        }
        out[o++] = ch;
    }
    out[o] = '\0';
}

static int submit(taas_client_submit_result *res, const char *name, const char *inputs,
                  int64_t run_after_ms, taas_client_error *err)
{
    taas_client_submit_request req = { .task_name = name, .inputs_json = inputs,
                                       .run_after_ms = run_after_ms };
    return taas_client_submit(client, res, &req, &call10, err);
}

/* ------------------------------------------------------------------------ */

static void test_health(void)
{
    taas_client_health_status st;
    taas_client_error err;
    int rc = taas_client_health(client, &st, NULL, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(st == TAAS_CLIENT_HEALTH_SERVING, "status %s", taas_client_health_name(st));
    rc = taas_client_health(client, &st, "taas.v1.TaskService", &call10, &err);
    CHECK_OK(rc, err);
    CHECK(st == TAAS_CLIENT_HEALTH_SERVING, "status %s", taas_client_health_name(st));
    rc = taas_client_health(client, &st, "no.such.Service", &call10, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND, "got %s", taas_client_code_name(rc));
}

static void test_discovery(void)
{
    taas_client_task_type_list *l;
    taas_client_error err;
    int rc = taas_client_list_task_types(client, &l, &call10, &err);
    CHECK_OK(rc, err);
    bool mine = false, countdown = false, sorted = true;
    for (size_t i = 0; i < l->count; i++) {
        mine |= strcmp(l->types[i].name, "my_custom_task") == 0;
        countdown |= strcmp(l->types[i].name, "countdown") == 0;
        if (i && strcmp(l->types[i - 1].name, l->types[i].name) >= 0)
            sorted = false;
    }
    size_t n = l->count;
    taas_client_task_type_list_free(l);
    CHECK(mine && countdown, "my_custom_task or countdown missing among %zu types", n);
    CHECK(sorted, "task types are not sorted by name");

    taas_client_task_type *t;
    rc = taas_client_get_task_type(client, &t, "my_custom_task", &call10, &err);
    CHECK_OK(rc, err);
    bool ok = strcmp(t->version, "1.0.0") == 0 && strstr(t->input_schema_json, "param1") &&
              strstr(t->output_schema_json, "result") && t->idempotent;
    taas_client_task_type_free(t);
    CHECK(ok, "unexpected my_custom_task type");

    rc = taas_client_get_task_type(client, &t, "no_such_task", &call10, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND && err.code == rc, "got %s", taas_client_code_name(rc));
}

typedef struct seen {
    int events;
    bool progress_half;
    bool pending, running;
    int64_t last_seq;
    bool seq_ok;
    taas_client_state final_state;
} seen;

static int record(const taas_client_event *e, void *payload)
{
    seen *s = payload;
    s->events++;
    if (e->seq != s->last_seq + 1)
        s->seq_ok = false;
    s->last_seq = e->seq;
    if (e->state == TAAS_CLIENT_STATE_PENDING)
        s->pending = true;
    if (e->state == TAAS_CLIENT_STATE_RUNNING)
        s->running = true;
    if (e->progress > 0.49 && e->progress < 0.51 && strcmp(e->progress_message, "Processing...") == 0)
        s->progress_half = true;
    if (taas_client_state_is_final(e->state)) {
        s->final_state = e->state;
        if (!e->task)
            s->seq_ok = false; /* the final event must carry the task */
    }
    return 0;
}

static void test_submit_watch_result(void)
{
    taas_client_submit_result res;
    taas_client_error err;
    /* Starting a second from now lets the watch subscribe before the body runs. */
    int rc = submit(&res, "my_custom_task", "{\"param1\": \"test\", \"param2\": 42}",
                    now_ms() + 1000, &err);
    CHECK_OK(rc, err);
    CHECK(strlen(res.task_id) == 36, "task id '%s'", res.task_id);
    CHECK(!res.duplicate && res.state == TAAS_CLIENT_STATE_PENDING, "state %s",
          taas_client_state_name(res.state));

    seen s = { .seq_ok = true };
    taas_client_task *final;
    taas_call_options call = { 20000 };
    rc = taas_client_watch(client, &final, res.task_id, record, &s, &call, &err);
    CHECK_OK(rc, err);
    char out[256];
    squeeze(out, sizeof out, final->output_json);
    taas_client_state st = final->state;
    taas_client_task_free(final);
    CHECK(st == TAAS_CLIENT_STATE_SUCCEEDED, "final %s", taas_client_state_name(st));
    CHECK(strcmp(out, "{\"result\":\"Processed test with 42\"}") == 0, "output %s", out);
    CHECK(s.pending, "the watch did not see PENDING first");
    CHECK(s.progress_half, "the watch did not see progress 0.5 \"Processing...\" (%d events)",
          s.events);
    CHECK(s.seq_ok, "event seq not 1, 2, 3, ... or final event without its task");

    taas_client_task *t;
    rc = taas_client_get(client, &t, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
    char in[256];
    squeeze(in, sizeof in, t->inputs_json);
    squeeze(out, sizeof out, t->output_json);
    bool ok = t->state == TAAS_CLIENT_STATE_SUCCEEDED && strcmp(t->task_name, "my_custom_task") == 0 &&
              strstr(in, "\"param1\":\"test\"") && strcmp(out, "{\"result\":\"Processed test with 42\"}") == 0 &&
              t->attempt == 1 && t->finished_at_ms >= t->created_at_ms && t->created_at_ms > 0;
    taas_client_task_free(t);
    CHECK(ok, "GetTask does not match the finished task (inputs %s, output %s)", in, out);
}

static void test_list_pagination(void)
{
    enum { N = 23, PAGE = 5 };
    char ids[N][128];
    taas_client_error err;
    char tag[64];
    snprintf(tag, sizeof tag, "page-%lld", (long long)now_ms());
    for (int i = 0; i < N; i++) {
        char in[128];
        snprintf(in, sizeof in, "{\"param1\": \"%s-%d\"}", tag, i);
        taas_client_submit_result res;
        int rc = submit(&res, "my_custom_task", in, 0, &err);
        CHECK_OK(rc, err);
        snprintf(ids[i], sizeof ids[i], "%s", res.task_id);
    }
    /* Walk every my_custom_task; each of ours must appear exactly once. */
    int found[N] = { 0 };
    char token[512] = "";
    int pages = 0, total = 0;
    for (;;) {
        taas_client_list_request req = { .task_name = "my_custom_task", .page_size = PAGE,
                                         .page_token = token };
        taas_client_task_list *l;
        int rc = taas_client_list(client, &l, &req, &call10, &err);
        CHECK_OK(rc, err);
        pages++;
        bool bad = l->count > PAGE;
        for (size_t k = 0; k < l->count; k++) {
            if (strcmp(l->tasks[k].task_name, "my_custom_task") != 0)
                bad = true;
            for (int i = 0; i < N; i++)
                if (strcmp(l->tasks[k].id, ids[i]) == 0)
                    found[i]++;
        }
        total += (int)l->count;
        snprintf(token, sizeof token, "%s", l->next_page_token);
        taas_client_task_list_free(l);
        CHECK(!bad, "a page is too long or holds another task type");
        if (!token[0] || pages > 1000)
            break;
    }
    for (int i = 0; i < N; i++)
        CHECK(found[i] == 1, "task %d (%s) seen %d times in %d pages", i, ids[i], found[i], pages);
    CHECK(total >= N, "only %d tasks listed", total);
}

static void test_list_state_filter(void)
{
    taas_client_error err;
    taas_client_submit_result later;
    int rc = submit(&later, "my_custom_task", "{\"param1\": \"later\"}", now_ms() + 600000, &err);
    CHECK_OK(rc, err);
    taas_client_list_request req = { .state = TAAS_CLIENT_STATE_PENDING, .page_size = 1000 };
    taas_client_task_list *l;
    rc = taas_client_list(client, &l, &req, &call10, &err);
    CHECK_OK(rc, err);
    bool found = false, other = false;
    for (size_t k = 0; k < l->count; k++) {
        found |= strcmp(l->tasks[k].id, later.task_id) == 0;
        other |= l->tasks[k].state != TAAS_CLIENT_STATE_PENDING;
    }
    taas_client_task_list_free(l);
    CHECK(found, "the pending task is not in the PENDING list");
    CHECK(!other, "the PENDING list holds tasks in other states");

    req.state = TAAS_CLIENT_STATE_SUCCEEDED;
    rc = taas_client_list(client, &l, &req, &call10, &err);
    CHECK_OK(rc, err);
    found = false;
    other = false;
    for (size_t k = 0; k < l->count; k++) {
        found |= strcmp(l->tasks[k].id, later.task_id) == 0;
        other |= l->tasks[k].state != TAAS_CLIENT_STATE_SUCCEEDED;
    }
    taas_client_task_list_free(l);
    CHECK(!found && !other, "the SUCCEEDED list holds tasks in other states");
    taas_client_state st;
    rc = taas_client_cancel(client, &st, later.task_id, &call10, &err);
    CHECK_OK(rc, err);
}

static void test_cancel_pending(void)
{
    taas_client_error err;
    taas_client_submit_result res;
    int rc = submit(&res, "my_custom_task", "{\"param1\": \"never\"}", now_ms() + 600000, &err);
    CHECK_OK(rc, err);
    taas_client_state st;
    rc = taas_client_cancel(client, &st, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(st == TAAS_CLIENT_STATE_CANCELLED, "cancel returned %s", taas_client_state_name(st));
    taas_client_task *t;
    rc = taas_client_get(client, &t, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
    st = t->state;
    taas_client_task_free(t);
    CHECK(st == TAAS_CLIENT_STATE_CANCELLED, "get says %s", taas_client_state_name(st));
    /* Cancelling again leaves the final state as it is. */
    rc = taas_client_cancel(client, &st, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(st == TAAS_CLIENT_STATE_CANCELLED, "second cancel returned %s", taas_client_state_name(st));
}

/* Waits (bounded) until a task is RUNNING. */
static bool wait_running(const char *id, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        taas_client_task *t;
        taas_client_error err;
        if (taas_client_get(client, &t, id, &call10, &err) == 0) {
            taas_client_state st = t->state;
            taas_client_task_free(t);
            if (st == TAAS_CLIENT_STATE_RUNNING)
                return true;
            if (taas_client_state_is_final(st))
                return false;
        }
        sleep_ms(50);
    }
    return false;
}

static void test_cancel_running(void)
{
    taas_client_error err;
    taas_client_submit_result res;
    int rc = submit(&res, "countdown", "{\"seconds\": 60, \"step_ms\": 100}", 0, &err);
    CHECK_OK(rc, err);
    CHECK(wait_running(res.task_id, 15000), "countdown did not start");
    taas_client_state st;
    rc = taas_client_cancel(client, &st, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(st == TAAS_CLIENT_STATE_RUNNING || st == TAAS_CLIENT_STATE_CANCELLED, "cancel returned %s",
          taas_client_state_name(st));
    taas_client_task *final;
    taas_call_options call = { 10000 };
    int64_t t0 = now_ms();
    rc = taas_client_watch(client, &final, res.task_id, NULL, NULL, &call, &err);
    CHECK_OK(rc, err);
    st = final->state;
    taas_client_task_free(final);
    CHECK(st == TAAS_CLIENT_STATE_CANCELLED, "final %s", taas_client_state_name(st));
    CHECK(now_ms() - t0 < 5000, "the running task took %lld ms to stop", (long long)(now_ms() - t0));
}

static void test_errors(void)
{
    taas_client_error err;
    taas_client_submit_result res;
    int rc = submit(&res, "my_custom_tsk", "{\"param1\": \"x\"}", 0, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND, "unknown name gave %s", taas_client_code_name(rc));
    CHECK(strstr(err.message, "my_custom_task") != NULL, "no suggestion in '%s'", err.message);
    CHECK(strstr(err.message, "Error received from peer") == NULL &&
              strstr(err.message, "file_line") == NULL, "debug text in '%s'", err.message);

    rc = submit(&res, "my_custom_task", "{\"param1\": \"x\", \"param2\": \"str\"}", 0, &err);
    CHECK(rc == TAAS_CLIENT_INVALID_ARGUMENT, "bad inputs gave %s", taas_client_code_name(rc));
    CHECK(strstr(err.message, "/param2: ") != NULL, "message '%s' does not point at /param2",
          err.message);

    rc = submit(&res, "my_custom_task", "{\"param2\": 1}", 0, &err);
    CHECK(rc == TAAS_CLIENT_INVALID_ARGUMENT, "missing required gave %s", taas_client_code_name(rc));
    CHECK(strstr(err.message, "param1") != NULL, "message '%s' does not name param1", err.message);

    rc = submit(&res, "my_custom_task", "{\"param1\": ", 0, &err);
    CHECK(rc == TAAS_CLIENT_INVALID_ARGUMENT, "malformed JSON gave %s", taas_client_code_name(rc));

    taas_client_task *t;
    const char *unknown = "00000000-0000-7000-8000-000000000000";
    rc = taas_client_get(client, &t, unknown, &call10, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND, "unknown id gave %s", taas_client_code_name(rc));
    CHECK(t == NULL, "out parameter set on failure");
    taas_client_state st;
    rc = taas_client_cancel(client, &st, unknown, &call10, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND, "cancel of unknown id gave %s", taas_client_code_name(rc));
    rc = taas_client_watch(client, &t, unknown, NULL, NULL, &call10, &err);
    CHECK(rc == TAAS_CLIENT_NOT_FOUND, "watch of unknown id gave %s", taas_client_code_name(rc));

    /* A request over the server's 4 MiB cap. */
    size_t big = 5u << 20;
    char *in = malloc(big + 32);
    CHECK(in != NULL, "out of memory");
    strcpy(in, "{\"param1\": \"");
    size_t n = strlen(in);
    memset(in + n, 'x', big);
    strcpy(in + n + big, "\"}");
    rc = submit(&res, "my_custom_task", in, 0, &err);
    free(in);
    CHECK(rc == TAAS_CLIENT_RESOURCE_EXHAUSTED, "5 MiB request gave %s: %s",
          taas_client_code_name(rc), err.message);
}

static void test_idempotency(void)
{
    char key[64];
    snprintf(key, sizeof key, "key-%lld", (long long)now_ms());
    taas_client_submit_request req = { .task_name = "my_custom_task",
                                       .inputs_json = "{\"param1\": \"once\"}",
                                       .idempotency_key = key };
    taas_client_submit_result a, b;
    taas_client_error err;
    int rc = taas_client_submit(client, &a, &req, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(!a.duplicate, "first submit marked duplicate");
    rc = taas_client_submit(client, &b, &req, &call10, &err);
    CHECK_OK(rc, err);
    CHECK(b.duplicate && strcmp(a.task_id, b.task_id) == 0, "second submit: duplicate %d, %s vs %s",
          b.duplicate, a.task_id, b.task_id);
    req.inputs_json = "{\"param1\": \"twice\"}";
    rc = taas_client_submit(client, &b, &req, &call10, &err);
    CHECK(rc == TAAS_CLIENT_ALREADY_EXISTS, "same key, other inputs gave %s",
          taas_client_code_name(rc));
}

static void test_deadline(void)
{
    taas_client_error err;
    taas_client_submit_result res;
    int rc = submit(&res, "countdown", "{\"seconds\": 30, \"step_ms\": 200}", 0, &err);
    CHECK_OK(rc, err);
    taas_call_options shortcall = { 300 };
    int64_t t0 = now_ms();
    rc = taas_client_watch(client, NULL, res.task_id, NULL, NULL, &shortcall, &err);
    int64_t took = now_ms() - t0;
    CHECK(rc == TAAS_CLIENT_DEADLINE_EXCEEDED, "gave %s", taas_client_code_name(rc));
    CHECK(took < 3000, "a 300 ms deadline took %lld ms", (long long)took);
    taas_client_health_status st;
    rc = taas_client_health(client, &st, NULL, &call10, &err);
    CHECK_OK(rc, err);
    taas_client_state cs;
    rc = taas_client_cancel(client, &cs, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
}

static void *interrupt_later(void *arg)
{
    (void)arg;
    sleep_ms(300);
    taas_client_interrupt(client);
    return NULL;
}

static int stop_at_first(const taas_client_event *e, void *payload)
{
    (void)e;
    ++*(int *)payload;
    return 1;
}

static void test_interrupt_and_stop(void)
{
    taas_client_error err;
    taas_client_submit_result res;
    int rc = submit(&res, "my_custom_task", "{\"param1\": \"wait\"}", now_ms() + 600000, &err);
    CHECK_OK(rc, err);

    pthread_t th;
    pthread_create(&th, NULL, interrupt_later, NULL);
    int64_t t0 = now_ms();
    rc = taas_client_watch(client, NULL, res.task_id, NULL, NULL, NULL, &err);
    pthread_join(th, NULL);
    taas_client_reset_interrupt(client);
    CHECK(rc == TAAS_CLIENT_CANCELLED, "interrupted watch gave %s", taas_client_code_name(rc));
    CHECK(now_ms() - t0 < 3000, "interrupt took %lld ms", (long long)(now_ms() - t0));

    int calls = 0;
    rc = taas_client_watch(client, NULL, res.task_id, stop_at_first, &calls, &call10, &err);
    CHECK(rc == TAAS_CLIENT_CANCELLED && calls == 1, "stopped watch gave %s after %d events",
          taas_client_code_name(rc), calls);
    taas_client_state st;
    rc = taas_client_cancel(client, &st, res.task_id, &call10, &err);
    CHECK_OK(rc, err);
}

/* Several threads share the one client: submit and watch to the end. */
enum { THREADS = 8, PER_THREAD = 10 };

static void *worker(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char in[64];
        snprintf(in, sizeof in, "{\"param1\": \"t\", \"param2\": %d}", i);
        taas_client_submit_result res;
        taas_client_error err;
        taas_client_task *final;
        if (submit(&res, "my_custom_task", in, 0, &err) ||
            taas_client_watch(client, &final, res.task_id, NULL, NULL, &call10, &err))
            return NULL;
        char want[64], got[128];
        snprintf(want, sizeof want, "{\"result\":\"Processed t with %d\"}", i);
        squeeze(got, sizeof got, final->output_json);
        if (final->state == TAAS_CLIENT_STATE_SUCCEEDED && strcmp(got, want) == 0)
            ++*ok;
        taas_client_task_free(final);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[THREADS];
    int ok[THREADS] = { 0 };
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, &ok[i]);
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += ok[i];
    }
    CHECK(total == THREADS * PER_THREAD, "%d of %d tasks ended as expected", total,
          THREADS * PER_THREAD);
}

static void test_unavailable(void)
{
    taas_client_options o = TAAS_CLIENT_OPTIONS_INIT;
    o.address = "127.0.0.1:1";
    taas_client *c;
    taas_client_error err;
    int rc = taas_client_connect(&c, &o, &err);
    CHECK_OK(rc, err);
    taas_client_health_status st;
    taas_call_options call = { 5000 };
    rc = taas_client_health(c, &st, NULL, &call, &err);
    taas_client_close(c);
    CHECK(rc == TAAS_CLIENT_UNAVAILABLE, "gave %s", taas_client_code_name(rc));
    CHECK(strstr(err.message, "file_line") == NULL, "debug text in '%s'", err.message);
}

/* A fan_out task's children are listed under it, each knowing its parent;
 * the parent itself has none. Runs on every store backend. */
static void test_list_children(void)
{
    taas_client_submit_result res;
    taas_client_error err;
    int rc = submit(&res, "fan_out", "{\"words\": [\"p\", \"q\"]}", 0, &err);
    CHECK_OK(rc, err);
    taas_client_task *final;
    taas_call_options call = { 60000 };
    rc = taas_client_watch(client, &final, res.task_id, NULL, NULL, &call, &err);
    CHECK_OK(rc, err);
    bool top = taas_client_task_parent_id(final)[0] == '\0';
    taas_client_state st = final->state;
    taas_client_task_free(final);
    CHECK(st == TAAS_CLIENT_STATE_SUCCEEDED, "fan_out ended %s", taas_client_state_name(st));
    CHECK(top, "a top-level task has a parent id");

    taas_client_task_list *l;
    rc = taas_client_list_children(client, &l, res.task_id, NULL, &call10, &err);
    CHECK_OK(rc, err);
    size_t n = l->count;
    bool all_ours = true;
    char kid[128] = "";
    for (size_t k = 0; k < n; k++)
        all_ours &= strcmp(taas_client_task_parent_id(&l->tasks[k]), res.task_id) == 0;
    if (n)
        snprintf(kid, sizeof kid, "%s", l->tasks[0].id);
    taas_client_task_list_free(l);
    CHECK(n == 2, "%zu children listed, expected 2", n);
    CHECK(all_ours, "a listed child names another parent");
    if (!kid[0])
        return;

    taas_client_task *t;
    rc = taas_client_get(client, &t, kid, &call10, &err);
    CHECK_OK(rc, err);
    bool ok = strcmp(taas_client_task_parent_id(t), res.task_id) == 0 && strcmp(t->id, kid) == 0;
    taas_client_task_free(t);
    CHECK(ok, "GetTask of a child does not name its parent");
    rc = taas_client_list_children(client, &l, kid, NULL, &call10, &err);
    CHECK_OK(rc, err);
    n = l->count;
    taas_client_task_list_free(l);
    CHECK(n == 0, "a leaf task has %zu children", n);
}


static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    { "health", test_health },
    { "discovery", test_discovery },
    { "submit_watch_result", test_submit_watch_result },
    { "list_pagination", test_list_pagination },
    { "list_state_filter", test_list_state_filter },
    { "list_children", test_list_children },
    { "cancel_pending", test_cancel_pending },
    { "cancel_running", test_cancel_running },
    { "errors", test_errors },
    { "idempotency", test_idempotency },
    { "deadline", test_deadline },
    { "interrupt_and_stop", test_interrupt_and_stop },
    { "threads", test_threads },
    { "unavailable", test_unavailable },
};

int main(int argc, char **argv)
{
    taas_client_options opts = TAAS_CLIENT_OPTIONS_INIT;
    opts.address = getenv("TAAS_SERVER");
    if (!opts.address) {
        fprintf(stderr, "TAAS_SERVER is not set (run through with_server.py)\n");
        return 2;
    }
    taas_client_error err;
    if (taas_client_connect(&client, &opts, &err)) {
        fprintf(stderr, "connect: %s\n", err.message);
        return 1;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        test_failed = 0;
        int64_t t0 = now_ms();
        tests[i].fn();
        printf("%-4s %s (%lld ms)\n", test_failed ? "FAIL" : "ok", tests[i].name,
               (long long)(now_ms() - t0));
        fflush(stdout);
        failures += test_failed;
    }
    taas_client_close(client);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
