/*
 * tests/fuzz/fuzz_proto.c - protobuf-c unpacking of every request message
 * of the API, on arbitrary bytes.
 *
 * The first byte picks the message (SubmitTask, GetTask, ListTasks,
 * CancelTask, WatchTask, GetTaskType, ListTaskTypes, HealthCheck); the rest
 * is the wire data. What unpacks is packed again; packing must write
 * exactly get_packed_size bytes, the result must unpack again, and packing
 * that gives the same bytes (protobuf-c drops unknown fields and
 * canonicalises, so only the second generation is compared). Every string
 * field of an unpacked message must be NUL-terminated and readable, which
 * is what the handlers rely on.
 *
 * Unknown fields are left out of the re-pack: libprotobuf-c 1.4 keeps a field
 * numbered 0 when its tag is spelt in two bytes (80 00), then writes it back
 * as the one-byte tag 00, which its own unpack refuses (input
 * regressions/proto/unknown-field-zero). The handlers never re-pack a
 * request, so only the known fields are held to the round trip.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_requests.h"
#include "grpc/health/v1/health.pb-c.h"
#include "taas/v1/taas.pb-c.h"

/* Read every string field, as the handlers do with strlen and %s. */
static void touch_strings(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        const char *s = *(const char *const *)((const char *)m + f->offset);
        FUZZ_CHECK(s != NULL, "%s.%s is NULL", d->name, f->name);
        volatile size_t n = strlen(s);
        (void)n;
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    size_t want = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(want ? want : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    *len = protobuf_c_message_pack(m, buf);
    FUZZ_CHECK(*len == want, "%s: packed %zu bytes, get_packed_size said %zu",
               m->descriptor->name, *len, want);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d = messages[data[0] % N_MESSAGES];
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
    if (!m)
        return 0;
    FUZZ_CHECK(protobuf_c_message_check(m), "%s: unpacked message fails check", d->name);
    touch_strings(m);

    size_t n_unknown = m->n_unknown_fields;
    m->n_unknown_fields = 0;
    size_t len1;
    uint8_t *b1 = pack(m, &len1);
    m->n_unknown_fields = n_unknown;
    ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, len1, b1);
    FUZZ_CHECK(m2 != NULL, "%s: packed message does not unpack", d->name);
    touch_strings(m2);
    size_t len2;
    uint8_t *b2 = pack(m2, &len2);
    FUZZ_CHECK(len1 == len2 && memcmp(b1, b2, len1) == 0, "%s: re-pack differs (%zu vs %zu)",
               d->name, len1, len2);

    free(b2);
    protobuf_c_message_free_unpacked(m2, NULL);
    free(b1);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
