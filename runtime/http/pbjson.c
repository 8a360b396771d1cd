/*
 * runtime/http/pbjson.c - see pbjson.h. Requests are encoded straight into
 * the wire format (no protobuf-c structs to build and free); the handler
 * then unpacks them exactly as it unpacks a gRPC request.
 */
#include "http/pbjson.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void wput(struct wbuf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t nc = (b->cap + n) * 2 + 16;
        uint8_t *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void wvarint(struct wbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        tmp[n++] = c | (v ? 0x80 : 0);
    } while (v);
    wput(b, tmp, n);
}

static void wtag(struct wbuf *b, unsigned num, unsigned wt)
{
    wvarint(b, ((uint64_t)num << 3) | wt);
}

/* The length of the prefix every value name of `e` shares, up to a '_'. */
static size_t enum_prefix(const ProtobufCEnumDescriptor *e)
{
    if (e->n_values < 2)
        return 0;
    const char *first = e->values[0].name;
    size_t best = strlen(first);
    for (unsigned i = 1; i < e->n_values; i++) {
        size_t k = 0;
        while (k < best && first[k] == e->values[i].name[k])
            k++;
        best = k;
    }
    while (best && first[best - 1] != '_')
        best--;
    return best;
}

const char *taas_pbjson_enum_name(const ProtobufCEnumDescriptor *e, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);
    return v ? v->name + enum_prefix(e) : NULL;
}

static const char *kind_word(taas_json_kind k)
{
    return taas_json_kind_name(k);
}

/* The JSON name of field f: "inputs" for "inputs_json". */
static void json_name(const ProtobufCFieldDescriptor *f, char *out, size_t cap)
{
    size_t n = strlen(f->name);
    if (f->type == PROTOBUF_C_TYPE_STRING && n > 5 && strcmp(f->name + n - 5, "_json") == 0)
        n -= 5;
    snprintf(out, cap, "%.*s", (int)n, f->name);
}

static bool is_json_field(const ProtobufCFieldDescriptor *f)
{
    size_t n = strlen(f->name);
    return f->type == PROTOBUF_C_TYPE_STRING && n > 5 && strcmp(f->name + n - 5, "_json") == 0;
}

/* A number from a number token, or (lenient) a string token. */
static int get_number(const taas_jdoc *doc, int t, bool lenient, bool integral, int64_t *iv,
                      double *dv)
{
    taas_json_kind k = taas_json_kind_of(doc, t);
    if (k == TAAS_JSON_NUMBER) {
        if (integral)
            return taas_json_int64(doc, t, iv) == 0 ? 0 : -2;
        *dv = taas_json_double(doc, t);
        return 0;
    }
    if (k == TAAS_JSON_STRING && lenient) {
        char tmp[64];
        size_t raw = taas_json_str_rawlen(doc, t);
        if (raw >= sizeof tmp)
            return -2;
        taas_json_str_decode(doc, t, tmp);
        char *end;
        errno = 0;
        if (integral) {
            long long v = strtoll(tmp, &end, 10);
            if (errno || end == tmp || *end)
                return -2;
            *iv = v;
        } else {
            double v = strtod(tmp, &end);
            if (errno || end == tmp || *end || !isfinite(v))
                return -2;
            *dv = v;
        }
        return 0;
    }
    return -1;
}

