/*
 * tests/fuzz/fuzz_idempotency.c - idempotency keys against a model.
 *
 * An input is a list of submits; each takes a byte for the principal (none,
 * alice, bob), the inputs (one of four objects) and the task (noop or
 * my_custom_task-shaped inputs are not needed: noop accepts any object), then
 * a length byte and that many key bytes. Keys are prefixed with the input's
 * number so that inputs do not see each other's keys. The model: a key is
 * scoped to its principal; the first submit with a key creates a task; the
 * same key with the same inputs answers that task as a duplicate; with other
 * inputs, ALREADY_EXISTS with a message that is valid UTF-8 once the server
 * has made it so (it cuts the quoted key between characters); an empty key
 * never deduplicates; a key over 255 bytes is INVALID_ARGUMENT. Every task
 * created is read back with its key and principal, then cancelled so that
 * the engine's retention removes it.
 */
#include "engine_env.h"
#include "util/utf8.h"

#define MAX_SUBMITS 16

static unsigned long g_input;

static const char *const principals[] = {NULL, "alice", "bob"};
static const char *const inputs[] = {"{}", "{\"a\":1}", "{\"a\":2}", "{\"b\":\"\\u00e9\"}"};

typedef struct seen {
    int principal;
    char key[320];
    int input;
    char id[64];
} seen;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    env_start(1);
    return 0;
}

void fuzz_standalone_cleanup(void)
{
    env_stop();
}

static void cancelled(void *arg, taas_status st, int state_after, const char *message) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen model[MAX_SUBMITS];
    int nm = 0;
    size_t at = 0;
    g_input++;
    for (int step = 0; step < MAX_SUBMITS && at + 2 <= size; step++) {
        unsigned b = data[at++];
        size_t klen = data[at++];
        if (klen > size - at)
            klen = size - at;
        int who = (int)(b % 3), inp = (int)(b / 3 % 4);
        char key[320];
        int pre = klen ? snprintf(key, sizeof key, "%lu:", g_input) : 0;
        /* Keys cut at a NUL: the engine takes C strings (the services
         * refuse a NUL before this point). */
        size_t kl = strnlen((const char *)data + at, klen);
        memcpy(key + pre, data + at, kl);
        key[pre + kl] = '\0';
        at += klen;
        if ((b & 0x80) && klen) /* make some keys long (prefixed: never shared) */
            for (size_t n = strlen(key); n < 250 + (b & 15) && n + 1 < sizeof key; n++)
                key[n] = 'k', key[n + 1] = '\0';

        taas_submit_req r = {
            .task_name = "noop",
            .input = inputs[inp],
            .input_len = strlen(inputs[inp]),
            .idempotency_key = key,
            .run_after_ms = taas_now_ms() + 86400000,
            .principal = principals[who],
        };
        env_submit s;
        taas_status st = env_submit_sync(&r, &s);

        int prev = -1;
        for (int i = 0; i < nm && key[0]; i++)
            if (model[i].principal == who && !strcmp(model[i].key, key))
                prev = i;
        if (strlen(key) > 255) {
            FUZZ_CHECK(st == TAAS_ST_INVALID_ARGUMENT, "key of %zu bytes: %d", strlen(key),
                       (int)st);
        } else if (prev < 0) {
            FUZZ_CHECK(st == TAAS_ST_OK && !s.duplicate, "new key '%s': %d dup %d %s", key,
                       (int)st, s.duplicate, s.msg);
            if (nm < MAX_SUBMITS) {
                model[nm].principal = who;
                snprintf(model[nm].key, sizeof model[nm].key, "%s", key);
                model[nm].input = inp;
                snprintf(model[nm].id, sizeof model[nm].id, "%s", s.id);
                nm++;
            }
            taas_task_rec rec;
            char msg[256];
            FUZZ_CHECK(taas_engine_get(env_engine, s.id, NULL, &rec, msg, sizeof msg) == TAAS_ST_OK,
                       "get %s: %s", s.id, msg);
            FUZZ_CHECK(key[0] ? rec.idempotency_key && !strcmp(rec.idempotency_key, key)
                              : !rec.idempotency_key || !rec.idempotency_key[0],
                       "stored key '%s', sent '%s'", rec.idempotency_key ? rec.idempotency_key : "",
                       key);
            FUZZ_CHECK(principals[who] ? rec.principal && !strcmp(rec.principal, principals[who])
                                       : !rec.principal || !rec.principal[0],
                       "stored principal");
            taas_task_rec_clear(&rec);
        } else if (model[prev].input == inp) {
            FUZZ_CHECK(st == TAAS_ST_OK && s.duplicate && !strcmp(s.id, model[prev].id),
                       "repeat of key '%s': %d dup %d id %s want %s", key, (int)st, s.duplicate,
                       s.id, model[prev].id);
        } else {
            FUZZ_CHECK(st == TAAS_ST_ALREADY_EXISTS, "key '%s' with other inputs: %d", key,
                       (int)st);
            /* What taas_call_reply sends: valid UTF-8 after the fix, and the
             * cut itself kept the characters whole. */
            char m[512];
            snprintf(m, sizeof m, "%s", s.msg);
            if (taas_utf8_text_ok(key, strlen(key), NULL))
                FUZZ_CHECK(taas_utf8_text_ok(m, strlen(m), NULL), "message cut in a character: %s",
                           m);
            taas_utf8_fix(m);
            FUZZ_CHECK(taas_utf8_text_ok(m, strlen(m), NULL), "fixed message invalid");
        }
    }
    for (int i = 0; i < nm; i++)
        FUZZ_CHECK(taas_engine_cancel(env_engine, model[i].id, NULL, cancelled, NULL, NULL, 0) ==
                       TAAS_ST_OK,
                   "cancel %s", model[i].id);
    return 0;
}
