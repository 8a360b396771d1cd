/* tests/tasks/tasks_run_util.c - see tasks_run_util.h. */
#include "tasks_run_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json/json.h"

void tt_progress_init(tt_progress *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
}

void tt_progress_cb(void *arg, double fraction, const char *message)
{
    tt_progress *p = arg;
    pthread_mutex_lock(&p->lock);
    if (p->count < TT_MAX_PROGRESS) {
        p->fraction[p->count] = fraction;
        snprintf(p->message[p->count], sizeof p->message[0], "%s", message ? message : "");
        p->count++;
    }
    pthread_mutex_unlock(&p->lock);
}

taas_outcome tt_run(const taas_task_type *type, const char *json, tt_progress *progress,
                    atomic_int *stop, taas_run_result *res)
{
    taas_run_opts opts = {
        .task_id = "test",
        .attempt = 1,
        .progress = progress ? tt_progress_cb : NULL,
        .progress_arg = progress,
        .stop = stop,
    };
    memset(res, 0, sizeof *res);
    taas_run(type, json, strlen(json), &opts, res);
    return res->outcome;
}

void tt_run_done(taas_run_result *res)
{
    free(res->output);
    res->output = NULL;
}

char *tt_run_ok(const taas_task_type *type, const char *json)
{
    taas_run_result res;
    if (tt_run(type, json, NULL, NULL, &res) != TAAS_OUTCOME_SUCCEEDED)
        fail_msg("%s %s: outcome %d, error '%s'", type->name, json, (int)res.outcome,
                 res.error);
    assert_non_null(res.output);
    return res.output;
}

bool tt_json_equal(const char *a, const char *b)
{
    taas_jdoc da, db;
    char err[256];
    if (taas_json_parse(&da, a, strlen(a), NULL, err, sizeof err) != 0)
        fail_msg("not JSON (%s): %s", err, a);
    if (taas_json_parse(&db, b, strlen(b), NULL, err, sizeof err) != 0)
        fail_msg("expected text is not JSON (%s): %s", err, b);
    bool eq = taas_json_equal(&da, 0, &db, 0);
    taas_json_free(&da);
    taas_json_free(&db);
    return eq;
}

void tt_assert_json(const char *actual, const char *expected)
{
    if (!tt_json_equal(actual, expected))
        fail_msg("JSON differs:\n  got:  %s\n  want: %s", actual, expected);
}

static int get(taas_jdoc *doc, const char *json, const char *key)
{
    char err[256];
    if (taas_json_parse(doc, json, strlen(json), NULL, err, sizeof err) != 0)
        fail_msg("not JSON (%s): %s", err, json);
    return taas_json_obj_get(doc, 0, key, strlen(key));
}

char *tt_json_get_string(const char *json, const char *key)
{
    taas_jdoc doc;
    int t = get(&doc, json, key);
    char *s = NULL;
    if (t >= 0 && taas_json_kind_of(&doc, t) == TAAS_JSON_STRING) {
        s = malloc(taas_json_str_rawlen(&doc, t) + 1);
        assert_non_null(s);
        taas_json_str_decode(&doc, t, s);
    }
    taas_json_free(&doc);
    return s;
}

long long tt_json_get_int(const char *json, const char *key)
{
    taas_jdoc doc;
    int64_t v = 0;
    int t = get(&doc, json, key);
    if (t < 0 || taas_json_int64(&doc, t, &v) != 0)
        fail_msg("no integer '%s' in %s", key, json);
    taas_json_free(&doc);
    return (long long)v;
}

bool tt_json_get_bool(const char *json, const char *key)
{
    taas_jdoc doc;
    int t = get(&doc, json, key);
    if (t < 0 || taas_json_kind_of(&doc, t) != TAAS_JSON_BOOL)
        fail_msg("no boolean '%s' in %s", key, json);
    bool v = taas_json_bool(&doc, t);
    taas_json_free(&doc);
    return v;
}
