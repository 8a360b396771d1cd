/*
 * runtime/json/json_parse.c - taas_json_parse(): strict RFC 8259 parsing.
 *
 * Method. jsmn (strict, parent links) is a tokenizer, not a validator: it
 * accepts trailing commas, missing colons, "tru", "01", several root values
 * and more. So a parse runs three passes, each linear:
 *
 *   1. prescan: one walk over the bytes, before any allocation. It enforces
 *      the depth limit (so 100,000 '[' fail after reading 65 bytes), checks
 *      every string completely (escapes, surrogate pairing, "\u0000", raw
 *      UTF-8, control characters, length cap) and counts an upper bound of
 *      the tokens, exact for valid JSON. That count sizes the one token
 *      allocation, so jsmn never needs its own counting pass or a retry.
 *   2. jsmn fills the tokens.
 *   3. walk: the tokens in document order against the grammar. Every byte
 *      of the text is accounted for: inside a token, an expected separator
 *      (',' or ':'), a bracket of a container, or whitespace. Literals and
 *      numbers are checked against the grammar, jsmn's parent links and
 *      sizes are checked to agree with the structure (the read helpers rely
 *      on them), and each object's keys are checked for duplicates as it
 *      closes: pairwise for up to 16 keys, through a hash table keyed by a
 *      per-process random SipHash key above that.
 *
 * When a document has several problems, the one reported is the first
 * found by these passes, which is not always the first in the text.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "json_int.h"
#include "util/utf8.h"

#define SMALL_OBJECT_KEYS 16

typedef struct pstate {
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
    jsmntok_t *toks;
    int ntoks;
    uint32_t *table; /* scratch hash table for large objects */
    size_t table_cap;
} pstate;

