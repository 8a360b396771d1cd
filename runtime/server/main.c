/*
 * runtime/server/main.c - the taas-server program: flags and environment,
 * start-up (store, engine, server) and the orderly shutdown on SIGTERM or
 * SIGINT.
 *
 * Signals. SIGINT and SIGTERM are blocked before gRPC starts its threads,
 * so every thread inherits the mask and the main thread alone receives them
 * with sigwait(). Shutdown order: health NOT_SERVING, stop accepting calls,
 * end the watch streams and close the engine gate, stop the engine (running
 * bodies get the grace period; pending acknowledgements are sent), cancel
 * what is left and stop the server, close the store.
 *
 * Exposure. Listening on anything but loopback needs TLS and a tokens file,
 * or an explicit --insecure: a task server runs code on behalf of whoever
 * reaches it, so the unsafe setting must be a choice, never a default.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "middleware/middleware.h"
#include "server/server.h"
#include "services/services.h"
#include "store/store.h"
#include "taas/registry.h"
#include "util/log.h"
#include "util/util.h"

#ifndef TAAS_VERSION
#define TAAS_VERSION "0.0.0"
#endif

#define SERVER_STOP_TIMEOUT_MS 10000
#define LOG_BATCH_MS 100

struct config {
    const char *listen;
    const char *http; /* NULL: no HTTP port */
    const char *database_url;
    int workers;
    int log_level;
    int log_format;
    long long max_message_bytes;
    double rate_limit;
    double rate_limit_peer;
    int shutdown_grace_ms;
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *tokens_file;
    bool insecure;
    int role;
    int max_streams, max_metadata, keepalive_ms, keepalive_timeout_ms, idle_ms, ping_strikes,
        min_ping_ms;
    int lease_ms, prefetch;
    int max_watches_conn, max_watches_principal;
    int watch_interval_ms, watch_rate;
    long long retention_s;
    const char *node_id;
    bool allow_async_commit;
};

