/*
 * client/cli/main.c - `taas`, the command-line client of a TaaS server.
 *
 * Design. Arguments are read in one pass: global options (--server, --json,
 * --deadline, the TLS and token options, --help) are accepted anywhere, before or after the command;
 * every other option is looked up in one table that says which commands
 * accept it, so an option given to the wrong command is a usage error rather
 * than silently ignored. Each command makes its calls through libtaas-client
 * and prints either for people (short, aligned; a live progress bar when
 * stdout is a terminal) or, with --json, exactly one JSON document on stdout.
 * Errors go to stderr (as a JSON document with --json). The exit status is
 * the contract scripts rely on; it is listed in usage() and docs/cli.md.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "mcp.h"
#include "taas/client.h"

enum exit_code {
    EXIT_OK = 0,             /* success; a waited-for task SUCCEEDED; SERVING */
    EXIT_TASK_FAILED = 1,    /* the task FAILED; health is not SERVING */
    EXIT_USAGE = 2,
    EXIT_TASK_CANCELLED = 3,
    EXIT_NOT_FOUND = 4,
    EXIT_INVALID = 5,        /* INVALID_ARGUMENT: bad inputs or request */
    EXIT_UNAVAILABLE = 6,    /* the server cannot be reached */
    EXIT_RPC = 7,            /* any other error from the server or the call */
    EXIT_INTERRUPTED = 130   /* stopped by SIGINT / SIGTERM */
};

enum command {
    CMD_NONE, CMD_TASKS, CMD_DESCRIBE, CMD_SUBMIT, CMD_GET, CMD_LIST, CMD_WATCH, CMD_CANCEL,
    CMD_SCHEDULE, CMD_HEALTH, CMD_MCP, CMD_HELP, CMD_COUNT
};

#define BIT(c) (1u << (c))
#define ALL_CMDS 0xffffu

static const struct command_def {
    const char *name;
    int min_args, max_args;
    const char *synopsis;
    const char *help;
} commands[CMD_COUNT] = {
    [CMD_TASKS] = { "tasks", 0, 0, "taas tasks",
        "List the task types the server runs: name, version, description." },
    [CMD_DESCRIBE] = { "describe", 1, 1, "taas describe NAME",
        "Show one task type: version, description, retries, timeout and its input\n"
        "and output JSON Schemas." },
    [CMD_SUBMIT] = { "submit", 1, 1,
        "taas submit NAME [--input JSON|@FILE|@-] [--key K] [--priority N]\n"
        "                 [--run-after MS] [--timeout S] [--wait | --watch]",
        "Submit a task and print its id. --input takes the inputs as JSON text, @FILE\n"
        "reads them from a file and @- from standard input (default {}).\n"
        "  --key K          idempotency key: a repeated submit with the same key and\n"
        "                   inputs returns the first task instead of a new one\n"
        "  --priority N     higher runs first (default 0)\n"
        "  --run-after MS   do not start before MS milliseconds from now\n"
        "  --timeout S      execution deadline in seconds (default: the task type's)\n"
        "  --wait           wait for the task to end; print its result\n"
        "  --watch          like --wait, showing progress while it runs\n"
        "With --wait or --watch the exit status follows the task's final state." },
    [CMD_GET] = { "get", 1, 1, "taas get ID",
        "Show one task: state, progress, inputs, output or error, attempts." },
    [CMD_LIST] = { "list", 0, 0,
        "taas list [--state S] [--name N] [--parent ID] [--limit N] [--page-token T]",
        "List tasks, newest first, one page at a time.\n"
        "  --state S        PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED\n"
        "  --name N         only tasks of this type\n"
        "  --parent ID      only the child tasks that task ID submitted\n"
        "  --limit N        page size, 1 to 1000 (default 50)\n"
        "  --page-token T   the token printed after the previous page" },
    [CMD_WATCH] = { "watch", 1, 1, "taas watch ID",
        "Follow a task until it ends: a progress bar on a terminal, one line per\n"
        "change (\"RUNNING 50% Processing...\") otherwise; then its result.\n"
        "The exit status follows the task's final state." },
    [CMD_CANCEL] = { "cancel", 1, 1, "taas cancel ID",
        "Cancel a pending task, or ask a running one to stop. Prints the state\n"
        "after the request: CANCELLED, RUNNING (stopping) or the final state of a\n"
        "task that had already ended." },
    [CMD_SCHEDULE] = { "schedule", 1, 2,
        "taas schedule create TASK (--cron EXPR [--tz ZONE] | --every DUR) [OPTIONS]\n"
        "  taas schedule list [--limit N] [--page-token T]\n"
        "  taas schedule get|pause|resume|delete ID",
        "Submit a task on a timetable: a 5-field cron expression read in a time zone\n"
        "(--cron '0 3 * * *' --tz Europe/Paris; default UTC) or a fixed interval\n"
        "(--every 30s; units ms, s, m, h; a bare number is seconds). Options of create:\n"
        "  --name N         a label shown by list\n"
        "  --input JSON     inputs of each task (JSON text, @FILE or @-; default {})\n"
        "  --priority N     priority of each task (default 0)\n"
        "  --timeout S      execution deadline of each task in seconds\n"
        "  --catch-up P     after downtime: skip (missed times are dropped; the\n"
        "                   default), once (one submit for all of them) or all (one\n"
        "                   per missed time, at most --max-catch-up N, default 10)\n"
        "  --overlap P      allow (default) or skip (no submit while the previous task\n"
        "                   has not ended)\n"
        "  --paused         create it paused ('taas schedule resume ID' starts it)\n"
        "list shows each schedule's next fire times; get shows one schedule; pause\n"
        "stops its submits until resume; delete removes it (its tasks stay)." },
    [CMD_HEALTH] = { "health", 0, 1, "taas health [SERVICE]",
        "Ask the server's health service (grpc.health.v1) about the whole server or\n"
        "one service (taas.v1.TaskService, taas.v1.RegistryService).\n"
        "Exit status 0 when SERVING, 1 otherwise." },
    [CMD_MCP] = { "mcp", 0, 0, "taas mcp",
        "Serve the Model Context Protocol on stdin/stdout (for MCP clients such as\n"
        "assistants): every task type is a tool; a call submits the task, reports\n"
        "its progress and returns its output. See docs/llm-agent.md." },
    [CMD_HELP] = { "help", 0, 1, "taas help [COMMAND]", "Show help." },
};

enum opt_id {
    OPT_SERVER, OPT_JSON, OPT_DEADLINE, OPT_HELP, OPT_INPUT, OPT_WAIT, OPT_WATCH, OPT_KEY,
    OPT_PRIORITY, OPT_RUN_AFTER, OPT_TIMEOUT, OPT_STATE, OPT_NAME, OPT_LIMIT, OPT_PAGE_TOKEN,
    OPT_TLS, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TOKEN, OPT_TOKEN_FILE, OPT_PARENT,
    OPT_CRON, OPT_TZ, OPT_EVERY, OPT_CATCH_UP, OPT_MAX_CATCH_UP, OPT_OVERLAP, OPT_PAUSED,
    OPT_COUNT
};

