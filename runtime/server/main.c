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
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "middleware/middleware.h"
#include "server/server.h"
#include "services/services.h"
#include "store/store.h"
#include "taas/registry.h"
#include "util/log.h"

#ifndef TAAS_VERSION
#define TAAS_VERSION "0.0.0"
#endif

#define SERVER_STOP_TIMEOUT_MS 10000

struct config {
    const char *listen;
    const char *database_url;
    int workers;
    int log_level;
    int log_format;
    long long max_message_bytes;
    double rate_limit;
    double rate_limit_peer;
    int shutdown_grace_ms;
};

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
            "  --database-url URL        DATABASE_URL          sqlite:///relative.db, sqlite:////abs.db,\n"
            "                                                  postgresql://user:pass@host:5432/db\n"
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
       OPT_RATE_PEER, OPT_GRACE };

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
        c->listen = v;
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
        {"TAAS_WORKERS", OPT_WORKERS},         {"TAAS_LOG_LEVEL", OPT_LEVEL},
        {"TAAS_LOG_FORMAT", OPT_FORMAT},       {"TAAS_MAX_MESSAGE_BYTES", OPT_MAXMSG},
        {"TAAS_RATE_LIMIT", OPT_RATE},         {"TAAS_RATE_LIMIT_PEER", OPT_RATE_PEER},
        {"TAAS_SHUTDOWN_GRACE_MS", OPT_GRACE},
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
        {"database-url", required_argument, NULL, OPT_DB},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"log-format", required_argument, NULL, OPT_FORMAT},
        {"max-message-bytes", required_argument, NULL, OPT_MAXMSG},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"rate-limit-peer", required_argument, NULL, OPT_RATE_PEER},
        {"shutdown-grace-ms", required_argument, NULL, OPT_GRACE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
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
    taas_store *store = taas_store_open(c.database_url, NULL, err, sizeof err);
    if (!store) {
        taas_log(TAAS_LOG_ERROR, "server.store_error", "url=%s error=\"%s\"", url_safe, err);
        return 1;
    }
    taas_engine_opts eo = {.workers = c.workers, .run_workers = true};
    taas_engine *engine = taas_engine_start(store, &eo, err, sizeof err);
    if (!engine) {
        taas_log(TAAS_LOG_ERROR, "server.engine_error", "error=\"%s\"", err);
        store->close(store);
        return 1;
    }

    taas_server_global_init();
    taas_services *svc = taas_services_new(engine);
    taas_chain *chain = taas_chain_new();
    if (!svc || !chain || taas_chain_push(chain, taas_mw_log_new()) ||
        taas_chain_push(chain, taas_mw_rate_limit_new(c.rate_limit, c.rate_limit_peer)) ||
        taas_chain_push(chain, taas_mw_size_limit_new((size_t)c.max_message_bytes))) {
        taas_log(TAAS_LOG_ERROR, "server.start_error", "error=\"out of memory\"");
        return 1;
    }
    size_t n_methods;
    const taas_method *methods = taas_services_methods(svc, &n_methods);
    taas_server_opts so = {
        .listen = c.listen,
        .max_message_bytes = (size_t)c.max_message_bytes,
        .methods = methods,
        .n_methods = n_methods,
        .dispatch = taas_chain_call,
        .done = taas_chain_done,
        .arg = chain,
    };
    taas_server *srv = taas_server_start(&so, err, sizeof err);
    if (!srv) {
        taas_log(TAAS_LOG_ERROR, "server.listen_error", "listen=%s error=\"%s\"", c.listen, err);
        taas_services_drain(svc);
        taas_engine_stop(engine, 0);
        taas_services_free(svc);
        taas_chain_free(chain);
        taas_server_global_shutdown();
        store->close(store);
        return 1;
    }
    char desc[1024];
    redact_url(store->describe(store), desc, sizeof desc);
    taas_log(TAAS_LOG_INFO, "server.start", "listen=%s store=%s workers=%d tasks=%zu version=%s",
             taas_server_address(srv), desc, c.workers, taas_registry_count, TAAS_VERSION);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    int64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    taas_log(TAAS_LOG_INFO, "server.stopping", "signal=%s grace_ms=%d",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", c.shutdown_grace_ms);

    taas_services_set_serving(svc, false);
    taas_server_stop_accepting(srv);
    taas_services_drain(svc);
    /* > 0: bodies that ignored cancellation still run; the engine and its
     * writer stay alive, so the store must stay open and the process exits. */
    int stuck = taas_engine_stop(engine, c.shutdown_grace_ms);
    int rc = stuck > 0 ? 1 : 0;
    if (taas_server_shutdown(srv, SERVER_STOP_TIMEOUT_MS) != 0) {
        rc = 1; /* calls still held: leave the server and what it uses allocated */
    } else {
        taas_services_free(svc);
        taas_chain_free(chain);
        taas_server_global_shutdown();
    }
    if (stuck <= 0)
        store->close(store);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    taas_log(TAAS_LOG_INFO, "server.stop", "status=%s took_ms=%lld",
             stuck > 0 ? "bodies_still_running" : rc ? "timeout" : "clean",
             (long long)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0));
    return rc;
}