enum { ROLE_ALL = 0, ROLE_API, ROLE_WORKER };
static const char *const role_names[] = {"all", "api", "worker"};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: taas-server [options]\n"
            "\n"
            "Runs the TaaS gRPC server (taas.v1.TaskService, taas.v1.RegistryService,\n"
            "grpc.health.v1.Health). Every option can also be set in the environment;\n"
            "a flag wins over its variable.\n"
            "\n"
            "  --listen HOST:PORT        TAAS_LISTEN           address to serve on; port 0 picks a\n"
            "                                                  free port (default 127.0.0.1:50051)\n"
            "  --http HOST:PORT          TAAS_HTTP             also serve the HTTP/JSON API, /metrics,\n"
            "                                                  /healthz, /readyz and the dashboard\n"
            "                                                  here (default: off; `make run` uses\n"
            "                                                  127.0.0.1:8080); same exposure rules\n"
            "                                                  as --listen; \"off\" turns it off\n"
            "  --database-url URL        DATABASE_URL          sqlite:///relative.db, sqlite:////abs.db,\n"
            "                                                  postgresql://user:pass@host:5432/db or\n"
            "                                                  \"host=... dbname=...\" (libpq keywords)\n"
            "                                                  (default sqlite:///taas.db)\n"
            "  --workers N               TAAS_WORKERS          task body threads (default: online CPUs)\n"
            "  --log-level LEVEL         TAAS_LOG_LEVEL        debug|info|warn|error|off (default info)\n"
            "  --log-format FORMAT       TAAS_LOG_FORMAT       text|json (default text)\n"
            "  --max-message-bytes N     TAAS_MAX_MESSAGE_BYTES largest request message; larger ones\n"
            "                                                  get RESOURCE_EXHAUSTED (default 4194304)\n"
            "  --rate-limit N            TAAS_RATE_LIMIT       calls per second over all clients;\n"
            "                                                  over -> RESOURCE_EXHAUSTED (default 0 = off)\n"
            "  --rate-limit-peer N       TAAS_RATE_LIMIT_PEER  calls per second per client address\n"
            "                                                  (default 0 = off)\n"
            "  --shutdown-grace-ms N     TAAS_SHUTDOWN_GRACE_MS time running tasks get to finish on\n"
            "                                                  SIGTERM before their leases are released\n"
            "                                                  (default 10000)\n"
            "  --role ROLE               TAAS_ROLE             all: serve the API and run tasks;\n"
            "                                                  api: serve the API, run no tasks;\n"
            "                                                  worker: run tasks, serve only\n"
            "                                                  grpc.health.v1.Health (default all)\n"
            "  --allow-async-commit      TAAS_ALLOW_ASYNC_COMMIT=1 start on a PostgreSQL whose\n"
            "                                                  synchronous_commit is off (acknowledged\n"
            "                                                  tasks could then be lost in a crash)\n"
            "\n"
            "Task engine (docs/architecture.md, docs/reliability.md):\n"
            "  --lease-ms N              TAAS_LEASE_MS         lease of a running task, renewed every\n"
            "                                                  third of it (default 30000)\n"
            "  --prefetch N              TAAS_PREFETCH         tasks claimed beyond the free workers\n"
            "                                                  (default 64; -1 = none)\n"
            "  --retention-s N           TAAS_RETENTION_S      finished tasks (and their idempotency\n"
            "                                                  keys) are deleted this long after they\n"
            "                                                  finish (default 604800; -1 = keep)\n"
            "  --node-id ID              TAAS_NODE_ID          lease owner name (default host:pid)\n"
            "  environment only:         TAAS_DEFAULT_TIMEOUT_S (3600) deadline of tasks whose spec\n"
            "                            has no timeout_s; TAAS_STUCK_GRACE_MS (10000) a body still\n"
            "                            running this long past its deadline is abandoned;\n"
            "                            TAAS_RETRY_BASE_MS (1000) and TAAS_RETRY_CAP_MS (300000)\n"
            "                            retry backoff; TAAS_PROGRESS_STORE_MS (250);\n"
            "                            TAAS_PRUNE_EVERY_MS (10000); TAAS_PRUNE_BATCH (500);\n"
            "                            TAAS_CLAIM_ON_SUBMIT (-1 = a submit never takes a free\n"
            "                            slot of this server in its own insert; default on)\n"
            "\n"
            "Security (see SECURITY.md):\n"
            "  --tls-cert FILE           TAAS_TLS_CERT         PEM certificate chain; with --tls-key\n"
            "                                                  the port speaks TLS only\n"
            "  --tls-key FILE            TAAS_TLS_KEY          PEM private key of --tls-cert\n"
            "  --tls-client-ca FILE      TAAS_TLS_CLIENT_CA    PEM CA bundle: require and verify a\n"
            "                                                  client certificate (mutual TLS)\n"
            "  --tokens-file FILE        TAAS_TOKENS_FILE      bearer tokens, one per line:\n"
            "                                                  sha256:<hex> principal scope[,scope]\n"
            "                                                  scopes submit, read, cancel, admin\n"
            "  --hash-token                                    read a token on stdin, print the\n"
            "                                                  sha256:<hex> line field, exit\n"
            "  --insecure                                      allow a non-loopback --listen without\n"
            "                                                  TLS and tokens (refused otherwise)\n"
            "\n"
            "Transport limits (0 = the default shown; -1 = gRPC's own):\n"
            "  --max-concurrent-streams N TAAS_MAX_CONCURRENT_STREAMS per connection (default 100)\n"
            "  --max-watches-per-connection N TAAS_MAX_WATCHES_PER_CONNECTION open WatchTask\n"
            "                                                  streams per connection (default 1000)\n"
            "  --max-watches-per-principal N TAAS_MAX_WATCHES_PER_PRINCIPAL open WatchTask\n"
            "                                                  streams per principal (default 10000)\n"
            "  --watch-interval-ms N     TAAS_WATCH_INTERVAL_MS a watcher gets at most one progress\n"
            "                                                  event per N ms (default 100); state\n"
            "                                                  changes and the end are never held\n"
            "  --watch-rate N            TAAS_WATCH_RATE       progress events per second to all\n"
            "                                                  watchers together (default 4000);\n"
            "                                                  more watchers, longer intervals\n"
            "  --max-metadata-bytes N    TAAS_MAX_METADATA_BYTES request headers (default 16384)\n"
            "  --keepalive-time-ms N     TAAS_KEEPALIVE_TIME_MS ping an idle connection after\n"
            "                                                  (default 7200000)\n"
            "  --keepalive-timeout-ms N  TAAS_KEEPALIVE_TIMEOUT_MS drop it without an answer\n"
            "                                                  after (default 20000)\n"
            "  --max-connection-idle-ms N TAAS_MAX_CONNECTION_IDLE_MS close connections with no\n"
            "                                                  call for this long (default 0 = never)\n"
            "  --max-ping-strikes N      TAAS_MAX_PING_STRIKES too-frequent client pings tolerated\n"
            "                                                  before GOAWAY (default 2)\n"
            "  --min-ping-interval-ms N  TAAS_MIN_PING_INTERVAL_MS client pings closer than this\n"
            "                                                  without data are strikes\n"
            "                                                  (default 300000)\n"
            "\n"
            "  -h, --help                                      this text\n"
            "  -V, --version                                   the version\n"
            "\n"
            "Logs go to stderr, one line per event; the line with event server.start\n"
            "carries the bound address (listen=HOST:PORT). SIGTERM or SIGINT stops the\n"
            "server cleanly (exit status 0).\n");
}

