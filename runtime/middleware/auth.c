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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/sha256.h"

#define TOKEN_MAX 4096
#define LINE_MAX_LEN 1024

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

taas_tokens *taas_tokens_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    taas_tokens *t = calloc(1, sizeof *t);
    size_t cap = 0;
    char line[LINE_MAX_LEN + 2];
    int lineno = 0;
    const char *why = NULL;
    while (t && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] != '\n' && !feof(f)) {
            why = "line too long";
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
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
    bool rerr = ferror(f);
    fclose(f);
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (!why && rerr)
        why = "read error";
    if (!why && t->n == 0)
        why = "no tokens (every call would be refused)";
    if (why) {
        if (strncmp(why, "no tokens", 9) == 0)
            snprintf(err, errlen, "%s: %s", path, why);
        else
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
        taas_tokens_free(t);
        return NULL;
    }
    return t;
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
