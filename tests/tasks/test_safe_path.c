/*
 * tests/tasks/test_safe_path.c - the path rules of examples/tasks/safe_path.c
 * on their own, against a real directory tree in a fresh mkdtemp() root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safe_path.h"
#include "tasks_test_util.h"

typedef struct fixture {
    char dir[64];
    int rootfd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/taas-safe-path-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->rootfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->rootfd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->rootfd);
    tt_rm_rf(f->dir);
    free(f);
    return 0;
}

static void check_path(const char *path, int code, const char *needle)
{
    char msg[256] = "";
    int rc = safe_path_check(path, strlen(path), msg, sizeof msg);
    if (rc != code || (needle && !strstr(msg, needle)))
        fail_msg("path '%s': rc %d (want %d), message '%s' (want '%s')", path, rc, code, msg,
                 needle ? needle : "");
}

static void test_lexical(void **state)
{
    (void)state;
    check_path("a.json", 0, NULL);
    check_path("dir/sub/a.json", 0, NULL);
    check_path("..a/b..c/...", 0, NULL);
    check_path(".hidden", 0, NULL);
    check_path("конфигурация/设置.json", 0, NULL);
    check_path("", -EINVAL, "empty");
    check_path("/etc/passwd", -EINVAL, "absolute");
    check_path("../x", -EINVAL, "'..'");
    check_path("a/../../x", -EINVAL, "'..'");
    check_path("a/..", -EINVAL, "'..'");
    check_path("./x", -EINVAL, "'.'");
    check_path(".", -EINVAL, "'.'");
    check_path("a/./b", -EINVAL, "'.'");
    check_path("a//b", -EINVAL, "empty component");
    check_path("a/", -EINVAL, "ends with '/'");
    check_path("a\\b", -EINVAL, "backslash");
    check_path("..\\x", -EINVAL, "backslash");
    check_path("a\nb", -EINVAL, "control character");
    check_path("a\x7f", -EINVAL, "control character");

    char msg[256];
    /* Embedded NUL: the length says more than strlen sees. */
    assert_int_equal(safe_path_check("a\0b", 3, msg, sizeof msg), -EINVAL);
    assert_non_null(strstr(msg, "NUL"));
    assert_int_equal(safe_path_check(NULL, 0, msg, sizeof msg), -EINVAL);

    /* Component limits: NAME_MAX is fine, one more is not. */
    char name[NAME_MAX + 2];
    memset(name, 'n', NAME_MAX);
    name[NAME_MAX] = '\0';
    assert_int_equal(safe_path_check(name, NAME_MAX, msg, sizeof msg), 0);
    name[NAME_MAX] = 'n';
    name[NAME_MAX + 1] = '\0';
    assert_int_equal(safe_path_check(name, NAME_MAX + 1, msg, sizeof msg), -ENAMETOOLONG);
    assert_non_null(strstr(msg, "component"));
    /* The message quotes a bounded prefix, not the whole name. */
    assert_true(strlen(msg) < 200);

    /* Path limits: PATH_MAX - 1 bytes of "a/a/..." is fine, PATH_MAX + 1 is not. */
    char *p = malloc(PATH_MAX + 2);
    assert_non_null(p);
    for (size_t i = 0; i < PATH_MAX + 1; i++)
        p[i] = (i % 2) ? '/' : 'a';
    p[PATH_MAX - 1] = 'a';
    assert_int_equal(safe_path_check(p, PATH_MAX - 1, msg, sizeof msg), 0);
    p[PATH_MAX] = 'a';
    assert_int_equal(safe_path_check(p, PATH_MAX + 1, msg, sizeof msg), -ENAMETOOLONG);
    assert_non_null(strstr(msg, "longer than"));
    free(p);
}

static void test_resolve_walk(void **state)
{
    fixture *f = *state;
    char msg[256];
    safe_path_target t;

    tt_mkdirf(f->dir, "a");
    tt_mkdirf(f->dir, "a/b");
    tt_write_file(f->dir, "a/file", "{}");
    tt_symlinkf("b", f->dir, "a/link");
    tt_symlinkf("/tmp", f->dir, "out");

    assert_int_equal(safe_path_resolve(f->rootfd, "a/b/x.json", 10, 0, &t, msg, sizeof msg), 0);
    assert_string_equal(t.name, "x.json");
    assert_true(t.dirfd >= 0);
    close(t.dirfd);

    assert_int_equal(safe_path_resolve(f->rootfd, "a/link/x", 8, 0, &t, msg, sizeof msg), -ELOOP);
    assert_non_null(strstr(msg, "'a/link' is a symbolic link"));
    assert_int_equal(t.dirfd, -1);
    assert_int_equal(safe_path_resolve(f->rootfd, "out/x", 5, 0, &t, msg, sizeof msg), -ELOOP);
    assert_int_equal(safe_path_resolve(f->rootfd, "a/file/x", 8, 0, &t, msg, sizeof msg),
                     -ENOTDIR);
    assert_non_null(strstr(msg, "'a/file' is not a directory"));
    assert_int_equal(safe_path_resolve(f->rootfd, "a/c/d/x", 7, 0, &t, msg, sizeof msg), -ENOENT);
    assert_non_null(strstr(msg, "'a/c' does not exist"));
    assert_false(tt_exists(f->dir, "a/c"));

    /* With MKDIRS the missing directories appear, beneath the root only. */
    assert_int_equal(
        safe_path_resolve(f->rootfd, "a/c/d/x", 7, SAFE_PATH_MKDIRS, &t, msg, sizeof msg), 0);
    close(t.dirfd);
    assert_true(tt_is_dir(f->dir, "a/c/d"));
    /* ...but never through a link. */
    assert_int_equal(
        safe_path_resolve(f->rootfd, "a/link/n/x", 10, SAFE_PATH_MKDIRS, &t, msg, sizeof msg),
        -ELOOP);
    assert_false(tt_exists(f->dir, "a/b/n"));
}

