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
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "schema/schema.h"

#include <float.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How deep $ref chains and nested applicators may go before we give up. */
#define SCHEMA_MAX_DEPTH 512
/* Backtracking cap for one regex match (catastrophic patterns fail, not hang). */
#define SCHEMA_MATCH_LIMIT 1000000u
#define SCHEMA_DEPTH_LIMIT 10000u
#define PATH_CAP 1024

typedef struct walker {
    const taas_schema *s;
    const taas_jdoc *doc;
    taas_ctx *ctx;             /* for arena allocations; NULL when not binding */
    taas_schema_errors *errs;  /* collect mode when not NULL */
    taas_error *first;         /* first-error mode */
    int silent;
    int depth;
    bool oom;
    size_t plen;
    char path[PATH_CAP];
} walker;

/* ------------------------------------------------------------------------ */
/* Lazy per-schema state: compiled regexes and parsed constants */

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_match_context *match_ctx;
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void md_init(void)
{
    (void)pthread_key_create(&md_key, md_free);
}

/* This thread's match data (one ovector pair is enough: we only ask "does it match"). */
static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (md && pthread_setspecific(md_key, md) != 0) {
            pcre2_match_data_free(md);
            md = NULL;
        }
    }
    return md;
}

static int rt_init(const taas_schema *s)
{
    taas_schema_rt *rt = s->rt;
    if (atomic_load_explicit(&rt->ready, memory_order_acquire) == 1)
        return 0;
    pthread_mutex_lock(&rt_lock);
    int rc = 0;
    if (atomic_load_explicit(&rt->ready, memory_order_relaxed) == 1)
        goto out;
    if (!match_ctx) {
        match_ctx = pcre2_match_context_create(NULL);
        if (!match_ctx) {
            rc = -1;
            goto out;
        }
        pcre2_set_match_limit(match_ctx, SCHEMA_MATCH_LIMIT);
        pcre2_set_depth_limit(match_ctx, SCHEMA_DEPTH_LIMIT);
    }
    if (s->regex_count) {
        rt->regex = calloc(s->regex_count, sizeof *rt->regex);
        rt->regex_err = calloc(s->regex_count, sizeof *rt->regex_err);
        if (!rt->regex || !rt->regex_err) {
            rc = -1;
            goto out;
        }
        for (size_t i = 0; i < s->regex_count; i++) {
            int ec;
            PCRE2_SIZE eo;
            /* PCRE2_UTF: code points, as JSON Schema counts them; no PCRE2_UCP, so
             * \d \w \s stay ASCII like ECMA-262 without the u flag's classes. */
            rt->regex[i] = pcre2_compile((PCRE2_SPTR)s->regexes[i].s, s->regexes[i].n,
                                         PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
            if (!rt->regex[i]) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(ec, msg, sizeof msg);
                char buf[256];
                snprintf(buf, sizeof buf, "pattern does not compile at offset %zu: %s",
                         (size_t)eo, (const char *)msg);
                rt->regex_err[i] = strdup(buf);
            }
        }
    }
    if (s->const_count) {
        rt->consts = calloc(s->const_count, sizeof *rt->consts);
        if (!rt->consts) {
            rc = -1;
            goto out;
        }
        for (size_t i = 0; i < s->const_count; i++) {
            char err[128];
            /* Generated text is canonical JSON; a failure here is a generator bug. */
            if (taas_json_parse(&rt->consts[i], s->consts[i].s, s->consts[i].n, NULL, err,
                                sizeof err) != 0) {
                rc = -1;
                goto out;
            }
        }
    }
    atomic_store_explicit(&rt->ready, 1, memory_order_release);
out:
    if (rc != 0) {
        /* Leave it unset: the next call retries, nothing half-built is used. */
        if (rt->regex) {
            for (size_t i = 0; i < s->regex_count; i++) {
                pcre2_code_free(rt->regex[i]);
                free(rt->regex_err[i]);
            }
        }
        free(rt->regex);
        free(rt->regex_err);
        if (rt->consts) {
            for (size_t i = 0; i < s->const_count; i++)
                taas_json_free(&rt->consts[i]);
        }
        free(rt->consts);
        rt->regex = NULL;
        rt->regex_err = NULL;
        rt->consts = NULL;
    }
    pthread_mutex_unlock(&rt_lock);
    return rc;
}

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

