/*
 * runtime/schema/schema.c - the generic JSON Schema validator and binder.
 *
 * Method. validate() walks one parsed value (a jsmn token of a taas_jdoc)
 * against one node of a generated table. Keywords are checked in a fixed
 * order: the boolean-false schema, $ref, type (a type mismatch stops the
 * node: the other keywords would only repeat it), then per-type keywords,
 * then the in-place applicators. When a destination pointer is given and the
 * node is bound, the accepted value is stored there as it is checked: one
 * pass over the document, no intermediate tree.
 *
 * Modes. A walker either stops at the first error (task inputs and outputs)
 * or collects every error up to TAAS_SCHEMA_MAX_ERRORS (shared schemas). A
 * `silent` depth counts how far inside anyOf/oneOf/not/if/contains/
 * propertyNames we are: there errors only decide a branch, are never
 * reported, and the first failure ends the branch.
 *
 * Memory. Nothing is allocated per validation except the strings and arrays
 * of a bound value (from the task's arena) and, for long escaped strings
 * matched against a pattern, a decode buffer (arena when there is a task,
 * else the heap, freed at once). Regular expressions and constants are
 * compiled/parsed once per schema, lazily, under a global lock.
 *
 * Files. This one holds the walk (validation) and the entry points;
 * schema_int.h lists the others: schema_regex.c (the lazy per-schema state,
 * patterns), schema_unique.c (uniqueItems), schema_bind.c (storing accepted
 * values, and serializing a bound struct back to JSON).
 */
#include "schema/schema_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------------------ */
/* Paths and errors */

static size_t path_push_key(walker *w, const char *key, size_t n)
{
    size_t old = w->plen;
    if (w->plen + 1 < PATH_CAP) {
        w->path[w->plen++] = '/';
        /* The escape returns the length it needed; count what it wrote. */
        taas_json_pointer_escape(w->path + w->plen, PATH_CAP - w->plen, key, n);
        w->plen += strlen(w->path + w->plen);
    }
    return old;
}

static size_t path_push_tok(walker *w, int keytok)
{
    const jsmntok_t *t = &w->doc->toks[keytok];
    size_t raw = (size_t)(t->end - t->start);
    char stackbuf[256];
    if (raw < sizeof stackbuf) {
        size_t n = taas_json_str_decode(w->doc, keytok, stackbuf);
        return path_push_key(w, stackbuf, n);
    }
    /* A very long key: the path is truncated anyway; use the raw prefix. */
    return path_push_key(w, w->doc->text + t->start, sizeof stackbuf);
}

static size_t path_push_index(walker *w, size_t i)
{
    size_t old = w->plen;
    int n = snprintf(w->path + w->plen, PATH_CAP - w->plen, "/%zu", i);
    if (n > 0)
        w->plen += (size_t)n < PATH_CAP - w->plen ? (size_t)n : PATH_CAP - 1 - w->plen;
    return old;
}

static void path_pop(walker *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

void taas_schema__set_error(taas_error *e, const char *path, const char *msg)
{
    size_t n = strlen(path);
    if (n >= sizeof e->path) {
        /* Keep the tail intact enough to read; mark the cut. */
        memcpy(e->path, path, sizeof e->path - 4);
        memcpy(e->path + sizeof e->path - 4, "...", 4);
    } else {
        memcpy(e->path, path, n + 1);
    }
    snprintf(e->message, sizeof e->message, "%s", msg);
}

/* Record a failure (unless silent) and return -1. */
int taas_schema__fail(walker *w, const char *fmt, ...)
{
    if (w->silent)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->errs) {
        if (w->errs->count < TAAS_SCHEMA_MAX_ERRORS)
            taas_schema__set_error(&w->errs->items[w->errs->count++], w->path, msg);
        else
            w->errs->truncated = true;
    } else if (w->first && w->first->message[0] == '\0') {
        taas_schema__set_error(w->first, w->path, msg);
    }
    return -1;
}

/* Whether, after a failure, the walk should go on to the next keyword. */
static bool keep_going(const walker *w)
{
    return w->errs && !w->silent && !w->oom;
}

