/*
 * tests/fuzz/fuzz_safe_path.c - save_config's path resolution
 * (examples/tasks/safe_path.h) on fuzzed relative paths.
 *
 * A temporary directory holds root/ and, beside it, outside/ with a file
 * "secret". root/ holds directories, regular files, a FIFO and symbolic
 * links: to outside/ and to outside/secret, to a directory and a file
 * inside the root, an absolute one, a dangling one and a loop. The tree is
 * rebuilt before every input, so inputs do not depend on each other.
 *
 * Input: byte 0 is flags (bit 0: SAFE_PATH_MKDIRS / create_dirs; bit 1: also
 * run the real save_config task on the path through taas_run); the rest is
 * the path. Checked after every call:
 *   - whatever safe_path_resolve returns (its directory fd) and whatever
 *     safe_path_open_read opens is inside the root, judged by the kernel's
 *     name for the fd (/proc/self/fd/N) and by device and inode of the root;
 *   - an opened file is regular; a resolved name is one component;
 *   - a path safe_path_check refuses is refused by every other call;
 *   - outside/ and the temporary directory hold exactly what they held
 *     before, and outside/secret is unchanged: nothing outside the root is
 *     ever created, replaced or written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/run.h"
#include "fuzz.h"
#include "json/json.h"
#include "safe_path.h"
#include "taas/registry.h"

static char g_base[256];      /* the temporary directory (real path) */
static char g_root[300];      /* g_base/root */
static char g_outside[300];   /* g_base/outside */
static char g_secret[320];    /* g_base/outside/secret */
static const char SECRET[] = "{\"secret\": true}\n";
static const taas_task_type *g_save;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void must(int ok, const char *what)
{
    FUZZ_CHECK(ok, "setting up the tree: %s: %s", what, strerror(errno));
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    must(fd >= 0, p);
    size_t n = strlen(text);
    must(write(fd, text, n) == (ssize_t)n, p);
    close(fd);
}

static void put_link(const char *target, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, name);
    must(symlink(target, p) == 0, p);
}

static void build_tree(void)
{
    if (access(g_root, F_OK) == 0)
        must(nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "clearing the root");
    char p[512];
    must(mkdir(g_root, 0755) == 0, g_root);
    snprintf(p, sizeof p, "%s/a", g_root);
    must(mkdir(p, 0755) == 0, p);
    snprintf(p, sizeof p, "%s/a/b", g_root);
    must(mkdir(p, 0755) == 0, p);
    snprintf(p, sizeof p, "%s/fifo", g_root);
    must(mkfifo(p, 0644) == 0, p);
    put_file(g_root, "f.json", "{\"a\": 1}\n");
    snprintf(p, sizeof p, "%s/a", g_root);
    put_file(p, "g.json", "[]\n");
    put_link("../outside", "out");              /* a directory outside */
    put_link("../outside/secret", "secret");    /* a file outside */
    put_link("../../outside/secret", "a/s");    /* the same, one level down */
    put_link("a", "in");                        /* a directory inside */
    put_link("f.json", "fl");                   /* a file inside */
    put_link(g_outside, "abs");                 /* absolute */
    put_link("nowhere/x", "dangling");
    put_link("loop", "loop");
}

/* Names in directory `dir` other than "." and "..", as one sorted string. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    size_t used = 0;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        n++;
        int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", de->d_name);
        FUZZ_CHECK(w > 0 && (size_t)w < cap - used, "%s: too many entries", dir);
        used += (size_t)w;
    }
    closedir(d);
    FUZZ_CHECK(n <= 2, "%s holds %d entries: %s", dir, n, out);
}

static void check_outside_untouched(void)
{
    char names[512];
    list_dir(g_outside, names, sizeof names);
    FUZZ_CHECK(!strcmp(names, "secret"), "outside/ now holds: %s", names);
    list_dir(g_base, names, sizeof names);
    FUZZ_CHECK(!strcmp(names, "root,outside") || !strcmp(names, "outside,root"),
               "the directory around the root now holds: %s", names);
    struct stat st;
    FUZZ_CHECK(lstat(g_secret, &st) == 0 && S_ISREG(st.st_mode), "outside/secret replaced");
    char buf[64];
    int fd = open(g_secret, O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "outside/secret: %s", strerror(errno));
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    FUZZ_CHECK(r == (ssize_t)strlen(SECRET) && !memcmp(buf, SECRET, (size_t)r),
               "outside/secret was written");
}

/* The fd names something inside the root (the root itself counts). */
static void check_inside(int fd, const char *what)
{
    char link[64], real[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    FUZZ_CHECK(n > 0, "%s: readlink: %s", what, strerror(errno));
    real[n] = '\0';
    size_t rl = strlen(g_root);
    FUZZ_CHECK(!strncmp(real, g_root, rl) && (real[rl] == '\0' || real[rl] == '/'),
               "%s escaped the root: %s", what, real);
}

static void check_msg(const char *msg, size_t cap, int rc, const char *what)
{
    FUZZ_CHECK(memchr(msg, '\0', cap) != NULL, "%s: message not terminated", what);
    FUZZ_CHECK(rc >= 0 || msg[0] != '\0', "%s: error %d without a message", what, rc);
}

/* Run the save_config task itself on the path (UTF-8 without NUL only: the
 * path reaches it inside JSON). */
static void run_save_config(const char *path, size_t len, bool create_dirs)
{
    taas_jw w;
    taas_jw_init(&w, 0);
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "path");
    taas_jw_strn(&w, path, len);
    taas_jw_key(&w, "config");
    taas_jw_obj_begin(&w);
    taas_jw_key(&w, "fuzz");
    taas_jw_bool(&w, true);
    taas_jw_obj_end(&w);
    taas_jw_key(&w, "create_dirs");
    taas_jw_bool(&w, create_dirs);
    taas_jw_obj_end(&w);
    size_t n;
    char *json = taas_jw_take(&w, &n);
    taas_jw_free(&w);
    if (!json) /* not UTF-8, or holds NUL */
        return;
    taas_run_result res;
    int rc = taas_run(g_save, json, n, NULL, &res);
    if (rc == 0) {
        /* Written: the file must be where the path says, beneath the root. */
        char p[8192];
        snprintf(p, sizeof p, "%s/%.*s", g_root, (int)len, path);
        int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        FUZZ_CHECK(fd >= 0, "save_config succeeded but %s: %s", p, strerror(errno));
        struct stat st;
        FUZZ_CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "saved file is not regular");
        check_inside(fd, "the saved file");
        close(fd);
    } else {
        FUZZ_CHECK(res.error[0] != '\0', "save_config failed without a message");
    }
    free(res.output);
    free(json);
}