static const struct opt_def {
    const char *name;
    bool takes_value;
    unsigned cmds;
} options[OPT_COUNT] = {
    [OPT_SERVER] = { "server", true, ALL_CMDS },
    [OPT_JSON] = { "json", false, ALL_CMDS },
    [OPT_DEADLINE] = { "deadline", true, ALL_CMDS },
    [OPT_HELP] = { "help", false, ALL_CMDS },
    [OPT_INPUT] = { "input", true, BIT(CMD_SUBMIT) | BIT(CMD_SCHEDULE) },
    [OPT_WAIT] = { "wait", false, BIT(CMD_SUBMIT) },
    [OPT_WATCH] = { "watch", false, BIT(CMD_SUBMIT) },
    [OPT_KEY] = { "key", true, BIT(CMD_SUBMIT) },
    [OPT_PRIORITY] = { "priority", true, BIT(CMD_SUBMIT) | BIT(CMD_SCHEDULE) },
    [OPT_RUN_AFTER] = { "run-after", true, BIT(CMD_SUBMIT) },
    [OPT_TIMEOUT] = { "timeout", true, BIT(CMD_SUBMIT) | BIT(CMD_SCHEDULE) },
    [OPT_STATE] = { "state", true, BIT(CMD_LIST) },
    [OPT_NAME] = { "name", true, BIT(CMD_LIST) | BIT(CMD_SCHEDULE) },
    [OPT_LIMIT] = { "limit", true, BIT(CMD_LIST) | BIT(CMD_SCHEDULE) },
    [OPT_PAGE_TOKEN] = { "page-token", true, BIT(CMD_LIST) | BIT(CMD_SCHEDULE) },
    [OPT_TLS] = { "tls", false, ALL_CMDS },
    [OPT_TLS_CA] = { "tls-ca", true, ALL_CMDS },
    [OPT_TLS_CERT] = { "tls-cert", true, ALL_CMDS },
    [OPT_TLS_KEY] = { "tls-key", true, ALL_CMDS },
    [OPT_TOKEN] = { "token", true, ALL_CMDS },
    [OPT_TOKEN_FILE] = { "token-file", true, ALL_CMDS },
    [OPT_CRON] = { "cron", true, BIT(CMD_SCHEDULE) },
    [OPT_TZ] = { "tz", true, BIT(CMD_SCHEDULE) },
    [OPT_EVERY] = { "every", true, BIT(CMD_SCHEDULE) },
    [OPT_CATCH_UP] = { "catch-up", true, BIT(CMD_SCHEDULE) },
    [OPT_MAX_CATCH_UP] = { "max-catch-up", true, BIT(CMD_SCHEDULE) },
    [OPT_OVERLAP] = { "overlap", true, BIT(CMD_SCHEDULE) },
    [OPT_PAUSED] = { "paused", false, BIT(CMD_SCHEDULE) },
    [OPT_PARENT] = { "parent", true, BIT(CMD_LIST) },
};

typedef struct cli {
    enum command cmd;
    const char *args[2];
    int nargs;
    bool seen[OPT_COUNT];
    const char *value[OPT_COUNT];
    bool json;
    taas_client *client;
    taas_call_options call;
} cli;

static const char *prog = "taas";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: taas [--server ADDR] [--json] [--deadline S] COMMAND [ARGS] [OPTIONS]\n"
        "\n"
        "Commands:\n");
    for (int c = CMD_TASKS; c < CMD_COUNT; c++)
        fprintf(f, "  %s\n", commands[c].synopsis);
    fprintf(f,
        "\n"
        "Options, before or after the command:\n"
        "  --server ADDR    server address, host:port (default $TAAS_SERVER, else\n"
        "                   " TAAS_CLIENT_DEFAULT_ADDRESS ")\n"
        "  --json           print one JSON document (errors as JSON on stderr)\n"
        "  --deadline S     deadline of each call in seconds (default 30; watching\n"
        "                   has none unless given)\n"
        "  --help, -h       help; `taas COMMAND --help` for one command\n"
        "\n"
        "Security options (a flag wins over its variable):\n"
        "  --tls            use TLS, trusting the system's CA roots ($TAAS_TLS=1)\n"
        "  --tls-ca FILE    use TLS, trusting the CAs in this PEM file ($TAAS_TLS_CA)\n"
        "  --tls-cert FILE  client certificate for mutual TLS ($TAAS_TLS_CLIENT_CERT)\n"
        "  --tls-key FILE   its private key ($TAAS_TLS_CLIENT_KEY)\n"
        "  --token T        bearer token sent with every call ($TAAS_TOKEN); prefer the\n"
        "                   variable or --token-file: arguments are visible to other users\n"
        "  --token-file F   read the token from a file, '-' for stdin ($TAAS_TOKEN_FILE)\n"
        "\n"
        "Exit status:\n"
        "  0  success; with --wait/--watch/watch: the task SUCCEEDED\n"
        "  1  the task FAILED; for health: the server is not SERVING\n"
        "  2  usage error\n"
        "  3  the task was CANCELLED\n"
        "  4  not found: unknown task id, task type or schedule id\n"
        "  5  invalid argument: the server refused the inputs or request\n"
        "  6  server unavailable\n"
        "  7  any other error\n"
        "  130 interrupted\n");
}

/* "taas: <what> '<arg>'" and a pointer to the help. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s'\n(see '%s --help')\n", prog, what, arg, prog);
    return EXIT_USAGE;
}

static int parse_args(cli *c, int argc, char **argv)
{
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (!only_args && (strcmp(a, "-h") == 0 || (a[0] == '-' && a[1] == '-'))) {
            const char *name = strcmp(a, "-h") == 0 ? "help" : a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int id = -1;
            for (int o = 0; o < OPT_COUNT; o++) {
                if (strlen(options[o].name) == len && strncmp(options[o].name, name, len) == 0)
                    id = o;
            }
            if (id < 0)
                return usage_error("unknown option", a);
            if (options[id].takes_value) {
                if (eq)
                    c->value[id] = eq + 1;
                else if (i + 1 < argc)
                    c->value[id] = argv[++i];
                else
                    return usage_error("a value is needed after", a);
            } else if (eq) {
                return usage_error("no value is taken by", a);
            }
            c->seen[id] = true;
            continue;
        }
        if (!only_args && a[0] == '-' && a[1] != '\0')
            return usage_error("unknown option", a);
        if (c->cmd == CMD_NONE) {
            for (int k = CMD_TASKS; k < CMD_COUNT; k++)
                if (strcmp(a, commands[k].name) == 0)
                    c->cmd = (enum command)k;
            if (c->cmd == CMD_NONE)
                return usage_error("unknown command", a);
            continue;
        }
        if (c->nargs >= 2)
            return usage_error("unexpected argument", a);
        c->args[c->nargs++] = a;
    }
    c->json = c->seen[OPT_JSON];
    return 0;
}

static void command_help(FILE *f, enum command cmd)
{
    fprintf(f, "usage: %s\n\n%s\n\nGlobal options: --server ADDR, --json, --deadline S, --tls, "
               "--tls-ca FILE,\n--tls-cert FILE, --tls-key FILE, --token T, --token-file F "
               "(see 'taas --help').\n", commands[cmd].synopsis, commands[cmd].help);
}

/* ------------------------------------------------------------------------ */
/* Numbers, files, times */

