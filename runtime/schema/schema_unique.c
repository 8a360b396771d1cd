/*
 * runtime/schema/schema_unique.c - uniqueItems.
 */
#include "schema/schema_int.h"

#include <stdlib.h>
#include <string.h>

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
    char *buf = taas_schema__str_get(w, tok, stackbuf, sizeof stackbuf, &len, &heap);
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

int taas_schema__check_unique(walker *w, int tok, int size)
{
    const taas_jdoc *d = w->doc;
    if (size <= 16) {
        int a = tok + 1;
        for (int i = 0; i < size; i++) {
            int b = taas_json_next(d, a);
            for (int j = i + 1; j < size; j++) {
                if (taas_json_equal(d, a, d, b))
                    return taas_schema__fail(w, "items %d and %d are equal", i, j);
                b = taas_json_next(d, b);
            }
            a = taas_json_next(d, a);
        }
        return 0;
    }
    size_t bytes = (size_t)size * sizeof(hashed_item);
    hashed_item *v = w->ctx ? taas_schema__arena(w, bytes) : malloc(bytes);
    if (!v) {
        w->oom = true;
        return taas_schema__fail(w, "out of memory");
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
        return taas_schema__fail(w, "items %d and %d are equal", dup_i, dup_j);
    return 0;
}

