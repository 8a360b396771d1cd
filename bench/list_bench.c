/*
 * bench/list_bench.c - taas-listbench: the latency of ListTasks pages, one
 * call at a time, from a client over a real socket (bench/scale uses it).
 *
 *   taas-listbench --server 127.0.0.1:PORT [--calls 300] [--page-size 100]
 *                  [--state succeeded|failed|cancelled|pending|running]
 *                  [--name TASK] [--after-id ID | --page-token TOKEN] [--follow]
 *                  [--warmup 10] [--label TEXT] [--token TOKEN]
 *
 * Each call is a unary ListTasks on one HTTP/2 connection (grpc_driver.c),
 * started only after the previous reply arrived, so a sample is one round
 * trip: request encoding, the server's store read and reply encoding, the
 * loopback socket both ways, and decoding the reply. --warmup calls run
 * first and are not counted (they open the connection and prepare the
 * server's statements).
 *
 * Without --follow every call asks for the same page: the first page, or the
 * page after --page-token / --after-id. With --follow each call passes the
 * next_page_token of the previous reply, so the calls walk down the list
 * page by page; at the last page the walk starts again from where it began.
 * --after-id ID is a shortcut for the page token of that id (the token is
 * base64url of the last id of a page, runtime/store/store.c), so a walk can
 * start deep inside millions of rows without first paging down to them.
 *
 * --token (or TAAS_TOKEN) sends "authorization: Bearer TOKEN": a server with
 * --tokens-file then lists only that principal's tasks, unless the token has
 * the admin scope.
 *
 * Prints one JSON object: calls, errors, rows per page (min/mean), and the
 * latency p50/p90/p99/max/mean in milliseconds. Exit 0 when every call
 * succeeded and returned at least one row.
 */
#include "bench_util.h"
#include "grpc_driver.h"
#include "taas/v1/taas.pb-c.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CALL_TIMEOUT_MS 30000

static struct {
    int status;
    char details[256];
    size_t rows;
    char next[128];
    int done;
} R;

static void on_list(void *payload, int status, const char *details, const uint8_t *resp,
                    size_t len)
{
    (void)payload;
    R.done = 1;
    R.status = status;
    R.rows = 0;
    R.next[0] = '\0';
    snprintf(R.details, sizeof R.details, "%s", details ? details : "");
    if (status != 0)
        return;
    Taas__V1__ListTasksResponse *r = taas__v1__list_tasks_response__unpack(NULL, len, resp);
    if (!r) {
        R.status = -1;
        snprintf(R.details, sizeof R.details, "reply does not decode");
        return;
    }
    R.rows = r->n_tasks;
    snprintf(R.next, sizeof R.next, "%s", r->next_page_token ? r->next_page_token : "");
    taas__v1__list_tasks_response__free_unpacked(r, NULL);
}

/* A page token positioned after `id`, to start a walk deep in the table.
 * Tokens are opaque to clients; this mirrors the server's format
 * (taas_store__token_encode in runtime/store/store.c: base64url of the id)
 * rather than link the store into a client-side tool. */