static void test_targets_and_reads(void **state)
{
    fixture *f = *state;
    char msg[256];
    struct stat st;
    safe_path_target t;
    bool exists;

    tt_write_file(f->dir, "reg.json", "{\"a\":1}");
    tt_mkdirf(f->dir, "dir");
    tt_symlinkf("reg.json", f->dir, "in_link");
    tt_symlinkf("/etc/passwd", f->dir, "out_link");
    tt_symlinkf("nowhere", f->dir, "dangling");
    assert_int_equal(mkfifoat(f->rootfd, "fifo", 0600), 0);
    /* A hard link inside the root to a file outside it (same file system:
     * the fixture's parent), and the outside name of an inside file. */
    char outside[128], inside[128];
    snprintf(outside, sizeof outside, "%s-outside", f->dir);
    tt_write_file("/", outside + 1, "secret");
    snprintf(inside, sizeof inside, "%s/hard", f->dir);
    assert_int_equal(link(outside, inside), 0);

    struct {
        const char *path;
        int rc;
        const char *needle;
    } cases[] = {
        {"reg.json", 0, NULL},
        {"new.json", 0, NULL},
        {"dir", -EISDIR, "is a directory"},
        {"in_link", -ELOOP, "symbolic link"},
        {"out_link", -ELOOP, "symbolic link"},
        {"dangling", -ELOOP, "symbolic link"},
        {"fifo", -ENXIO, "a FIFO"},
        {"hard", -EMLINK, "2 hard links"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].path);
        assert_int_equal(safe_path_resolve(f->rootfd, cases[i].path, n, 0, &t, msg, sizeof msg),
                         0);
        int rc = safe_path_stat_target(&t, cases[i].path, n, &exists, &st, msg, sizeof msg);
        close(t.dirfd);
        if (rc != cases[i].rc || (cases[i].needle && !strstr(msg, cases[i].needle)))
            fail_msg("%s: rc %d want %d, '%s'", cases[i].path, rc, cases[i].rc, msg);
    }

    int fd = safe_path_open_read(f->rootfd, "reg.json", 8, &st, msg, sizeof msg);
    assert_true(fd >= 0);
    char buf[16] = "";
    assert_int_equal(read(fd, buf, sizeof buf - 1), 7);
    assert_string_equal(buf, "{\"a\":1}");
    close(fd);
    assert_int_equal(safe_path_open_read(f->rootfd, "missing", 7, &st, msg, sizeof msg), -ENOENT);
    assert_non_null(strstr(msg, "does not exist"));
    /* A FIFO must be refused without blocking (the test would hang). */
    assert_int_equal(safe_path_open_read(f->rootfd, "fifo", 4, &st, msg, sizeof msg), -ENXIO);
    assert_int_equal(safe_path_open_read(f->rootfd, "out_link", 8, &st, msg, sizeof msg), -ELOOP);
    assert_int_equal(safe_path_open_read(f->rootfd, "dir", 3, &st, msg, sizeof msg), -EISDIR);
    assert_int_equal(safe_path_open_read(f->rootfd, "hard", 4, &st, msg, sizeof msg), -EMLINK);
    assert_non_null(strstr(msg, "hard links"));
    unlink(outside);
    /* Once the other name is gone, the file is the root's own. */
    fd = safe_path_open_read(f->rootfd, "hard", 4, &st, msg, sizeof msg);
    assert_true(fd >= 0);
    close(fd);

    /* A long name of two-byte characters is quoted cut between them. */
    char longname[200];
    size_t o = 0;
    longname[o++] = 'a'; /* so that byte 80 falls inside a character */
    while (o + 2 < 180) {
        longname[o++] = (char)0xC3;
        longname[o++] = (char)0xA9;
    }
    longname[o] = '\0';
    {
        size_t cut = o;
        char m2[512];
        if (safe_path_open_read(f->rootfd, longname, cut, &st, m2, sizeof m2) >= 0)
            fail_msg("read of a missing file");
        for (size_t i = 0; m2[i]; i++)
            if ((unsigned char)m2[i] == 0xC3 && (unsigned char)m2[i + 1] != 0xA9)
                fail_msg("a character cut in '%s'", m2);
    }
}

static void test_root(void **state)
{
    fixture *f = *state;
    char msg[256], path[128];

    /* Created when missing, like mkdir -p. */
    snprintf(path, sizeof path, "%s/r1/r2/", f->dir);
    int fd = safe_path_open_root(path, true, msg, sizeof msg);
    assert_true(fd >= 0);
    close(fd);
    assert_true(tt_is_dir(f->dir, "r1/r2"));
    /* Not created without `create`. */
    snprintf(path, sizeof path, "%s/nope", f->dir);
    assert_int_equal(safe_path_open_root(path, false, msg, sizeof msg), -ENOENT);
    assert_false(tt_exists(f->dir, "nope"));
    /* A root that is a symbolic link is followed (the operator's choice). */
    tt_symlinkf("r1", f->dir, "rootlink");
    snprintf(path, sizeof path, "%s/rootlink", f->dir);
    fd = safe_path_open_root(path, true, msg, sizeof msg);
    assert_true(fd >= 0);
    close(fd);
    assert_true(safe_path_open_root("", true, msg, sizeof msg) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexical),
        cmocka_unit_test_setup_teardown(test_resolve_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targets_and_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
