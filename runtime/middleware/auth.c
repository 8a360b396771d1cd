/*
 * runtime/middleware/auth.c - bearer tokens: who is calling, and may they
 * call this method.
 *
 * The tokens file holds one line per token,
 *
 *     sha256:<64 hex digits of SHA-256(token)> <principal> <scope>[,<scope>...]
 *
 * with blank lines and lines starting with '#' ignored. Only hashes are
 * stored, so a leaked file does not leak tokens (tokens should be long
 * random strings: a hash of a short password can be searched for).
 *
 * A call's "authorization: Bearer <token>" value is hashed and compared with
 * every entry in constant time (no early exit, no data-dependent branch in
 * the comparison), then the method's scope is checked:
 *
 *     missing, malformed or unknown token -> UNAUTHENTICATED
 *     token without the method's scope    -> PERMISSION_DENIED
 *
 * grpc.health.v1.Health is open (load balancers probe it without a token).
 * Methods the server does not serve need a valid token before they are
 * answered UNIMPLEMENTED, so an anonymous client learns nothing. The
 * principal and scopes are attached to the call for the services (task
 * isolation) and the rate limiter. Token text never reaches a log line or a
 * status message.
 */
#include "middleware/middleware.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "taas/sha256.h"

#define TOKEN_MAX 4096
#define LINE_MAX_LEN 1024
/* 1 MiB: some 8,000 tokens. */
#define TOKENS_FILE_MAX (1 << 20)

struct entry {
    unsigned char hash[32];
    char principal[TAAS_PRINCIPAL_MAX + 1];
    unsigned scopes;
};

struct taas_tokens {
    struct entry *e;
    size_t n;
};

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {
    {"submit", TAAS_SCOPE_SUBMIT},
    {"read", TAAS_SCOPE_READ},
    {"cancel", TAAS_SCOPE_CANCEL},
    {"admin", TAAS_SCOPE_ADMIN},
};

const char *taas_scope_name(unsigned scope)
{
    for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
        if (scope_names[i].bit == scope)
            return scope_names[i].name;
    return "none";
}

unsigned taas_auth_method_scope(const char *method)
{
    static const struct {
        const char *method;
        unsigned scope;
    } table[] = {
        {"/taas.v1.TaskService/SubmitTask", TAAS_SCOPE_SUBMIT},
        {"/taas.v1.TaskService/GetTask", TAAS_SCOPE_READ},
        {"/taas.v1.TaskService/ListTasks", TAAS_SCOPE_READ},
        {"/taas.v1.TaskService/WatchTask", TAAS_SCOPE_READ},
        {"/taas.v1.TaskService/CancelTask", TAAS_SCOPE_CANCEL},
        {"/taas.v1.RegistryService/ListTaskTypes", TAAS_SCOPE_READ},
        {"/taas.v1.RegistryService/GetTaskType", TAAS_SCOPE_READ},
        {"/grpc.health.v1.Health/Check", 0},
        {"/grpc.health.v1.Health/Watch", 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(method, table[i].method) == 0)
            return table[i].scope;
    return TAAS_SCOPE_AUTHENTICATED;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool principal_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > TAAS_PRINCIPAL_MAX)
        return false;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._@:-", *p))
            return false;
    return true;
}