int taas_pbjson_encode(const ProtobufCMessageDescriptor *d, const taas_jdoc *doc, int obj,
                       bool lenient, uint8_t **out, size_t *len, char *field, size_t fcap,
                       char *err, size_t ecap)
{
    struct wbuf b = {0};
    field[0] = 0;
    if (taas_json_kind_of(doc, obj) != TAAS_JSON_OBJECT) {
        snprintf(err, ecap, "the request body must be a JSON object, got %s",
                 kind_word(taas_json_kind_of(doc, obj)));
        return -1;
    }
    int nkeys = doc->toks[obj].size;
    int t = obj + 1;
    for (int i = 0; i < nkeys; i++) {
        int key = t, val = t + 1;
        t = taas_json_next(doc, val);
        char kname[128];
        if (taas_json_str_rawlen(doc, key) >= sizeof kname) {
            snprintf(err, ecap, "unknown field (name too long)");
            goto fail;
        }
        taas_json_str_decode(doc, key, kname);
        const ProtobufCFieldDescriptor *f = NULL;
        bool raw_json = false;
        for (unsigned j = 0; j < d->n_fields; j++) {
            char jn[128];
            json_name(&d->fields[j], jn, sizeof jn);
            if (strcmp(jn, kname) == 0) {
                f = &d->fields[j];
                raw_json = is_json_field(f);
                break;
            }
            if (strcmp(d->fields[j].name, kname) == 0) {
                f = &d->fields[j]; /* "inputs_json" given as a string */
                break;
            }
        }
        snprintf(field, fcap, "%s", kname);
        if (!f) {
            snprintf(err, ecap, "unknown field '%.64s'", kname);
            goto fail;
        }
        taas_json_kind k = taas_json_kind_of(doc, val);
        if (k == TAAS_JSON_NULL && !raw_json)
            continue; /* the default */
        if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            snprintf(err, ecap, "field '%s' cannot be set here", kname);
            goto fail;
        }
        if (raw_json) {
            const jsmntok_t *tk = &doc->toks[val];
            int s = tk->start, e = tk->end;
            if (tk->type == JSMN_STRING) {
                s--; /* jsmn leaves the quotes out */
                e++;
            }
            wtag(&b, f->id, 2);
            wvarint(&b, (uint64_t)(e - s));
            wput(&b, doc->text + s, (size_t)(e - s));
            continue;
        }
        int64_t iv = 0;
        double dv = 0;
        int rc;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
            if (k != TAAS_JSON_STRING) {
                snprintf(err, ecap, "%s: expected string, got %s", kname, kind_word(k));
                goto fail;
            }
            size_t raw = taas_json_str_rawlen(doc, val);
            char *s = malloc(raw + 1);
            if (!s) {
                b.oom = true;
                break;
            }
            size_t n = taas_json_str_decode(doc, val, s);
            wtag(&b, f->id, 2);
            wvarint(&b, n);
            wput(&b, s, n);
            free(s);
            break;
        }
        case PROTOBUF_C_TYPE_BOOL: {
            bool v;
            if (k == TAAS_JSON_BOOL) {
                v = taas_json_bool(doc, val);
            } else if (lenient && k == TAAS_JSON_STRING &&
                       (taas_json_str_eq(doc, val, "true", 4) ||
                        taas_json_str_eq(doc, val, "false", 5))) {
                v = taas_json_str_eq(doc, val, "true", 4);
            } else {
                snprintf(err, ecap, "%s: expected boolean, got %s", kname, kind_word(k));
                goto fail;
            }
            wtag(&b, f->id, 0);
            wvarint(&b, v);
            break;
        }
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_UINT64: {
            rc = get_number(doc, val, lenient, true, &iv, &dv);
            bool is32 = f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_UINT32;
            bool uns = f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_UINT64;
            if (rc == -1) {
                snprintf(err, ecap, "%s: expected integer, got %s", kname, kind_word(k));
                goto fail;
            }
            if (rc || (is32 && !uns && (iv < INT32_MIN || iv > INT32_MAX)) ||
                (uns && iv < 0) || (is32 && uns && iv > (int64_t)UINT32_MAX)) {
                snprintf(err, ecap, "%s: expected an integer from %s to %s", kname,
                         uns ? "0" : is32 ? "-2147483648" : "-9223372036854775808",
                         is32 ? (uns ? "4294967295" : "2147483647") : "9223372036854775807");
                goto fail;
            }
            wtag(&b, f->id, 0);
            wvarint(&b, (uint64_t)iv); /* negative int32 is sign-extended, as protobuf wants */
            break;
        }
        case PROTOBUF_C_TYPE_DOUBLE:
        case PROTOBUF_C_TYPE_FLOAT:
            rc = get_number(doc, val, lenient, false, &iv, &dv);
            if (rc) {
                snprintf(err, ecap, "%s: expected number, got %s", kname, kind_word(k));
                goto fail;
            }
            if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
                wtag(&b, f->id, 1);
                wput(&b, &dv, 8);
            } else {
                float fv = (float)dv;
                wtag(&b, f->id, 5);
                wput(&b, &fv, 4);
            }
            break;
        case PROTOBUF_C_TYPE_ENUM: {
            const ProtobufCEnumDescriptor *e = f->descriptor;
            size_t pre = enum_prefix(e);
            int64_t v = 0;
            bool found = false;
            if (k == TAAS_JSON_NUMBER && taas_json_int64(doc, val, &v) == 0) {
                found = protobuf_c_enum_descriptor_get_value(e, (int)v) != NULL && v >= INT32_MIN &&
                        v <= INT32_MAX;
            } else if (k == TAAS_JSON_STRING) {
                char s[128];
                if (taas_json_str_rawlen(doc, val) < sizeof s) {
                    taas_json_str_decode(doc, val, s);
                    for (unsigned j = 0; j < e->n_values && !found; j++) {
                        if (strcasecmp(s, e->values[j].name) == 0 ||
                            strcasecmp(s, e->values[j].name + pre) == 0) {
                            v = e->values[j].value;
                            found = true;
                        }
                    }
                }
            }
            if (!found) {
                int w = snprintf(err, ecap, "%s: unknown value; expected one of ", kname);
                for (unsigned j = 0; j < e->n_values && w > 0 && (size_t)w < ecap; j++)
                    w += snprintf(err + w, ecap - (size_t)w, "%s%s", j ? ", " : "",
                                  e->values[j].name + pre);
                goto fail;
            }
            wtag(&b, f->id, 0);
            wvarint(&b, (uint64_t)v);
            break;
        }
        default:
            snprintf(err, ecap, "field '%s' cannot be set here", kname);
            goto fail;
        }
    }
    if (b.oom) {
        snprintf(err, ecap, "out of memory");
        field[0] = 0;
        goto fail;
    }
    field[0] = 0;
    *out = b.p ? b.p : malloc(1);
    *len = b.len;
    if (!*out) {
        snprintf(err, ecap, "out of memory");
        return -1;
    }
    return 0;
