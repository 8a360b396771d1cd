/*
 * tests/fuzz/fuzz_page_token.c - ListTasks page tokens, which clients hand
 * back as they like: hand-made, truncated, mangled, with NULs.
 *
 * The input is the token. Decoding must accept exactly the canonical
 * encodings of a task id (encode(decode(t)) == t, and the id a well-formed
 * UUID), and ListTasks on an engine holding 40 tasks must answer OK for
 * exactly those tokens (INVALID_ARGUMENT with a message otherwise), with a
 * page of ids strictly below the token's id, in descending order, whose
 * next token, when there is one, is the encoding of the page's last id.
 * The first byte also picks the page size and a state filter.
 */
#include "engine_env.h"
#include "store/store_int.h"

#define N_TASKS 40

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    env_start(-1);
    for (int i = 0; i < N_TASKS; i++) {
        char input[64];
        snprintf(input, sizeof input, "{\"i\":%d}", i);
        taas_submit_req r = {
            .task_name = "noop",
            .input = input,
            .input_len = strlen(input),
            .run_after_ms = taas_now_ms() + 86400000, /* never runs here */
        };
        env_submit s;
        FUZZ_CHECK(env_submit_sync(&r, &s) == TAAS_ST_OK, "seed submit: %s", s.msg);
    }
    return 0;
}

void fuzz_standalone_cleanup(void)
{
    env_stop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256)
        return 0;
    unsigned b = data[0];
    char tok[257];
    memcpy(tok, data + 1, size - 1);
    tok[size - 1] = '\0';

    char id[TAAS_ID_LEN + 1];
    bool valid = taas_store__token_decode(tok, id) == 0;
    if (valid) {
        FUZZ_CHECK(taas_uuid_valid(id), "decoded id '%s'", id);
        char again[64];
        taas_store__token_encode(id, again);
        FUZZ_CHECK(strcmp(again, tok) == 0, "token '%s' decodes to %s, which encodes to '%s'",
                   tok, id, again);
    }

    taas_list_query q = {
        .state = (b & 0x80) ? TAAS_TASK_PENDING : TAAS_TASK_UNSPECIFIED,
        .limit = 1 + (int)(b & 0x3f),
        .page_token = tok,
    };
    taas_task_rec *recs = NULL;
    size_t n = 0;
    char next[64] = "", msg[512] = "";
    taas_status st = taas_engine_list(env_engine, &q, &recs, &n, next, msg, sizeof msg);
    if (!tok[0]) {
        FUZZ_CHECK(st == TAAS_ST_OK, "first page: %d %s", (int)st, msg);
    } else if (valid) {
        FUZZ_CHECK(st == TAAS_ST_OK, "token '%s' decodes but list says %d %s", tok, (int)st, msg);
    } else {
        FUZZ_CHECK(st == TAAS_ST_INVALID_ARGUMENT && msg[0],
                   "malformed token '%s': status %d '%s'", tok, (int)st, msg);
    }
    if (st == TAAS_ST_OK) {
        FUZZ_CHECK(n <= (size_t)q.limit, "%zu tasks for limit %d", n, q.limit);
        for (size_t i = 0; i < n; i++) {
            if (tok[0])
                FUZZ_CHECK(strcmp(recs[i].id, id) < 0, "%s listed after token %s", recs[i].id,
                           id);
            if (i)
                FUZZ_CHECK(strcmp(recs[i].id, recs[i - 1].id) < 0, "not descending");
        }
        if (next[0]) {
            FUZZ_CHECK(n == (size_t)q.limit, "next token after a short page");
            char want[64];
            taas_store__token_encode(recs[n - 1].id, want);
            FUZZ_CHECK(strcmp(next, want) == 0, "next token '%s', want '%s'", next, want);
        }
    }
    for (size_t i = 0; i < n; i++)
        taas_task_rec_clear(&recs[i]);
    free(recs);
    return 0;
}
