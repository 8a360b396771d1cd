/*
 * runtime/services/services.c - what the three services share: the engine
 * gate, packing, the method table.
 */
#include "services/services_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taas/registry.h"
#include "util/utf8.h"

taas_engine *svc_enter(taas_services *s)
{
    pthread_rwlock_rdlock(&s->gate);
    if (!s->engine) {
        pthread_rwlock_unlock(&s->gate);
        return NULL;
    }
    return s->engine;
}

void svc_leave(taas_services *s)
{
    pthread_rwlock_unlock(&s->gate);
}

void *svc_pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    *len = protobuf_c_message_pack(m, buf);
    return buf;
}

void svc_reply(taas_call *call, const ProtobufCMessage *m)
{
    size_t len = 0;
    void *buf = svc_pack(m, &len);
    if (!buf) {
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    taas_call_reply(call, TAAS_ST_OK, NULL, buf, len);
}

const char *svc_principal(const taas_call *call)
{
    const char *p = taas_call_principal(call);
    return p && !(taas_call_scopes(call) & TAAS_SCOPE_ADMIN) ? p : NULL;
}

taas_services *taas_services_new(taas_engine *engine)
{
    taas_services *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->engine = engine;
    pthread_rwlock_init(&s->gate, NULL);
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->serving, true);
    s->max_watches_conn = TAAS_DEFAULT_MAX_WATCHES_PER_CONNECTION;
    s->max_watches_principal = TAAS_DEFAULT_MAX_WATCHES_PER_PRINCIPAL;
    size_t i = 0;
    svc_task_methods(s, &i);
    svc_registry_methods(s, &i);
    svc_health_methods(s, &i);
    svc_schedule_methods(s, &i);
    return s;
}

void taas_services_set_watch_limits(taas_services *s, int per_connection, int per_principal)
{
    pthread_mutex_lock(&s->mu);
    s->max_watches_conn = per_connection;
    s->max_watches_principal = per_principal;
    pthread_mutex_unlock(&s->mu);
}

const taas_method *taas_services_methods(taas_services *s, size_t *n)
{
    *n = SVC_N_METHODS;
    return s->methods;
}

void taas_services_set_serving(taas_services *s, bool serving)
{
    if (atomic_exchange(&s->serving, serving) != serving)
        svc_health_broadcast(s);
}

void taas_services_drain(taas_services *s)
{
    taas_services_set_serving(s, false);
    pthread_rwlock_wrlock(&s->gate);
    if (s->engine) {
        svc_task_drain(s);
        s->engine = NULL;
    }
    pthread_rwlock_unlock(&s->gate);
}

int taas_services_count_live(taas_services *s, int64_t counts[6])
{
    taas_engine *e = svc_enter(s);
    if (!e)
        return -1;
    taas_status st = taas_engine_count_live(e, counts);
    svc_leave(s);
    return st == TAAS_ST_OK ? 0 : -1;
}

int taas_services_ready(taas_services *s, char *msg, size_t cap)
{
    if (!atomic_load(&s->serving)) {
        snprintf(msg, cap, "shutting down");
        return -1;
    }
    taas_engine *e = svc_enter(s);
    if (!e) {
        snprintf(msg, cap, "shutting down");
        return -1;
    }
    int rc = 0;
    if (!taas_engine_serving(e)) {
        snprintf(msg, cap, "the engine is not accepting work");
        rc = -1;
    } else {
        /* A read of an id that cannot exist: NOT_FOUND means the store
         * answered; anything else (UNAVAILABLE, INTERNAL) that it did not. */
        taas_task_rec rec;
        char emsg[256] = "";
        taas_status st = taas_engine_get(e, "00000000-0000-0000-0000-000000000000", NULL, &rec, emsg,
                                         sizeof emsg);
        if (st == TAAS_ST_OK)
            taas_task_rec_clear(&rec);
        else if (st != TAAS_ST_NOT_FOUND) {
            snprintf(msg, cap, "the store does not answer: %s", emsg[0] ? emsg : taas_status_name(st));
            rc = -1;
        }
    }
    svc_leave(s);
    return rc;
}

void taas_services_free(taas_services *s)
{
    if (!s)
        return;
    svc_wcount_free_all(s);
    pthread_rwlock_destroy(&s->gate);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* String fields, checked on the wire */

/* A varint at p[*i..n); false when it runs past the end or past 10 bytes. */
static bool wire_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70 && *i < n; shift += 7) {
        uint8_t b = p[(*i)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* On a bad string: -1, the message in msg and the dotted field path
 * ("spec.task_name") and the reason alone in *bad (for a BadRequest). */
static int wire_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                        const char *prefix, int depth, char *msg, size_t cap, taas_error *badf)
{
    size_t i = 0;
    while (i < n) {
        uint64_t tag, len;
        if (!wire_varint(p, n, &i, &tag))
            return 0; /* unpack already judged the framing */
        switch (tag & 7) {
        case 0:
            if (!wire_varint(p, n, &i, &len))
                return 0;
            continue;
        case 1: i += 8; continue;
        case 5: i += 4; continue;
        case 2: break;
        default: return 0;
        }
        if (!wire_varint(p, n, &i, &len) || len > n - i)
            return 0;
        const ProtobufCFieldDescriptor *f =
            tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                                   : NULL;
        const uint8_t *v = p + i;
        i += (size_t)len;
        if (!f)
            continue; /* unknown fields are dropped by unpack, never read */
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            size_t bad;
            if (taas_utf8_text_ok(v, (size_t)len, &bad))
                continue;
            const char *why = v[bad] ? "not valid UTF-8" : "contains a NUL character";
            snprintf(msg, cap, "%s%s: %s at byte %zu", prefix, f->name, why, bad);
            if (badf) {
                snprintf(badf->path, sizeof badf->path, "%s%s", prefix, f->name);
                snprintf(badf->message, sizeof badf->message, "%s at byte %zu", why, bad);
            }
            return -1;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s%s.", prefix, f->name);
            if (wire_strings(f->descriptor, v, (size_t)len, sub, depth + 1, msg, cap, badf) < 0)
                return -1;
        }
    }
    return 0;
}

int svc_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                      char *msg, size_t cap)
{
    return wire_strings(d, data, len, "", 0, msg, cap, NULL);
}

ProtobufCMessage *svc_unpack(taas_call *call, const ProtobufCMessageDescriptor *d)
{
    size_t len;
    const uint8_t *data = taas_call_request(call, &len);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    char msg[256];
    if (!m) {
        /* "taas.v1.GetTaskRequest" -> "malformed GetTaskRequest" */
        const char *dot = strrchr(d->name, '.');
        snprintf(msg, sizeof msg, "malformed %s", dot ? dot + 1 : d->name);
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, msg, NULL, 0);
        return NULL;
    }
    taas_error bad = {{0}, {0}};
    if (wire_strings(d, data, len, "", 0, msg, sizeof msg, &bad) < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        /* Like every other INVALID_ARGUMENT: the field in a BadRequest, so
         * a client can tell which of a request's strings was refused. */
        size_t dlen = 0;
        void *details = bad.path[0]
                            ? svc_bad_request_status(TAAS_ST_INVALID_ARGUMENT, msg, &bad, 1, &dlen)
                            : NULL;
        if (details)
            taas_call_reply_details(call, TAAS_ST_INVALID_ARGUMENT, msg, details, dlen);
        else
            taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, msg, NULL, 0);
        return NULL;
    }
    return m;
}
