/*
 * examples/tasks/safe_path.c - see safe_path.h for the rules and why.
 *
 * Method: safe_path_check() refuses everything that is not a plain relative
 * path of plain names. safe_path_resolve() then opens one directory per
 * component with openat(O_NOFOLLOW | O_DIRECTORY) from the root's fd; when
 * that fails it asks fstatat(AT_SYMLINK_NOFOLLOW) what is there, so the
 * message names the component and says whether it is a link, a file or
 * missing. Nothing here follows a symbolic link below the root.
 */
#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUOTE_MAX 80

/* Quote at most QUOTE_MAX bytes of s[0..n) for a message; control bytes
 * become '?', a cut is marked with "...". */
static const char *quote(char *buf, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    size_t take = n > QUOTE_MAX ? QUOTE_MAX : n;
    /* Cut between characters: the message is sent as a protobuf string,
     * which must be valid UTF-8. */
    if (take < n)
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80)
            take--;
    for (size_t i = 0; i < take && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (take < n) {
        for (int k = 0; k < 3 && j + 1 < cap; k++)
            buf[j++] = '.';
    }
    buf[j] = '\0';
    return buf;
}

static int fail(int code, char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int code, char *msg, size_t cap, const char *fmt, ...)
{
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

int safe_path_check(const char *path, size_t len, char *msg, size_t msgcap)
{
    char q[QUOTE_MAX * 2];

    if (!path || len == 0)
        return fail(-EINVAL, msg, msgcap, "path is empty");
    if (memchr(path, '\0', len))
        return fail(-EINVAL, msg, msgcap, "path contains a NUL byte");
    if (len > SAFE_PATH_MAX)
        return fail(-ENAMETOOLONG, msg, msgcap,
                    "path is %zu bytes, longer than the %d allowed", len, SAFE_PATH_MAX);
    quote(q, sizeof q, path, len);
    if (path[0] == '/')
        return fail(-EINVAL, msg, msgcap,
                    "path '%s' is absolute; give a path relative to the root", q);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f)
            return fail(-EINVAL, msg, msgcap,
                        "path '%s' contains a control character (byte 0x%02x at %zu)", q, c, i);
        if (c == '\\')
            return fail(-EINVAL, msg, msgcap,
                        "path '%s' contains a backslash; separate directories with '/'", q);
    }
    if (path[len - 1] == '/')
        return fail(-EINVAL, msg, msgcap, "path '%s' ends with '/'; it must name a file", q);

    const char *p = path, *end = path + len;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *cend = slash ? slash : end;
        size_t n = (size_t)(cend - p);
        if (n == 0)
            return fail(-EINVAL, msg, msgcap, "path '%s' has an empty component ('//')", q);
        if (n == 1 && p[0] == '.')
            return fail(-EINVAL, msg, msgcap, "path '%s' has a '.' component", q);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return fail(-EINVAL, msg, msgcap,
                        "path '%s' has a '..' component; paths cannot leave the root", q);
        if (n > NAME_MAX) {
            char qc[QUOTE_MAX * 2];
            return fail(-ENAMETOOLONG, msg, msgcap,
                        "path component '%s' is %zu bytes, longer than the %d allowed",
                        quote(qc, sizeof qc, p, n), n, NAME_MAX);
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

int safe_path_open_root(const char *root, bool create, char *msg, size_t msgcap)
{
    char q[QUOTE_MAX * 2];

    if (!root || !root[0])
        return fail(-EINVAL, msg, msgcap, "root directory is not set");
    size_t len = strlen(root);
    if (len > SAFE_PATH_MAX)
        return fail(-ENAMETOOLONG, msg, msgcap, "root directory name is too long");
    quote(q, sizeof q, root, len);

    if (create) {
        char buf[PATH_MAX];
        memcpy(buf, root, len + 1);
        /* mkdir -p: every prefix that ends before a '/', then the whole. */
        for (size_t i = 1; i <= len; i++) {
            if (i < len && buf[i] != '/')
                continue;
            if (buf[i - 1] == '/')
                continue;
            char saved = buf[i];
            buf[i] = '\0';
            int r = mkdir(buf, 0777);
            int e = errno;
            buf[i] = saved;
            if (r != 0 && e != EEXIST)
                return fail(-e, msg, msgcap, "cannot create root directory '%s': %s", q,
                            strerror(e));
        }
    }
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return fail(-e, msg, msgcap, "cannot open root directory '%s': %s", q, strerror(e));
    }
    return fd;
}

/* Why openat(dir, name, O_DIRECTORY | O_NOFOLLOW) failed with `e`. */
static int explain_dir(int dirfd, const char *name, int e, const char *path, size_t upto,
                       char *msg, size_t msgcap)
{
    char q[QUOTE_MAX * 2];
    struct stat st;

    quote(q, sizeof q, path, upto);
    if (e == ENOENT)
        return fail(-ENOENT, msg, msgcap, "directory '%s' does not exist", q);
    if (e == ENOTDIR || e == ELOOP) {
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return fail(-ELOOP, msg, msgcap,
                        "'%s' is a symbolic link; links are not followed", q);
        return fail(-ENOTDIR, msg, msgcap, "'%s' is not a directory", q);
    }
    return fail(-e, msg, msgcap, "cannot open directory '%s': %s", q, strerror(e));
}

