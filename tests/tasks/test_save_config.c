/*
 * tests/tasks/test_save_config.c - save_config through its generated entry:
 * durable writes, harmless re-runs, concurrent writers, and more than
 * thirty hostile paths, each refused with a clear message while nothing in
 * the test tree (inside or outside the root) changes.
 *
 * Layout of every test, in a fresh mkdtemp() directory <base>:
 *     <base>/root       TAAS_OUTPUT_ROOT
 *     <base>/outside    a directory the task must never touch
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "load_config.h"
#include "save_config.h"
#include "tasks_run_util.h"
#include "tasks_test_util.h"

typedef struct sfix {
    char base[64];
    char root[96];
    char outside[96];
} sfix;

static int setup(void **state)
{
    sfix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->base, "/tmp/taas-save-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    snprintf(f->root, sizeof f->root, "%s/root", f->base);
    snprintf(f->outside, sizeof f->outside, "%s/outside", f->base);
    tt_mkdirf(f->base, "root");
    tt_mkdirf(f->base, "outside");
    tt_write_file(f->outside, "victim.json", "original");
    setenv("TAAS_OUTPUT_ROOT", f->root, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sfix *f = *state;
    unsetenv("TAAS_OUTPUT_ROOT");
    tt_rm_rf(f->base);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* A snapshot of a whole tree: every entry's path, type, size and mtime.    */

static char *snap_buf;
static size_t snap_len, snap_cap;
static size_t snap_prefix;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)type;
    (void)ftw;
    char line[PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "%s %o %lld %lld.%09ld\n", path + snap_prefix,
                     (unsigned)(st->st_mode & S_IFMT), (long long)st->st_size,
                     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    if (snap_len + (size_t)n + 1 > snap_cap) {
        snap_cap = (snap_len + (size_t)n + 1) * 2;
        snap_buf = realloc(snap_buf, snap_cap);
        assert_non_null(snap_buf);
    }
    memcpy(snap_buf + snap_len, line, (size_t)n + 1);
    snap_len += (size_t)n;
    return 0;
}

static char *snapshot(const char *dir)
{
    snap_buf = NULL;
    snap_len = snap_cap = 0;
    snap_prefix = strlen(dir);
    nftw(dir, snap_one, 16, FTW_PHYS);
    return snap_buf;
}

/* ------------------------------------------------------------------------ */

static char *save(const char *path_json, const char *config, bool create_dirs,
                  taas_run_result *res)
{
    size_t cap = strlen(path_json) + strlen(config) + 64;
    char *input = malloc(cap);
    assert_non_null(input);
    snprintf(input, cap, "{\"path\":%s,\"config\":%s%s}", path_json, config,
             create_dirs ? ",\"create_dirs\":true" : "");
    tt_run(&taas_task_save_config, input, NULL, NULL, res);
    free(input);
    return res->output;
}

/* Save with `path_json` (a JSON string literal) and expect a refusal that
 * mentions `needle`, with no change anywhere under <base>. */
static void expect_refused(sfix *f, const char *path_json, bool create_dirs, const char *needle)
{
    char *before = snapshot(f->base);
    taas_run_result res;
    save(path_json, "{\"app_name\":\"x\"}", create_dirs, &res);
    char *after = snapshot(f->base);
    tt_run_done(&res);

    if (res.outcome != TAAS_OUTCOME_FAILED_PERMANENT && res.outcome != TAAS_OUTCOME_INVALID_INPUT)
        fail_msg("path %.100s: outcome %d, not refused", path_json, (int)res.outcome);
    if (!strstr(res.error, needle))
        fail_msg("path %.100s: message '%s' does not mention '%s'", path_json, res.error, needle);
    if (strcmp(before, after) != 0)
        fail_msg("path %.100s: the tree changed\nbefore:\n%s\nafter:\n%s", path_json, before,
                 after);
    free(before);
    free(after);
    char *victim = tt_read_file(f->outside, "victim.json", NULL);
    assert_string_equal(victim, "original");
    free(victim);
}