static void where(const char *text, size_t pos, size_t *line, size_t *col)
{
    size_t i, l = 1, c = 1;

    for (i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            c++; /* columns count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int fail_at(pstate *ps, int code, size_t pos, const char *fmt, ...)
{
    va_list ap;
    size_t line, col;
    int n;

    if (!ps->err || ps->errlen == 0)
        return code;
    where(ps->text, pos, &line, &col);
    n = snprintf(ps->err, ps->errlen, "line %zu, column %zu: ", line, col);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(pstate *ps, int code, const char *fmt, ...)
{
    va_list ap;

    if (ps->err && ps->errlen) {
        va_start(ap, fmt);
        vsnprintf(ps->err, ps->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int unexpected(pstate *ps, size_t pos)
{
    unsigned char c = (unsigned char)ps->text[pos];

    if (c > 0x20 && c < 0x7F)
        return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "unexpected character '%c'", c);
    return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "unexpected byte 0x%02X", c);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex4_at(const unsigned char *s, size_t n, size_t i)
{
    return i + 4 <= n && is_hex(s[i]) && is_hex(s[i + 1]) && is_hex(s[i + 2]) && is_hex(s[i + 3]);
}

/* The escape starting at s[i] == '\\'; returns its length or an error. */
static long check_escape(pstate *ps, const unsigned char *s, size_t n, size_t i)
{
    uint32_t cp, lo;

    if (i + 1 >= n)
        return fail_at(ps, TAAS_JSON_ESYNTAX, n, "unterminated string");
    switch (s[i + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        break;
    default:
        return fail_at(ps, TAAS_JSON_ESYNTAX, i, "invalid escape sequence");
    }
    if (!hex4_at(s, n, i + 2))
        return fail_at(ps, TAAS_JSON_ESYNTAX, i, "invalid \\u escape");
    cp = taas_json__hex4((const char *)s + i + 2);
    if (cp == 0)
        return fail_at(ps, TAAS_JSON_ENUL, i, "\\u0000 is not allowed in strings");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail_at(ps, TAAS_JSON_EUTF8, i, "low surrogate \\u%04X without a high surrogate", (unsigned)cp);
    if (cp < 0xD800 || cp > 0xDBFF)
        return 6;
    if (i + 7 < n && s[i + 6] == '\\' && s[i + 7] == 'u') {
        if (!hex4_at(s, n, i + 8))
            return fail_at(ps, TAAS_JSON_ESYNTAX, i + 6, "invalid \\u escape");
        lo = taas_json__hex4((const char *)s + i + 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            return 12;
    }
    return fail_at(ps, TAAS_JSON_EUTF8, i, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)cp);
}

/*
 * Pass 1. Returns 0 and the token bound and the deepest nesting, or an
 * error. Checks strings fully, so later passes treat string bodies as valid.
 */
static int prescan(pstate *ps, const taas_json_limits *lim, size_t *count_out, int *depth_out)
{
    const unsigned char *s = (const unsigned char *)ps->text;
    size_t n = ps->len, i = 0, count = 0, start;
    int depth = 0, maxd = 0, delim = 1;

    while (i < n) {
        unsigned char c = s[i];

        switch (c) {
        case '"':
            start = i++;
            for (;;) {
                if (i >= n)
                    return fail_at(ps, TAAS_JSON_ESYNTAX, start, "unterminated string");
                c = s[i];
                if (c == '"')
                    break;
                if (c == '\\') {
                    long l = check_escape(ps, s, n, i);
                    if (l < 0)
                        return (int)l;
                    i += (size_t)l;
                } else if (c >= 0x80) {
                    size_t l = taas_utf8_seq(s + i, n - i);
                    if (l == 0)
                        return fail_at(ps, TAAS_JSON_EUTF8, i, "invalid UTF-8 in string");
                    i += l;
                } else if (c < 0x20) {
                    return fail_at(ps, TAAS_JSON_ESYNTAX, i, "unescaped control character 0x%02X in string", c);
                } else {
                    i++;
                }
            }
            if (i - start - 1 > lim->max_string_bytes)
                return fail_at(ps, TAAS_JSON_ETOOBIG, start, "string of %zu bytes is over the limit of %zu",
                               i - start - 1, lim->max_string_bytes);
            count++;
            delim = 1;
            break;
        case '[':
        case '{':
            if (++depth > lim->max_depth)
                return fail_at(ps, TAAS_JSON_EDEPTH, i, "nested deeper than %d", lim->max_depth);
            if (depth > maxd)
                maxd = depth;
            count++;
            delim = 1;
            break;
        case ']':
        case '}':
            if (depth == 0)
                return unexpected(ps, i);
            depth--;
            delim = 1;
            break;
        case ' ': case '\t': case '\n': case '\r': case ',': case ':':
            delim = 1;
            break;
        default:
            if (delim)
                count++;
            delim = 0;
            break;
        }
        i++;
    }
    *count_out = count;
    *depth_out = maxd;
    return 0;
}

static int check_number(const char *t, size_t s, size_t e)
{
    size_t p = s;

    if (p < e && t[p] == '-')
        p++;
    if (p >= e)
        return 0;
    if (t[p] == '0')
        p++;
    else if (t[p] >= '1' && t[p] <= '9')
        while (p < e && t[p] >= '0' && t[p] <= '9')
            p++;
    else
        return 0;
    if (p < e && t[p] == '.') {
        size_t d = ++p;
        while (p < e && t[p] >= '0' && t[p] <= '9')
            p++;
        if (p == d)
            return 0;
    }
    if (p < e && (t[p] == 'e' || t[p] == 'E')) {
        size_t d;
        p++;
        if (p < e && (t[p] == '+' || t[p] == '-'))
            p++;
        d = p;
        while (p < e && t[p] >= '0' && t[p] <= '9')
            p++;
        if (p == d)
            return 0;
    }
    return p == e;
}

static int check_primitive(pstate *ps, size_t s, size_t e)
{
    const char *t = ps->text + s;
    size_t n = e - s;

    switch (t[0]) {
    case 't':
        if (n == 4 && memcmp(t, "true", 4) == 0)
            return 0;
        break;
    case 'f':
        if (n == 5 && memcmp(t, "false", 5) == 0)
            return 0;
        break;
    case 'n':
        if (n == 4 && memcmp(t, "null", 4) == 0)
            return 0;
        break;
    default:
        if (check_number(ps->text, s, e))
            return 0;
        return fail_at(ps, TAAS_JSON_ESYNTAX, s, "invalid number");
    }
    return fail_at(ps, TAAS_JSON_ESYNTAX, s, "invalid literal");
}

/*
 * The JSON Pointer of member `key` of object `obj`, for messages. Built
 * right to left into tmp; keys appear as written (escapes undecoded), so the
 * message stays on one line. A path too long for tmp is cut at the left.
 */
static const char *member_pointer(pstate *ps, int obj, int key, char *tmp, size_t cap)
{
    const jsmntok_t *toks = ps->toks;
    size_t at = cap - 1;
    int seg = key, cur = obj;

    tmp[at] = '\0';
    for (;;) {
        char num[24];
        const char *p;
        size_t n, k;

        if (seg >= 0 && toks[seg].type == JSMN_STRING) {
            p = ps->text + toks[seg].start;
            n = (size_t)(toks[seg].end - toks[seg].start);
        } else {
            n = (size_t)snprintf(num, sizeof(num), "%d", -seg - 1);
            p = num;
        }
        /* segment, escaped, then '/' */
        for (k = n; k > 0; k--) {
            char c = p[k - 1];
            const char *rep = c == '~' ? "~0" : c == '/' ? "~1" : NULL;
            size_t rl = rep ? 2 : 1;
            if (at < rl + 4)
                goto cut;
            at -= rl;
            if (rep)
                memcpy(tmp + at, rep, 2);
            else
                tmp[at] = c;
        }
        if (at < 5)
            goto cut;
        tmp[--at] = '/';
        {
            int par = toks[cur].parent;
            if (par < 0)
                break;
            if (toks[par].type == JSMN_STRING) {
                seg = par;
                cur = toks[par].parent;
            } else {
                /* array: position of cur among its items */
                int j = par + 1, idx = 0;
                while (j != cur) {
                    j = taas_json_next(&(taas_jdoc){ps->text, ps->len, ps->toks, ps->ntoks}, j);
                    idx++;
                }
                seg = -idx - 1;
                cur = par;
            }
        }
    }
    return tmp + at;
cut:
    at -= 3;
    memcpy(tmp + at, "...", 3);
    return tmp + at;
}

static int dup_error(pstate *ps, int obj, int key)
{
    char path[256];
    const jsmntok_t *k = &ps->toks[key];
    int n = k->end - k->start;
    const char *ptr = member_pointer(ps, obj, key, path, sizeof(path));

    if (n > 64) {
        n = 64; /* keep the message short; cut at a character boundary */
        while (n > 0 && ((unsigned char)ps->text[k->start + n] & 0xC0) == 0x80)
            n--;
    }
    return fail_at(ps, TAAS_JSON_EDUPKEY, (size_t)k->start - 1, "duplicate key \"%.*s%s\" at %s", n,
                   ps->text + k->start, n < k->end - k->start ? "..." : "", ptr);
}

/*
 * Key hashing. The keys come from clients, so the hash must not be one an
 * attacker can collide offline: with a fixed hash (FNV-1a before), keys
 * crafted to share a bucket turn the linear probing quadratic, and a 900 KB
 * object held a gRPC thread for seconds. SipHash-1-3 (Aumasson and
 * Bernstein) with a random key drawn once per process makes the buckets
 * unpredictable; the key never leaves the process.
 */
typedef struct siphash {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* bytes not yet in a full 8-byte word */
    size_t len;
} siphash;

static uint64_t sip_key[2];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_key_init(void)
{
    unsigned char k[16];
    size_t got = 0;
    while (got < sizeof k) {
        ssize_t r = getrandom(k + got, sizeof k - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno != EINTR)
            break;
    }
    if (got < sizeof k) {
        /* getrandom cannot fail on Linux >= 3.17 with a 16-byte request; if
         * it ever does, the address layout (ASLR) and time still vary. */
        uint64_t x = (uint64_t)(uintptr_t)&got ^ (uint64_t)time(NULL) * 0x9E3779B97F4A7C15u;
        memcpy(k, &x, 8);
        x = x * 0xBF58476D1CE4E5B9u ^ (uint64_t)(uintptr_t)k;
        memcpy(k + 8, &x, 8);
    }
    memcpy(sip_key, k, sizeof k);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(siphash *h)
{
    h->v0 += h->v1;
    h->v1 = ROTL(h->v1, 13);
    h->v1 ^= h->v0;
    h->v0 = ROTL(h->v0, 32);
    h->v2 += h->v3;
    h->v3 = ROTL(h->v3, 16);
    h->v3 ^= h->v2;
    h->v0 += h->v3;
    h->v3 = ROTL(h->v3, 21);
    h->v3 ^= h->v0;
    h->v2 += h->v1;
    h->v1 = ROTL(h->v1, 17);
    h->v1 ^= h->v2;
    h->v2 = ROTL(h->v2, 32);
}

static void sip_init(siphash *h)
{
    pthread_once(&sip_once, sip_key_init);
    h->v0 = sip_key[0] ^ 0x736f6d6570736575u;
    h->v1 = sip_key[1] ^ 0x646f72616e646f6du;
    h->v2 = sip_key[0] ^ 0x6c7967656e657261u;
    h->v3 = sip_key[1] ^ 0x7465646279746573u;
    h->tail = 0;
    h->len = 0;
}

static void sip_byte(siphash *h, unsigned char b)
{
    h->tail |= (uint64_t)b << (8 * (h->len & 7));
    if ((++h->len & 7) == 0) {
        h->v3 ^= h->tail;
        sip_round(h); /* c = 1 compression round */
        h->v0 ^= h->tail;
        h->tail = 0;
    }
}

static uint64_t sip_final(siphash *h)
{
    uint64_t m = h->tail | (uint64_t)(h->len & 0xff) << 56;
    h->v3 ^= m;
    sip_round(h);
    h->v0 ^= m;
    h->v2 ^= 0xff;
    sip_round(h); /* d = 3 finalization rounds */
    sip_round(h);
    sip_round(h);
    return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

static uint32_t key_hash(pstate *ps, int key)
{
    const char *s = ps->text + ps->toks[key].start;
    size_t n = (size_t)(ps->toks[key].end - ps->toks[key].start), i = 0;
    siphash h;

    sip_init(&h);
    /* over the decoded UTF-8 bytes, so escaped and raw spellings agree */
    while (i < n) {
        if (s[i] != '\\') {
            sip_byte(&h, (unsigned char)s[i++]);
        } else {
            char b[4];
            size_t bl = taas_json__utf8_put(b, taas_json__next_cp(s, &i)), j;
            for (j = 0; j < bl; j++)
                sip_byte(&h, (unsigned char)b[j]);
        }
    }
    return (uint32_t)sip_final(&h);
}

static int key_eq(pstate *ps, int a, int b)
{
    const jsmntok_t *ta = &ps->toks[a], *tb = &ps->toks[b];

    return taas_json__raw_eq(ps->text + ta->start, (size_t)(ta->end - ta->start), ps->text + tb->start,
                             (size_t)(tb->end - tb->start));
}

static int check_dups(pstate *ps, int obj, const int *keys, int m)
{
    size_t cap, mask, i;
    int a, b;

    if (m < 2)
        return 0;
    if (m <= SMALL_OBJECT_KEYS) {
        for (b = 1; b < m; b++)
            for (a = 0; a < b; a++)
                if (key_eq(ps, keys[a], keys[b]))
                    return dup_error(ps, obj, keys[b]);
        return 0;
    }
    /* Open addressing, load <= 1/2; slots hold key token index + 1. */
    for (cap = 64; cap < (size_t)m * 2; cap *= 2)
        ;
    if (cap > ps->table_cap) {
        uint32_t *t = realloc(ps->table, cap * 2 * sizeof(*t));
        if (!t)
            return fail(ps, TAAS_JSON_ENOMEM, "out of memory");
        ps->table = t;
        ps->table_cap = cap;
    }
    memset(ps->table, 0, cap * 2 * sizeof(*ps->table));
    mask = cap - 1;
    for (b = 0; b < m; b++) {
        uint32_t h = key_hash(ps, keys[b]);
        for (i = h & mask;; i = (i + 1) & mask) {
            uint32_t slot = ps->table[2 * i];
            if (slot == 0) {
                ps->table[2 * i] = (uint32_t)keys[b] + 1;
                ps->table[2 * i + 1] = h;
                break;
            }
            if (ps->table[2 * i + 1] == h && key_eq(ps, (int)slot - 1, keys[b]))
                return dup_error(ps, obj, keys[b]);
        }
    }
    return 0;
}

/* Whitespace only in [from, to), else an error at the first other byte. */
static int only_ws(pstate *ps, size_t from, size_t to)
{
    for (; from < to; from++)
        if (!is_ws(ps->text[from]))
            return unexpected(ps, from);
    return 0;
}

/* Whitespace, exactly one `sep`, whitespace in [from, to). */
static int sep_ws(pstate *ps, size_t from, size_t to, char sep, const char *missing)
{
    size_t k;
    int seen = 0;

    for (k = from; k < to; k++) {
        if (is_ws(ps->text[k]))
            continue;
        if (ps->text[k] == sep && !seen) {
            seen = 1;
            continue;
        }
        return unexpected(ps, k);
    }
    if (!seen)
        return fail_at(ps, TAAS_JSON_ESYNTAX, to, "%s", missing);
    return 0;
}

typedef struct frame {
    int tok;   /* the container */
    int count; /* children seen: items, or keys + values */
    int kbase; /* its keys start here in the key stack */
} frame;

static int close_frame(pstate *ps, frame *f, size_t *pos, int *keys, int *nkeys)
{
    const jsmntok_t *c = &ps->toks[f->tok];
    size_t close = (size_t)c->end - 1;
    size_t k;
    int r;

    for (k = *pos; k < close; k++) {
        if (is_ws(ps->text[k]))
            continue;
        if (ps->text[k] == ',' && f->count > 0 && (c->type == JSMN_ARRAY || f->count % 2 == 0))
            return fail_at(ps, TAAS_JSON_ESYNTAX, k, "trailing comma");
        return unexpected(ps, k);
    }
    if (c->type == JSMN_OBJECT) {
        if (f->count % 2)
            return fail_at(ps, TAAS_JSON_ESYNTAX, close, "expected ':' and a value after the key");
        if (c->size != f->count / 2)
            return fail_at(ps, TAAS_JSON_ESYNTAX, (size_t)c->start, "malformed object");
        r = check_dups(ps, f->tok, keys + f->kbase, *nkeys - f->kbase);
        if (r)
            return r;
        *nkeys = f->kbase;
    } else if (c->size != f->count) {
        return fail_at(ps, TAAS_JSON_ESYNTAX, (size_t)c->start, "malformed array");
    }
    *pos = (size_t)c->end;
    return 0;
}

/* Pass 3: the grammar over jsmn's tokens; see the comment at the top. */
static int walk(pstate *ps, int ntoks, frame *stack, int stack_cap, int *keys)
{
    const jsmntok_t *toks = ps->toks;
    size_t pos = 0;
    int sp = 0, nkeys = 0, i, r;

    for (i = 0; i < ntoks; i++) {
        const jsmntok_t *t = &toks[i];
        size_t s = (size_t)t->start, e = (size_t)t->end;
        int parent = -1, is_key = 0;

        if (t->type == JSMN_STRING) {
            s--; /* the quotes belong to the string */
            e++;
        }
        while (sp > 0 && (size_t)toks[stack[sp - 1].tok].end <= s) {
            r = close_frame(ps, &stack[sp - 1], &pos, keys, &nkeys);
            if (r)
                return r;
            sp--;
        }
        if (sp == 0) {
            if (i > 0)
                return fail_at(ps, TAAS_JSON_ESYNTAX, s, "unexpected data after the root value");
            r = only_ws(ps, pos, s);
        } else {
            frame *f = &stack[sp - 1];
            const jsmntok_t *c = &toks[f->tok];
            int arr = c->type == JSMN_ARRAY;

            if (e > (size_t)c->end - 1)
                return fail_at(ps, TAAS_JSON_ESYNTAX, s, "malformed structure");
            if (arr || f->count % 2 == 0) {
                if (!arr && t->type != JSMN_STRING)
                    return fail_at(ps, TAAS_JSON_ESYNTAX, s, "expected a string key");
                is_key = !arr;
                parent = f->tok;
                r = f->count == 0 ? only_ws(ps, pos, s)
                                  : sep_ws(ps, pos, s, ',', arr ? "expected ',' or ']'" : "expected ',' or '}'");
            } else {
                parent = keys[nkeys - 1];
                r = sep_ws(ps, pos, s, ':', "expected ':' after the key");
            }
            f->count++;
        }
        if (r)
            return r;
        if (t->parent != parent || (t->type != JSMN_ARRAY && t->type != JSMN_OBJECT && t->size != is_key))
            return fail_at(ps, TAAS_JSON_ESYNTAX, s, "malformed structure");
        if (is_key)
            keys[nkeys++] = i;
        switch (t->type) {
        case JSMN_ARRAY:
        case JSMN_OBJECT:
            if (sp == stack_cap || (sp > 0 && t->end > toks[stack[sp - 1].tok].end))
                return fail_at(ps, TAAS_JSON_ESYNTAX, s, "malformed structure");
            stack[sp].tok = i;
            stack[sp].count = 0;
            stack[sp].kbase = nkeys;
            sp++;
            pos = s + 1;
            break;
        case JSMN_PRIMITIVE:
            r = check_primitive(ps, s, e);
            if (r)
                return r;
            pos = e;
            break;
        default:
            pos = e;
            break;
        }
    }
    while (sp > 0) {
        r = close_frame(ps, &stack[sp - 1], &pos, keys, &nkeys);
        if (r)
            return r;
        sp--;
    }
    return only_ws(ps, pos, ps->len);
}

static int jsmn_error(pstate *ps, int r, const jsmn_parser *p)
{
    size_t pos = p->pos;

    if (r == JSMN_ERROR_PART) {
        if (pos < ps->len && p->toksuper == -1)
            return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "unexpected data after the root value");
        return fail_at(ps, TAAS_JSON_ESYNTAX, ps->len, "unexpected end of input");
    }
    if (pos >= ps->len)
        return fail_at(ps, TAAS_JSON_ESYNTAX, ps->len, "unexpected end of input");
    if (p->toksuper >= 0 && ps->toks[p->toksuper].type == JSMN_OBJECT &&
        ps->text[pos] != '}' && ps->text[pos] != ']') {
        const jsmntok_t *last = &ps->toks[p->toknext - 1];
        /* jsmn leaves the object as parent both before a key and after a
         * key that lacks its ':' */
        if (p->toknext - 1 > (unsigned)p->toksuper && last->type == JSMN_STRING &&
            last->parent == p->toksuper && last->size == 0)
            return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "expected ':' after the key");
        return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "expected a string key");
    }
    if (ps->text[pos] == '}' || ps->text[pos] == ']')
        return fail_at(ps, TAAS_JSON_ESYNTAX, pos, "mismatched '%c'", ps->text[pos]);
    return unexpected(ps, pos);
}

/* A root that is a number or literal: jsmn's strict mode cannot end one at EOF. */
static int parse_scalar_root(pstate *ps, size_t first, int *ntoks)
{
    size_t e = first;
    int r;

    while (e < ps->len && !is_ws(ps->text[e]) && !strchr(",:[]{}\"", ps->text[e]))
        e++;
    r = check_primitive(ps, first, e);
    if (r)
        return r;
    for (; e < ps->len; e++)
        if (!is_ws(ps->text[e]))
            return fail_at(ps, TAAS_JSON_ESYNTAX, e, "unexpected data after the root value");
    ps->toks[0].type = JSMN_PRIMITIVE;
    ps->toks[0].start = (int)first;
    for (e = ps->len; e > first && is_ws(ps->text[e - 1]); e--)
        ;
    ps->toks[0].end = (int)e;
    ps->toks[0].size = 0;
    ps->toks[0].parent = -1;
    *ntoks = 1;
    return 0;
}

int taas_json_parse(taas_jdoc *doc, const char *text, size_t len, const taas_json_limits *limits,
                    char *err, size_t errlen)
{
    taas_json_limits lim = {0};
    pstate ps = {text, len, err, errlen, NULL, 0, NULL, 0};
    size_t count = 0, first, bytes;
    int maxd = 0, r, ntoks = 0;
    frame *stack;
    int *keys;

    memset(doc, 0, sizeof(*doc));
    if (err && errlen)
        err[0] = '\0';
    if (limits)
        lim = *limits;
    if (lim.max_bytes == 0)
        lim.max_bytes = TAAS_JSON_DEFAULT_MAX_BYTES;
    if (lim.max_bytes > INT_MAX / 2)
        lim.max_bytes = INT_MAX / 2; /* jsmn keeps offsets in int */
    if (lim.max_tokens == 0)
        lim.max_tokens = lim.max_bytes / 2 + 1;
    if (lim.max_string_bytes == 0)
        lim.max_string_bytes = lim.max_bytes;
    if (lim.max_depth <= 0)
        lim.max_depth = TAAS_JSON_DEFAULT_MAX_DEPTH;

    if (len > lim.max_bytes)
        return fail(&ps, TAAS_JSON_ETOOBIG, "document of %zu bytes is over the limit of %zu", len, lim.max_bytes);
    if (!text)
        return fail(&ps, TAAS_JSON_ESYNTAX, "line 1, column 1: empty document");

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        return fail_at(&ps, TAAS_JSON_ESYNTAX, 0, "byte order mark (U+FEFF) before the value");
    r = prescan(&ps, &lim, &count, &maxd);
    if (r)
        return r;
    for (first = 0; first < len && is_ws(text[first]); first++)
        ;
    if (first == len)
        return fail_at(&ps, TAAS_JSON_ESYNTAX, len, "empty document");
    if (count == 0)
        return unexpected(&ps, first);
    if (count > lim.max_tokens)
        return fail(&ps, TAAS_JSON_ETOOBIG, "document of %zu values is over the limit of %zu", count,
                    lim.max_tokens);

    /* One allocation: the tokens, then the walk's scratch (stack and keys). */
    bytes = count * sizeof(jsmntok_t) + (size_t)maxd * sizeof(frame) + count * sizeof(int);
    ps.toks = malloc(bytes);
    if (!ps.toks)
        return fail(&ps, TAAS_JSON_ENOMEM, "out of memory");
    stack = (frame *)(void *)(ps.toks + count);
    keys = (int *)(void *)(stack + maxd);

    if (text[first] != '[' && text[first] != '{' && text[first] != '"') {
        r = parse_scalar_root(&ps, first, &ntoks);
    } else {
        jsmn_parser p;
        jsmn_init(&p);
        r = jsmn_parse(&p, text, len, ps.toks, (unsigned)count);
        if (r < 0) {
            /* count bounds the tokens, so NOMEM would be a bug in prescan */
            r = r == JSMN_ERROR_NOMEM ? fail(&ps, TAAS_JSON_ESYNTAX, "token count mismatch")
                                      : jsmn_error(&ps, r, &p);
        } else {
            ntoks = ps.ntoks = (int)p.toknext;
            r = walk(&ps, ntoks, stack, maxd, keys);
        }
    }
    free(ps.table);
    if (r) {
        free(ps.toks);
        return r;
    }
    doc->text = text;
    doc->len = len;
    doc->toks = ps.toks;
    doc->ntoks = ntoks;
    return 0;
}

void taas_json_free(taas_jdoc *doc)
{
    if (!doc)
        return;
    free(doc->toks);
    memset(doc, 0, sizeof(*doc));
}