int safe_path_resolve(int rootfd, const char *path, size_t len, unsigned flags,
                      safe_path_target *out, char *msg, size_t msgcap)
{
    out->dirfd = -1;
    out->name[0] = '\0';

    int rc = safe_path_check(path, len, msg, msgcap);
    if (rc)
        return rc;

    int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0) {
        int e = errno;
        return fail(-e, msg, msgcap, "cannot use the root directory: %s", strerror(e));
    }

    const char *p = path, *end = path + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *cend = slash ? slash : end;
        size_t n = (size_t)(cend - p); /* 1..NAME_MAX, checked above */
        char name[NAME_MAX + 1];
        memcpy(name, p, n);
        name[n] = '\0';

        if (!slash) {
            memcpy(out->name, name, n + 1);
            out->dirfd = cur;
            return 0;
        }

        int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && (flags & SAFE_PATH_MKDIRS)) {
            if (mkdirat(cur, name, 0777) == 0) {
                /* Make the new entry durable before anything goes in it. */
                if (fsync(cur) != 0) {
                    int e = errno;
                    char q[QUOTE_MAX * 2];
                    close(cur);
                    return fail(-e, msg, msgcap, "cannot sync the parent of '%s': %s",
                                quote(q, sizeof q, path, (size_t)(cend - path)), strerror(e));
                }
            } else if (errno != EEXIST) {
                int e = errno;
                char q[QUOTE_MAX * 2];
                close(cur);
                return fail(-e, msg, msgcap, "cannot create directory '%s': %s",
                            quote(q, sizeof q, path, (size_t)(cend - path)), strerror(e));
            }
            fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            int e = errno;
            rc = explain_dir(cur, name, e, path, (size_t)(cend - path), msg, msgcap);
            close(cur);
            return rc;
        }
        close(cur);
        cur = fd;
        p = slash + 1;
    }
}

static int explain_target(const struct stat *st, const char *path, size_t len, char *msg,
                          size_t msgcap)
{
    char q[QUOTE_MAX * 2];
    quote(q, sizeof q, path, len);
    if (S_ISLNK(st->st_mode))
        return fail(-ELOOP, msg, msgcap, "'%s' is a symbolic link; links are not followed", q);
    if (S_ISDIR(st->st_mode))
        return fail(-EISDIR, msg, msgcap, "'%s' is a directory, not a file", q);
    const char *kind = S_ISFIFO(st->st_mode)  ? "a FIFO"
                       : S_ISSOCK(st->st_mode) ? "a socket"
                       : S_ISCHR(st->st_mode)  ? "a character device"
                       : S_ISBLK(st->st_mode)  ? "a block device"
                                               : "not a regular file";
    return fail(-ENXIO, msg, msgcap, "'%s' is %s; only regular files are used", q, kind);
}

/* A file with another name elsewhere: a hard link made inside the root to a
 * file outside it (same file system) would be read, or compared before being
 * replaced, as if it were the root's own. Links cannot be told apart from the
 * original, so any file with more than one link is refused. */
static int hard_linked(const struct stat *st, const char *path, size_t len, char *msg,
                       size_t msgcap)
{
    char q[QUOTE_MAX * 2];
    return fail(-EMLINK, msg, msgcap,
                "'%s' has %lu hard links; only files with a single name are used",
                quote(q, sizeof q, path, len), (unsigned long)st->st_nlink);
}

int safe_path_stat_target(const safe_path_target *t, const char *path, size_t len,
                          bool *exists, struct stat *st, char *msg, size_t msgcap)
{
    *exists = false;
    if (fstatat(t->dirfd, t->name, st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        char q[QUOTE_MAX * 2];
        if (e == ENOENT)
            return 0;
        return fail(-e, msg, msgcap, "cannot inspect '%s': %s", quote(q, sizeof q, path, len),
                    strerror(e));
    }
    if (!S_ISREG(st->st_mode))
        return explain_target(st, path, len, msg, msgcap);
    if (st->st_nlink > 1)
        return hard_linked(st, path, len, msg, msgcap);
    *exists = true;
    return 0;
}

int safe_path_open_read(int rootfd, const char *path, size_t len, struct stat *st,
                        char *msg, size_t msgcap)
{
    char q[QUOTE_MAX * 2];
    safe_path_target t;
    bool exists;

    int rc = safe_path_resolve(rootfd, path, len, 0, &t, msg, msgcap);
    if (rc)
        return rc;
    rc = safe_path_stat_target(&t, path, len, &exists, st, msg, msgcap);
    if (rc == 0 && !exists)
        rc = fail(-ENOENT, msg, msgcap, "file '%s' does not exist",
                  quote(q, sizeof q, path, len));
    if (rc) {
        close(t.dirfd);
        return rc;
    }
    /* O_NONBLOCK: if a FIFO replaced the file since the fstatat, the open
     * still returns at once and the fstat below refuses it. */
    int fd = openat(t.dirfd, t.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int e = errno;
    close(t.dirfd);
    if (fd < 0) {
        if (e == ELOOP)
            return fail(-ELOOP, msg, msgcap, "'%s' is a symbolic link; links are not followed",
                        quote(q, sizeof q, path, len));
        if (e == ENOENT)
            return fail(-ENOENT, msg, msgcap, "file '%s' does not exist",
                        quote(q, sizeof q, path, len));
        return fail(-e, msg, msgcap, "cannot open '%s': %s", quote(q, sizeof q, path, len),
                    strerror(e));
    }
    if (fstat(fd, st) != 0) {
        e = errno;
        close(fd);
        return fail(-e, msg, msgcap, "cannot inspect '%s': %s", quote(q, sizeof q, path, len),
                    strerror(e));
    }
    if (!S_ISREG(st->st_mode) || st->st_nlink > 1) {
        rc = S_ISREG(st->st_mode) ? hard_linked(st, path, len, msg, msgcap)
                                  : explain_target(st, path, len, msg, msgcap);
        close(fd);
        return rc;
    }
    /* Reads should block normally from here on. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}