static void token_of_id(const char *id, char out[64])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, n = strlen(id);
    for (size_t i = 0; i + 2 < n && o + 4 < 64; i += 3) {
        unsigned v = ((unsigned)(unsigned char)id[i] << 16) |
                     ((unsigned)(unsigned char)id[i + 1] << 8) | (unsigned char)id[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

static Taas__V1__TaskState parse_state(const char *s)
{
    static const char *names[] = {"", "pending", "running", "succeeded", "failed", "cancelled"};
    for (int i = 1; i <= 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (Taas__V1__TaskState)i;
    return TAAS__V1__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: taas-listbench --server HOST:PORT [--calls N] [--page-size N]\n"
               "       [--state STATE] [--name TASK] [--after-id ID | --page-token TOKEN]\n"
               "       [--follow] [--warmup N] [--label TEXT] [--token TOKEN]\n");
}

/* One call; 0 with R filled, -1 when it could not be made or timed out. */
static int one_call(gd_channel *ch, void *m, Taas__V1__ListTasksRequest *req)
{
    uint8_t buf[512];
    size_t len = taas__v1__list_tasks_request__get_packed_size(req);
    if (len > sizeof buf)
        return -1;
    taas__v1__list_tasks_request__pack(req, buf);
    R.done = 0;
    if (gd_unary(ch, m, buf, len, CALL_TIMEOUT_MS, on_list, NULL))
        return -1;
    int64_t end = bench_now_ns() + (int64_t)(CALL_TIMEOUT_MS + 5000) * 1000000;
    while (!R.done && bench_now_ns() < end)
        gd_poll(ch, 100 * 1000000LL);
    return R.done ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *server = "127.0.0.1:50051", *name = NULL, *after_id = NULL, *token = NULL;
    const char *label = "", *bearer = getenv("TAAS_TOKEN");
    long calls = 300, warmup = 10, page_size = 100;
    int follow = 0;
    Taas__V1__TaskState state = TAAS__V1__TASK_STATE__TASK_STATE_UNSPECIFIED;
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},   {"calls", required_argument, NULL, 'n'},
        {"page-size", required_argument, NULL, 'p'}, {"state", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'm'},     {"after-id", required_argument, NULL, 'a'},
        {"page-token", required_argument, NULL, 'k'}, {"follow", no_argument, NULL, 'f'},
        {"warmup", required_argument, NULL, 'w'},   {"label", required_argument, NULL, 'l'},
        {"token", required_argument, NULL, 'b'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'n': calls = atol(optarg); break;
        case 'p': page_size = atol(optarg); break;
        case 't':
            state = parse_state(optarg);
            if (state == TAAS__V1__TASK_STATE__TASK_STATE_UNSPECIFIED) {
                fprintf(stderr, "taas-listbench: unknown state '%s'\n", optarg);
                return 64;
            }
            break;
        case 'm': name = optarg; break;
        case 'a': after_id = optarg; break;
        case 'k': token = optarg; break;
        case 'f': follow = 1; break;
        case 'w': warmup = atol(optarg); break;
        case 'l': label = optarg; break;
        case 'b': bearer = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 64;
        }
    }
    if (calls < 1 || warmup < 0 || page_size < 1 || page_size > 1000 || (after_id && token)) {
        usage(stderr);
        return 64;
    }
    char start[128] = "";
    if (after_id)
        token_of_id(after_id, start);
    else if (token)
        snprintf(start, sizeof start, "%s", token);

    gd_channel *ch;
    if (gd_open(&ch, server)) {
        fprintf(stderr, "taas-listbench: cannot set up a channel to %s\n", server);
        return 69;
    }
    if (bearer && *bearer)
        gd_set_bearer(ch, bearer);
    void *m = gd_method(ch, "/taas.v1.TaskService/ListTasks");
    Taas__V1__ListTasksRequest req = TAAS__V1__LIST_TASKS_REQUEST__INIT;
    req.state = state;
    req.task_name = (char *)(name ? name : "");
    req.page_size = (int32_t)page_size;
    char cur[128];
    snprintf(cur, sizeof cur, "%s", start);

    bench_lat lat = {0};
    long errors = 0, empty = 0, wraps = 0;
    size_t rows_min = (size_t)-1, rows_sum = 0;
    for (long i = 0; i < warmup + calls; i++) {
        req.page_token = cur;
        int64_t t0 = bench_now_ns();
        int rc = one_call(ch, m, &req);
        int64_t t1 = bench_now_ns();
        if (rc || R.status != 0) {
            if (errors++ < 5)
                fprintf(stderr, "taas-listbench: ListTasks failed: status %d: %s\n",
                        rc ? -1 : R.status, rc ? "no reply" : R.details);
            if (rc)
                break;
            continue;
        }
        if (i >= warmup) {
            bench_lat_add(&lat, t1 - t0);
            rows_sum += R.rows;
            if (R.rows < rows_min)
                rows_min = R.rows;
            if (R.rows == 0)
                empty++;
        }
        if (follow) {
            if (R.next[0]) {
                snprintf(cur, sizeof cur, "%s", R.next);
            } else {
                snprintf(cur, sizeof cur, "%s", start);
                wraps++;
            }
        }
    }
    gd_close(ch);
    long n = (long)lat.n;
    double mean = 0;
    for (size_t i = 0; i < lat.n; i++)
        mean += (double)lat.v[i];
    mean = n ? mean / (double)n / 1e6 : -1;
    printf("{\"label\":\"%s\",\"calls\":%ld,\"errors\":%ld,\"empty_pages\":%ld,\"wraps\":%ld,"
           "\"rows_min\":%zu,\"rows_mean\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"mean_ms\":%.3f}\n",
           label, n, errors, empty, wraps, n ? rows_min : 0, n ? (double)rows_sum / (double)n : 0,
           bench_lat_pct_us(&lat, 50) / 1e3, bench_lat_pct_us(&lat, 90) / 1e3,
           bench_lat_pct_us(&lat, 99) / 1e3, bench_lat_pct_us(&lat, 100) / 1e3, mean);
    bench_lat_free(&lat);
    return errors == 0 && empty == 0 && n == calls ? 0 : 1;
}