static int parse_ll(const char *what, const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "taas-server: %s: expected an integer from %lld to %lld, got '%s'\n", what,
                min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_rate(const char *what, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e9) {
        fprintf(stderr, "taas-server: %s: expected a number of calls per second >= 0, got '%s'\n",
                what, s);
        return -1;
    }
    *out = v;
    return 0;
}

enum { OPT_LISTEN = 1000, OPT_DB, OPT_WORKERS, OPT_LEVEL, OPT_FORMAT, OPT_MAXMSG, OPT_RATE,
       OPT_RATE_PEER, OPT_GRACE, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA, OPT_TOKENS, OPT_INSECURE,
       OPT_ROLE, OPT_HASH_TOKEN, OPT_STREAMS, OPT_METADATA, OPT_KA, OPT_KA_TIMEOUT, OPT_IDLE,
       OPT_STRIKES, OPT_MIN_PING, OPT_LEASE, OPT_PREFETCH, OPT_RETENTION, OPT_NODE,
       OPT_ASYNC_COMMIT, OPT_HTTP, OPT_WATCHES_CONN, OPT_WATCHES_PRINCIPAL,
       OPT_WATCH_INTERVAL, OPT_WATCH_RATE };

/* Transport limits: -1 (gRPC's default) up to INT32_MAX. */
static int parse_limit(const char *what, const char *v, int *out)
{
    long long n;
    if (parse_ll(what, v, -1, INT32_MAX, &n))
        return -1;
    *out = (int)n;
    return 0;
}