static void set_error(taas_error *e, const char *path, const char *msg)
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
static int fail(walker *w, const char *fmt, ...) TAAS_PRINTF(2, 3);
static int fail(walker *w, const char *fmt, ...)
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
            set_error(&w->errs->items[w->errs->count++], w->path, msg);
        else
            w->errs->truncated = true;
    } else if (w->first && w->first->message[0] == '\0') {
        set_error(w->first, w->path, msg);
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
    case TAAS_JSON_NULL: return types & TAAS_ST_NULL;
    case TAAS_JSON_BOOL: return types & TAAS_ST_BOOLEAN;
    case TAAS_JSON_OBJECT: return types & TAAS_ST_OBJECT;
    case TAAS_JSON_ARRAY: return types & TAAS_ST_ARRAY;
    case TAAS_JSON_STRING: return types & TAAS_ST_STRING;
    case TAAS_JSON_NUMBER:
        if (types & TAAS_ST_NUMBER)
            return true;
        return (types & TAAS_ST_INTEGER) && taas_json_is_integral(w->doc, tok);
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

static const taas_jdoc *const_doc(const walker *w, int32_t i)
{
    return &w->s->rt->consts[i];
}

/* The token of the value after key token `k` in an object. */
static int value_of(int k)
{
    return k + 1;
}

static void *arena(walker *w, size_t n)
{
    void *p = taas_alloc(w->ctx, n ? n : 1);
    if (!p)
        w->oom = true;
    return p;
}

/* Decoded string of a token into `stackbuf` if it fits, else an allocation. */
static char *str_get(walker *w, int tok, char *stackbuf, size_t cap, size_t *len, bool *heap)
{
    size_t raw = taas_json_str_rawlen(w->doc, tok);
    char *buf = stackbuf;
    *heap = false;
    if (raw + 1 > cap) {
        if (w->ctx) {
            buf = arena(w, raw + 1);
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

static int regex_match(walker *w, int32_t ri, const char *s, size_t n)
{
    taas_schema_rt *rt = w->s->rt;
    pcre2_code *re = rt->regex[ri];
    if (!re)
        return -2;
    pcre2_match_data *md = thread_match_data();
    if (!md)
        return -3;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, md, match_ctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -4; /* match limit and friends */
}

/* Does string token `tok` match regex `ri`? 1 yes, 0 no, <0 could not tell. */
static int tok_matches(walker *w, int tok, int32_t ri)
{
    char stackbuf[512];
    size_t len;
    bool heap;
    const jsmntok_t *t = &w->doc->toks[tok];
    /* Without escapes the raw bytes are the decoded string. */
    if (!memchr(w->doc->text + t->start, '\\', (size_t)(t->end - t->start)))
        return regex_match(w, ri, w->doc->text + t->start, (size_t)(t->end - t->start));
    char *buf = str_get(w, tok, stackbuf, sizeof stackbuf, &len, &heap);
    if (!buf)
        return -3;
    int rc = regex_match(w, ri, buf, len);
    if (heap)
        free(buf);
    return rc;
}

static int regex_fail(walker *w, int32_t ri, int rc)
{
    const taas_schema_str *src = &w->s->regexes[ri];
    if (rc == -2)
        return fail(w, "%s", w->s->rt->regex_err[ri] ? w->s->rt->regex_err[ri]
                                                      : "pattern does not compile");
    if (rc == -3) {
        w->oom = true;
        return fail(w, "out of memory");
    }
    return fail(w, "pattern \"%.*s\" is too expensive to match against this value",
                (int)(src->n > 200 ? 200 : src->n), src->s);
}

static bool key_is(const walker *w, int keytok, const taas_schema_str *name)
{
    return taas_json_str_eq(w->doc, keytok, name->s, name->n);
}

/* ------------------------------------------------------------------------ */
/* The walk */

static int validate(walker *w, int32_t ni, int tok, void *dst);
static int bind_default(walker *w, const taas_schema_prop *p, void *dst);
static int bind_raw(walker *w, int tok, taas_json *dst);

/* Evaluate a subschema only for its verdict. */
static bool passes(walker *w, int32_t ni, int tok)
{
    w->silent++;
    int rc = validate(w, ni, tok, NULL);
    w->silent--;
    return rc == 0;
}

static int check_number(walker *w, const taas_schema_node *n, int tok)
{
    bool bad = false;
    double v = taas_json_double(w->doc, tok);
    if ((n->flags & TAAS_SF_MINIMUM) && !(v >= n->minimum))
        CHECK(fail(w, "must be >= %.17g", n->minimum));
    if ((n->flags & TAAS_SF_MAXIMUM) && !(v <= n->maximum))
        CHECK(fail(w, "must be <= %.17g", n->maximum));
    if ((n->flags & TAAS_SF_EXMINIMUM) && !(v > n->ex_minimum))
        CHECK(fail(w, "must be > %.17g", n->ex_minimum));
    if ((n->flags & TAAS_SF_EXMAXIMUM) && !(v < n->ex_maximum))
        CHECK(fail(w, "must be < %.17g", n->ex_maximum));
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
            CHECK(fail(w, "must be a multiple of %.17g", m));
    }
    return bad ? -1 : 0;
}

static int check_string(walker *w, const taas_schema_node *n, int tok)
{
    bool bad = false;
    if (n->min_length >= 0 || n->max_length >= 0) {
        size_t cps = taas_json_str_codepoints(w->doc, tok);
        if (n->min_length >= 0 && cps < (uint64_t)n->min_length)
            CHECK(fail(w, "must be at least %lld characters long", (long long)n->min_length));
        if (n->max_length >= 0 && cps > (uint64_t)n->max_length)
            CHECK(fail(w, "must be at most %lld characters long", (long long)n->max_length));
    }
    if (n->pattern >= 0) {
        int rc = tok_matches(w, tok, n->pattern);
        if (rc == 0) {
            const taas_schema_str *src = &w->s->regexes[n->pattern];
            CHECK(fail(w, "does not match pattern \"%.*s\"", (int)(src->n > 200 ? 200 : src->n),
                       src->s));
        } else if (rc < 0) {
            CHECK(regex_fail(w, n->pattern, rc));
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
        CHECK(fail(w, "must have at least %lld properties", (long long)n->min_props));
    if (n->max_props >= 0 && size > n->max_props)
        CHECK(fail(w, "must have at most %lld properties", (long long)n->max_props));

    for (int32_t i = 0; i < n->required.count; i++) {
        const taas_schema_str *name = &s->strs[n->required.first + i];
        if (taas_json_obj_get(d, tok, name->s, name->n) < 0) {
            size_t old = path_push_key(w, name->s, name->n);
            int rc = fail(w, "required property is missing");
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
                int rc = fail(w, "required property is missing (required when \"%.*s\" is present)",
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
            CHECK(validate(w, p->node, v, field));
            if (field && p->has_offset >= 0)
                *(bool *)((char *)dst + p->has_offset) = true;
        } else if (field && p->default_const >= 0) {
            CHECK(bind_default(w, p, field));
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
                CHECK(fail(w, "property name does not match propertyNames"));
            bool matched = false;
            for (int32_t j = 0; j < n->pprops.count; j++) {
                const taas_schema_pprop *pp = &s->pprops[n->pprops.first + j];
                int rc = tok_matches(w, k, pp->regex);
                if (rc < 0) {
                    CHECK(regex_fail(w, pp->regex, rc));
                    continue;
                }
                if (rc == 1) {
                    matched = true;
                    CHECK(validate(w, pp->node, v, NULL));
                }
            }
            if (n->additional >= 0 && !matched && !declared(w, n, k)) {
                const taas_schema_node *a = &s->nodes[n->additional];
                if ((a->flags & TAAS_SF_FALSE) && a->ref < 0)
                    CHECK(fail(w, "property is not allowed"));
                else
                    CHECK(validate(w, n->additional, v, NULL));
            }
            path_pop(w, old);
            k = taas_json_next(d, v);
        }
    }

    for (int32_t i = 0; i < n->dep_schemas.count; i++) {
        const taas_schema_dep *dep = &s->deps[n->dep_schemas.first + i];
        if (taas_json_obj_get(d, tok, dep->name.s, dep->name.n) >= 0)
            CHECK(validate(w, dep->node, tok, NULL));
    }
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* uniqueItems: hash every item consistently with taas_json_equal, sort, and
 * compare only items whose hashes collide. Small arrays compare pairwise. */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_string(walker *w, int tok)
{
    const jsmntok_t *t = &w->doc->toks[tok];
    const char *raw = w->doc->text + t->start;
    size_t rawlen = (size_t)(t->end - t->start);
    if (!memchr(raw, '\\', rawlen))
        return hash_bytes(raw, rawlen);
    char stackbuf[512];
    size_t len;
    bool heap;
    char *buf = str_get(w, tok, stackbuf, sizeof stackbuf, &len, &heap);
    if (!buf)
        return 0; /* every such string collides: still correct, only slower */
    uint64_t h = hash_bytes(buf, len);
    if (heap)
        free(buf);
    return h;
}

/* Equal values (as taas_json_equal sees them) always get equal hashes. */
static uint64_t hash_value(walker *w, int tok)
{
    const taas_jdoc *d = w->doc;
    switch (taas_json_kind_of(d, tok)) {
    case TAAS_JSON_NULL:
        return 0x6e756c6cULL;
    case TAAS_JSON_BOOL:
        return taas_json_bool(d, tok) ? 0x74727565ULL : 0x66616c73ULL;
    case TAAS_JSON_NUMBER: {
        double v = taas_json_double(d, tok);
        if (v == 0)
            v = 0; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        return mix64(bits ^ 0x6e756dULL);
    }
    case TAAS_JSON_STRING:
        return mix64(hash_string(w, tok) ^ 0x737472ULL);
    case TAAS_JSON_ARRAY: {
        uint64_t h = 0x617272ULL;
        int it = tok + 1;
        for (int i = 0; i < d->toks[tok].size; i++) {
            h = mix64(h * 31 + hash_value(w, it));
            it = taas_json_next(d, it);
        }
        return h;
    }
    case TAAS_JSON_OBJECT: {
        /* Key order does not matter: combine the members commutatively. */
        uint64_t h = 0x6f626aULL;
        int k = tok + 1;
        for (int i = 0; i < d->toks[tok].size; i++) {
            h += mix64(hash_string(w, k) * 0x9e3779b97f4a7c15ULL + hash_value(w, k + 1));
            k = taas_json_next(d, k + 1);
        }
        return mix64(h);
    }
    }
    return 0;
}

typedef struct hashed_item {
    uint64_t hash;
    int tok;
    int index;
} hashed_item;

static int hashed_cmp(const void *a, const void *b)
{
    const hashed_item *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index - y->index;
}

static int check_unique(walker *w, int tok, int size)
{
    const taas_jdoc *d = w->doc;
    if (size <= 16) {
        int a = tok + 1;
        for (int i = 0; i < size; i++) {
            int b = taas_json_next(d, a);
            for (int j = i + 1; j < size; j++) {
                if (taas_json_equal(d, a, d, b))
                    return fail(w, "items %d and %d are equal", i, j);
                b = taas_json_next(d, b);
            }
            a = taas_json_next(d, a);
        }
        return 0;
    }
    size_t bytes = (size_t)size * sizeof(hashed_item);
    hashed_item *v = w->ctx ? arena(w, bytes) : malloc(bytes);
    if (!v) {
        w->oom = true;
        return fail(w, "out of memory");
    }
    int it = tok + 1;
    for (int i = 0; i < size; i++) {
        v[i].hash = hash_value(w, it);
        v[i].tok = it;
        v[i].index = i;
        it = taas_json_next(d, it);
    }
    qsort(v, (size_t)size, sizeof *v, hashed_cmp);
    /* Stop at the first equal pair: a run of many equal items stays linear. */
    int dup_i = -1, dup_j = -1;
    for (int i = 0; i + 1 < size && dup_i < 0; i++) {
        for (int j = i + 1; j < size && v[j].hash == v[i].hash; j++) {
            if (taas_json_equal(d, v[i].tok, d, v[j].tok)) {
                dup_i = v[i].index; /* ties sort by index: dup_i < dup_j */
                dup_j = v[j].index;
                break;
            }
        }
    }
    if (!w->ctx)
        free(v);
    if (dup_i >= 0)
        return fail(w, "items %d and %d are equal", dup_i, dup_j);
    return 0;
}

static int check_array(walker *w, const taas_schema_node *n, int tok, void *dst)
{
    const taas_schema *s = w->s;
    const taas_jdoc *d = w->doc;
    bool bad = false;
    int size = d->toks[tok].size;

    if (n->min_items >= 0 && size < n->min_items)
        CHECK(fail(w, "must have at least %lld items", (long long)n->min_items));
    if (n->max_items >= 0 && size > n->max_items)
        CHECK(fail(w, "must have at most %lld items", (long long)n->max_items));

    char *items = NULL;
    if (dst && n->bind == TAAS_BIND_ARRAY && size > 0) {
        uint32_t esz = n->items >= 0 ? s->nodes[n->items].size : (uint32_t)sizeof(taas_json);
        /* A pure $ref item node has size 0: the target's size applies. */
        int32_t in = n->items;
        while (in >= 0 && esz == 0 && s->nodes[in].ref >= 0) {
            in = s->nodes[in].ref;
            esz = s->nodes[in].size;
        }
        items = arena(w, (size_t)size * esz);
        if (!items)
            return fail(w, "out of memory");
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
            CHECK(n->items >= 0 ? validate(w, n->items, it, slot) : bind_raw(w, it, slot));
            path_pop(w, old);
            it = taas_json_next(d, it);
        }
    } else if (n->prefix.count || n->items >= 0) {
        int it = tok + 1;
        for (int i = 0; i < size; i++) {
            int32_t sub = i < n->prefix.count ? s->lists[n->prefix.first + i] : n->items;
            if (sub >= 0) {
                size_t old = path_push_index(w, (size_t)i);
                CHECK(validate(w, sub, it, NULL));
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
                CHECK(fail(w, "must contain at least %lld matching items", (long long)lo));
            else
                CHECK(fail(w, "does not contain a matching item"));
        }
        if (n->max_contains >= 0 && matches > n->max_contains)
            CHECK(fail(w, "must contain at most %lld matching items",
                       (long long)n->max_contains));
    }

    if ((n->flags & TAAS_SF_UNIQUE) && size > 1)
        CHECK(check_unique(w, tok, size));
    return bad ? -1 : 0;
}

/* Copy the raw text of a value into the arena as a taas_json. */
static int bind_raw(walker *w, int tok, taas_json *dst)
{
    const jsmntok_t *t = &w->doc->toks[tok];
    int start = t->start, end = t->end;
    if (t->type == JSMN_STRING) {
        start--;
        end++;
    }
    size_t len = (size_t)(end - start);
    char *s = arena(w, len + 1);
    if (!s)
        return fail(w, "out of memory");
    memcpy(s, w->doc->text + start, len);
    dst->text = s;
    dst->len = len;
    return 0;
}

/* Store a scalar or raw value that has already been validated. */
static int bind_value(walker *w, const taas_schema_node *n, int tok, void *dst)
{
    const taas_jdoc *d = w->doc;
    switch ((taas_bind_kind)n->bind) {
    case TAAS_BIND_STRING: {
        size_t raw = taas_json_str_rawlen(d, tok);
        char *s = arena(w, raw + 1);
        if (!s)
            return fail(w, "out of memory");
        taas_json_str_decode(d, tok, s);
        *(const char **)dst = s;
        return 0;
    }
    case TAAS_BIND_INT64: {
        int64_t v;
        if (taas_json_int64(d, tok, &v) != 0)
            return fail(w, "integer out of range for a 64-bit integer");
        *(int64_t *)dst = v;
        return 0;
    }
    case TAAS_BIND_DOUBLE: {
        double v = taas_json_double(d, tok);
        if (!isfinite(v))
            return fail(w, "number out of range for a double");
        *(double *)dst = v;
        return 0;
    }
    case TAAS_BIND_BOOL:
        *(bool *)dst = taas_json_bool(d, tok);
        return 0;
    case TAAS_BIND_ENUM:
        for (int32_t i = 0; i < n->enum_.count; i++) {
            int32_t ci = w->s->lists[n->enum_.first + i];
            if (taas_json_equal(d, tok, const_doc(w, ci), 0)) {
                *(int *)dst = (int)i;
                return 0;
            }
        }
        return fail(w, "value is not one of the allowed values");
    case TAAS_BIND_JSON:
        return bind_raw(w, tok, dst);
    default:
        return 0;
    }
}

static int bind_default(walker *w, const taas_schema_prop *p, void *dst)
{
    const taas_jdoc *saved = w->doc;
    w->doc = const_doc(w, p->default_const);
    int rc = validate(w, p->node, 0, dst);
    w->doc = saved;
    if (rc < 0 && w->first && !w->silent)
        snprintf(w->first->message, sizeof w->first->message,
                 "the schema's default value does not conform to it");
    return rc;
}

static int validate(walker *w, int32_t ni, int tok, void *dst)
{
    const taas_schema *s = w->s;
    const taas_schema_node *n = &s->nodes[ni];
    bool bad = false;

    if (n->flags & TAAS_SF_FALSE)
        return fail(w, "no value is allowed here");
    if (++w->depth > SCHEMA_MAX_DEPTH) {
        w->depth--;
        return fail(w, "schema nesting too deep");
    }
    if (n->ref >= 0) {
        /* A node that does not bind itself lets its $ref target bind. */
        int rc = validate(w, n->ref, tok, n->bind == TAAS_BIND_NONE ? dst : NULL);
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
        fail(w, "expected %s, got %s", want, kind_name(w, tok));
        w->depth--;
        return -1;
    }
    void *here = n->bind != TAAS_BIND_NONE ? dst : NULL;
    int rc = 0;
    if (n->flags & TAAS_SF_CONST) {
        if (!taas_json_equal(w->doc, tok, const_doc(w, n->const_), 0))
            rc = fail(w, "must equal the constant %.*s",
                      (int)(s->consts[n->const_].n > 200 ? 200 : s->consts[n->const_].n),
                      s->consts[n->const_].s);
    }
    /* A bound C enum checks membership when it stores the value. */
    if (rc == 0 && (n->flags & TAAS_SF_ENUM) && !(here && n->bind == TAAS_BIND_ENUM)) {
        bool found = false;
        for (int32_t i = 0; i < n->enum_.count && !found; i++)
            found = taas_json_equal(w->doc, tok, const_doc(w, s->lists[n->enum_.first + i]), 0);
        if (!found)
            rc = fail(w, "value is not one of the allowed values");
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
        if (validate(w, s->lists[n->all_of.first + i], tok, NULL) < 0) {
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
            rc = fail(w, "does not match any schema of anyOf");
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
            rc = fail(w, "does not match any schema of oneOf");
        else if (second >= 0)
            rc = fail(w, "matches more than one schema of oneOf (%d and %d)", first, second);
    }
    if (rc == 0 && n->not_ >= 0 && passes(w, n->not_, tok))
        rc = fail(w, "must not match the schema of not");
    if (rc < 0) {
        if (!keep_going(w)) {
            w->depth--;
            return -1;
        }
        bad = true;
    }
    if (n->if_ >= 0) {
        int32_t branch = passes(w, n->if_, tok) ? n->then_ : n->else_;
        if (branch >= 0 && validate(w, branch, tok, NULL) < 0) {
            if (!keep_going(w)) {
                w->depth--;
                return -1;
            }
            bad = true;
        }
    }

    if (!bad && here && n->bind != TAAS_BIND_STRUCT && n->bind != TAAS_BIND_ARRAY) {
        if (bind_value(w, n, tok, here) < 0) {
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
    if (rt_init(s) != 0) {
        set_error(&errs->items[0], "", "out of memory preparing the schema");
        errs->count = 1;
        return TAAS_SCHEMA_INVALID;
    }
    walker w;
    memset(&w, 0, offsetof(walker, path));
    w.path[0] = '\0';
    w.s = s;
    w.doc = doc;
    w.errs = errs;
    int rc = validate(&w, s->root, tok, NULL);
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
            set_error(&errs->items[0], "", m);
            errs->count = 1;
        }
        return TAAS_SCHEMA_EJSON;
    }
    int rc = taas_schema_validate_doc(s, &doc, 0, errs);
    taas_json_free(&doc);
    return rc;
}

static int first_walk(const taas_schema *s, taas_ctx *ctx, const taas_jdoc *doc, void *dst,
                      taas_error *err)
{
    err->path[0] = '\0';
    err->message[0] = '\0';
    if (rt_init(s) != 0) {
        set_error(err, "", "out of memory preparing the schema");
        return -1;
    }
    walker w;
    memset(&w, 0, offsetof(walker, path));
    w.path[0] = '\0';
    w.s = s;
    w.doc = doc;
    w.ctx = ctx;
    w.first = err;
    int rc = validate(&w, s->root, 0, dst);
    if (rc < 0 && err->message[0] == '\0')
        set_error(err, "", "does not conform to the schema");
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
        set_error(err, "", m);
        return -1;
    }
    int rc = first_walk(s, ctx, &doc, dst, err);
    taas_json_free(&doc);
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
        set_error(w->err, w->path, msg);
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
        set_error(err, "", "out of memory");
        return -1;
    }
    w->s = s;
    w->err = err;
    w->plen = 0;
    w->path[0] = '\0';
    taas_jw_init(&w->jw, 0);
    int rc = write_value(w, s->root, src, 0);
    if (rc == 0 && w->jw.err) {
        set_error(err, "", w->jw.err == TAAS_JSON_ETOOBIG ? "output is too large"
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
            set_error(err, "", "out of memory");
        return -1;
    }
    taas_jdoc doc;
    char msg[256];
    if (taas_json_parse(&doc, text, n, NULL, msg, sizeof msg) != 0) {
        char m[300];
        snprintf(m, sizeof m, "output is not valid JSON: %s", msg);
        set_error(err, "", m);
        free(text);
        return -1;
    }
    rc = first_walk(s, ctx, &doc, NULL, err);
    taas_json_free(&doc);
    if (rc < 0) {
        free(text);
        return -1;
    }
    *json = text;
    *len = n;
    return 0;
}
