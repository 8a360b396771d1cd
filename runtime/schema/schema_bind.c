/*
 * runtime/schema/schema_bind.c - storing accepted values into a bound struct,
 * and serializing a bound struct back to JSON.
 */
#include "schema/schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy the raw text of a value into the arena as a taas_json. */
int taas_schema__bind_raw(walker *w, int tok, taas_json *dst)
{
    const jsmntok_t *t = &w->doc->toks[tok];
    int start = t->start, end = t->end;
    if (t->type == JSMN_STRING) {
        start--;
        end++;
    }
    size_t len = (size_t)(end - start);
    char *s = taas_schema__arena(w, len + 1);
    if (!s)
        return taas_schema__fail(w, "out of memory");
    memcpy(s, w->doc->text + start, len);
    dst->text = s;
    dst->len = len;
    return 0;
}

/* Store a scalar or raw value that has already been validated. */
int taas_schema__bind_value(walker *w, const taas_schema_node *n, int tok, void *dst)
{
    const taas_jdoc *d = w->doc;
    switch ((taas_bind_kind)n->bind) {
    case TAAS_BIND_STRING: {
        size_t raw = taas_json_str_rawlen(d, tok);
        char *s = taas_schema__arena(w, raw + 1);
        if (!s)
            return taas_schema__fail(w, "out of memory");
        taas_json_str_decode(d, tok, s);
        *(const char **)dst = s;
        return 0;
    }
    case TAAS_BIND_INT64: {
        int64_t v;
        if (taas_json_int64(d, tok, &v) != 0)
            return taas_schema__fail(w, "integer out of range for a 64-bit integer");
        *(int64_t *)dst = v;
        return 0;
    }
    case TAAS_BIND_DOUBLE: {
        double v = taas_json_double(d, tok);
        if (!isfinite(v))
            return taas_schema__fail(w, "number out of range for a double");
        *(double *)dst = v;
        return 0;
    }
    case TAAS_BIND_BOOL:
        *(bool *)dst = taas_json_bool(d, tok);
        return 0;
    case TAAS_BIND_ENUM:
        for (int32_t i = 0; i < n->enum_.count; i++) {
            int32_t ci = w->s->lists[n->enum_.first + i];
            if (taas_json_equal(d, tok, taas_schema__const_doc(w, ci), 0)) {
                *(int *)dst = (int)i;
                return 0;
            }
        }
        return taas_schema__fail(w, "value is not one of the allowed values");
    case TAAS_BIND_JSON:
        return taas_schema__bind_raw(w, tok, dst);
    default:
        return 0;
    }
}