static void test_hostile_paths(void **state)
{
    sfix *f = *state;

    /* The furniture the hostile paths aim at. */
    tt_mkdirf(f->root, "sub");
    tt_write_file(f->root, "existing.json", "{}");
    tt_symlinkf("../outside", f->root, "linkdir");          /* directory link, escaping */
    tt_symlinkf("sub", f->root, "linkdir_in");              /* directory link, inside */
    tt_symlinkf("../outside/victim.json", f->root, "out.json"); /* final link, escaping */
    tt_symlinkf("existing.json", f->root, "in.json");       /* final link, inside */
    tt_symlinkf("nowhere.json", f->root, "dangling.json");  /* dangling link */
    tt_symlinkf("../outside/new.json", f->root, "dangling_out.json");
    tt_symlinkf("/dev/null", f->root, "null.json");
    tt_mkdirf(f->root, "dir.json");
    tt_write_file(f->root, "dir.json/keep", "k");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/fifo.json", f->root);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof p, "%s/fifodir", f->root);
    assert_int_equal(mkfifo(p, 0600), 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock.json", f->root);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);

    expect_refused(f, "\"../x\"", false, "'..'");
    expect_refused(f, "\"../outside/victim.json\"", false, "'..'");
    expect_refused(f, "\"a/../../x\"", false, "'..'");
    expect_refused(f, "\"sub/../x.json\"", true, "'..'");
    expect_refused(f, "\"..\"", false, "'..'");
    expect_refused(f, "\"/etc/passwd\"", false, "absolute");
    expect_refused(f, "\"/tmp/x.json\"", true, "absolute");
    expect_refused(f, "\"./../x\"", false, "'.'");
    expect_refused(f, "\"./x.json\"", false, "'.'");
    expect_refused(f, "\".\"", false, "'.'");
    expect_refused(f, "\"sub/.\"", false, "'.'");
    expect_refused(f, "\"a//b\"", true, "empty component");
    expect_refused(f, "\"\"", false, "path");
    expect_refused(f, "\"sub/\"", false, "ends with '/'");
    expect_refused(f, "\"new/\"", true, "ends with '/'");
    expect_refused(f, "\"linkdir/x.json\"", false, "'linkdir' is a symbolic link");
    expect_refused(f, "\"linkdir/new/x.json\"", true, "symbolic link");
    expect_refused(f, "\"linkdir_in/x.json\"", false, "'linkdir_in' is a symbolic link");
    expect_refused(f, "\"out.json\"", false, "symbolic link");
    expect_refused(f, "\"in.json\"", false, "symbolic link");
    expect_refused(f, "\"dangling.json\"", false, "symbolic link");
    expect_refused(f, "\"dangling_out.json\"", false, "symbolic link");
    expect_refused(f, "\"null.json\"", false, "symbolic link");
    expect_refused(f, "\"fifo.json\"", false, "FIFO");    /* would hang if opened */
    expect_refused(f, "\"fifodir/x.json\"", true, "not a directory");
    expect_refused(f, "\"sock.json\"", false, "socket");
    expect_refused(f, "\"dir.json\"", false, "is a directory");
    expect_refused(f, "\"existing.json/x\"", true, "not a directory");
    expect_refused(f, "\"missing/x.json\"", false, "create_dirs");
    expect_refused(f, "\"a\\\\b.json\"", false, "backslash");
    expect_refused(f, "\"..\\\\outside\\\\victim.json\"", false, "backslash");
    expect_refused(f, "\"a\\u0001b\"", false, "control character");
    expect_refused(f, "\"a\\nb\"", false, "control character");
    expect_refused(f, "\"a\\u0000b\"", false, "");  /* JSON "\u0000" never reaches the body */

    /* One component of NAME_MAX + 1 bytes. */
    char name[NAME_MAX + 8];
    memset(name, 0, sizeof name);
    name[0] = '"';
    memset(name + 1, 'n', NAME_MAX + 1);
    name[NAME_MAX + 2] = '"';
    expect_refused(f, name, false, "longer than the 255");
    /* A path of PATH_MAX + 1 bytes (a/a/a/...). */
    char *longp = malloc(PATH_MAX + 8);
    assert_non_null(longp);
    longp[0] = '"';
    for (size_t i = 0; i < PATH_MAX + 1; i++)
        longp[1 + i] = (i % 2) ? '/' : 'a';
    longp[1 + PATH_MAX] = 'a';
    longp[2 + PATH_MAX] = '"';
    longp[3 + PATH_MAX] = '\0';
    expect_refused(f, longp, true, "/path");
    free(longp);

    close(s);
}

static void test_writes_and_rewrites(void **state)
{
    sfix *f = *state;
    taas_run_result res;
    const char *cfg = "{\"app_name\":\"shop\",\"port\":8080,\"features\":[\"a\",\"b\"],"
                      "\"database\":{},\"empty\":[]}";
    const char *pretty = "{\n"
                         "  \"app_name\": \"shop\",\n"
                         "  \"port\": 8080,\n"
                         "  \"features\": [\n"
                         "    \"a\",\n"
                         "    \"b\"\n"
                         "  ],\n"
                         "  \"database\": {},\n"
                         "  \"empty\": []\n"
                         "}\n";

    char *out = save("\"shop.json\"", cfg, false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    assert_int_equal(tt_json_get_int(out, "bytes"), (long long)strlen(pretty));
    char *first = strdup(out);
    assert_non_null(first);
    char *sha1 = tt_json_get_string(out, "sha256");
    char *path = tt_json_get_string(out, "path");
    assert_string_equal(path, "shop.json");
    free(path);
    assert_int_equal(strlen(sha1), 64);
    tt_run_done(&res);

    size_t n;
    char *got = tt_read_file(f->root, "shop.json", &n);
    assert_string_equal(got, pretty);
    free(got);

    struct stat st1, st2;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/shop.json", f->root);
    assert_int_equal(stat(p, &st1), 0);

    /* The same content again, even spelled with other white space: harmless. */
    out = save("\"shop.json\"",
               "{ \"app_name\" : \"shop\", \"port\" : 8080, \"features\" : [ \"a\" , \"b\" ],"
               " \"database\" : { }, \"empty\" : [ ] }",
               false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_assert_json(out, first); /* the same result, byte count and digest */
    free(first);
    tt_run_done(&res);
    assert_int_equal(stat(p, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino); /* not even replaced */
    got = tt_read_file(f->root, "shop.json", NULL);
    assert_string_equal(got, pretty);
    free(got);

    /* New content replaces the file (a new inode: written beside, renamed over). */
    out = save("\"shop.json\"", "{\"app_name\":\"shop\",\"port\":9090}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    char *sha2 = tt_json_get_string(out, "sha256");
    assert_string_not_equal(sha1, sha2);
    free(sha2);
    tt_run_done(&res);
    got = tt_read_file(f->root, "shop.json", NULL);
    assert_string_equal(got, "{\n  \"app_name\": \"shop\",\n  \"port\": 9090\n}\n");
    free(got);
    free(sha1);
    /* No temporary files are left behind. */
    assert_int_equal(tt_count_entries(f->root, NULL), 1);
}

static void test_known_digest(void **state)
{
    (void)state;
    taas_run_result res;
    /* "{}\n": sha256 computed independently (sha256sum). */
    char *out = save("\"e.json\"", "{}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    char *sha = tt_json_get_string(out, "sha256");
    assert_string_equal(sha, "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356");
    assert_int_equal(tt_json_get_int(out, "bytes"), 3);
    free(sha);
    tt_run_done(&res);
}

static void test_directories_and_names(void **state)
{
    sfix *f = *state;
    taas_run_result res;

    /* Without create_dirs a missing directory is an error; with it, created. */
    save("\"prod/eu/app.json\"", "{\"a\":1}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_FAILED_PERMANENT);
    assert_false(tt_exists(f->root, "prod"));
    save("\"prod/eu/app.json\"", "{\"a\":1}", true, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_true(tt_is_reg(f->root, "prod/eu/app.json"));
    /* Existing directories are walked, not recreated. */
    save("\"prod/us.json\"", "{\"a\":2}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);

    /* Unicode names are allowed, and so are dots that are not whole components. */
    save("\"конфигурация/設定 ü.json\"", "{\"a\":1}", true, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_true(tt_is_reg(f->root, "конфигурация/設定 ü.json"));
    save("\"..hidden/...json\"", "{\"a\":1}", true, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_true(tt_is_reg(f->root, "..hidden/...json"));

    /* A name of exactly NAME_MAX bytes is fine. */
    char q[NAME_MAX + 8];
    q[0] = '"';
    memset(q + 1, 'n', NAME_MAX);
    q[NAME_MAX + 1] = '"';
    q[NAME_MAX + 2] = '\0';
    save(q, "{}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);

    /* Nothing appeared outside the root. */
    assert_int_equal(tt_count_entries(f->base, NULL), 2);
    assert_int_equal(tt_count_entries(f->outside, NULL), 1);
}

static void test_root_handling(void **state)
{
    sfix *f = *state;
    taas_run_result res;
    char root[160];

    /* A missing root is created (with its parents). */
    snprintf(root, sizeof root, "%s/new/root", f->base);
    setenv("TAAS_OUTPUT_ROOT", root, 1);
    save("\"a.json\"", "{}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_true(tt_is_reg(f->base, "new/root/a.json"));

    /* A root that is itself a symbolic link is followed: it is the operator's
     * setting, not the client's (documented in safe_path.h). */
    tt_symlinkf("outside", f->base, "rootlink");
    snprintf(root, sizeof root, "%s/rootlink", f->base);
    setenv("TAAS_OUTPUT_ROOT", root, 1);
    save("\"via-link.json\"", "{}", false, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    assert_true(tt_is_reg(f->outside, "via-link.json"));

    /* A root that cannot be a directory fails clearly. */
    snprintf(root, sizeof root, "%s/outside/victim.json", f->base);
    setenv("TAAS_OUTPUT_ROOT", root, 1);
    save("\"a.json\"", "{}", false, &res);
    assert_int_not_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    assert_non_null(strstr(res.error, "root directory"));
    tt_run_done(&res);
    setenv("TAAS_OUTPUT_ROOT", f->root, 1);
}

/* Concurrent writers of one file: the result is always one writer's
 * complete content, and no temporary file survives. */
#define WRITERS 8
#define ROUNDS 15

typedef struct writer {
    int id;
    int failures;
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"writer\":%d,\"pad\":\"%0*d\"}", w->id, 40 + w->id * 7, 0);
    for (int i = 0; i < ROUNDS; i++) {
        taas_run_result res;
        save("\"shared/config.json\"", cfg, true, &res);
        if (res.outcome != TAAS_OUTCOME_SUCCEEDED)
            w->failures++;
        tt_run_done(&res);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    sfix *f = *state;
    pthread_t th[WRITERS];
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.id = i};
        assert_int_equal(pthread_create(&th[i], NULL, write_loop, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    char *got = tt_read_file(f->root, "shared/config.json", NULL);
    assert_non_null(got);
    bool matched = false;
    for (int i = 0; i < WRITERS && !matched; i++) {
        char want[160];
        snprintf(want, sizeof want, "{\n  \"writer\": %d,\n  \"pad\": \"%0*d\"\n}\n", i,
                 40 + i * 7, 0);
        matched = strcmp(got, want) == 0;
    }
    if (!matched)
        fail_msg("torn or foreign content: %s", got);
    free(got);
    assert_int_equal(tt_count_entries(f->root, "shared"), 1);
}

/* What save_config writes, load_config reads back. */
static void test_round_trip(void **state)
{
    sfix *f = *state;
    taas_run_result res;
    save("\"rt/app.json\"", "{\"b\":[1,2.5,\"x\"],\"a\":{\"n\":null}}", true, &res);
    assert_int_equal(res.outcome, TAAS_OUTCOME_SUCCEEDED);
    tt_run_done(&res);
    unsetenv("TAAS_CONFIG_ROOT");
    char *out = tt_run_ok(&taas_task_load_config, "{\"path\":\"rt/app.json\"}");
    tt_assert_json(out, "{\"config\":{\"b\":[1,2.5,\"x\"],\"a\":{\"n\":null}},"
                        "\"source\":\"file:rt/app.json\",\"keys\":[\"a\",\"b\"]}");
    free(out);
    (void)f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_and_rewrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directories_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_handling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
