/*
 * runtime/util/log.c - structured log lines on stderr, one write(2) each so
 * lines from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = TAAS_LOG_INFO;
static atomic_int log_format = TAAS_LOG_TEXT;

void taas_log_setup(taas_log_level level, taas_log_format format)
{
    atomic_store(&log_level, (int)level);
    atomic_store(&log_format, (int)format);
}

int taas_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; s && i < 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (s && strcasecmp(s, "warning") == 0)
        return TAAS_LOG_WARN;
    return -1;
}

int taas_log_format_parse(const char *s)
{
    if (s && strcasecmp(s, "text") == 0)
        return TAAS_LOG_TEXT;
    if (s && strcasecmp(s, "json") == 0)
        return TAAS_LOG_JSON;
    return -1;
}

int taas_log_enabled(taas_log_level level)
{
    return (int)level >= atomic_load(&log_level) && level != TAAS_LOG_OFF;
}

/* Append s as the body of a JSON string, escaped, within cap. */
static size_t json_escape(char *out, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
        } else {
            out[pos++] = (char)c;
        }
    }
    return pos;
}

void taas_log(taas_log_level level, const char *event, const char *fmt, ...)
{
    if (!taas_log_enabled(level))
        return;
    static const char *const upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    static const char *const lower[] = {"debug", "info", "warn", "error"};

    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char line[4096];
    size_t pos;
    if (atomic_load(&log_format) == TAAS_LOG_JSON) {
        pos = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts,
                               lower[level]);
        pos = json_escape(line, pos, sizeof line, event);
        pos += (size_t)snprintf(line + pos, sizeof line - pos, "\",\"msg\":\"");
        pos = json_escape(line, pos, sizeof line, msg);
        pos += (size_t)snprintf(line + pos, sizeof line - pos, "\"}\n");
    } else {
        pos = (size_t)snprintf(line, sizeof line, "%s %s %s %s\n", ts, upper[level], event, msg);
    }
    if (pos >= sizeof line) {
        pos = sizeof line - 1;
        line[pos - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
