/*
 * tests/fuzz/fuzz_strings.c - every string field of every request, with
 * any bytes, against the wire check the handlers run (svc_check_strings).
 *
 * The first byte picks the request message; then, repeatedly, a byte picks
 * one of its fields (or an unknown field number, or a varint field), a
 * length byte and that many bytes are its value, and the field is appended
 * to a hand-built message (hand-built because protobuf-c packs strings with
 * strlen and could not carry a NUL). A field may appear several times.
 *
 * Checked: the wire check refuses the message exactly when some occurrence
 * of a string field is not valid UTF-8 or holds a NUL, by an oracle written
 * apart from runtime/util/utf8.c (it decodes code points and checks their
 * ranges), and names that field; when the check passes and the message
 * unpacks, every string the handler sees is the whole last occurrence
 * (strlen equals the wire length: nothing hidden behind a NUL). The UTF-8
 * helpers are held to their contracts on the same bytes: taas_utf8_cut
 * never splits a character of valid text, taas_utf8_copy and taas_utf8_fix
 * always produce valid text.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_requests.h"
#include "grpc/health/v1/health.pb-c.h"
#include "services/services_int.h"
#include "taas/v1/taas.pb-c.h"
#include "util/utf8.h"

/* The oracle: decode each character, check its range. */
static bool oracle_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t len;
        uint32_t min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    const ProtobufCMessageDescriptor *d = messages[data[0] % N_MESSAGES];
    static uint8_t msg[8192]; /* one input at a time */
    size_t m = 0, at = 1;
    bool want_ok = true;
    const char *first_bad = NULL;
    /* wire length of the last occurrence of each field, by field index */
    size_t last_len[16];
    bool present[16] = {false};

    while (at + 2 <= size && m + 300 < sizeof msg) {
        unsigned pick = data[at++];
        size_t len = data[at++];
        if (len > size - at)
            len = size - at;
        const uint8_t *v = data + at;
        at += len;
        unsigned nf = d->n_fields;
        if (nf && pick % (nf + 2) < nf) {
            const ProtobufCFieldDescriptor *f = &d->fields[pick % (nf + 2)];
            if (f->type != PROTOBUF_C_TYPE_STRING) {
                /* a scalar: a varint of the bytes' length */
                m += put_varint(msg + m, (uint64_t)f->id << 3 | 0);
                m += put_varint(msg + m, len);
                continue;
            }
            m += put_varint(msg + m, (uint64_t)f->id << 3 | 2);
            m += put_varint(msg + m, len);
            memcpy(msg + m, v, len);
            m += len;
            if (!oracle_ok(v, len) && want_ok) {
                want_ok = false;
                first_bad = f->name;
            }
            size_t idx = (size_t)(f - d->fields);
            if (idx < 16) {
                present[idx] = true;
                last_len[idx] = len;
            }
        } else {
            /* an unknown field (never read by the handlers) */
            m += put_varint(msg + m, (uint64_t)(100 + (pick & 7)) << 3 | 2);
            m += put_varint(msg + m, len);
            memcpy(msg + m, v, len);
            m += len;
        }
    }

    char err[256] = "";
    int rc = svc_check_strings(d, msg, m, err, sizeof err);
    FUZZ_CHECK((rc == 0) == want_ok, "%s: check says %d, oracle %d (%s)", d->name, rc, want_ok,
               err);
    if (!want_ok) {
        size_t fl = strlen(first_bad);
        FUZZ_CHECK(!strncmp(err, first_bad, fl) && err[fl] == ':', "message '%s' for field %s",
                   err, first_bad);
        FUZZ_CHECK(taas_utf8_text_ok(err, strlen(err), NULL), "message not UTF-8");
    }
    ProtobufCMessage *u = protobuf_c_message_unpack(d, NULL, m, msg);
    if (u && want_ok) {
        for (unsigned i = 0; i < d->n_fields && i < 16; i++) {
            const ProtobufCFieldDescriptor *f = &d->fields[i];
            if (f->type != PROTOBUF_C_TYPE_STRING || !present[i])
                continue;
            const char *s = *(const char *const *)((const char *)u + f->offset);
            FUZZ_CHECK(strlen(s) == last_len[i], "%s.%s: %zu bytes seen, %zu sent", d->name,
                       f->name, strlen(s), last_len[i]);
        }
    }
    if (u)
        protobuf_c_message_free_unpacked(u, NULL);

    /* The helpers, on the input bytes as one text. */
    const char *t = (const char *)data + 1;
    size_t tn = size - 1;
    char buf[4200], out[64];
    memcpy(buf, t, tn);
    buf[tn] = '\0';
    if (oracle_ok((const uint8_t *)t, tn)) {
        for (size_t max = 0; max <= tn && max < 64; max++) {
            size_t c = taas_utf8_cut(t, tn, max);
            FUZZ_CHECK(c <= max && oracle_ok((const uint8_t *)t, c), "cut %zu of %zu at %zu", max,
                       tn, c);
            FUZZ_CHECK(c + 4 > max || c == tn, "cut %zu gave only %zu", max, c);
        }
    }
    taas_utf8_copy(out, (size_t)(data[0] % sizeof out) + 1, buf);
    FUZZ_CHECK(oracle_ok((const uint8_t *)out, strlen(out)), "copy not valid");
    taas_utf8_fix(buf);
    FUZZ_CHECK(oracle_ok((const uint8_t *)buf, strlen(buf)), "fix not valid");
    return 0;
}