fail:
    free(b.p);
    return -1;
}

static void write_value(taas_jw *w, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (is_json_field(f)) {
            taas_jdoc doc;
            if (s && s[0] && taas_json_parse(&doc, s, strlen(s), NULL, NULL, 0) == 0) {
                taas_json_free(&doc);
                taas_jw_raw(w, s, strlen(s));
            } else {
                taas_jw_null(w);
            }
        } else {
            taas_jw_str(w, s ? s : "");
        }
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        taas_jw_bool(w, *(const protobuf_c_boolean *)p != 0);
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        taas_jw_int64(w, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        taas_jw_int64(w, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        taas_jw_int64(w, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        taas_jw_int64(w, (int64_t)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)p;
        if (isfinite(v))
            taas_jw_double(w, v);
        else
            taas_jw_null(w);
        break;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)p;
        if (isfinite(v))
            taas_jw_double(w, v);
        else
            taas_jw_null(w);
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const char *n = taas_pbjson_enum_name(f->descriptor, *(const int *)p);
        if (n)
            taas_jw_str(w, n);
        else
            taas_jw_int64(w, *(const int *)p);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m)
            taas_pbjson_write(w, m);
        else
            taas_jw_null(w);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
    default:
        taas_jw_null(w);
        break;
    }
}

static size_t type_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

void taas_pbjson_write(taas_jw *w, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    taas_jw_obj_begin(w);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char name[128];
        json_name(f, name, sizeof name);
        taas_jw_key(w, name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(const char *const *)(base + f->offset);
            taas_jw_arr_begin(w);
            for (size_t k = 0; k < n; k++)
                write_value(w, f, arr + k * type_size(f));
            taas_jw_arr_end(w);
        } else {
            write_value(w, f, base + f->offset);
        }
    }
    taas_jw_obj_end(w);
}
