/*
 * examples/tasks/save_config.c - write a configuration durably beneath the
 * output root.
 *
 * Method: the configuration is pretty-printed (so the same configuration
 * always gives the same bytes), the path is resolved with safe_path (see
 * safe_path.h for what is refused and why), and then:
 *
 *   1. if the target already holds exactly these bytes, nothing is written
 *      and the result is the same as the first time: re-running the task
 *      (a retry after a crash, say) is harmless;
 *   2. otherwise the bytes go to a new temporary file in the target's
 *      directory (O_CREAT | O_EXCL, a random name), which is fsync'ed,
 *      renamed over the target, and the directory is fsync'ed.
 *
 * A reader, a crash or a concurrent writer therefore sees the old file or
 * a complete new one, never a mix; among concurrent writers of one path the
 * last rename wins. rename() replaces a symbolic link planted between the
 * check and the rename instead of following it, so the write cannot leave
 * the root. A failed attempt removes its temporary file.
 *
 * Failures: refused paths and unsuitable targets are permanent; I/O errors
 * that can pass (full disk, quota, EIO, EINTR) are retryable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_json.h"
#include "safe_path.h"
#include "save_config.h"
#include "taas/sha256.h"

static taas_fail_kind io_kind(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EINTR:
    case EAGAIN:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return TAAS_RETRYABLE;
    default:
        return TAAS_PERMANENT;
    }
}

/* Whether the regular file `name` in `dirfd` holds exactly data[0..n). */
static bool same_content(int dirfd, const char *name, const char *data, size_t n)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == n;
    char buf[8192];
    size_t off = 0;
    while (same && off < n) {
        size_t want = n - off < sizeof buf ? n - off : sizeof buf;
        ssize_t r = read(fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || memcmp(buf, data + off, (size_t)r) != 0)
            same = false;
        else
            off += (size_t)r;
    }
    /* A file that grew since the fstat is not the same. */
    if (same && read(fd, buf, 1) != 0)
        same = false;
    close(fd);
    return same;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Create a fresh temporary file in dirfd; its name goes to tmp. */
static int create_temp(int dirfd, char tmp[64])
{
    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned char r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return -EIO;
        snprintf(tmp, 64, ".taas-save-%02x%02x%02x%02x%02x%02x%02x%02x.tmp", r[0], r[1], r[2],
                 r[3], r[4], r[5], r[6], r[7]);
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

static int save(taas_ctx *ctx, const safe_path_target *t, const char *path, const char *data,
                size_t n)
{
    char tmp[64];
    int fd = create_temp(t->dirfd, tmp);
    if (fd < 0)
        return taas_fail(ctx, io_kind(-fd), "cannot create a temporary file beside '%s': %s",
                         path, strerror(-fd));
    int e = write_all(fd, data, n);
    const char *step = "write";
    if (e == 0 && fsync(fd) != 0) {
        e = -errno;
        step = "sync";
    }
    if (close(fd) != 0 && e == 0) {
        e = -errno;
        step = "close";
    }
    if (e == 0 && renameat(t->dirfd, tmp, t->dirfd, t->name) != 0) {
        e = -errno;
        step = "rename";
    }
    if (e != 0) {
        unlinkat(t->dirfd, tmp, 0);
        if (-e == EISDIR || -e == ENOTEMPTY || -e == EEXIST)
            return taas_fail(ctx, TAAS_PERMANENT, "'%s' became a directory; not replaced", path);
        return taas_fail(ctx, io_kind(-e), "cannot %s '%s': %s", step, path, strerror(-e));
    }
    /* The rename is durable only once the directory entry is. */
    if (fsync(t->dirfd) != 0) {
        e = errno;
        return taas_fail(ctx, io_kind(e), "cannot sync the directory of '%s': %s", path,
                         strerror(e));
    }
    return 0;
}

int save_config_execute(taas_ctx *ctx, const save_config_input *in, save_config_output *out)
{
    char msg[512];
    size_t n = 0;
    const size_t plen = strlen(in->path);

    char *data = config_pretty(ctx, in->config.text, in->config.len, &n, msg, sizeof msg);
    if (!data)
        return taas_fail(ctx, TAAS_PERMANENT, "%s", msg);

    int rootfd = safe_path_open_root(config_output_root(), true, msg, sizeof msg);
    if (rootfd < 0)
        return taas_fail(ctx, io_kind(-rootfd), "%s", msg);

    safe_path_target t;
    int rc = safe_path_resolve(rootfd, in->path, plen, in->create_dirs ? SAFE_PATH_MKDIRS : 0,
                               &t, msg, sizeof msg);
    close(rootfd);
    if (rc != 0) {
        if (rc == -ENOENT && !in->create_dirs)
            return taas_fail(ctx, TAAS_PERMANENT,
                             "%s (set create_dirs to create missing directories)", msg);
        return taas_fail(ctx, rc == -EINVAL || rc == -ENAMETOOLONG ? TAAS_PERMANENT
                                                                   : io_kind(-rc),
                         "%s", msg);
    }

    bool exists = false;
    struct stat st;
    rc = safe_path_stat_target(&t, in->path, plen, &exists, &st, msg, sizeof msg);
    if (rc != 0) {
        close(t.dirfd);
        return taas_fail(ctx, io_kind(-rc), "%s", msg);
    }

    bool changed = !(exists && same_content(t.dirfd, t.name, data, n));
    if (changed && save(ctx, &t, in->path, data, n) != 0) {
        close(t.dirfd);
        return TAAS_FAILED;
    }
    close(t.dirfd);

    char *hex = taas_alloc(ctx, 65);
    if (!hex)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    taas_sha256_hex(data, n, hex);
    out->path = in->path;
    out->bytes = (int64_t)n;
    out->sha256 = hex;
    return 0;
}