/* Parse one non-comment line into e. Returns NULL or a reason. */
static const char *parse_line(char *line, struct entry *e)
{
    char *save = NULL;
    char *h = strtok_r(line, " \t", &save);
    char *who = strtok_r(NULL, " \t", &save);
    char *scopes = strtok_r(NULL, " \t", &save);
    if (!h || !who || !scopes)
        return "expected 'sha256:<hex> <principal> <scope>[,<scope>...]'";
    if (strtok_r(NULL, " \t", &save))
        return "unexpected text after the scopes";
    if (strncmp(h, "sha256:", 7) != 0 || strlen(h + 7) != 64)
        return "the hash must be 'sha256:' and 64 hex digits (taas-server --hash-token)";
    for (int i = 0; i < 32; i++) {
        int hi = hexval(h[7 + 2 * i]), lo = hexval(h[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return "the hash must be 'sha256:' and 64 hex digits (taas-server --hash-token)";
        e->hash[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!principal_ok(who))
        return "the principal must be 1 to 128 characters of A-Z a-z 0-9 . _ @ : -";
    snprintf(e->principal, sizeof e->principal, "%s", who);
    e->scopes = 0;
    char *s2 = NULL;
    for (char *sc = strtok_r(scopes, ",", &s2); sc; sc = strtok_r(NULL, ",", &s2)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
            if (strcmp(sc, scope_names[i].name) == 0)
                bit = scope_names[i].bit;
        if (!bit)
            return "unknown scope (expected submit, read, cancel or admin)";
        e->scopes |= bit;
    }
    if (e->scopes & TAAS_SCOPE_ADMIN)
        e->scopes |= TAAS_SCOPE_SUBMIT | TAAS_SCOPE_READ | TAAS_SCOPE_CANCEL;
    return NULL;
}

taas_tokens *taas_tokens_parse(const char *text, size_t len, const char *name, char *err,
                               size_t errlen)
{
    taas_tokens *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    size_t cap = 0, at = 0;
    char line[LINE_MAX_LEN + 1];
    int lineno = 0;
    const char *why = NULL;
    if (memchr(text, '\0', len)) {
        /* A text file holds no NUL; strtok would silently cut the line. */
        lineno = 1;
        for (const char *q = text; *q; q++)
            lineno += *q == '\n';
        why = "a NUL byte (not a text file)";
    }
    while (!why && at < len) {
        lineno++;
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        if (n > LINE_MAX_LEN) {
            why = "line too long";
            break;
        }
        memcpy(line, text + at, n);
        line[n] = '\0';
        at += n + (nl ? 1 : 0);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (t->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct entry *ne = realloc(t->e, nc * sizeof *ne);
            if (!ne) {
                why = "out of memory";
                break;
            }
            t->e = ne;
            cap = nc;
        }
        struct entry *e = &t->e[t->n];
        memset(e, 0, sizeof *e);
        if ((why = parse_line(p, e)) != NULL)
            break;
        for (size_t i = 0; i < t->n; i++) {
            if (memcmp(t->e[i].hash, e->hash, 32) == 0) {
                why = "the same token hash appears twice";
                break;
            }
        }
        if (why)
            break;
        t->n++;
    }
    if (!why && t->n == 0)
        why = "no tokens (every call would be refused)";
    if (why) {
        if (strncmp(why, "no tokens", 9) == 0)
            snprintf(err, errlen, "%s: %s", name, why);
        else
            snprintf(err, errlen, "%s:%d: %s", name, lineno, why);
        taas_tokens_free(t);
        return NULL;
    }
    return t;
}

/*
 * Whoever can write the tokens file, or replace it through one of its
 * directories, can make themselves admin. So, as ssh does for
 * authorized_keys: the file and every directory above it (after resolving
 * symbolic links) must be owned by the server's user or root and not be
 * writable by group or others. A world-writable directory with the sticky
 * bit (/tmp) is accepted: there no one else can remove or rename a file
 * they do not own.
 */
static bool secure_dirs(const char *real, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    uid_t me = geteuid();
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            return true;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) != 0) {
            snprintf(err, errlen, "%s: %s", dir, strerror(errno));
            return false;
        }
        if (st.st_uid != me && st.st_uid != 0) {
            snprintf(err, errlen,
                     "directory %s of the tokens file is owned by uid %u, neither this server's "
                     "user (%u) nor root: its owner could replace the file",
                     dir, (unsigned)st.st_uid, (unsigned)me);
            return false;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            snprintf(err, errlen,
                     "directory %s of the tokens file is writable by %s (mode %04o): anyone "
                     "who can write there could replace the file; chmod go-w %s",
                     dir, (st.st_mode & S_IWOTH) ? "others" : "its group",
                     (unsigned)(st.st_mode & 07777), dir);
            return false;
        }
        if (!strcmp(dir, "/"))
            return true;
    }
}

taas_tokens *taas_tokens_load(const char *path, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO with no writer returns at once (and is then
     * refused as not a regular file) instead of blocking start-up. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char real[PATH_MAX];
    uid_t me = geteuid();
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (the tokens file must be one)", path);
    } else if (st.st_uid != me && st.st_uid != 0) {
        snprintf(err, errlen,
                 "%s: owned by uid %u, neither this server's user (%u) nor root: refusing a "
                 "tokens file someone else controls",
                 path, (unsigned)st.st_uid, (unsigned)me);
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s: writable by %s (mode %04o): anyone who can write it can make themselves "
                 "admin; chmod go-w %s",
                 path, (st.st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st.st_mode & 07777), path);
    } else if (st.st_size > TOKENS_FILE_MAX) {
        snprintf(err, errlen, "%s: %lld bytes, over the %d-byte cap of a tokens file", path,
                 (long long)st.st_size, TOKENS_FILE_MAX);
    } else if (!realpath(path, real)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    } else if (secure_dirs(real, err, errlen)) {
        char *buf = malloc((size_t)st.st_size + 1);
        size_t n = 0;
        bool rerr = buf == NULL;
        /* Read at most the cap + 1: a file that grows meanwhile is caught. */
        while (buf && !rerr && n <= (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);
            if (r == 0)
                break;
            if (r < 0 && errno != EINTR)
                rerr = true;
            else if (r > 0)
                n += (size_t)r;
        }
        close(fd);
        taas_tokens *t = NULL;
        if (rerr)
            snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
        else if (n > (size_t)st.st_size)
            snprintf(err, errlen, "%s: changed while being read; try again", path);
        else
            t = taas_tokens_parse(buf, n, path, err, errlen);
        free(buf);
        return t;
    }
    close(fd);
    return NULL;
}

