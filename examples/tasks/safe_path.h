/*
 * examples/tasks/safe_path.h - resolving client-supplied paths beneath a
 * directory that the client must not leave.
 *
 * save_config and load_config take a path from the request and turn it into
 * a file beneath a configured root. The path is untrusted; the root is not
 * (it comes from the server's environment). The rules:
 *
 *   - the path is relative, 1 to PATH_MAX - 1 bytes, without NUL bytes;
 *   - it is split on '/'; every component is 1 to NAME_MAX bytes and is
 *     neither "." nor ".." (so "a//b", "a/", "./x" and "a/../b" are refused
 *     even where they would stay beneath the root: a path has one spelling);
 *   - no byte is a control character (0x01-0x1f, 0x7f) or a backslash. A
 *     backslash is an ordinary file-name byte on POSIX but a separator to
 *     Windows clients, so "..\\x" would mean one thing to the client and
 *     another to us; refusing it removes the ambiguity. Other bytes,
 *     including UTF-8 names such as "konfigurация.json", are allowed;
 *   - no component may be a symbolic link, whether it points inside the
 *     root, outside it, or nowhere;
 *   - the final component, when it exists, must be a regular file with a
 *     single name: a hard link placed inside the root to a file outside it
 *     is refused (-EMLINK), as a symbolic link is.
 *
 * The lexical rules are checked first (safe_path_check). Then the path is
 * walked from a directory fd of the root with one openat() per component,
 * each with O_NOFOLLOW | O_DIRECTORY: with ".." banned and no link ever
 * followed, every step stays beneath the root however the tree changes
 * while we walk it. (openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS would
 * give the same guarantee in one call, but not the name of the offending
 * component for the error message, and not on older kernels.) The final
 * component is never opened for writing by name: writers create a temporary
 * file in the resolved directory and rename it over the name, which replaces
 * a symbolic link planted after the check rather than following it.
 *
 * The root itself is opened with ordinary resolution: it is the operator's
 * setting, and a root that is a symbolic link (say taas-output ->
 * /srv/data/taas) is followed once, on purpose. The containment guarantee
 * starts at the directory the root names.
 *
 * Errors: functions return 0 (or an fd) on success and a negative errno
 * value on failure, with a one-line message for a person in `msg`:
 * -EINVAL for a path the rules refuse, -ENAMETOOLONG for a path or
 * component over its limit, -ELOOP for a symbolic link, -ENOENT for a
 * missing directory or file, -ENOTDIR for a component that is not a
 * directory, -EISDIR for a final component that is a directory, -ENXIO
 * for one that is another kind of non-regular file (FIFO, socket, device),
 * -EMLINK for a file with several hard links, and other -errno values from the
 * system. Messages quote at most the first 80 bytes of the path, cut between
 * UTF-8 characters.
 */
#ifndef TAAS_EXAMPLES_SAFE_PATH_H
#define TAAS_EXAMPLES_SAFE_PATH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest accepted path in bytes (PATH_MAX counts the terminating NUL). */
#define SAFE_PATH_MAX (PATH_MAX - 1)

/* Flags for safe_path_resolve(). */
#define SAFE_PATH_MKDIRS 0x1u /* create missing directories (mode 0777 & ~umask) */

/*
 * The directory that will hold the final component, and that component.
 * `dirfd` is open (O_DIRECTORY | O_CLOEXEC) and owned by the caller, who
 * closes it; it is -1 after a failed call.
 */
typedef struct safe_path_target {
    int dirfd;
    char name[NAME_MAX + 1];
} safe_path_target;

/*
 * Check `path[0..len)` against the lexical rules above. Touches no file.
 * Returns 0, -EINVAL or -ENAMETOOLONG (with `msg`).
 */
int safe_path_check(const char *path, size_t len, char *msg, size_t msgcap);

/*
 * Open the root directory `root` (NUL-terminated, ordinary resolution).
 * With `create`, missing directories of `root` are made first, like
 * mkdir -p. Returns a directory fd the caller closes, or a negative errno
 * with `msg`.
 */
int safe_path_open_root(const char *root, bool create, char *msg, size_t msgcap);

/*
 * Check `path` and walk all but its last component beneath `rootfd`,
 * creating missing directories when `flags` has SAFE_PATH_MKDIRS (each new
 * directory's parent is fsync'ed, so the new entry is durable). Fills
 * `out`; the final component itself is looked at only by the caller.
 * Returns 0 or a negative errno with `msg`.
 */
int safe_path_resolve(int rootfd, const char *path, size_t len, unsigned flags,
                      safe_path_target *out, char *msg, size_t msgcap);

/*
 * Look at the final component of a resolved target without following it:
 * 0 with *exists = false when there is nothing there, 0 with *exists = true
 * and *st filled for a regular file, -ELOOP for a symbolic link, -EISDIR for
 * a directory, -ENXIO for anything else (FIFO, socket, device). Never opens
 * the entry, so a FIFO cannot block it.
 */
int safe_path_stat_target(const safe_path_target *t, const char *path, size_t len,
                          bool *exists, struct stat *st, char *msg, size_t msgcap);

/*
 * Open the existing regular file `path` beneath `rootfd` for reading
 * (O_NOFOLLOW | O_NONBLOCK, then fstat: a FIFO planted after a check can
 * neither block the call nor be read). Returns the fd, which the caller
 * closes, or a negative errno with `msg` (-ENOENT when it does not exist).
 * *st is filled on success.
 */
int safe_path_open_read(int rootfd, const char *path, size_t len, struct stat *st,
                        char *msg, size_t msgcap);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_EXAMPLES_SAFE_PATH_H */