/* Apply one setting, from a flag or its environment variable. */
static int apply(struct config *c, int opt, const char *v)
{
    long long n;
    switch (opt) {
    case OPT_LISTEN:
        if (!v[0]) {
            fprintf(stderr, "taas-server: --listen: empty address\n");
            return -1;
        }
        if (strncmp(v, "unix:", 5) != 0 && strncmp(v, "unix-abstract:", 14) != 0) {
            /* gRPC reads the port modulo 65536 (99999 listened on 34463):
             * check it here. */
            const char *colon = strrchr(v, ':');
            char *end = NULL;
            long port = colon && colon[1] >= '0' && colon[1] <= '9' ? strtol(colon + 1, &end, 10)
                                                                   : -1;
            if (port < 0 || port > 65535 || *end != '\0' ||
                (v[0] == '[' && colon[-1] != ']')) {
                fprintf(stderr,
                        "taas-server: --listen: expected HOST:PORT with PORT 0 to 65535 (0 picks "
                        "a free port), [IPv6]:PORT or unix:PATH, got '%s'\n",
                        v);
                return -1;
            }
        }
        c->listen = v;
        return 0;
    case OPT_HTTP:
        if (!v[0]) {
            fprintf(stderr, "taas-server: --http: empty address\n");
            return -1;
        }
        c->http = strcmp(v, "off") == 0 ? NULL : v;
        return 0;
    case OPT_DB:
        c->database_url = v;
        return 0;
    case OPT_WORKERS:
        if (parse_ll("--workers", v, 0, 4096, &n))
            return -1;
        c->workers = (int)n;
        return 0;
    case OPT_LEVEL:
        if ((c->log_level = taas_log_level_parse(v)) < 0) {
            fprintf(stderr, "taas-server: --log-level: expected debug|info|warn|error|off, got '%s'\n", v);
            return -1;
        }
        return 0;
    case OPT_FORMAT:
        if ((c->log_format = taas_log_format_parse(v)) < 0) {
            fprintf(stderr, "taas-server: --log-format: expected text|json, got '%s'\n", v);
            return -1;
        }
        return 0;
    case OPT_MAXMSG:
        if (parse_ll("--max-message-bytes", v, 1, INT32_MAX, &n))
            return -1;
        c->max_message_bytes = n;
        return 0;
    case OPT_RATE:
        return parse_rate("--rate-limit", v, &c->rate_limit);
    case OPT_RATE_PEER:
        return parse_rate("--rate-limit-peer", v, &c->rate_limit_peer);
    case OPT_GRACE:
        if (parse_ll("--shutdown-grace-ms", v, 0, 3600000, &n))
            return -1;
        c->shutdown_grace_ms = (int)n;
        return 0;
    case OPT_TLS_CERT:
        c->tls_cert = v;
        return 0;
    case OPT_TLS_KEY:
        c->tls_key = v;
        return 0;
    case OPT_TLS_CA:
        c->tls_client_ca = v;
        return 0;
    case OPT_TOKENS:
        c->tokens_file = v;
        return 0;
    case OPT_ROLE:
        for (int r = 0; r < 3; r++) {
            if (strcmp(v, role_names[r]) == 0) {
                c->role = r;
                return 0;
            }
        }
        fprintf(stderr, "taas-server: --role: expected all|api|worker, got '%s'\n", v);
        return -1;
    case OPT_WATCHES_CONN:
        return parse_limit("--max-watches-per-connection", v, &c->max_watches_conn);
    case OPT_WATCHES_PRINCIPAL:
        return parse_limit("--max-watches-per-principal", v, &c->max_watches_principal);
    case OPT_WATCH_INTERVAL:
        if (parse_ll("--watch-interval-ms", v, 0, 3600000, &n))
            return -1;
        c->watch_interval_ms = (int)n;
        return 0;
    case OPT_WATCH_RATE:
        if (parse_ll("--watch-rate", v, 0, INT32_MAX, &n))
            return -1;
        c->watch_rate = (int)n;
        return 0;
    case OPT_STREAMS:
        return parse_limit("--max-concurrent-streams", v, &c->max_streams);
    case OPT_METADATA:
        return parse_limit("--max-metadata-bytes", v, &c->max_metadata);
    case OPT_KA:
        return parse_limit("--keepalive-time-ms", v, &c->keepalive_ms);
    case OPT_KA_TIMEOUT:
        return parse_limit("--keepalive-timeout-ms", v, &c->keepalive_timeout_ms);
    case OPT_IDLE:
        return parse_limit("--max-connection-idle-ms", v, &c->idle_ms);
    case OPT_STRIKES:
        return parse_limit("--max-ping-strikes", v, &c->ping_strikes);
    case OPT_MIN_PING:
        return parse_limit("--min-ping-interval-ms", v, &c->min_ping_ms);
    case OPT_LEASE:
        if (parse_ll("--lease-ms", v, 100, 3600000, &n))
            return -1;
        c->lease_ms = (int)n;
        return 0;
    case OPT_PREFETCH:
        if (parse_ll("--prefetch", v, -1, 100000, &n))
            return -1;
        c->prefetch = (int)n;
        return 0;
    case OPT_RETENTION:
        if (parse_ll("--retention-s", v, -1, 100LL * 365 * 24 * 3600, &n))
            return -1;
        c->retention_s = n;
        return 0;
    case OPT_NODE:
        if (!v[0] || strlen(v) > 100) {
            fprintf(stderr, "taas-server: --node-id: 1 to 100 characters\n");
            return -1;
        }
        c->node_id = v;
        return 0;
    case OPT_ASYNC_COMMIT:
        c->allow_async_commit = true;
        return 0;
    }
    return -1;
}

/* Copy `url` into out with any password replaced by "***". */
static void redact_url(const char *url, char *out, size_t cap)
{
    snprintf(out, cap, "%s", url);
    char *scheme = strstr(out, "://");
    if (!scheme)
        return;
    char *auth = scheme + 3;
    char *at = strchr(auth, '@');
    char *slash = strchr(auth, '/');
    if (!at || (slash && slash < at))
        return;
    char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return;
    char rest[1024];
    snprintf(rest, sizeof rest, "%s", at);
    snprintf(colon, cap - (size_t)(colon - out), ":***%s", rest);
}

/* Read a whole PEM file (at most 1 MiB) into a NUL-terminated malloc'd string. */
static char *read_pem(const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "taas-server: %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (buf)
        n = fread(buf, 1, cap + 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf || bad || n > cap || n == 0 || !strstr(buf ? buf : "", "-----BEGIN")) {
        if (buf)
            buf[n > cap ? cap : n] = '\0';
        fprintf(stderr, "taas-server: %s %s: %s\n", what, path,
                !buf ? "out of memory" : bad ? "read error" : n > cap ? "larger than 1 MiB"
                                                                      : "not a PEM file");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Whether the host part of "host:port" is a loopback address (or a unix socket). */
static bool listen_is_loopback(const char *listen)
{
    if (strncmp(listen, "unix:", 5) == 0 || strncmp(listen, "unix-abstract:", 14) == 0)
        return true;
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n >= sizeof host)
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (strncmp(host, "ipv4:", 5) == 0 || strncmp(host, "ipv6:", 5) == 0)
        memmove(host, host + 5, strlen(host + 5) + 1);
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0)
        return true;
    unsigned a, b, cc, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &cc, &d, &tail) == 4 && a == 127 && b < 256 &&
        cc < 256 && d < 256)
        return true;
    return false;
}

