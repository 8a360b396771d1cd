/*
 * runtime/engine/input_hash.c - canonical JSON digest for idempotency keys.
 *
 * The canonical form is fed to two independent 64-bit FNV-1a streams (a
 * different offset basis each), giving 128 bits: not a cryptographic hash,
 * but the inputs are the client's own and a collision would only make two of
 * that client's submits with one key look alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "json/json.h"

typedef struct digest {
    uint64_t a, b;
} digest;

static void feed(digest *d, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        d->a = (d->a ^ s[i]) * 0x100000001b3ULL;
        d->b = (d->b ^ s[i]) * 0x100000001b3ULL;
    }
}

typedef struct keyref {
    int key;  /* token of the key */
    int val;  /* token of its value */
    char *dec;
    size_t len;
} keyref;

static int cmp_key(const void *x, const void *y)
{
    const keyref *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->dec, b->dec, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void feed_string(digest *d, const taas_jdoc *doc, int t)
{
    size_t raw = taas_json_str_rawlen(doc, t);
    char stackbuf[256];
    char *buf = raw < sizeof stackbuf ? stackbuf : malloc(raw + 1);
    if (!buf)
        return;
    size_t n = taas_json_str_decode(doc, t, buf);
    feed(d, "s", 1);
    feed(d, &n, sizeof n);
    feed(d, buf, n);
    if (buf != stackbuf)
        free(buf);
}

static void feed_value(digest *d, const taas_jdoc *doc, int t)
{
    switch (taas_json_kind_of(doc, t)) {
    case TAAS_JSON_NULL: feed(d, "n", 1); break;
    case TAAS_JSON_BOOL: feed(d, taas_json_bool(doc, t) ? "t" : "f", 1); break;
    case TAAS_JSON_NUMBER: {
        /* Integers keep their exact digits; other numbers go through double,
         * so 1.0, 1e0 and 1 are one value as JSON Schema treats them. */
        int64_t iv;
        char buf[40];
        int n;
        if (taas_json_int64(doc, t, &iv) == 0)
            n = snprintf(buf, sizeof buf, "i%lld", (long long)iv);
        else
            n = snprintf(buf, sizeof buf, "d%.17g", taas_json_double(doc, t));
        feed(d, buf, (size_t)n);
        break;
    }
    case TAAS_JSON_STRING: feed_string(d, doc, t); break;
    case TAAS_JSON_ARRAY: {
        int count = doc->toks[t].size;
        feed(d, "[", 1);
        feed(d, &count, sizeof count);
        int c = t + 1;
        for (int i = 0; i < count; i++) {
            feed_value(d, doc, c);
            c = taas_json_next(doc, c);
        }
        break;
    }
    case TAAS_JSON_OBJECT: {
        int count = doc->toks[t].size;
        feed(d, "{", 1);
        feed(d, &count, sizeof count);
        if (count == 0)
            break;
        keyref *keys = calloc((size_t)count, sizeof *keys);
        if (!keys)
            return;
        int c = t + 1;
        for (int i = 0; i < count; i++) {
            keys[i].key = c;
            keys[i].val = c + 1;
            keys[i].dec = malloc(taas_json_str_rawlen(doc, c) + 1);
            if (keys[i].dec)
                keys[i].len = taas_json_str_decode(doc, c, keys[i].dec);
            c = taas_json_next(doc, c + 1);
        }
        qsort(keys, (size_t)count, sizeof *keys, cmp_key);
        for (int i = 0; i < count; i++) {
            feed(d, &keys[i].len, sizeof keys[i].len);
            if (keys[i].dec)
                feed(d, keys[i].dec, keys[i].len);
            feed_value(d, doc, keys[i].val);
            free(keys[i].dec);
        }
        free(keys);
        break;
    }
    }
}

void taas_engine_input_hash(const char *input, size_t len, char out[33])
{
    digest d = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    taas_jdoc doc;
    if (taas_json_parse(&doc, input, len, NULL, NULL, 0) == 0) {
        feed_value(&d, &doc, 0);
        taas_json_free(&doc);
    } else {
        feed(&d, "raw", 3);
        feed(&d, input, len);
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)d.a, (unsigned long long)d.b);
}
