/*
 * examples/tasks/load_config.c - a configuration from a file beneath the
 * configuration root, or from the request itself.
 *
 * The file is found with safe_path_open_read() (no '..', no links, regular
 * files only; see safe_path.h), read up to CONFIG_FILE_MAX + 1 bytes so a
 * file that grows while we read is still caught by the cap, and checked to
 * be one JSON object. Every refusal is permanent: the same request would
 * meet the same file again.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_json.h"
#include "load_config.h"
#include "safe_path.h"

/* Read at most cap + 1 bytes of fd into the arena (NUL-terminated). */
static char *read_capped(taas_ctx *ctx, int fd, size_t cap, size_t *len, int *err)
{
    char *buf = taas_alloc(ctx, cap + 2);
    size_t n = 0;
    if (!buf) {
        *err = ENOMEM;
        return NULL;
    }
    while (n < cap + 1) {
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = errno;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_file(taas_ctx *ctx, const char *path, load_config_output *out)
{
    char msg[512];
    struct stat st;
    const char *root = config_read_root();

    int rootfd = safe_path_open_root(root, false, msg, sizeof msg);
    if (rootfd < 0)
        return taas_fail(ctx, rootfd == -ENOENT ? TAAS_PERMANENT : TAAS_RETRYABLE,
                         "%s", msg);
    int fd = safe_path_open_read(rootfd, path, strlen(path), &st, msg, sizeof msg);
    close(rootfd);
    if (fd < 0) {
        /* Only an I/O error may go away by itself. */
        return taas_fail(ctx, fd == -EIO ? TAAS_RETRYABLE : TAAS_PERMANENT, "%s", msg);
    }
    if ((uintmax_t)st.st_size > CONFIG_FILE_MAX) {
        close(fd);
        return taas_fail(ctx, TAAS_PERMANENT, "file '%s' is %jd bytes, over the %zu-byte limit",
                         path, (intmax_t)st.st_size, CONFIG_FILE_MAX);
    }
    size_t len = 0;
    int err = 0;
    char *text = read_capped(ctx, fd, CONFIG_FILE_MAX, &len, &err);
    close(fd);
    if (!text) {
        if (err == ENOMEM)
            return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
        return taas_fail(ctx, TAAS_RETRYABLE, "cannot read '%s': %s", path, strerror(err));
    }
    if (len > CONFIG_FILE_MAX)
        return taas_fail(ctx, TAAS_PERMANENT, "file '%s' grew past the %zu-byte limit", path,
                         CONFIG_FILE_MAX);

    char *what = taas_printf(ctx, "file '%s'", path);
    if (!what)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    if (config_keys(ctx, text, len, what, &out->keys.items, &out->keys.len, msg, sizeof msg))
        return taas_fail(ctx, TAAS_PERMANENT, "%s", msg);
    out->config.text = text;
    out->config.len = len;
    out->source = taas_printf(ctx, "file:%s", path);
    if (!out->source)
        return taas_fail(ctx, TAAS_PERMANENT, "out of memory");
    return 0;
}

int load_config_execute(taas_ctx *ctx, const load_config_input *in, load_config_output *out)
{
    char msg[512];

    if (in->has_path == in->has_config)
        return taas_fail(ctx, TAAS_PERMANENT,
                         "give exactly one of 'path' (a file to read) and 'config' (an "
                         "inline configuration)");
    if (in->has_path)
        return load_file(ctx, in->path, out);

    if (config_keys(ctx, in->config.text, in->config.len, "the inline configuration",
                    &out->keys.items, &out->keys.len, msg, sizeof msg))
        return taas_fail(ctx, TAAS_PERMANENT, "%s", msg);
    out->config = in->config;
    out->source = "inline";
    return 0;
}
