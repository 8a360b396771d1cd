/*
 * examples/tasks/fan_out.c - a body that runs other tasks: submit every
 * child first (they run in parallel on the server's workers), then wait for
 * each in order. A parent that waits gives its worker back to the pool, so
 * any number of waiting parents never starves their children of workers.
 *
 * Children are keyed by their position in the attempt, so when this task
 * runs again after a crash it gets the same children back (already done, or
 * still running) instead of starting new ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fan_out.h"
#include "taas/json.h"

/* "<result>" of my_custom_task, "counted <n>" of countdown. */
static const char *child_result(taas_ctx *ctx, const char *output)
{
    taas_jdoc d;
    const char *out = NULL;
    if (taas_json_parse(&d, output, strlen(output), NULL, NULL, 0) != 0)
        return NULL;
    int t = taas_json_obj_get(&d, 0, "result", 6);
    int c = taas_json_obj_get(&d, 0, "counted", 7);
    if (t >= 0 && taas_json_kind_of(&d, t) == TAAS_JSON_STRING) {
        char *s = taas_alloc(ctx, taas_json_str_rawlen(&d, t) + 1);
        if (s)
            taas_json_str_decode(&d, t, s);
        out = s;
    } else if (c >= 0) {
        int64_t n = 0;
        taas_json_int64(&d, c, &n);
        out = taas_printf(ctx, "counted %lld", (long long)n);
    }
    taas_json_free(&d);
    return out;
}

int fan_out_execute(taas_ctx *ctx, const fan_out_input *in, fan_out_output *out)
{
    size_t n = in->words.len;
    char(*ids)[TAAS_CHILD_ID_SIZE] = taas_alloc(ctx, n * sizeof *ids);
    out->results.items = taas_alloc(ctx, n * sizeof *out->results.items);
    out->children.items = taas_alloc(ctx, n * sizeof *out->children.items);
    if (!ids || !out->results.items || !out->children.items)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");

    for (size_t i = 0; i < n; i++) {
        char inputs[512], err[512];
        taas_jw w;
        taas_jw_init(&w, sizeof inputs - 1);
        taas_jw_obj_begin(&w);
        if (in->hold_s > 0) {
            taas_jw_key(&w, "seconds");
            taas_jw_int64(&w, in->hold_s);
            taas_jw_key(&w, "step_ms");
            taas_jw_int64(&w, 100);
        } else {
            taas_jw_key(&w, "param1");
            taas_jw_str(&w, in->words.items[i]);
            taas_jw_key(&w, "param2");
            taas_jw_int64(&w, (int64_t)i);
        }
        taas_jw_obj_end(&w);
        char *text = taas_jw_take(&w, NULL);
        if (!text) {
            taas_jw_free(&w);
            return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
        }
        snprintf(inputs, sizeof inputs, "%s", text);
        free(text);
        if (taas_submit_child(ctx, in->hold_s > 0 ? "countdown" : "my_custom_task", inputs,
                              ids[i], err, sizeof err) != 0)
            return taas_fail(ctx, TAAS_PERMANENT, "child %zu: %s", i, err);
    }
    for (size_t i = 0; i < n; i++) {
        taas_child_result r;
        if (taas_wait_child(ctx, ids[i], &r) != 0)
            return taas_fail(ctx, TAAS_RETRYABLE, "waiting for child %zu: %s", i, r.error);
        if (r.state != TAAS_CHILD_SUCCEEDED)
            return taas_fail(ctx, TAAS_PERMANENT, "child %zu (%s) did not succeed: %s", i,
                             ids[i], r.error ? r.error : "");
        const char *res = child_result(ctx, r.output);
        if (!res)
            return taas_fail(ctx, TAAS_PERMANENT, "child %zu: unexpected output %s", i, r.output);
        out->results.items[i] = res;
        out->children.items[i] = taas_strdup(ctx, ids[i]);
        taas_progress(ctx, (double)(i + 1) / (double)n,
                      taas_printf(ctx, "%zu of %zu children done", i + 1, n));
    }
    out->results.len = n;
    out->children.len = n;
    return 0;
}
