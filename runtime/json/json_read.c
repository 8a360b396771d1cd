/*
 * runtime/json/json_read.c - walking a parsed document by token index.
 *
 * taas_json_parse() has checked everything, so these helpers trust the
 * tokens: string bodies are valid (escapes, surrogate pairs, UTF-8), number
 * tokens match the JSON number grammar, keys are unique. Numbers are
 * compared and converted from their exact decimal text, never through a
 * double, so 9223372036854775807 and 1.000000000000000005 keep their value.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"

int taas_json_next(const taas_jdoc *doc, int tok)
{
    int end = doc->toks[tok].end, j = tok + 1;

    /* Tokens are in document order: the subtree is every later token that
     * starts before this one ends. */
    while (j < doc->ntoks && doc->toks[j].start < end)
        j++;
    return j;
}

taas_json_kind taas_json_kind_of(const taas_jdoc *doc, int tok)
{
    const jsmntok_t *t = &doc->toks[tok];

    switch (t->type) {
    case JSMN_OBJECT:
        return TAAS_JSON_OBJECT;
    case JSMN_ARRAY:
        return TAAS_JSON_ARRAY;
    case JSMN_STRING:
        return TAAS_JSON_STRING;
    default:
        break;
    }
    switch (doc->text[t->start]) {
    case 'n':
        return TAAS_JSON_NULL;
    case 't':
    case 'f':
        return TAAS_JSON_BOOL;
    default:
        return TAAS_JSON_NUMBER;
    }
}

const char *taas_json_kind_name(taas_json_kind k)
{
    switch (k) {
    case TAAS_JSON_NULL: return "null";
    case TAAS_JSON_BOOL: return "boolean";
    case TAAS_JSON_NUMBER: return "number";
    case TAAS_JSON_STRING: return "string";
    case TAAS_JSON_ARRAY: return "array";
    case TAAS_JSON_OBJECT: return "object";
    }
    return "unknown";
}

bool taas_json_bool(const taas_jdoc *doc, int tok)
{
    return doc->text[doc->toks[tok].start] == 't';
}

double taas_json_double(const taas_jdoc *doc, int tok)
{
    const jsmntok_t *t = &doc->toks[tok];
    locale_t loc;

    /* A number inside a container is followed by a delimiter that stops
     * strtod, so it can be read in place; one that ends the text is copied
     * (the text need not be NUL-terminated). */
    if ((size_t)t->end < doc->len && (loc = taas_json__c_locale()) != (locale_t)0)
        return strtod_l(doc->text + t->start, NULL, loc);
    return taas_json__strtod(doc->text + t->start, (size_t)(t->end - t->start));
}

static int is_number(const taas_jdoc *doc, int tok)
{
    return taas_json_kind_of(doc, tok) == TAAS_JSON_NUMBER;
}

int taas_json_int64(const taas_jdoc *doc, int tok, int64_t *out)
{
    const jsmntok_t *t = &doc->toks[tok];
    taas_json__num n;
    uint64_t v = 0;
    size_t k;
    int64_t zeros;

    if (!is_number(doc, tok))
        return TAAS_JSON_ETYPE;
    taas_json__num_split(doc->text, (size_t)t->start, (size_t)t->end, &n);
    if (n.ndig == 0) {
        *out = 0;
        return 0;
    }
    /* Value = D * 10^exp with D of ndig digits: >= 10^(ndig-1+exp). */
    if (n.exp < 0 || (int64_t)n.ndig + n.exp > 19)
        return TAAS_JSON_ERANGE;
    for (k = n.first; k <= n.last; k++)
        if (doc->text[k] != '.')
            v = v * 10 + (uint64_t)(doc->text[k] - '0');
    for (zeros = n.exp; zeros > 0; zeros--) {
        if (v > UINT64_MAX / 10)
            return TAAS_JSON_ERANGE;
        v *= 10;
    }
    if (n.neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return TAAS_JSON_ERANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return TAAS_JSON_ERANGE;
        *out = (int64_t)v;
    }
    return 0;
}

bool taas_json_is_integral(const taas_jdoc *doc, int tok)
{
    const jsmntok_t *t = &doc->toks[tok];
    taas_json__num n;

    if (!is_number(doc, tok))
        return false;
    taas_json__num_split(doc->text, (size_t)t->start, (size_t)t->end, &n);
    return n.ndig == 0 || n.exp >= 0;
}

size_t taas_json_str_rawlen(const taas_jdoc *doc, int tok)
{
    return (size_t)(doc->toks[tok].end - doc->toks[tok].start);
}

size_t taas_json_str_decode(const taas_jdoc *doc, int tok, char *out)
{
    const char *s = doc->text + doc->toks[tok].start;
    size_t n = taas_json_str_rawlen(doc, tok), i = 0, o = 0;

    while (i < n) {
        const char *bs = memchr(s + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (s + i)) : n - i;

        memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (i < n)
            o += taas_json__utf8_put(out + o, taas_json__next_cp(s, &i));
    }
    out[o] = '\0';
    return o;
}

