/* tests/tasks/tasks_test_util.c - see tasks_test_util.h. */
#include "tasks_test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const char *join(char *buf, size_t cap, const char *dir, const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= cap)
        fail_msg("path too long for a test helper: %s/%s", dir, rel);
    return buf;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void tt_rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tt_mkdirf(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    if (mkdir(join(p, sizeof p, dir, rel), 0777) != 0)
        fail_msg("mkdir %s failed", p);
}

void tt_write_bytes(const char *dir, const char *rel, const char *data, size_t n)
{
    char p[PATH_MAX];
    FILE *f = fopen(join(p, sizeof p, dir, rel), "wb");
    if (!f)
        fail_msg("cannot create %s", p);
    if (n && fwrite(data, 1, n, f) != n)
        fail_msg("cannot write %s", p);
    fclose(f);
}

void tt_write_file(const char *dir, const char *rel, const char *text)
{
    tt_write_bytes(dir, rel, text, strlen(text));
}

void tt_symlinkf(const char *target, const char *dir, const char *rel)
{
    char p[PATH_MAX];
    if (symlink(target, join(p, sizeof p, dir, rel)) != 0)
        fail_msg("symlink %s failed", p);
}

bool tt_exists(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    return lstat(join(p, sizeof p, dir, rel), &st) == 0;
}

bool tt_is_dir(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    return lstat(join(p, sizeof p, dir, rel), &st) == 0 && S_ISDIR(st.st_mode);
}

bool tt_is_reg(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    return lstat(join(p, sizeof p, dir, rel), &st) == 0 && S_ISREG(st.st_mode);
}

char *tt_read_file(const char *dir, const char *rel, size_t *len)
{
    char p[PATH_MAX];
    FILE *f = fopen(join(p, sizeof p, dir, rel), "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

size_t tt_count_entries(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    DIR *d = opendir(rel ? join(p, sizeof p, dir, rel) : dir);
    if (!d)
        fail_msg("cannot list %s", rel ? p : dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static size_t tree_count;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)type;
    if (ftw->level > 0)
        tree_count++;
    return 0;
}

size_t tt_count_tree(const char *dir)
{
    tree_count = 0;
    nftw(dir, count_one, 16, FTW_PHYS);
    return tree_count;
}