size_t taas_tokens_count(const taas_tokens *t)
{
    return t ? t->n : 0;
}

void taas_tokens_free(taas_tokens *t)
{
    if (!t)
        return;
    if (t->e)
        memset(t->e, 0, t->n * sizeof *t->e);
    free(t->e);
    free(t);
}

void taas_token_hash_hex(const char *token, size_t len, char out[65])
{
    taas_sha256_hex(token, len, out);
}

/*
 * The entry whose hash equals SHA-256(token), or NULL. Every entry is
 * compared in full and the loop never exits early, so the time taken says
 * nothing about how close a guess came.
 */
static const struct entry *lookup(const taas_tokens *t, const char *token, size_t len)
{
    unsigned char d[32];
    taas_sha256_ctx c;
    taas_sha256_init(&c);
    taas_sha256_update(&c, token, len);
    taas_sha256_final(&c, d);
    const struct entry *found = NULL;
    for (size_t i = 0; i < t->n; i++) {
        unsigned char diff = 0;
        for (int k = 0; k < 32; k++)
            diff |= (unsigned char)(d[k] ^ t->e[i].hash[k]);
        /* all ones when equal, zero otherwise, without a branch on diff */
        uintptr_t mask = (uintptr_t)0 - (uintptr_t)(((unsigned)diff - 1u) >> 8 & 1u);
        found = (const struct entry *)(((uintptr_t)&t->e[i] & mask) | ((uintptr_t)found & ~mask));
    }
    memset(d, 0, sizeof d);
    return found;
}

/* ------------------------------------------------------------------------ */

struct auth {
    taas_middleware parent;
    taas_tokens *tokens;
};

static void auth_call(taas_middleware *self, taas_call *call)
{
    struct auth *m = (struct auth *)self;
    const char *method = taas_call_method_name(call);
    unsigned need = taas_auth_method_scope(method);
    if (need == 0) {
        taas_middleware_next(self, call);
        return;
    }
    size_t n = 0;
    const char *v = taas_call_metadata(call, "authorization", &n);
    if (!v) {
        taas_middleware_reject(call, TAAS_ST_UNAUTHENTICATED,
                               "authentication required: send 'authorization: Bearer <token>'");
        return;
    }
    if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0) {
        taas_middleware_reject(call, TAAS_ST_UNAUTHENTICATED,
                               "the authorization metadata must be 'Bearer <token>'");
        return;
    }
    const char *tok = v + 7;
    size_t tlen = n - 7;
    while (tlen && *tok == ' ') {
        tok++;
        tlen--;
    }
    const struct entry *e = tlen && tlen <= TOKEN_MAX ? lookup(m->tokens, tok, tlen) : NULL;
    if (!e) {
        taas_middleware_reject(call, TAAS_ST_UNAUTHENTICATED, "invalid bearer token");
        return;
    }
    taas_call_set_principal(call, e->principal, e->scopes);
    if (need != TAAS_SCOPE_AUTHENTICATED && !(e->scopes & need)) {
        taas_middleware_reject(call, TAAS_ST_PERMISSION_DENIED,
                               "principal '%s' lacks the '%s' scope needed for %s", e->principal,
                               taas_scope_name(need), method);
        return;
    }
    taas_middleware_next(self, call);
}

static void auth_free(taas_middleware *self)
{
    struct auth *m = (struct auth *)self;
    taas_tokens_free(m->tokens);
    free(m);
}

taas_middleware *taas_mw_auth_new(taas_tokens *tokens)
{
    if (!tokens)
        return NULL;
    struct auth *m = calloc(1, sizeof *m);
    if (!m) {
        taas_tokens_free(tokens);
        return NULL;
    }
    m->parent.version = TAAS_MIDDLEWARE_VERSION;
    m->parent.name = "auth";
    m->parent.call = auth_call;
    m->parent.free = auth_free;
    m->tokens = tokens;
    return &m->parent;
}

/* ------------------------------------------------------------------------ */
/* --role worker: only health is served. */

static void worker_call(taas_middleware *self, taas_call *call)
{
    if (strncmp(taas_call_method_name(call), "/grpc.health.v1.Health/", 23) != 0) {
        taas_middleware_reject(call, TAAS_ST_UNAVAILABLE,
                               "this node runs with --role worker; send API calls to an api node");
        return;
    }
    taas_middleware_next(self, call);
}

static void worker_free(taas_middleware *self)
{
    free(self);
}

taas_middleware *taas_mw_worker_role_new(void)
{
    taas_middleware *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->version = TAAS_MIDDLEWARE_VERSION;
    m->name = "role";
    m->call = worker_call;
    m->free = worker_free;
    return m;
}