static int parse_int(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: --%s: expected an integer from %lld to %lld, got '%s'\n", prog, opt,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* An option that takes one of a few words: a table of the words and the
 * values they stand for, ended by a NULL word. */
typedef struct {
    const char *word;
    long long value;
} word_value;

static const word_value catch_up_words[] = {
    { "skip", TAAS_CLIENT_CATCH_UP_SKIP },
    { "once", TAAS_CLIENT_CATCH_UP_RUN_ONCE },
    { "all", TAAS_CLIENT_CATCH_UP_RUN_ALL },
    { NULL, 0 },
};

static const word_value overlap_words[] = {
    { "allow", TAAS_CLIENT_OVERLAP_ALLOW },
    { "skip", TAAS_CLIENT_OVERLAP_SKIP },
    { NULL, 0 },
};

/* The value of word `s` in `table`; otherwise an error that lists the
 * words ("expected skip, once or all, got 'x'"). */
static int parse_word(const char *opt, const char *s, const word_value *table, long long *out)
{
    size_t n = 0;
    for (; table[n].word; n++) {
        if (strcmp(s, table[n].word) == 0) {
            *out = table[n].value;
            return 0;
        }
    }
    fprintf(stderr, "%s: --%s: expected ", prog, opt);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", table[i].word);
    fprintf(stderr, ", got '%s'\n", s);
    return -1;
}

/* Reads a whole file ("-" = stdin), capped at 64 MiB. */
static char *read_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap >= (64u << 20)) {
                fprintf(stderr, "%s: '%s' is larger than 64 MiB\n", prog, path);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (buf)
        buf[len] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "2024-05-01 12:00:00.123Z", or "-" for 0. */
static const char *fmt_time(char *buf, size_t cap, int64_t ms)
{
    if (ms <= 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03dZ", date, (int)(ms % 1000));
    return buf;
}

static int percent(double progress)
{
    if (!(progress > 0))
        return 0;
    if (progress >= 1)
        return 100;
    return (int)(progress * 100 + 0.5);
}

/* ------------------------------------------------------------------------ */
/* TLS and tokens */

struct security {
    char *ca, *cert, *key, *token;
};

/* A flag's value, else the environment variable's, else NULL. */
static const char *flag_or_env(const cli *c, int opt, const char *env)
{
    if (c->seen[opt])
        return c->value[opt];
    const char *v = getenv(env);
    return v && v[0] ? v : NULL;
}

static void security_clear(struct security *s)
{
    if (s->key)
        memset(s->key, 0, strlen(s->key));
    if (s->token)
        memset(s->token, 0, strlen(s->token));
    free(s->ca);
    free(s->cert);
    free(s->key);
    free(s->token);
    memset(s, 0, sizeof *s);
}

/* Fill the TLS and token fields of opts from flags and environment. */
static int load_security(const cli *c, struct security *s, taas_client_options *opts)
{
    memset(s, 0, sizeof *s);
    const char *ca = flag_or_env(c, OPT_TLS_CA, "TAAS_TLS_CA");
    const char *cert = flag_or_env(c, OPT_TLS_CERT, "TAAS_TLS_CLIENT_CERT");
    const char *key = flag_or_env(c, OPT_TLS_KEY, "TAAS_TLS_CLIENT_KEY");
    const char *tls_env = getenv("TAAS_TLS");
    bool tls = c->seen[OPT_TLS] || ca || cert ||
               (tls_env && (strcmp(tls_env, "1") == 0 || strcmp(tls_env, "true") == 0));
    if (!cert != !key) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", prog);
        return EXIT_USAGE;
    }
    if ((ca && !(s->ca = read_file(ca))) || (cert && !(s->cert = read_file(cert))) ||
        (key && !(s->key = read_file(key)))) {
        security_clear(s);
        return EXIT_USAGE;
    }
    const char *token = c->seen[OPT_TOKEN] ? c->value[OPT_TOKEN] : NULL;
    const char *token_file = c->seen[OPT_TOKEN_FILE] ? c->value[OPT_TOKEN_FILE] : NULL;
    if (c->seen[OPT_TOKEN] && c->seen[OPT_TOKEN_FILE]) {
        fprintf(stderr, "%s: give --token or --token-file, not both\n", prog);
        security_clear(s);
        return EXIT_USAGE;
    }
    if (!token && !token_file) {
        token = getenv("TAAS_TOKEN");
        if (!token || !token[0]) {
            token = NULL;
            token_file = getenv("TAAS_TOKEN_FILE");
            if (token_file && !token_file[0])
                token_file = NULL;
        }
    }
    if (token_file) {
        if (!(s->token = read_file(token_file))) {
            security_clear(s);
            return EXIT_USAGE;
        }
        size_t n = strlen(s->token);
        while (n && (s->token[n - 1] == '\n' || s->token[n - 1] == '\r' ||
                     s->token[n - 1] == ' '))
            s->token[--n] = '\0';
        if (!n || strpbrk(s->token, "\r\n")) {
            fprintf(stderr, "%s: %s: expected one token on one line\n", prog, token_file);
            security_clear(s);
            return EXIT_USAGE;
        }
    } else if (token) {
        if (!(s->token = strdup(token))) {
            security_clear(s);
            return EXIT_RPC;
        }
    }
    opts->use_tls = tls;
    opts->tls_ca_pem = s->ca;
    opts->tls_cert_pem = s->cert;
    opts->tls_key_pem = s->key;
    opts->bearer_token = s->token;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Errors and exit codes */

static int exit_for(int code)
{
    switch (code) {
    case TAAS_CLIENT_OK: return EXIT_OK;
    case TAAS_CLIENT_NOT_FOUND: return EXIT_NOT_FOUND;
    case TAAS_CLIENT_INVALID_ARGUMENT: return EXIT_INVALID;
    case TAAS_CLIENT_UNAVAILABLE: return EXIT_UNAVAILABLE;
    default: return EXIT_RPC;
    }
}

static volatile sig_atomic_t interrupted;
static taas_client *signal_client;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (signal_client)
        taas_client_interrupt(signal_client);
}

static int report(const cli *c, const taas_client_error *err)
{
    if (interrupted && err->code == TAAS_CLIENT_CANCELLED) {
        if (c->json)
            fputs("{\"error\":{\"code\":\"CANCELLED\",\"message\":\"interrupted\"}}\n", stderr);
        else
            fprintf(stderr, "%s: interrupted\n", prog);
        return EXIT_INTERRUPTED;
    }
    /* Every bad value the server listed (a refused submit), not only the
     * first one the message names. */
    taas_client_violation v[16];
    size_t nv = taas_client_last_violations(v, 16);
    if (nv > 16)
        nv = 16;
    if (c->json) {
        fputs("{\"error\":{\"code\":", stderr);
        json_str(stderr, taas_client_code_name(err->code));
        fputs(",\"message\":", stderr);
        json_str(stderr, err->message);
        if (nv) {
            fputs(",\"violations\":[", stderr);
            for (size_t i = 0; i < nv; i++) {
                fputs(i ? ",{\"field\":" : "{\"field\":", stderr);
                json_str(stderr, v[i].field);
                fputs(",\"description\":", stderr);
                json_str(stderr, v[i].description);
                fputs("}", stderr);
            }
            fputs("]", stderr);
        }
        fputs("}}\n", stderr);
    } else {
        fprintf(stderr, "%s: %s: %s\n", prog, taas_client_code_name(err->code), err->message);
        for (size_t i = 0; nv > 1 && i < nv; i++)
            fprintf(stderr, "%s:   %s: %s\n", prog, v[i].field[0] ? v[i].field : "(inputs)",
                    v[i].description);
        if (err->code == TAAS_CLIENT_UNAVAILABLE)
            fprintf(stderr, "%s: is a server running at %s? (--server ADDR or TAAS_SERVER; "
                            "--tls-ca FILE if it uses TLS)\n",
                    prog, taas_client_address(c->client));
        else if (err->code == TAAS_CLIENT_UNAUTHENTICATED)
            fprintf(stderr, "%s: the server wants a bearer token (--token-file F or TAAS_TOKEN)\n",
                    prog);
    }
    return exit_for(err->code);
}

static int exit_for_state(taas_client_state st)
{
    switch (st) {
    case TAAS_CLIENT_STATE_SUCCEEDED: return EXIT_OK;
    case TAAS_CLIENT_STATE_FAILED: return EXIT_TASK_FAILED;
    case TAAS_CLIENT_STATE_CANCELLED: return EXIT_TASK_CANCELLED;
    default: return EXIT_RPC;
    }
}

/* ------------------------------------------------------------------------ */
/* JSON documents */

static void kv_str(FILE *f, const char *key, const char *v, bool comma)
{
    json_str(f, key);
    fputc(':', f);
    json_str(f, v);
    if (comma)
        fputc(',', f);
}

static void kv_int(FILE *f, const char *key, long long v, bool comma)
{
    json_str(f, key);
    fprintf(f, ":%lld%s", v, comma ? "," : "");
}

static void task_json(FILE *f, const taas_client_task *t)
{
    fputc('{', f);
    kv_str(f, "id", t->id, true);
    kv_str(f, "task_name", t->task_name, true);
    kv_str(f, "state", taas_client_state_name(t->state), true);
    fputs("\"inputs\":", f);
    json_embed(f, t->inputs_json);
    fputs(",\"output\":", f);
    json_embed(f, t->output_json);
    fputc(',', f);
    kv_str(f, "error", t->error, true);
    fprintf(f, "\"progress\":%.17g,", t->progress);
    kv_str(f, "progress_message", t->progress_message, true);
    kv_int(f, "attempt", t->attempt, true);
    kv_int(f, "max_attempts", t->max_attempts, true);
    kv_int(f, "priority", t->priority, true);
    kv_int(f, "created_at_ms", t->created_at_ms, true);
    kv_int(f, "updated_at_ms", t->updated_at_ms, true);
    kv_int(f, "run_after_ms", t->run_after_ms, true);
    kv_int(f, "started_at_ms", t->started_at_ms, true);
    kv_int(f, "finished_at_ms", t->finished_at_ms, true);
    kv_str(f, "idempotency_key", t->idempotency_key, true);
    kv_str(f, "parent_id", taas_client_task_parent_id(t), true);
    fprintf(f, "\"cancel_requested\":%s,\"attempts\":[", t->cancel_requested ? "true" : "false");
    for (size_t i = 0; i < t->n_attempts; i++) {
        fprintf(f, "%s{", i ? "," : "");
        kv_int(f, "number", t->attempts[i].number, true);
        kv_str(f, "error", t->attempts[i].error, true);
        kv_int(f, "finished_at_ms", t->attempts[i].finished_at_ms, false);
        fputc('}', f);
    }
    fputs("]}", f);
}

static void type_json(FILE *f, const taas_client_task_type *t)
{
    fputc('{', f);
    kv_str(f, "name", t->name, true);
    kv_str(f, "version", t->version, true);
    kv_str(f, "description", t->description, true);
    fputs("\"input_schema\":", f);
    json_embed(f, t->input_schema_json);
    fputs(",\"output_schema\":", f);
    json_embed(f, t->output_schema_json);
    fprintf(f, ",\"idempotent\":%s,", t->idempotent ? "true" : "false");
    kv_int(f, "retries", t->retries, true);
    kv_int(f, "timeout_s", t->timeout_s, false);
    fputc('}', f);
}

/* ------------------------------------------------------------------------ */
/* Human output */

/* Prints JSON text indented under a label, or as it is when it is not JSON. */
static void print_json_block(const char *text)
{
    if (json_valid(text)) {
        fputs("  ", stdout);
        json_emit(stdout, text, JSON_PRETTY, 1);
        fputc('\n', stdout);
    } else {
        printf("  %s\n", text);
    }
}

/* The result line(s) of a finished task. */
static void print_outcome(const taas_client_task *t)
{
    switch (t->state) {
    case TAAS_CLIENT_STATE_SUCCEEDED:
        printf("SUCCEEDED\n");
        if (t->output_json[0]) {
            if (json_valid(t->output_json))
                json_emit(stdout, t->output_json, JSON_COMPACT, 0);
            else
                fputs(t->output_json, stdout);
            fputc('\n', stdout);
        }
        break;
    case TAAS_CLIENT_STATE_FAILED:
        printf("FAILED: %s\n", t->error[0] ? t->error : "(no reason given)");
        break;
    case TAAS_CLIENT_STATE_CANCELLED:
        if (t->error[0])
            printf("CANCELLED: %s\n", t->error);
        else
            printf("CANCELLED\n");
        break;
    default:
        printf("%s\n", taas_client_state_name(t->state));
    }
}

static void print_task(const taas_client_task *t)
{
    char b[64];
    printf("id:          %s\n", t->id);
    printf("task:        %s\n", t->task_name);
    printf("state:       %s%s\n", taas_client_state_name(t->state),
           t->cancel_requested && !taas_client_state_is_final(t->state) ? " (cancel requested)" : "");
    printf("progress:    %d%%%s%s\n", percent(t->progress), t->progress_message[0] ? " " : "",
           t->progress_message);
    printf("attempt:     %d of %d\n", t->attempt, t->max_attempts);
    printf("priority:    %d\n", t->priority);
    if (t->idempotency_key[0])
        printf("key:         %s\n", t->idempotency_key);
    if (taas_client_task_parent_id(t)[0])
        printf("parent:      %s\n", taas_client_task_parent_id(t));
    printf("created:     %s\n", fmt_time(b, sizeof b, t->created_at_ms));
    if (t->run_after_ms)
        printf("run after:   %s\n", fmt_time(b, sizeof b, t->run_after_ms));
    printf("started:     %s\n", fmt_time(b, sizeof b, t->started_at_ms));
    printf("finished:    %s\n", fmt_time(b, sizeof b, t->finished_at_ms));
    if (t->inputs_json[0]) {
        printf("inputs:      ");
        json_embed(stdout, t->inputs_json);
        fputc('\n', stdout);
    }
    if (t->output_json[0]) {
        printf("output:      ");
        json_embed(stdout, t->output_json);
        fputc('\n', stdout);
    }
    if (t->error[0])
        printf("error:       %s\n", t->error);
    for (size_t i = 0; i < t->n_attempts; i++)
        printf("attempt %d:   %s at %s\n", t->attempts[i].number,
               t->attempts[i].error[0] ? t->attempts[i].error : "ok",
               fmt_time(b, sizeof b, t->attempts[i].finished_at_ms));
}

/* ------------------------------------------------------------------------ */
/* Watching */

typedef struct watch_view {
    bool json;
    bool tty;
    bool bar_drawn;
    char last[512];
    FILE *events;                 /* --json: the events array being built */
    size_t n_events;
} watch_view;

static void draw_bar(watch_view *v, const taas_client_event *e)
{
    enum { WIDTH = 30 };
    int pct = percent(e->progress);
    int fill = pct * WIDTH / 100;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[WIDTH] = '\0';
    /* \r and erase-line redraw in place; the message is cut to keep one line. */
    printf("\r\033[K[%s] %3d%% %-9s %.60s", bar, pct, taas_client_state_name(e->state),
           e->progress_message);
    fflush(stdout);
    v->bar_drawn = true;
}

static int on_event(const taas_client_event *e, void *payload)
{
    watch_view *v = payload;
    if (v->json) {
        FILE *f = v->events;
        if (v->n_events++)
            fputc(',', f);
        fputc('{', f);
        kv_int(f, "seq", e->seq, true);
        kv_str(f, "state", taas_client_state_name(e->state), true);
        fprintf(f, "\"progress\":%.17g,", e->progress);
        kv_str(f, "progress_message", e->progress_message, true);
        kv_int(f, "at_ms", e->at_ms, false);
        fputc('}', f);
        return 0;
    }
    if (taas_client_state_is_final(e->state)) {
        if (v->bar_drawn) {
            if (e->state == TAAS_CLIENT_STATE_SUCCEEDED) {
                taas_client_event done = *e;
                done.progress = 1.0;
                draw_bar(v, &done);
            }
            fputc('\n', stdout);
        }
        return 0;
    }
    if (v->tty) {
        draw_bar(v, e);
        return 0;
    }
    char line[sizeof v->last];
    snprintf(line, sizeof line, "%s %d%%%s%s", taas_client_state_name(e->state),
             percent(e->progress), e->progress_message[0] ? " " : "", e->progress_message);
    if (strcmp(line, v->last) != 0) {
        printf("%s\n", line);
        fflush(stdout);
        snprintf(v->last, sizeof v->last, "%s", line);
    }
    return 0;
}

/*
 * Watches `id` to its end. Human output: progress (when show_progress), then
 * the outcome. JSON: the fields "events" (when show_progress) and "task",
 * written into the document the caller has opened.
 */
static int watch_to_end(cli *c, const char *id, bool show_progress)
{
    watch_view v = { .json = c->json, .tty = isatty(STDOUT_FILENO) == 1 };
    char *events_buf = NULL;
    size_t events_len = 0;
    if (c->json) {
        v.events = open_memstream(&events_buf, &events_len);
        if (!v.events) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_RPC;
        }
    }
    taas_call_options call = c->call;
    if (!c->seen[OPT_DEADLINE])
        call.timeout_ms = -1;
    taas_client_task *final = NULL;
    taas_client_error err;
    int rc = taas_client_watch(c->client, &final, id, show_progress || c->json ? on_event : NULL,
                               &v, &call, &err);
    if (v.events)
        fclose(v.events);
    if (rc) {
        if (v.bar_drawn)
            fputc('\n', stdout);
        free(events_buf);
        return -1 - report(c, &err);
    }
    if (c->json) {
        if (show_progress)
            printf("\"events\":[%s],", events_buf ? events_buf : "");
        fputs("\"task\":", stdout);
        task_json(stdout, final);
    } else {
        print_outcome(final);
    }
    free(events_buf);
    int code = exit_for_state(final->state);
    taas_client_task_free(final);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Commands */

/* The first sentence of a description, cut to fit a table row. */
static const char *summary(char *buf, size_t cap, const char *text)
{
    const char *end = strstr(text, ". ");
    size_t n = end ? (size_t)(end - text) + 1 : strlen(text);
    if (n < cap) {
        memcpy(buf, text, n);
        buf[n] = '\0';
    } else {
        snprintf(buf, cap, "%.*s...", (int)(cap - 4), text);
    }
    return buf;
}

static int cmd_tasks(cli *c)
{
    taas_client_task_type_list *l;
    taas_client_error err;
    if (taas_client_list_task_types(c->client, &l, &c->call, &err))
        return report(c, &err);
    if (c->json) {
        fputs("{\"task_types\":[", stdout);
        for (size_t i = 0; i < l->count; i++) {
            if (i)
                fputc(',', stdout);
            type_json(stdout, &l->types[i]);
        }
        fputs("]}\n", stdout);
    } else {
        int w = 4;
        for (size_t i = 0; i < l->count; i++)
            if ((int)strlen(l->types[i].name) > w)
                w = (int)strlen(l->types[i].name);
        printf("%-*s  %-8s  %s\n", w, "NAME", "VERSION", "DESCRIPTION");
        for (size_t i = 0; i < l->count; i++) {
            char d[60];
            printf("%-*s  %-8s  %s\n", w, l->types[i].name, l->types[i].version,
                   summary(d, sizeof d, l->types[i].description));
        }
    }
    taas_client_task_type_list_free(l);
    return EXIT_OK;
}

static int cmd_describe(cli *c)
{
    taas_client_task_type *t;
    taas_client_error err;
    if (taas_client_get_task_type(c->client, &t, c->args[0], &c->call, &err))
        return report(c, &err);
    if (c->json) {
        type_json(stdout, t);
        fputc('\n', stdout);
    } else {
        printf("name:        %s\n", t->name);
        printf("version:     %s\n", t->version);
        printf("description: %s\n", t->description);
        printf("idempotent:  %s\n", t->idempotent ? "yes" : "no");
        printf("retries:     %d\n", t->retries);
        if (t->timeout_s)
            printf("timeout:     %d s\n", t->timeout_s);
        else
            printf("timeout:     server default\n");
        printf("inputs:\n");
        print_json_block(t->input_schema_json);
        printf("outputs:\n");
        print_json_block(t->output_schema_json);
    }
    taas_client_task_type_free(t);
    return EXIT_OK;
}

static int cmd_submit(cli *c)
{
    taas_client_submit_request req = { .task_name = c->args[0], .inputs_json = "{}" };
    char *owned = NULL;
    long long v;
    if (c->seen[OPT_INPUT]) {
        const char *in = c->value[OPT_INPUT];
        if (in[0] == '@') {
            owned = read_file(in + 1);
            if (!owned)
                return EXIT_USAGE;
            req.inputs_json = owned;
        } else {
            req.inputs_json = in;
        }
    }
    if (c->seen[OPT_KEY])
        req.idempotency_key = c->value[OPT_KEY];
    if (c->seen[OPT_PRIORITY]) {
        if (parse_int("priority", c->value[OPT_PRIORITY], INT32_MIN, INT32_MAX, &v))
            goto usage;
        req.priority = (int32_t)v;
    }
    if (c->seen[OPT_RUN_AFTER]) {
        if (parse_int("run-after", c->value[OPT_RUN_AFTER], 0, INT64_MAX / 4, &v))
            goto usage;
        req.run_after_ms = v ? now_ms() + v : 0;
    }
    if (c->seen[OPT_TIMEOUT]) {
        if (parse_int("timeout", c->value[OPT_TIMEOUT], 1, INT32_MAX, &v))
            goto usage;
        req.timeout_s = (int32_t)v;
    }
    if (c->seen[OPT_WAIT] && c->seen[OPT_WATCH]) {
        fprintf(stderr, "%s: submit: use --wait or --watch, not both\n", prog);
        goto usage;
    }

    taas_client_submit_result res;
    taas_client_error err;
    int rc = taas_client_submit(c->client, &res, &req, &c->call, &err);
    free(owned);
    if (rc)
        return report(c, &err);
    bool waiting = c->seen[OPT_WAIT] || c->seen[OPT_WATCH];
    if (c->json) {
        fputc('{', stdout);
        kv_str(stdout, "task_id", res.task_id, true);
        fprintf(stdout, "\"duplicate\":%s,", res.duplicate ? "true" : "false");
        kv_str(stdout, "state", taas_client_state_name(res.state), waiting);
    } else {
        printf("%s\n", res.task_id);
        if (res.duplicate)
            fprintf(stderr, "%s: duplicate: an earlier submit with key '%s' made this task\n", prog,
                    req.idempotency_key);
    }
    fflush(stdout);
    int code = EXIT_OK;
    if (waiting) {
        code = watch_to_end(c, res.task_id, c->seen[OPT_WATCH]);
        if (code < 0) {
            if (c->json)
                fputs("\"task\":null}\n", stdout);
            return -1 - code;
        }
    }
    if (c->json)
        fputs("}\n", stdout);
    return code;

usage:
    free(owned);
    return EXIT_USAGE;
}

static int cmd_get(cli *c)
{
    taas_client_task *t;
    taas_client_error err;
    if (taas_client_get(c->client, &t, c->args[0], &c->call, &err))
        return report(c, &err);
    if (c->json) {
        task_json(stdout, t);
        fputc('\n', stdout);
    } else {
        print_task(t);
    }
    taas_client_task_free(t);
    return EXIT_OK;
}

static int cmd_list(cli *c)
{
    taas_client_list_request req = { 0 };
    long long v;
    if (c->seen[OPT_STATE] && taas_client_state_parse(&req.state, c->value[OPT_STATE])) {
        fprintf(stderr, "%s: --state: expected PENDING, RUNNING, SUCCEEDED, FAILED or "
                        "CANCELLED, got '%s'\n", prog, c->value[OPT_STATE]);
        return EXIT_USAGE;
    }
    if (c->seen[OPT_NAME])
        req.task_name = c->value[OPT_NAME];
    if (c->seen[OPT_LIMIT]) {
        if (parse_int("limit", c->value[OPT_LIMIT], 1, 1000, &v))
            return EXIT_USAGE;
        req.page_size = (int32_t)v;
    }
    if (c->seen[OPT_PAGE_TOKEN])
        req.page_token = c->value[OPT_PAGE_TOKEN];
    taas_client_task_list *l;
    taas_client_error err;
    const char *parent = c->seen[OPT_PARENT] ? c->value[OPT_PARENT] : NULL;
    if (taas_client_list_children(c->client, &l, parent, &req, &c->call, &err))
        return report(c, &err);
    if (c->json) {
        fputs("{\"tasks\":[", stdout);
        for (size_t i = 0; i < l->count; i++) {
            if (i)
                fputc(',', stdout);
            task_json(stdout, &l->tasks[i]);
        }
        fputs("],", stdout);
        kv_str(stdout, "next_page_token", l->next_page_token, false);
        fputs("}\n", stdout);
    } else {
        char b[64];
        int w = 4;
        for (size_t i = 0; i < l->count; i++)
            if ((int)strlen(l->tasks[i].task_name) > w)
                w = (int)strlen(l->tasks[i].task_name);
        printf("%-36s  %-*s  %-9s  %4s  %s\n", "ID", w, "TASK", "STATE", "PROG", "CREATED");
        for (size_t i = 0; i < l->count; i++) {
            const taas_client_task *t = &l->tasks[i];
            printf("%-36s  %-*s  %-9s  %3d%%  %s\n", t->id, w, t->task_name,
                   taas_client_state_name(t->state), percent(t->progress),
                   fmt_time(b, sizeof b, t->created_at_ms));
        }
        if (l->next_page_token[0])
            printf("more: taas list%s%s --page-token %s\n", parent ? " --parent " : "",
                   parent ? parent : "", l->next_page_token);
    }
    taas_client_task_list_free(l);
    return EXIT_OK;
}

static int cmd_watch(cli *c)
{
    if (c->json)
        fputc('{', stdout);
    int code = watch_to_end(c, c->args[0], true);
    if (code < 0) {
        if (c->json)
            fputs("\"task\":null}\n", stdout);
        return -1 - code;
    }
    if (c->json)
        fputs("}\n", stdout);
    return code;
}

static int cmd_cancel(cli *c)
{
    taas_client_state st;
    taas_client_error err;
    if (taas_client_cancel(c->client, &st, c->args[0], &c->call, &err))
        return report(c, &err);
    if (c->json) {
        fputc('{', stdout);
        kv_str(stdout, "task_id", c->args[0], true);
        kv_str(stdout, "state", taas_client_state_name(st), false);
        fputs("}\n", stdout);
    } else if (st == TAAS_CLIENT_STATE_RUNNING) {
        printf("RUNNING: asked to stop ('taas watch %s' to see it end)\n", c->args[0]);
    } else if (st == TAAS_CLIENT_STATE_CANCELLED) {
        printf("CANCELLED\n");
    } else {
        printf("%s: the task had already ended\n", taas_client_state_name(st));
    }
    return EXIT_OK;
}


/* ------------------------------------------------------------------------ */
/* Schedules */

static void schedule_json(FILE *f, const taas_client_schedule *s)
{
    fputc('{', f);
    kv_str(f, "id", s->id, true);
    kv_str(f, "name", s->name, true);
    kv_str(f, "cron", s->cron, true);
    kv_str(f, "time_zone", s->time_zone, true);
    kv_int(f, "interval_ms", s->interval_ms, true);
    kv_str(f, "task_name", s->task_name, true);
    json_str(f, "inputs");
    fputc(':', f);
    /* The server validated inputs_json as a JSON object at create time. */
    fputs(s->inputs_json[0] ? s->inputs_json : "{}", f);
    fputc(',', f);
    kv_int(f, "priority", s->priority, true);
    kv_int(f, "timeout_s", s->timeout_s, true);
    kv_str(f, "catch_up", taas_client_catch_up_name(s->catch_up), true);
    kv_int(f, "max_catch_up", s->max_catch_up, true);
    kv_str(f, "overlap", taas_client_overlap_name(s->overlap), true);
    fprintf(f, "\"paused\":%s,", s->paused ? "true" : "false");
    kv_int(f, "next_fire_at_ms", s->next_fire_at_ms, true);
    kv_int(f, "last_fire_at_ms", s->last_fire_at_ms, true);
    kv_str(f, "last_task_id", s->last_task_id, true);
    kv_int(f, "created_at_ms", s->created_at_ms, true);
    kv_int(f, "updated_at_ms", s->updated_at_ms, true);
    kv_int(f, "submitted", s->submitted, true);
    kv_int(f, "skipped", s->skipped, true);
    fputs("\"upcoming_at_ms\":[", f);
    for (size_t i = 0; i < s->upcoming_count; i++)
        fprintf(f, "%s%lld", i ? "," : "", (long long)s->upcoming_at_ms[i]);
    fputs("]}", f);
}

static const char *schedule_when(char *buf, size_t cap, const taas_client_schedule *s)
{
    if (s->cron[0])
        snprintf(buf, cap, "cron '%s' %s", s->cron, s->time_zone[0] ? s->time_zone : "UTC");
    else
        snprintf(buf, cap, "every %lldms", (long long)s->interval_ms);
    return buf;
}

static void print_schedule(const taas_client_schedule *s)
{
    char b[64], w[300];
    printf("id:         %s\n", s->id);
    if (s->name[0])
        printf("name:       %s\n", s->name);
    printf("when:       %s\n", schedule_when(w, sizeof w, s));
    printf("task:       %s\n", s->task_name);
    printf("inputs:     %s\n", s->inputs_json[0] ? s->inputs_json : "{}");
    printf("priority:   %d\n", (int)s->priority);
    if (s->timeout_s)
        printf("timeout:    %ds\n", (int)s->timeout_s);
    printf("catch-up:   %s", taas_client_catch_up_name(s->catch_up));
    if (s->catch_up == TAAS_CLIENT_CATCH_UP_RUN_ALL)
        printf(" (at most %d)", (int)s->max_catch_up);
    printf("\noverlap:    %s\n", taas_client_overlap_name(s->overlap));
    printf("paused:     %s\n", s->paused ? "yes" : "no");
    printf("submitted:  %lld (skipped %lld)\n", (long long)s->submitted, (long long)s->skipped);
    printf("last fire:  %s", fmt_time(b, sizeof b, s->last_fire_at_ms));
    if (s->last_task_id[0])
        printf(" (task %s)", s->last_task_id);
    printf("\nnext fires:");
    if (s->paused || !s->upcoming_count)
        printf(" %s", s->paused ? "- (paused)" : "-");
    for (size_t i = 0; !s->paused && i < s->upcoming_count; i++)
        printf(" %s", fmt_time(b, sizeof b, s->upcoming_at_ms[i]));
    printf("\n");
}

/* "30s", "500ms", "5m", "2h"; a bare number is seconds. */
static int parse_duration_ms(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    long long mul = 0;
    if (!errno && end != s && v > 0) {
        if (strcmp(end, "ms") == 0)
            mul = 1;
        else if (*end == '\0' || strcmp(end, "s") == 0)
            mul = 1000;
        else if (strcmp(end, "m") == 0)
            mul = 60000;
        else if (strcmp(end, "h") == 0)
            mul = 3600000;
    }
    if (!mul || v > INT64_MAX / 4 / mul) {
        fprintf(stderr, "%s: --every: expected a positive duration such as 500ms, 30s, 5m or "
                        "2h, got '%s'\n", prog, s);
        return -1;
    }
    *out = v * mul;
    return 0;
}

static int schedule_create(cli *c)
{
    if (c->nargs != 2) {
        fprintf(stderr, "%s: schedule create: the task name is needed\nusage: %s\n", prog,
                commands[CMD_SCHEDULE].synopsis);
        return EXIT_USAGE;
    }
    taas_client_schedule req;
    memset(&req, 0, sizeof req);
    req.task_name = (char *)c->args[1];
    req.inputs_json = "{}";
    char *owned = NULL;
    long long v;
    if (c->seen[OPT_CRON] == c->seen[OPT_EVERY]) {
        fprintf(stderr, "%s: schedule create: give exactly one of --cron EXPR and --every DUR\n",
                prog);
        return EXIT_USAGE;
    }
    if (c->seen[OPT_TZ] && !c->seen[OPT_CRON]) {
        fprintf(stderr, "%s: schedule create: --tz applies to --cron only\n", prog);
        return EXIT_USAGE;
    }
    if (c->seen[OPT_CRON])
        req.cron = (char *)c->value[OPT_CRON];
    if (c->seen[OPT_TZ])
        req.time_zone = (char *)c->value[OPT_TZ];
    if (c->seen[OPT_EVERY]) {
        if (parse_duration_ms(c->value[OPT_EVERY], &v))
            return EXIT_USAGE;
        req.interval_ms = v;
    }
    if (c->seen[OPT_NAME])
        req.name = (char *)c->value[OPT_NAME];
    if (c->seen[OPT_PRIORITY]) {
        if (parse_int("priority", c->value[OPT_PRIORITY], INT32_MIN, INT32_MAX, &v))
            return EXIT_USAGE;
        req.priority = (int32_t)v;
    }
    if (c->seen[OPT_TIMEOUT]) {
        if (parse_int("timeout", c->value[OPT_TIMEOUT], 1, INT32_MAX, &v))
            return EXIT_USAGE;
        req.timeout_s = (int32_t)v;
    }
    if (c->seen[OPT_CATCH_UP]) {
        if (parse_word("catch-up", c->value[OPT_CATCH_UP], catch_up_words, &v))
            return EXIT_USAGE;
        req.catch_up = (taas_client_catch_up)v;
    }
    if (c->seen[OPT_MAX_CATCH_UP]) {
        if (parse_int("max-catch-up", c->value[OPT_MAX_CATCH_UP], 1, INT32_MAX, &v))
            return EXIT_USAGE;
        req.max_catch_up = (int32_t)v;
    }
    if (c->seen[OPT_OVERLAP]) {
        if (parse_word("overlap", c->value[OPT_OVERLAP], overlap_words, &v))
            return EXIT_USAGE;
        req.overlap = (taas_client_overlap)v;
    }
    req.paused = c->seen[OPT_PAUSED];
    if (c->seen[OPT_INPUT]) {
        const char *in = c->value[OPT_INPUT];
        if (in[0] == '@') {
            owned = read_file(in + 1);
            if (!owned)
                return EXIT_USAGE;
            req.inputs_json = owned;
        } else {
            req.inputs_json = (char *)in;
        }
    }
    taas_client_schedule *s;
    taas_client_error err;
    int rc = taas_client_create_schedule(c->client, &s, &req, &c->call, &err);
    free(owned);
    if (rc)
        return report(c, &err);
    if (c->json) {
        schedule_json(stdout, s);
        fputc('\n', stdout);
    } else {
        printf("%s\n", s->id);
    }
    taas_client_schedule_free(s);
    return EXIT_OK;
}

static int schedule_list(cli *c)
{
    if (c->nargs != 1) {
        fprintf(stderr, "%s: schedule list takes no argument\n", prog);
        return EXIT_USAGE;
    }
    long long v = 0;
    if (c->seen[OPT_LIMIT] && parse_int("limit", c->value[OPT_LIMIT], 1, 1000, &v))
        return EXIT_USAGE;
    taas_client_schedule_list *l;
    taas_client_error err;
    if (taas_client_list_schedules(c->client, &l, (int32_t)v,
                                  c->seen[OPT_PAGE_TOKEN] ? c->value[OPT_PAGE_TOKEN] : NULL,
                                  &c->call, &err))
        return report(c, &err);
    if (c->json) {
        fputs("{\"schedules\":[", stdout);
        for (size_t i = 0; i < l->count; i++) {
            if (i)
                fputc(',', stdout);
            schedule_json(stdout, &l->schedules[i]);
        }
        fputs("],", stdout);
        kv_str(stdout, "next_page_token", l->next_page_token, false);
        fputs("}\n", stdout);
    } else {
        char b[64], w[300];
        printf("%-36s  %-16s  %-24s  %-26s  %s\n", "ID", "TASK", "NEXT FIRE", "WHEN", "NAME");
        for (size_t i = 0; i < l->count; i++) {
            const taas_client_schedule *s = &l->schedules[i];
            printf("%-36s  %-16s  %-24s  %-26s  %s\n", s->id, s->task_name,
                   s->paused ? "paused" : fmt_time(b, sizeof b, s->next_fire_at_ms),
                   schedule_when(w, sizeof w, s), s->name);
        }
        if (l->next_page_token[0])
            printf("more: taas schedule list --page-token %s\n", l->next_page_token);
    }
    taas_client_schedule_list_free(l);
    return EXIT_OK;
}

static int cmd_schedule(cli *c)
{
    const char *sub = c->args[0];
    if (strcmp(sub, "create") == 0)
        return schedule_create(c);
    if (strcmp(sub, "list") == 0)
        return schedule_list(c);
    bool get = strcmp(sub, "get") == 0, pause = strcmp(sub, "pause") == 0,
         resume = strcmp(sub, "resume") == 0, del = strcmp(sub, "delete") == 0;
    if (!get && !pause && !resume && !del)
        return usage_error("unknown schedule command (create, list, get, pause, resume, "
                           "delete)", sub);
    if (c->nargs != 2) {
        fprintf(stderr, "%s: schedule %s: the schedule id is needed\n", prog, sub);
        return EXIT_USAGE;
    }
    const char *id = c->args[1];
    taas_client_error err;
    if (del) {
        if (taas_client_delete_schedule(c->client, id, &c->call, &err))
            return report(c, &err);
        if (c->json) {
            fputc('{', stdout);
            kv_str(stdout, "schedule_id", id, false);
            fputs(",\"deleted\":true}\n", stdout);
        } else {
            printf("deleted\n");
        }
        return EXIT_OK;
    }
    taas_client_schedule *s;
    int rc = get ? taas_client_get_schedule(c->client, &s, id, &c->call, &err)
                 : taas_client_pause_schedule(c->client, &s, id, pause, &c->call, &err);
    if (rc)
        return report(c, &err);
    if (c->json) {
        schedule_json(stdout, s);
        fputc('\n', stdout);
    } else {
        print_schedule(s);
    }
    taas_client_schedule_free(s);
    return EXIT_OK;
}

static int cmd_health(cli *c)
{
    const char *service = c->nargs ? c->args[0] : "";
    taas_client_health_status st;
    taas_client_error err;
    if (taas_client_health(c->client, &st, service, &c->call, &err))
        return report(c, &err);
    if (c->json) {
        fputc('{', stdout);
        kv_str(stdout, "service", service, true);
        kv_str(stdout, "status", taas_client_health_name(st), false);
        fputs("}\n", stdout);
    } else {
        printf("%s\n", taas_client_health_name(st));
    }
    return st == TAAS_CLIENT_HEALTH_SERVING ? EXIT_OK : EXIT_TASK_FAILED;
}

int main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(&c, argc, argv);
    if (rc)
        return rc;
    if (c.cmd == CMD_HELP) {
        enum command about = CMD_NONE;
        for (int k = CMD_TASKS; c.nargs && k < CMD_COUNT; k++)
            if (strcmp(c.args[0], commands[k].name) == 0)
                about = (enum command)k;
        if (c.nargs && about == CMD_NONE)
            return usage_error("unknown command", c.args[0]);
        if (about == CMD_NONE)
            usage(stdout);
        else
            command_help(stdout, about);
        return EXIT_OK;
    }
    if (c.seen[OPT_HELP]) {
        if (c.cmd == CMD_NONE)
            usage(stdout);
        else
            command_help(stdout, c.cmd);
        return EXIT_OK;
    }
    if (c.cmd == CMD_NONE) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (int o = 0; o < OPT_COUNT; o++) {
        if (c.seen[o] && !(options[o].cmds & BIT(c.cmd))) {
            fprintf(stderr, "%s: %s: unknown option '--%s'\n(see 'taas %s --help')\n", prog,
                    commands[c.cmd].name, options[o].name, commands[c.cmd].name);
            return EXIT_USAGE;
        }
    }
    if (c.nargs < commands[c.cmd].min_args || c.nargs > commands[c.cmd].max_args) {
        fprintf(stderr, "%s: %s: wrong number of arguments\nusage: %s\n", prog,
                commands[c.cmd].name, commands[c.cmd].synopsis);
        return EXIT_USAGE;
    }
    if (c.seen[OPT_DEADLINE]) {
        long long s;
        if (parse_int("deadline", c.value[OPT_DEADLINE], 1, 86400 * 365, &s))
            return EXIT_USAGE;
        c.call.timeout_ms = s * 1000;
    }

    taas_client_options opts = TAAS_CLIENT_OPTIONS_INIT;
    opts.address = c.seen[OPT_SERVER] ? c.value[OPT_SERVER] : NULL;
    struct security sec;
    rc = load_security(&c, &sec, &opts);
    if (rc)
        return rc;
    taas_client_error err;
    int crc = taas_client_connect(&c.client, &opts, &err);
    security_clear(&sec);
    if (crc) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        return exit_for(err.code);
    }
    signal_client = c.client;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    switch (c.cmd) {
    case CMD_TASKS: rc = cmd_tasks(&c); break;
    case CMD_DESCRIBE: rc = cmd_describe(&c); break;
    case CMD_SUBMIT: rc = cmd_submit(&c); break;
    case CMD_GET: rc = cmd_get(&c); break;
    case CMD_LIST: rc = cmd_list(&c); break;
    case CMD_WATCH: rc = cmd_watch(&c); break;
    case CMD_CANCEL: rc = cmd_cancel(&c); break;
    case CMD_SCHEDULE: rc = cmd_schedule(&c); break;
    case CMD_HEALTH: rc = cmd_health(&c); break;
    case CMD_MCP: rc = taas_cli_mcp(c.client, &c.call); break;
    default: rc = EXIT_USAGE; break;
    }
    fflush(stdout);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_client = NULL;
    taas_client_close(c.client);
    return rc;
}