#define CHECK(expr)                     \
    do {                                \
        if ((expr) < 0) {               \
            if (!keep_going(w))         \
                return -1;              \
            bad = true;                 \
        }                               \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Helpers on values */

static const char *kind_name(const walker *w, int tok)
{
    taas_json_kind k = taas_json_kind_of(w->doc, tok);
    if (k == TAAS_JSON_NUMBER && taas_json_is_integral(w->doc, tok))
        return "integer";
    return taas_json_kind_name(k);
}

static bool type_ok(const walker *w, int tok, unsigned types)
{
    switch (taas_json_kind_of(w->doc, tok)) {
    case TAAS_JSON_NULL: return types & TAAS_SCHEMA_T_NULL;
    case TAAS_JSON_BOOL: return types & TAAS_SCHEMA_T_BOOLEAN;
    case TAAS_JSON_OBJECT: return types & TAAS_SCHEMA_T_OBJECT;
    case TAAS_JSON_ARRAY: return types & TAAS_SCHEMA_T_ARRAY;
    case TAAS_JSON_STRING: return types & TAAS_SCHEMA_T_STRING;
    case TAAS_JSON_NUMBER:
        if (types & TAAS_SCHEMA_T_NUMBER)
            return true;
        return (types & TAAS_SCHEMA_T_INTEGER) && taas_json_is_integral(w->doc, tok);
    }
    return false;
}

static void types_text(unsigned types, char *buf, size_t cap)
{
    static const char *const names[] = {"null", "boolean", "object", "array",
                                        "number", "string", "integer"};
    size_t n = 0;
    buf[0] = '\0';
    int count = 0;
    for (unsigned i = 0; i < 7; i++)
        count += (types >> i) & 1;
    int seen = 0;
    for (unsigned i = 0; i < 7; i++) {
        if (!(types & (1u << i)))
            continue;
        seen++;
        const char *sep = seen == 1 ? "" : seen == count ? " or " : ", ";
        int k = snprintf(buf + n, cap - n, "%s%s", sep, names[i]);
        if (k < 0 || (size_t)k >= cap - n)
            return;
        n += (size_t)k;
    }
}

const taas_jdoc *taas_schema__const_doc(const walker *w, int32_t i)
{
    return &w->s->rt->consts[i];
}

/* The token of the value after key token `k` in an object. */
static int value_of(int k)
{
    return k + 1;
}

void *taas_schema__arena(walker *w, size_t n)
{
    void *p = taas_alloc(w->ctx, n ? n : 1);
    if (!p)
        w->oom = true;
    return p;
}

/* Decoded string of a token into `stackbuf` if it fits, else an allocation. */
char *taas_schema__str_get(walker *w, int tok, char *stackbuf, size_t cap, size_t *len, bool *heap)
{
    size_t raw = taas_json_str_rawlen(w->doc, tok);
    char *buf = stackbuf;
    *heap = false;
    if (raw + 1 > cap) {
        if (w->ctx) {
            buf = taas_schema__arena(w, raw + 1);
        } else {
            buf = malloc(raw + 1);
            *heap = buf != NULL;
        }
        if (!buf)
            return NULL;
    }
    *len = taas_json_str_decode(w->doc, tok, buf);
    return buf;
}

static bool key_is(const walker *w, int keytok, const taas_schema_str *name)
{
    return taas_json_str_eq(w->doc, keytok, name->s, name->n);
}

/* ------------------------------------------------------------------------ */
/* The walk */

/* Evaluate a subschema only for its verdict. */
static bool passes(walker *w, int32_t ni, int tok)
{
    w->silent++;
    int rc = taas_schema__validate(w, ni, tok, NULL);
    w->silent--;
    return rc == 0;
}

static int check_number(walker *w, const taas_schema_node *n, int tok)
{
    bool bad = false;
    double v = taas_json_double(w->doc, tok);
    if ((n->flags & TAAS_SF_MINIMUM) && !(v >= n->minimum))
        CHECK(taas_schema__fail(w, "must be >= %.17g", n->minimum));
    if ((n->flags & TAAS_SF_MAXIMUM) && !(v <= n->maximum))
        CHECK(taas_schema__fail(w, "must be <= %.17g", n->maximum));
    if ((n->flags & TAAS_SF_EXMINIMUM) && !(v > n->ex_minimum))
        CHECK(taas_schema__fail(w, "must be > %.17g", n->ex_minimum));
    if ((n->flags & TAAS_SF_EXMAXIMUM) && !(v < n->ex_maximum))
        CHECK(taas_schema__fail(w, "must be < %.17g", n->ex_maximum));
    if (n->flags & TAAS_SF_MULTIPLEOF) {
        double m = n->multiple_of;
        bool ok;
        if (v == 0) {
            ok = true;
        } else if (m == floor(m) && v == floor(v) && fabs(v) < 9007199254740992.0 &&
                   m < 9007199254740992.0) {
            ok = fmod(v, m) == 0;
        } else {
            /* Decimal steps (0.01) are not exact in binary: allow a few ulps of
             * the quotient. Past 2^53 every double is an integer. An overflowing
             * quotient falls back to the exact remainder. */
            double q = v / m;
            if (!isfinite(q))
                ok = fmod(v, m) == 0; /* fmod is exact: 1e308 is a multiple of 0.5 */
            else
                ok = fabs(q) >= 9007199254740992.0 ||
                     fabs(q - nearbyint(q)) <= 8 * DBL_EPSILON * fmax(1.0, fabs(q));
        }
        if (!ok)
            CHECK(taas_schema__fail(w, "must be a multiple of %.17g", m));
    }
    return bad ? -1 : 0;
}

static int check_string(walker *w, const taas_schema_node *n, int tok)
{
    bool bad = false;
    if (n->min_length >= 0 || n->max_length >= 0) {
        size_t cps = taas_json_str_codepoints(w->doc, tok);
        if (n->min_length >= 0 && cps < (uint64_t)n->min_length)
            CHECK(taas_schema__fail(w, "must be at least %lld characters long", (long long)n->min_length));
        if (n->max_length >= 0 && cps > (uint64_t)n->max_length)
            CHECK(taas_schema__fail(w, "must be at most %lld characters long", (long long)n->max_length));
    }
    if (n->pattern >= 0) {
        int rc = taas_schema__tok_matches(w, tok, n->pattern);
        if (rc == 0) {
            const taas_schema_str *src = &w->s->regexes[n->pattern];
            CHECK(taas_schema__fail(w, "does not match pattern \"%.*s\"", (int)(src->n > 200 ? 200 : src->n),
                       src->s));
        } else if (rc < 0) {
            CHECK(taas_schema__regex_fail(w, n->pattern, rc));
        }
    }
    return bad ? -1 : 0;
}

static bool declared(const walker *w, const taas_schema_node *n, int keytok)
{
    for (int32_t i = 0; i < n->props.count; i++)
        if (key_is(w, keytok, &w->s->props[n->props.first + i].name))
            return true;
    return false;
}

static int check_object(walker *w, const taas_schema_node *n, int tok, void *dst)
{
    const taas_schema *s = w->s;
    const taas_jdoc *d = w->doc;
    bool bad = false;
    int size = d->toks[tok].size;
    bool bind = dst && n->bind == TAAS_BIND_STRUCT;

    if (n->min_props >= 0 && size < n->min_props)
        CHECK(taas_schema__fail(w, "must have at least %lld properties", (long long)n->min_props));
    if (n->max_props >= 0 && size > n->max_props)
        CHECK(taas_schema__fail(w, "must have at most %lld properties", (long long)n->max_props));

    for (int32_t i = 0; i < n->required.count; i++) {
        const taas_schema_str *name = &s->strs[n->required.first + i];
        if (taas_json_obj_get(d, tok, name->s, name->n) < 0) {
            size_t old = path_push_key(w, name->s, name->n);
            int rc = taas_schema__fail(w, "required property is missing");
            path_pop(w, old);
            CHECK(rc);
        }
    }
    for (int32_t i = 0; i < n->dep_required.count; i++) {
        const taas_schema_dep *dep = &s->deps[n->dep_required.first + i];
        if (taas_json_obj_get(d, tok, dep->name.s, dep->name.n) < 0)
            continue;
        for (int32_t j = 0; j < dep->count; j++) {
            const taas_schema_str *name = &s->strs[dep->first + j];
            if (taas_json_obj_get(d, tok, name->s, name->n) < 0) {
                size_t old = path_push_key(w, name->s, name->n);
                int rc = taas_schema__fail(w, "required property is missing (required when \"%.*s\" is present)",
                              (int)(dep->name.n > 100 ? 100 : dep->name.n), dep->name.s);
                path_pop(w, old);
                CHECK(rc);
            }
        }
    }

    /* properties: in declaration order, binding each into its field */
    for (int32_t i = 0; i < n->props.count; i++) {
        const taas_schema_prop *p = &s->props[n->props.first + i];
        int v = taas_json_obj_get(d, tok, p->name.s, p->name.n);
        void *field = bind && p->offset >= 0 ? (char *)dst + p->offset : NULL;
        size_t old = path_push_key(w, p->name.s, p->name.n);
        if (v >= 0) {
            CHECK(taas_schema__validate(w, p->node, v, field));
            if (field && p->has_offset >= 0)
                *(bool *)((char *)dst + p->has_offset) = true;
        } else if (field && p->default_const >= 0) {
            CHECK(taas_schema__bind_default(w, p, field));
        }
        path_pop(w, old);
    }

    /* patternProperties, additionalProperties, propertyNames: per instance key */
    if (n->pprops.count || n->additional >= 0 || n->property_names >= 0) {
        int k = tok + 1;
        for (int i = 0; i < size; i++) {
            int v = value_of(k);
            size_t old = path_push_tok(w, k);
            if (n->property_names >= 0 && !passes(w, n->property_names, k))
                CHECK(taas_schema__fail(w, "property name does not match propertyNames"));
            bool matched = false;
            for (int32_t j = 0; j < n->pprops.count; j++) {
                const taas_schema_pprop *pp = &s->pprops[n->pprops.first + j];
                int rc = taas_schema__tok_matches(w, k, pp->regex);
                if (rc < 0) {
                    CHECK(taas_schema__regex_fail(w, pp->regex, rc));
                    continue;
                }
                if (rc == 1) {
                    matched = true;
                    CHECK(taas_schema__validate(w, pp->node, v, NULL));
                }
            }
            if (n->additional >= 0 && !matched && !declared(w, n, k)) {
                const taas_schema_node *a = &s->nodes[n->additional];
                if ((a->flags & TAAS_SF_FALSE) && a->ref < 0)
                    CHECK(taas_schema__fail(w, "property is not allowed"));
                else
                    CHECK(taas_schema__validate(w, n->additional, v, NULL));
            }
            path_pop(w, old);
            k = taas_json_next(d, v);
        }
    }

    for (int32_t i = 0; i < n->dep_schemas.count; i++) {
        const taas_schema_dep *dep = &s->deps[n->dep_schemas.first + i];
        if (taas_json_obj_get(d, tok, dep->name.s, dep->name.n) >= 0)
            CHECK(taas_schema__validate(w, dep->node, tok, NULL));
    }
    return bad ? -1 : 0;
}

static int check_array(walker *w, const taas_schema_node *n, int tok, void *dst)
{
    const taas_schema *s = w->s;
    const taas_jdoc *d = w->doc;
    bool bad = false;
    int size = d->toks[tok].size;

    if (n->min_items >= 0 && size < n->min_items)
        CHECK(taas_schema__fail(w, "must have at least %lld items", (long long)n->min_items));
    if (n->max_items >= 0 && size > n->max_items)
        CHECK(taas_schema__fail(w, "must have at most %lld items", (long long)n->max_items));

    char *items = NULL;
    if (dst && n->bind == TAAS_BIND_ARRAY && size > 0) {
        uint32_t esz = n->items >= 0 ? s->nodes[n->items].size : (uint32_t)sizeof(taas_json);
        /* A pure $ref item node has size 0: the target's size applies. */
        int32_t in = n->items;
        while (in >= 0 && esz == 0 && s->nodes[in].ref >= 0) {
            in = s->nodes[in].ref;
            esz = s->nodes[in].size;
        }
        items = taas_schema__arena(w, (size_t)size * esz);
        if (!items)
            return taas_schema__fail(w, "out of memory");
        struct {
            size_t len;
            void *items;
        } *arr = dst;
        arr->len = (size_t)size;
        arr->items = items;
        int it = tok + 1;
        for (int i = 0; i < size; i++) {
            size_t old = path_push_index(w, (size_t)i);
            void *slot = items + (size_t)i * esz;
            CHECK(n->items >= 0 ? taas_schema__validate(w, n->items, it, slot) : taas_schema__bind_raw(w, it, slot));
            path_pop(w, old);
            it = taas_json_next(d, it);
        }
    } else if (n->prefix.count || n->items >= 0) {
        int it = tok + 1;
        for (int i = 0; i < size; i++) {
            int32_t sub = i < n->prefix.count ? s->lists[n->prefix.first + i] : n->items;
            if (sub >= 0) {
                size_t old = path_push_index(w, (size_t)i);
                CHECK(taas_schema__validate(w, sub, it, NULL));
                path_pop(w, old);
            }
            it = taas_json_next(d, it);
        }
    }

    if (n->contains >= 0) {
        int64_t matches = 0;
        int it = tok + 1;
        for (int i = 0; i < size; i++) {
            if (passes(w, n->contains, it))
                matches++;
            it = taas_json_next(d, it);
        }
        int64_t lo = n->min_contains >= 0 ? n->min_contains : 1;
        if (matches < lo) {
            if (n->min_contains >= 0)
                CHECK(taas_schema__fail(w, "must contain at least %lld matching items", (long long)lo));
            else
                CHECK(taas_schema__fail(w, "does not contain a matching item"));
        }
        if (n->max_contains >= 0 && matches > n->max_contains)
            CHECK(taas_schema__fail(w, "must contain at most %lld matching items",
                       (long long)n->max_contains));
    }

    if ((n->flags & TAAS_SF_UNIQUE) && size > 1)
        CHECK(taas_schema__check_unique(w, tok, size));
    return bad ? -1 : 0;
}

int taas_schema__validate(walker *w, int32_t ni, int tok, void *dst)
{
    const taas_schema *s = w->s;
    const taas_schema_node *n = &s->nodes[ni];
    bool bad = false;

    if (n->flags & TAAS_SF_FALSE)
        return taas_schema__fail(w, "no value is allowed here");
    if (++w->depth > SCHEMA_MAX_DEPTH) {
        w->depth--;
        return taas_schema__fail(w, "schema nesting too deep");
    }
    if (n->ref >= 0) {
        /* A node that does not bind itself lets its $ref target bind. */
        int rc = taas_schema__validate(w, n->ref, tok, n->bind == TAAS_BIND_NONE ? dst : NULL);
        if (rc < 0) {
            if (!keep_going(w)) {
                w->depth--;
                return -1;
            }
            bad = true;
        }
    }
    if (n->types && !type_ok(w, tok, n->types)) {
        char want[96];
        types_text(n->types, want, sizeof want);
        taas_schema__fail(w, "expected %s, got %s", want, kind_name(w, tok));
        w->depth--;
        return -1;
    }
    void *here = n->bind != TAAS_BIND_NONE ? dst : NULL;
    int rc = 0;
    if (n->flags & TAAS_SF_CONST) {
        if (!taas_json_equal(w->doc, tok, taas_schema__const_doc(w, n->const_), 0))
            rc = taas_schema__fail(w, "must equal the constant %.*s",
                      (int)(s->consts[n->const_].n > 200 ? 200 : s->consts[n->const_].n),
                      s->consts[n->const_].s);
    }
    /* A bound C enum checks membership when it stores the value. */
    if (rc == 0 && (n->flags & TAAS_SF_ENUM) && !(here && n->bind == TAAS_BIND_ENUM)) {
        bool found = false;
        for (int32_t i = 0; i < n->enum_.count && !found; i++)
            found = taas_json_equal(w->doc, tok, taas_schema__const_doc(w, s->lists[n->enum_.first + i]), 0);
        if (!found)
            rc = taas_schema__fail(w, "value is not one of the allowed values");
    }
    if (rc < 0) {
        if (!keep_going(w)) {
            w->depth--;
            return -1;
        }
        bad = true;
    }

    switch (taas_json_kind_of(w->doc, tok)) {
    case TAAS_JSON_NUMBER:
        rc = check_number(w, n, tok);
        break;
    case TAAS_JSON_STRING:
        rc = check_string(w, n, tok);
        break;
    case TAAS_JSON_OBJECT:
        rc = check_object(w, n, tok, here);
        break;
    case TAAS_JSON_ARRAY:
        rc = check_array(w, n, tok, here);
        break;
    default:
        rc = 0;
    }
    if (rc < 0) {
        if (!keep_going(w)) {
            w->depth--;
            return -1;
        }
        bad = true;
    }

    /* in-place applicators */
    for (int32_t i = 0; i < n->all_of.count; i++) {
        if (taas_schema__validate(w, s->lists[n->all_of.first + i], tok, NULL) < 0) {
            if (!keep_going(w)) {
                w->depth--;
                return -1;
            }
            bad = true;
        }
    }
    rc = 0;
    if (n->any_of.count) {
        bool any = false;
        for (int32_t i = 0; i < n->any_of.count && !any; i++)
            any = passes(w, s->lists[n->any_of.first + i], tok);
        if (!any)
            rc = taas_schema__fail(w, "does not match any schema of anyOf");
    }
    if (rc == 0 && n->one_of.count) {
        int first = -1, second = -1;
        for (int32_t i = 0; i < n->one_of.count && second < 0; i++) {
            if (passes(w, s->lists[n->one_of.first + i], tok)) {
                if (first < 0)
                    first = (int)i;
                else
                    second = (int)i;
            }
        }
        if (first < 0)
            rc = taas_schema__fail(w, "does not match any schema of oneOf");
        else if (second >= 0)
            rc = taas_schema__fail(w, "matches more than one schema of oneOf (%d and %d)", first, second);
    }
    if (rc == 0 && n->not_ >= 0 && passes(w, n->not_, tok))
        rc = taas_schema__fail(w, "must not match the schema of not");
    if (rc < 0) {
        if (!keep_going(w)) {
            w->depth--;
            return -1;
        }
        bad = true;
    }
    if (n->if_ >= 0) {
        int32_t branch = passes(w, n->if_, tok) ? n->then_ : n->else_;
        if (branch >= 0 && taas_schema__validate(w, branch, tok, NULL) < 0) {
            if (!keep_going(w)) {
                w->depth--;
                return -1;
            }
            bad = true;
        }
    }

    if (!bad && here && n->bind != TAAS_BIND_STRUCT && n->bind != TAAS_BIND_ARRAY) {
        if (taas_schema__bind_value(w, n, tok, here) < 0) {
            w->depth--;
            return -1;
        }
    }
    w->depth--;
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Entry points */

static void errs_reset(taas_schema_errors *errs)
{
    errs->count = 0;
    errs->truncated = false;
}

int taas_schema_validate_doc(const taas_schema *s, const taas_jdoc *doc, int tok,
                             taas_schema_errors *errs)
{
    taas_schema_errors local;
    if (!errs)
        errs = &local;
    errs_reset(errs);
    if (taas_schema__rt_init(s) != 0) {
        taas_schema__set_error(&errs->items[0], "", "out of memory preparing the schema");
        errs->count = 1;
        return TAAS_SCHEMA_INVALID;
    }
    walker w;
    memset(&w, 0, offsetof(walker, path));
    w.path[0] = '\0';
    w.s = s;
    w.doc = doc;
    w.errs = errs;
    int rc = taas_schema__validate(&w, s->root, tok, NULL);
    return rc == 0 && errs->count == 0 ? TAAS_SCHEMA_VALID : TAAS_SCHEMA_INVALID;
}

int taas_schema_validate(const taas_schema *s, const char *json, size_t len,
                         taas_schema_errors *errs)
{
    taas_jdoc doc;
    char msg[256];
    if (taas_json_parse(&doc, json, len, NULL, msg, sizeof msg) != 0) {
        if (errs) {
            errs_reset(errs);
            char m[300];
            snprintf(m, sizeof m, "invalid JSON: %s", msg);
            taas_schema__set_error(&errs->items[0], "", m);
            errs->count = 1;
        }
        return TAAS_SCHEMA_EJSON;
    }
    int rc = taas_schema_validate_doc(s, &doc, 0, errs);
    taas_json_free(&doc);
    return rc;
}

int taas_schema__first_walk(const taas_schema *s, taas_ctx *ctx, const taas_jdoc *doc, void *dst,
                      taas_error *err)
{
    err->path[0] = '\0';
    err->message[0] = '\0';
    if (taas_schema__rt_init(s) != 0) {
        taas_schema__set_error(err, "", "out of memory preparing the schema");
        return -1;
    }
    walker w;
    memset(&w, 0, offsetof(walker, path));
    w.path[0] = '\0';
    w.s = s;
    w.doc = doc;
    w.ctx = ctx;
    w.first = err;
    int rc = taas_schema__validate(&w, s->root, 0, dst);
    if (rc < 0 && err->message[0] == '\0')
        taas_schema__set_error(err, "", "does not conform to the schema");
    return rc;
}

int taas_schema_parse(const taas_schema *s, taas_ctx *ctx, const char *json, size_t len,
                      void *dst, taas_error *err)
{
    taas_jdoc doc;
    char msg[256];
    if (taas_json_parse(&doc, json, len, NULL, msg, sizeof msg) != 0) {
        char m[300];
        snprintf(m, sizeof m, "invalid JSON: %s", msg);
        taas_schema__set_error(err, "", m);
        return -1;
    }
    int rc = taas_schema__first_walk(s, ctx, &doc, dst, err);
    taas_json_free(&doc);
    return rc;
}