bool taas_json_str_eq(const taas_jdoc *doc, int tok, const char *str, size_t len)
{
    const char *s = doc->text + doc->toks[tok].start;
    size_t n = taas_json_str_rawlen(doc, tok), i = 0, o = 0;

    while (i < n) {
        if (s[i] != '\\') {
            if (o >= len || s[i] != str[o])
                return false;
            i++;
            o++;
        } else {
            char b[4];
            size_t bl = taas_json__utf8_put(b, taas_json__next_cp(s, &i));
            if (o + bl > len || memcmp(b, str + o, bl) != 0)
                return false;
            o += bl;
        }
    }
    return o == len;
}

size_t taas_json_str_codepoints(const taas_jdoc *doc, int tok)
{
    const char *s = doc->text + doc->toks[tok].start;
    size_t n = taas_json_str_rawlen(doc, tok), i = 0, c = 0;

    while (i < n) {
        if (s[i] == '\\') {
            taas_json__next_cp(s, &i);
            c++;
        } else {
            c += ((unsigned char)s[i] & 0xC0) != 0x80;
            i++;
        }
    }
    return c;
}

int taas_json_obj_get(const taas_jdoc *doc, int obj, const char *key, size_t keylen)
{
    int k = obj + 1, i;

    if (doc->toks[obj].type != JSMN_OBJECT)
        return -1;
    for (i = 0; i < doc->toks[obj].size; i++) {
        if (taas_json_str_eq(doc, k, key, keylen))
            return k + 1;
        k = taas_json_next(doc, k + 1);
    }
    return -1;
}

static bool num_equal(const taas_jdoc *a, int ta, const taas_jdoc *b, int tb)
{
    taas_json__num x, y;
    size_t i, j;

    taas_json__num_split(a->text, (size_t)a->toks[ta].start, (size_t)a->toks[ta].end, &x);
    taas_json__num_split(b->text, (size_t)b->toks[tb].start, (size_t)b->toks[tb].end, &y);
    if (x.ndig == 0 || y.ndig == 0)
        return x.ndig == y.ndig; /* 0 == -0 == 0.0 */
    if (x.neg != y.neg || x.ndig != y.ndig || x.exp != y.exp)
        return false;
    for (i = x.first, j = y.first; i <= x.last && j <= y.last; i++, j++) {
        if (a->text[i] == '.')
            i++;
        if (b->text[j] == '.')
            j++;
        if (a->text[i] != b->text[j])
            return false;
    }
    return true;
}

bool taas_json_equal(const taas_jdoc *a, int ta, const taas_jdoc *b, int tb)
{
    taas_json_kind ka = taas_json_kind_of(a, ta), kb = taas_json_kind_of(b, tb);
    const jsmntok_t *x = &a->toks[ta], *y = &b->toks[tb];
    int i, ia, ib;

    if (ka != kb)
        return false;
    switch (ka) {
    case TAAS_JSON_NULL:
        return true;
    case TAAS_JSON_BOOL:
        return taas_json_bool(a, ta) == taas_json_bool(b, tb);
    case TAAS_JSON_NUMBER:
        return num_equal(a, ta, b, tb);
    case TAAS_JSON_STRING:
        return taas_json__raw_eq(a->text + x->start, (size_t)(x->end - x->start), b->text + y->start,
                                 (size_t)(y->end - y->start));
    case TAAS_JSON_ARRAY:
        if (x->size != y->size)
            return false;
        for (i = 0, ia = ta + 1, ib = tb + 1; i < x->size; i++) {
            if (!taas_json_equal(a, ia, b, ib))
                return false;
            ia = taas_json_next(a, ia);
            ib = taas_json_next(b, ib);
        }
        return true;
    case TAAS_JSON_OBJECT:
        /* Keys are unique in both, so same size and every member of a
         * found equal in b means equal. */
        if (x->size != y->size)
            return false;
        for (i = 0, ia = ta + 1; i < x->size; i++) {
            const jsmntok_t *k = &a->toks[ia];
            int found = -1, kb2 = tb + 1, j;
            for (j = 0; j < y->size; j++) {
                const jsmntok_t *kk = &b->toks[kb2];
                if (taas_json__raw_eq(a->text + k->start, (size_t)(k->end - k->start), b->text + kk->start,
                                      (size_t)(kk->end - kk->start))) {
                    found = kb2 + 1;
                    break;
                }
                kb2 = taas_json_next(b, kb2 + 1);
            }
            if (found < 0 || !taas_json_equal(a, ia + 1, b, found))
                return false;
            ia = taas_json_next(a, ia + 1);
        }
        return true;
    }
    return false;
}

size_t taas_json_pointer_escape(char *out, size_t cap, const char *s, size_t n)
{
    size_t i, o = 0, w = 0;
    int full = cap == 0;

    for (i = 0; i < n; i++) {
        const char *rep = s[i] == '~' ? "~0" : s[i] == '/' ? "~1" : NULL;
        size_t rl = rep ? 2 : 1;
        if (!full && w + rl < cap) {
            memcpy(out + w, rep ? rep : s + i, rl);
            w += rl;
        } else {
            full = 1; /* never split an escape; keep counting */
        }
        o += rl;
    }
    if (cap)
        out[w] = '\0';
    return o;
}
