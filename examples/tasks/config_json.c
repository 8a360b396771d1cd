/*
 * examples/tasks/config_json.c - see config_json.h.
 *
 * The pretty printer walks jsmn's token array (an object token is followed
 * by key, value, key, value...; taas_json_next skips a subtree) and copies
 * every scalar's text unchanged, so no number is ever reformatted.
 */
#include "config_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taas/json.h"

const char *config_output_root(void)
{
    const char *r = getenv("TAAS_OUTPUT_ROOT");
    return (r && r[0]) ? r : "taas-output";
}

const char *config_read_root(void)
{
    const char *r = getenv("TAAS_CONFIG_ROOT");
    return (r && r[0]) ? r : config_output_root();
}

/* A growing output buffer with a hard cap (malloc'd; copied to the arena at the end). */
typedef struct pbuf {
    char *p;
    size_t len, cap, max;
    bool err;
} pbuf;

static void put(pbuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max) {
            b->err = true;
            return;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->err = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void indent(pbuf *b, int depth)
{
    put(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        put(b, "  ", 2);
}

static void put_token(pbuf *b, const taas_jdoc *doc, int tok)
{
    const jsmntok_t *t = &doc->toks[tok];
    if (t->type == JSMN_STRING)
        put(b, "\"", 1);
    put(b, doc->text + t->start, (size_t)(t->end - t->start));
    if (t->type == JSMN_STRING)
        put(b, "\"", 1);
}

/* Print the value at `tok`; returns the token after its subtree. */
static int pretty(pbuf *b, const taas_jdoc *doc, int tok, int depth)
{
    const jsmntok_t *t = &doc->toks[tok];
    if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY) {
        put_token(b, doc, tok);
        return tok + 1;
    }
    bool obj = t->type == JSMN_OBJECT;
    int n = t->size;
    put(b, obj ? "{" : "[", 1);
    int cur = tok + 1;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            put(b, ",", 1);
        indent(b, depth + 1);
        if (obj) {
            put_token(b, doc, cur);
            put(b, ": ", 2);
            cur++;
        }
        cur = pretty(b, doc, cur, depth + 1);
    }
    if (n > 0)
        indent(b, depth);
    put(b, obj ? "}" : "]", 1);
    return cur;
}

static int parse_object(taas_jdoc *doc, const char *json, size_t len, const char *what,
                        char *msg, size_t msgcap)
{
    char err[256];
    taas_json_limits lim = {.max_bytes = len > CONFIG_FILE_MAX ? len : CONFIG_FILE_MAX};
    if (taas_json_parse(doc, json, len, &lim, err, sizeof err) != 0) {
        snprintf(msg, msgcap, "%s is not valid JSON: %s", what, err);
        return -1;
    }
    taas_json_kind k = taas_json_kind_of(doc, 0);
    if (k != TAAS_JSON_OBJECT) {
        snprintf(msg, msgcap, "%s is %s%s, not an object", what,
                 k == TAAS_JSON_NULL ? "" : k == TAAS_JSON_ARRAY ? "an " : "a ",
                 taas_json_kind_name(k));
        taas_json_free(doc);
        return -1;
    }
    return 0;
}

char *config_pretty(taas_ctx *ctx, const char *json, size_t len, size_t *out_len, char *msg,
                    size_t msgcap)
{
    taas_jdoc doc;
    if (parse_object(&doc, json, len, "the configuration", msg, msgcap) != 0)
        return NULL;
    /* Indentation can at most multiply the size by the depth; cap generously. */
    pbuf b = {.max = 64 * len + 4096};
    pretty(&b, &doc, 0, 0);
    put(&b, "\n", 1);
    taas_json_free(&doc);
    char *res = NULL;
    if (b.err)
        snprintf(msg, msgcap, "the configuration is too large to format");
    else if (!(res = taas_strndup(ctx, b.p, b.len)))
        snprintf(msg, msgcap, "out of memory");
    else
        *out_len = b.len;
    free(b.p);
    return res;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int config_keys(taas_ctx *ctx, const char *json, size_t len, const char *what,
                const char ***keys, size_t *count, char *msg, size_t msgcap)
{
    taas_jdoc doc;
    if (parse_object(&doc, json, len, what, msg, msgcap) != 0)
        return -1;
    size_t n = (size_t)doc.toks[0].size;
    const char **list = taas_alloc(ctx, (n ? n : 1) * sizeof *list);
    int rc = list ? 0 : -1;
    int cur = 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *k = taas_alloc(ctx, taas_json_str_rawlen(&doc, cur) + 1);
        if (!k) {
            rc = -1;
            break;
        }
        taas_json_str_decode(&doc, cur, k);
        list[i] = k;
        cur = taas_json_next(&doc, cur + 1);
    }
    taas_json_free(&doc);
    if (rc != 0) {
        snprintf(msg, msgcap, "out of memory");
        return -1;
    }
    qsort(list, n, sizeof *list, cmp_str);
    *keys = list;
    *count = n;
    return 0;
}
