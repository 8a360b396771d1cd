/*
 * codegen/tests/tasks_examples.c - the generated smoke test.
 *
 * Every spec may list `examples` ({inputs, outputs}); the generator writes
 * them to generated/examples.c. This program runs each through taas_run,
 * exactly as the server would, and compares the output with the expected one
 * by JSON equality (key order and number spelling do not matter).
 *
 * Usage: taas-tasks-examples [TASK]   (all tasks when TASK is omitted)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run.h"
#include "json/json.h"
#include "taas/registry.h"

typedef struct taas_example {
    const taas_task_type *type;
    const char *inputs;
    const char *outputs;
} taas_example;

extern const taas_example taas_examples[];
extern const size_t taas_examples_count;

static int run_one(const taas_example *ex, size_t i)
{
    taas_run_result res;
    memset(&res, 0, sizeof res);
    taas_run_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.task_id = "example";
    int rc = taas_run(ex->type, ex->inputs, strlen(ex->inputs), &opts, &res);
    if (rc != 0 || res.outcome != TAAS_OUTCOME_SUCCEEDED) {
        printf("FAIL %s example %zu: outcome %d: %s\n", ex->type->name, i, (int)res.outcome,
               res.error);
        free(res.output);
        return 1;
    }
    taas_jdoc got, want;
    char err[200];
    int bad = 0;
    if (taas_json_parse(&got, res.output, res.output_len, NULL, err, sizeof err) != 0) {
        printf("FAIL %s example %zu: output is not JSON: %s\n", ex->type->name, i, err);
        free(res.output);
        return 1;
    }
    if (taas_json_parse(&want, ex->outputs, strlen(ex->outputs), NULL, err, sizeof err) != 0) {
        printf("FAIL %s example %zu: expected output is not JSON: %s\n", ex->type->name, i, err);
        taas_json_free(&got);
        free(res.output);
        return 1;
    }
    if (!taas_json_equal(&got, 0, &want, 0)) {
        printf("FAIL %s example %zu:\n  input:    %s\n  expected: %s\n  got:      %.*s\n",
               ex->type->name, i, ex->inputs, ex->outputs, (int)res.output_len, res.output);
        bad = 1;
    } else {
        printf("ok   %s example %zu\n", ex->type->name, i);
    }
    taas_json_free(&got);
    taas_json_free(&want);
    free(res.output);
    return bad;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int failed = 0;
    size_t ran = 0;
    size_t per_task = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < taas_examples_count; i++) {
        const taas_example *ex = &taas_examples[i];
        if (only && strcmp(ex->type->name, only) != 0)
            continue;
        per_task = prev && strcmp(prev, ex->type->name) == 0 ? per_task + 1 : 0;
        prev = ex->type->name;
        failed += run_one(ex, per_task);
        ran++;
    }
    printf("%zu examples, %d failed\n", ran, failed);
    if (only && ran == 0) {
        printf("task %s has no examples in its spec; add some under `examples:`\n", only);
        return 77;
    }
    return failed ? 1 : 0;
}