/* libFuzzer exits without a cleanup call: remove the temporary tree then. */
static void remove_tmp(void)
{
    if (g_base[0])
        nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "%s/taas-fuzz-safe-path-XXXXXX", tmp);
    must(mkdtemp(tmpl) != NULL, tmpl);
    must(realpath(tmpl, g_base) != NULL, tmpl);
    atexit(remove_tmp);
    snprintf(g_root, sizeof g_root, "%s/root", g_base);
    snprintf(g_outside, sizeof g_outside, "%s/outside", g_base);
    snprintf(g_secret, sizeof g_secret, "%s/secret", g_outside);
    must(mkdir(g_outside, 0755) == 0, g_outside);
    put_file(g_outside, "secret", SECRET);
    build_tree();
    setenv("TAAS_OUTPUT_ROOT", g_root, 1);
    g_save = taas_registry_find("save_config");
    FUZZ_CHECK(g_save != NULL, "save_config is not registered");
    return 0;
}

void fuzz_standalone_cleanup(void)
{
    if (g_base[0])
        nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const char *path = (const char *)data + 1;
    size_t len = size - 1;
    char msg[512];

    build_tree();
    int rootfd = safe_path_open_root(g_root, false, msg, sizeof msg);
    FUZZ_CHECK(rootfd >= 0, "open root: %s", msg);
    struct stat rst;
    FUZZ_CHECK(fstat(rootfd, &rst) == 0, "fstat root");

    msg[0] = '\0';
    int lex = safe_path_check(path, len, msg, sizeof msg);
    FUZZ_CHECK(lex == 0 || lex == -EINVAL || lex == -ENAMETOOLONG, "check returned %d", lex);
    check_msg(msg, sizeof msg, lex, "check");
    if (lex == 0) {
        FUZZ_CHECK(len >= 1 && path[0] != '/' && memchr(path, '\0', len) == NULL,
                   "check accepted an absolute, empty or NUL-holding path");
    }

    safe_path_target t;
    msg[0] = '\0';
    int rc = safe_path_resolve(rootfd, path, len, (flags & 1) ? SAFE_PATH_MKDIRS : 0, &t, msg,
                               sizeof msg);
    check_msg(msg, sizeof msg, rc, "resolve");
    if (lex != 0)
        FUZZ_CHECK(rc != 0, "resolve accepted a path check refuses (%d)", lex);
    if (rc == 0) {
        FUZZ_CHECK(t.dirfd >= 0, "resolve succeeded without a directory");
        check_inside(t.dirfd, "the resolved directory");
        struct stat dst;
        FUZZ_CHECK(fstat(t.dirfd, &dst) == 0 && S_ISDIR(dst.st_mode), "dirfd is no directory");
        size_t nl = strlen(t.name);
        FUZZ_CHECK(nl >= 1 && strchr(t.name, '/') == NULL && strcmp(t.name, ".") &&
                       strcmp(t.name, ".."),
                   "resolved name '%s'", t.name);
        FUZZ_CHECK(nl <= len && !memcmp(path + len - nl, t.name, nl),
                   "name '%s' is not the path's last component", t.name);
        bool exists = false;
        struct stat st;
        msg[0] = '\0';
        int s = safe_path_stat_target(&t, path, len, &exists, &st, msg, sizeof msg);
        check_msg(msg, sizeof msg, s, "stat_target");
        if (s == 0 && exists) {
            struct stat lst;
            FUZZ_CHECK(fstatat(t.dirfd, t.name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
                           S_ISREG(lst.st_mode),
                       "stat_target called '%s' a regular file", t.name);
        }
        close(t.dirfd);
    } else {
        FUZZ_CHECK(t.dirfd == -1, "failed resolve left dirfd %d", t.dirfd);
    }

    struct stat ost;
    msg[0] = '\0';
    int fd = safe_path_open_read(rootfd, path, len, &ost, msg, sizeof msg);
    check_msg(msg, sizeof msg, fd, "open_read");
    if (lex != 0)
        FUZZ_CHECK(fd < 0, "open_read opened a path check refuses");
    if (fd >= 0) {
        check_inside(fd, "the opened file");
        struct stat fst;
        FUZZ_CHECK(fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode), "opened a non-regular file");
        FUZZ_CHECK(fst.st_dev == ost.st_dev && fst.st_ino == ost.st_ino, "st is another file");
        FUZZ_CHECK(!(fst.st_dev == rst.st_dev && fst.st_ino == rst.st_ino), "opened the root");
        close(fd);
    }
    close(rootfd);

    if (flags & 2)
        run_save_config(path, len, (flags & 1) != 0);
    check_outside_untouched();
    return 0;
}