/* --hash-token: one token on stdin (a trailing newline is not part of it). */
static int hash_token_main(void)
{
    char buf[4097];
    size_t n = fread(buf, 1, sizeof buf, stdin);
    if (n == sizeof buf) {
        fprintf(stderr, "taas-server: --hash-token: the token is longer than 4096 bytes\n");
        return 2;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0 || memchr(buf, '\n', n) || memchr(buf, ' ', n)) {
        fprintf(stderr, "taas-server: --hash-token: expected one token (no spaces or line "
                        "breaks) on stdin\n");
        return 2;
    }
    char hex[65];
    taas_token_hash_hex(buf, n, hex);
    memset(buf, 0, sizeof buf);
    printf("sha256:%s\n", hex);
    return 0;
}

static int metrics_live(void *arg, int64_t counts[6])
{
    return taas_services_count_live(arg, counts);
}

static int http_ready(void *arg, char *msg, size_t cap)
{
    return taas_services_ready(arg, msg, cap);
}

/* Many idle clients each hold a descriptor: take all the kernel allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct config c = {
        .listen = "127.0.0.1:50051",
        .database_url = "sqlite:///taas.db",
        .workers = 0,
        .log_level = TAAS_LOG_INFO,
        .log_format = TAAS_LOG_TEXT,
        .max_message_bytes = 4 << 20,
        .shutdown_grace_ms = 10000,
    };
    static const struct {
        const char *env;
        int opt;
    } envs[] = {
        {"TAAS_LISTEN", OPT_LISTEN},           {"DATABASE_URL", OPT_DB},
        {"TAAS_HTTP", OPT_HTTP},
        {"TAAS_WORKERS", OPT_WORKERS},         {"TAAS_LOG_LEVEL", OPT_LEVEL},
        {"TAAS_LOG_FORMAT", OPT_FORMAT},       {"TAAS_MAX_MESSAGE_BYTES", OPT_MAXMSG},
        {"TAAS_RATE_LIMIT", OPT_RATE},         {"TAAS_RATE_LIMIT_PEER", OPT_RATE_PEER},
        {"TAAS_SHUTDOWN_GRACE_MS", OPT_GRACE}, {"TAAS_TLS_CERT", OPT_TLS_CERT},
        {"TAAS_TLS_KEY", OPT_TLS_KEY},         {"TAAS_TLS_CLIENT_CA", OPT_TLS_CA},
        {"TAAS_TOKENS_FILE", OPT_TOKENS},      {"TAAS_ROLE", OPT_ROLE},
        {"TAAS_MAX_CONCURRENT_STREAMS", OPT_STREAMS}, {"TAAS_MAX_METADATA_BYTES", OPT_METADATA},
        {"TAAS_KEEPALIVE_TIME_MS", OPT_KA},    {"TAAS_KEEPALIVE_TIMEOUT_MS", OPT_KA_TIMEOUT},
        {"TAAS_MAX_CONNECTION_IDLE_MS", OPT_IDLE}, {"TAAS_MAX_PING_STRIKES", OPT_STRIKES},
        {"TAAS_MIN_PING_INTERVAL_MS", OPT_MIN_PING},
        {"TAAS_MAX_WATCHES_PER_CONNECTION", OPT_WATCHES_CONN},
        {"TAAS_MAX_WATCHES_PER_PRINCIPAL", OPT_WATCHES_PRINCIPAL},
        {"TAAS_WATCH_INTERVAL_MS", OPT_WATCH_INTERVAL}, {"TAAS_WATCH_RATE", OPT_WATCH_RATE},
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (v && v[0] && apply(&c, envs[i].opt, v)) {
            fprintf(stderr, "taas-server: (from the environment variable %s)\n", envs[i].env);
            return 2;
        }
    }
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"http", required_argument, NULL, OPT_HTTP},
        {"database-url", required_argument, NULL, OPT_DB},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"log-format", required_argument, NULL, OPT_FORMAT},
        {"max-message-bytes", required_argument, NULL, OPT_MAXMSG},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"rate-limit-peer", required_argument, NULL, OPT_RATE_PEER},
        {"shutdown-grace-ms", required_argument, NULL, OPT_GRACE},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-client-ca", required_argument, NULL, OPT_TLS_CA},
        {"tokens-file", required_argument, NULL, OPT_TOKENS},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"role", required_argument, NULL, OPT_ROLE},
        {"hash-token", no_argument, NULL, OPT_HASH_TOKEN},
        {"max-concurrent-streams", required_argument, NULL, OPT_STREAMS},
        {"max-watches-per-connection", required_argument, NULL, OPT_WATCHES_CONN},
        {"max-watches-per-principal", required_argument, NULL, OPT_WATCHES_PRINCIPAL},
        {"watch-interval-ms", required_argument, NULL, OPT_WATCH_INTERVAL},
        {"watch-rate", required_argument, NULL, OPT_WATCH_RATE},
        {"max-metadata-bytes", required_argument, NULL, OPT_METADATA},
        {"keepalive-time-ms", required_argument, NULL, OPT_KA},
        {"keepalive-timeout-ms", required_argument, NULL, OPT_KA_TIMEOUT},
        {"max-connection-idle-ms", required_argument, NULL, OPT_IDLE},
        {"max-ping-strikes", required_argument, NULL, OPT_STRIKES},
        {"min-ping-interval-ms", required_argument, NULL, OPT_MIN_PING},
        {"lease-ms", required_argument, NULL, OPT_LEASE},
        {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"retention-s", required_argument, NULL, OPT_RETENTION},
        {"node-id", required_argument, NULL, OPT_NODE},
        {"allow-async-commit", no_argument, NULL, OPT_ASYNC_COMMIT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    bool hash_token = false;
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (opt == OPT_INSECURE) {
            c.insecure = true;
            continue;
        }
        if (opt == OPT_HASH_TOKEN) {
            hash_token = true;
            continue;
        }
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt == 'V') {
            printf("taas-server %s (gRPC core %s)\n", TAAS_VERSION, taas_server_grpc_version());
            return 0;
        }
        if (opt == '?' || apply(&c, opt, optarg)) {
            fprintf(stderr, "taas-server: see --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "taas-server: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    if (hash_token)
        return hash_token_main();
    if (!c.tls_cert != !c.tls_key) {
        fprintf(stderr, "taas-server: --tls-cert and --tls-key go together; see --help\n");
        return 2;
    }
    if (c.tls_client_ca && !c.tls_cert) {
        fprintf(stderr, "taas-server: --tls-client-ca needs --tls-cert and --tls-key\n");
        return 2;
    }
    if (!listen_is_loopback(c.listen) && !(c.tls_cert && c.tokens_file) && !c.insecure) {
        fprintf(stderr,
                "taas-server: refusing to listen on %s without %s%s%s.\n"
                "Anyone who reaches this address could run tasks. Give --tls-cert/--tls-key and\n"
                "--tokens-file (see SECURITY.md), listen on 127.0.0.1, or pass --insecure to\n"
                "accept the risk on a network you trust.\n",
                c.listen, c.tls_cert ? "" : "TLS", !c.tls_cert && !c.tokens_file ? " and " : "",
                c.tokens_file ? "" : "bearer tokens");
        return 2;
    }
    if (c.http && !listen_is_loopback(c.http) && !(c.tls_cert && c.tokens_file) && !c.insecure) {
        fprintf(stderr,
                "taas-server: refusing to serve HTTP on %s without TLS and bearer tokens.\n"
                "The HTTP port runs tasks like the gRPC port. Give --tls-cert/--tls-key and\n"
                "--tokens-file (see SECURITY.md), use 127.0.0.1, or pass --insecure.\n",
                c.http);
        return 2;
    }
    char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
    if (c.tls_cert) {
        tls_cert = read_pem("--tls-cert", c.tls_cert);
        tls_key = tls_cert ? read_pem("--tls-key", c.tls_key) : NULL;
        tls_ca = tls_key && c.tls_client_ca ? read_pem("--tls-client-ca", c.tls_client_ca) : NULL;
        if (!tls_cert || !tls_key || (c.tls_client_ca && !tls_ca)) {
            free(tls_cert);
            free(tls_key);
            return 1;
        }
    }
    taas_tokens *tokens = NULL;
    if (c.tokens_file) {
        char terr[600];
        tokens = taas_tokens_load(c.tokens_file, terr, sizeof terr);
        if (!tokens) {
            fprintf(stderr, "taas-server: --tokens-file: %s\n", terr);
            free(tls_cert);
            free(tls_key);
            free(tls_ca);
            return 1;
        }
    }
    raise_fd_limit();
    if (c.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.workers = n > 0 ? (int)n : 1;
    }
    taas_log_setup((taas_log_level)c.log_level, (taas_log_format)c.log_format);

    /* Before any thread exists, so that all inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char url_safe[1024];
    redact_url(c.database_url, url_safe, sizeof url_safe);
    char err[512] = "";
    taas_store_opts sto = {.allow_async_commit = c.allow_async_commit};
    taas_store *store = taas_store_open(c.database_url, &sto, err, sizeof err);
    if (!store) {
        taas_log(TAAS_LOG_ERROR, "server.store_error", "url=%s error=\"%s\"", url_safe, err);
        taas_tokens_free(tokens);
        free(tls_cert);
        free(tls_key);
        free(tls_ca);
        return 1;
    }
    taas_engine_opts eo = {
        .workers = c.workers,
        .run_workers = c.role != ROLE_API,
        .lease_ms = c.lease_ms,
        .prefetch = c.prefetch,
        .retention_s = c.retention_s,
        .node_id = c.node_id,
        .watch_interval_ms = c.watch_interval_ms,
        .watch_rate = c.watch_rate,
    };
    taas_engine *engine = taas_engine_start(store, &eo, err, sizeof err);
    if (!engine) {
        taas_log(TAAS_LOG_ERROR, "server.engine_error", "error=\"%s\"", err);
        store->close(store);
        taas_tokens_free(tokens);
        free(tls_cert);
        free(tls_key);
        free(tls_ca);
        return 1;
    }

    static const char *task_names[1024];
    size_t n_names = taas_registry_count < 1024 ? taas_registry_count : 1024;
    for (size_t i = 0; i < n_names; i++)
        task_names[i] = taas_registry[i]->name;
    taas_metrics_set_tasks(task_names, n_names);

    taas_server_global_init();
    taas_services *svc = taas_services_new(engine);
    if (svc) /* 0 = the default, -1 = no cap */
        taas_services_set_watch_limits(
            svc,
            c.max_watches_conn ? c.max_watches_conn : TAAS_DEFAULT_MAX_WATCHES_PER_CONNECTION,
            c.max_watches_principal ? c.max_watches_principal
                                    : TAAS_DEFAULT_MAX_WATCHES_PER_PRINCIPAL);
    taas_chain *chain = taas_chain_new();
    size_t n_tokens = taas_tokens_count(tokens);
    /* Order: log sees every call; role and auth refuse before any work;
     * the rate limiter then keys by principal; sizes last. */
    bool chain_ok = svc && chain && taas_chain_push(chain, taas_metrics_middleware_new()) == 0 &&
                    taas_chain_push(chain, taas_mw_log_new()) == 0 &&
                    (c.role != ROLE_WORKER || taas_chain_push(chain, taas_mw_worker_role_new()) == 0);
    if (tokens) {
        taas_tokens *t = tokens;
        tokens = NULL; /* owned by the chain (or freed) from here */
        chain_ok = chain_ok ? taas_chain_push(chain, taas_mw_auth_new(t)) == 0
                            : (taas_tokens_free(t), false);
    }
    if (!chain_ok ||
        taas_chain_push(chain, taas_mw_rate_limit_new(c.rate_limit, c.rate_limit_peer)) ||
        taas_chain_push(chain, taas_mw_size_limit_new((size_t)c.max_message_bytes))) {
        taas_log(TAAS_LOG_ERROR, "server.start_error", "error=\"out of memory\"");
        return 1;
    }
    size_t n_methods;
    const taas_method *methods = taas_services_methods(svc, &n_methods);
    taas_metrics_set_states(metrics_live, svc);
    taas_server_opts so = {
        .listen = c.listen,
        .max_message_bytes = (size_t)c.max_message_bytes,
        .tls_cert_pem = tls_cert,
        .tls_key_pem = tls_key,
        .tls_client_ca_pem = tls_ca,
        .max_concurrent_streams = c.max_streams,
        .max_metadata_bytes = c.max_metadata,
        .keepalive_time_ms = c.keepalive_ms,
        .keepalive_timeout_ms = c.keepalive_timeout_ms,
        .max_connection_idle_ms = c.idle_ms,
        .max_ping_strikes = c.ping_strikes,
        .min_ping_interval_ms = c.min_ping_ms,
        .methods = methods,
        .n_methods = n_methods,
        .dispatch = taas_chain_call,
        .done = taas_chain_done,
        .arg = chain,
    };
    /* The access log's lines (one per call) are written in batches, at most
     * 100 ms late; every other line, server.start included, at once. */
    taas_log_batching_start(LOG_BATCH_MS);
    taas_server *srv = taas_server_start(&so, err, sizeof err);
    int rc_early = 0;
    /* gRPC (and the HTTP port, below) copy the PEM text; the key is wiped
     * from this heap once both have started. */
    if (!srv) {
        if (tls_key)
            memset(tls_key, 0, strlen(tls_key));
        free(tls_cert);
        free(tls_key);
        free(tls_ca);
        taas_log(TAAS_LOG_ERROR, "server.listen_error", "listen=%s error=\"%s\"", c.listen, err);
        taas_services_drain(svc);
        taas_engine_stop(engine, 0);
        taas_metrics_set_states(NULL, NULL);
        taas_services_free(svc);
        taas_chain_free(chain);
        taas_server_global_shutdown();
        store->close(store);
        return 1;
    }
    taas_http *http = NULL;
    if (c.http) {
        taas_http_opts ho = {
            .listen = c.http,
            .tls_cert_pem = tls_cert,
            .tls_key_pem = tls_key,
            .max_body_bytes = (size_t)c.max_message_bytes,
            .auth_off = n_tokens == 0,
            .version = TAAS_VERSION,
            .methods = methods,
            .n_methods = n_methods,
            .dispatch = taas_chain_call,
            .done = taas_chain_done,
            .arg = chain,
            .ready = http_ready,
            .ready_arg = svc,
        };
        http = taas_http_start(&ho, err, sizeof err);
        if (!http) {
            taas_log(TAAS_LOG_ERROR, "server.listen_error", "http=%s error=\"%s\"", c.http, err);
            rc_early = 1;
        }
    }
    if (tls_key)
        memset(tls_key, 0, strlen(tls_key));
    free(tls_cert);
    free(tls_key);
    free(tls_ca);
    char desc[1024];
    redact_url(store->describe(store), desc, sizeof desc);
    if (!listen_is_loopback(c.listen) && !(c.tls_cert && n_tokens))
        taas_log(TAAS_LOG_WARN, "server.insecure",
                 "listen=%s tls=%s auth=%s what=exposed without TLS and tokens (--insecure)",
                 taas_server_address(srv), c.tls_cert ? "on" : "off", n_tokens ? "tokens" : "off");
    if (rc_early) {
        kill(getpid(), SIGTERM); /* stop below, in the usual order */
    } else if (http) {
        taas_log(TAAS_LOG_INFO, "server.http", "http=%s url=%s://%s/", taas_http_address(http),
                 c.tls_cert ? "https" : "http", taas_http_address(http));
    }
    if (!rc_early)
        taas_log(TAAS_LOG_INFO, "server.start",
                 "listen=%s store=%s workers=%d tasks=%zu role=%s tls=%s auth=%s version=%s%s%s",
                 taas_server_address(srv), desc, c.workers, taas_registry_count,
                 role_names[c.role], !c.tls_cert ? "off" : c.tls_client_ca ? "mutual" : "on",
                 n_tokens ? "tokens" : "off", TAAS_VERSION, http ? " http=" : "",
                 http ? taas_http_address(http) : "");

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    int64_t t0 = taas_mono_ms();
    taas_log(TAAS_LOG_INFO, "server.stopping", "signal=%s grace_ms=%d",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", c.shutdown_grace_ms);

    taas_services_set_serving(svc, false);
    taas_server_stop_accepting(srv);
    if (http)
        taas_http_stop_accepting(http);
    taas_services_drain(svc);
    /* > 0: bodies that ignored cancellation still run; the engine and its
     * writer stay alive, so the store must stay open and the process exits. */
    int stuck = taas_engine_stop(engine, c.shutdown_grace_ms);
    int rc = stuck > 0 || rc_early ? 1 : 0;
    /* Every answer the engine owed has been given: the HTTP connections
     * can close. */
    taas_http_stop(http);
    if (taas_server_shutdown(srv, SERVER_STOP_TIMEOUT_MS) != 0) {
        rc = 1; /* calls still held: leave the server and what it uses allocated */
    } else {
        taas_metrics_set_states(NULL, NULL);
        taas_services_free(svc);
        taas_chain_free(chain);
        taas_server_global_shutdown();
    }
    if (stuck <= 0)
        store->close(store);
    taas_log_batching_stop();
    taas_log(TAAS_LOG_INFO, "server.stop", "status=%s took_ms=%lld",
             stuck > 0 ? "bodies_still_running" : rc ? "timeout" : "clean",
             (long long)(taas_mono_ms() - t0));
    return rc;
}