int taas_schema__bind_default(walker *w, const taas_schema_prop *p, void *dst)
{
    const taas_jdoc *saved = w->doc;
    w->doc = taas_schema__const_doc(w, p->default_const);
    int rc = taas_schema__validate(w, p->node, 0, dst);
    w->doc = saved;
    if (rc < 0 && w->first && !w->silent)
        snprintf(w->first->message, sizeof w->first->message,
                 "the schema's default value does not conform to it");
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Serializing a bound struct */

typedef struct swalker {
    const taas_schema *s;
    taas_jw jw;
    taas_error *err;
    size_t plen;
    char path[PATH_CAP];
} swalker;

static int sfail(swalker *w, const char *msg)
{
    if (w->err->message[0] == '\0')
        taas_schema__set_error(w->err, w->path, msg);
    return -1;
}

static size_t spush(swalker *w, const char *key, size_t n, size_t index, bool is_index)
{
    size_t old = w->plen;
    int k;
    if (is_index) {
        k = snprintf(w->path + w->plen, PATH_CAP - w->plen, "/%zu", index);
        if (k > 0)
            w->plen += (size_t)k < PATH_CAP - w->plen ? (size_t)k : PATH_CAP - 1 - w->plen;
    } else if (w->plen + 1 < PATH_CAP) {
        w->path[w->plen++] = '/';
        /* The escape returns the length it needed; count what it wrote. */
        taas_json_pointer_escape(w->path + w->plen, PATH_CAP - w->plen, key, n);
        w->plen += strlen(w->path + w->plen);
    }
    return old;
}

static void spop(swalker *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

/* The node that actually binds (skips $ref-only nodes). */
static const taas_schema_node *binder_of(const taas_schema *s, int32_t ni)
{
    const taas_schema_node *n = &s->nodes[ni];
    int guard = 0;
    while (n->bind == TAAS_BIND_NONE && n->ref >= 0 && guard++ < SCHEMA_MAX_DEPTH)
        n = &s->nodes[n->ref];
    return n;
}

static int write_value(swalker *w, int32_t ni, const void *src, int depth)
{
    const taas_schema *s = w->s;
    const taas_schema_node *n = binder_of(s, ni);
    if (depth > SCHEMA_MAX_DEPTH)
        return sfail(w, "value nested too deeply");
    switch ((taas_bind_kind)n->bind) {
    case TAAS_BIND_STRING:
        taas_jw_str(&w->jw, *(const char *const *)src);
        return 0;
    case TAAS_BIND_INT64:
        taas_jw_int64(&w->jw, *(const int64_t *)src);
        return 0;
    case TAAS_BIND_DOUBLE: {
        double v = *(const double *)src;
        if (!isfinite(v))
            return sfail(w, "number is not finite (NaN or infinity)");
        taas_jw_double(&w->jw, v);
        return 0;
    }
    case TAAS_BIND_BOOL:
        taas_jw_bool(&w->jw, *(const bool *)src);
        return 0;
    case TAAS_BIND_ENUM: {
        int v = *(const int *)src;
        if (v < 0 || v >= n->enum_.count)
            return sfail(w, "enum value out of range");
        const taas_schema_str *c = &s->consts[s->lists[n->enum_.first + v]];
        taas_jw_raw(&w->jw, c->s, c->n);
        return 0;
    }
    case TAAS_BIND_JSON: {
        const taas_json *j = src;
        if (!j->text) {
            taas_jw_null(&w->jw);
            return 0;
        }
        /* Free-form text from the body: check it is one JSON value first. */
        taas_jdoc d;
        char msg[200];
        if (taas_json_parse(&d, j->text, j->len, NULL, msg, sizeof msg) != 0) {
            char m[260];
            snprintf(m, sizeof m, "invalid JSON text: %s", msg);
            return sfail(w, m);
        }
        taas_json_free(&d);
        taas_jw_raw(&w->jw, j->text, j->len);
        return 0;
    }
    case TAAS_BIND_ARRAY: {
        const struct {
            size_t len;
            const void *items;
        } *arr = src;
        if (arr->len && !arr->items)
            return sfail(w, "array has len > 0 but items is NULL");
        int32_t in = n->items;
        uint32_t esz = sizeof(taas_json);
        if (in >= 0)
            esz = binder_of(s, in)->size;
        taas_jw_arr_begin(&w->jw);
        for (size_t i = 0; i < arr->len; i++) {
            size_t old = spush(w, NULL, 0, i, true);
            int rc;
            if (in >= 0) {
                rc = write_value(w, in, (const char *)arr->items + i * esz, depth + 1);
            } else {
                taas_json tmp = ((const taas_json *)arr->items)[i];
                rc = tmp.text ? (taas_jw_raw(&w->jw, tmp.text, tmp.len), 0)
                              : (taas_jw_null(&w->jw), 0);
            }
            if (rc < 0)
                return -1;
            spop(w, old);
        }
        taas_jw_arr_end(&w->jw);
        return 0;
    }
    case TAAS_BIND_STRUCT:
        taas_jw_obj_begin(&w->jw);
        for (int32_t i = 0; i < n->props.count; i++) {
            const taas_schema_prop *p = &s->props[n->props.first + i];
            if (p->offset < 0)
                continue;
            if (p->has_offset >= 0 && !*(const bool *)((const char *)src + p->has_offset))
                continue;
            taas_jw_keyn(&w->jw, p->name.s, p->name.n);
            size_t old = spush(w, p->name.s, p->name.n, 0, false);
            if (write_value(w, p->node, (const char *)src + p->offset, depth + 1) < 0)
                return -1;
            spop(w, old);
        }
        taas_jw_obj_end(&w->jw);
        return 0;
    default:
        return sfail(w, "no C binding for this value");
    }
}

int taas_schema_serialize(const taas_schema *s, taas_ctx *ctx, const void *src, char **json,
                          size_t *len, taas_error *err)
{
    *json = NULL;
    *len = 0;
    err->path[0] = '\0';
    err->message[0] = '\0';
    swalker *w = malloc(sizeof *w);
    if (!w) {
        taas_schema__set_error(err, "", "out of memory");
        return -1;
    }
    w->s = s;
    w->err = err;
    w->plen = 0;
    w->path[0] = '\0';
    taas_jw_init(&w->jw, 0);
    int rc = write_value(w, s->root, src, 0);
    if (rc == 0 && w->jw.err) {
        taas_schema__set_error(err, "", w->jw.err == TAAS_JSON_ETOOBIG ? "output is too large"
                                                         : "output could not be written");
        rc = -1;
    }
    size_t n = 0;
    char *text = rc == 0 ? taas_jw_take(&w->jw, &n) : NULL;
    taas_jw_free(&w->jw);
    free(w);
    if (rc < 0 || !text) {
        free(text);
        if (err->message[0] == '\0')
            taas_schema__set_error(err, "", "out of memory");
        return -1;
    }
    taas_jdoc doc;
    char msg[256];
    if (taas_json_parse(&doc, text, n, NULL, msg, sizeof msg) != 0) {
        char m[300];
        snprintf(m, sizeof m, "output is not valid JSON: %s", msg);
        taas_schema__set_error(err, "", m);
        free(text);
        return -1;
    }
    rc = taas_schema__first_walk(s, ctx, &doc, NULL, err);
    taas_json_free(&doc);
    if (rc < 0) {
        free(text);
        return -1;
    }
    *json = text;
    *len = n;
    return 0;
}
