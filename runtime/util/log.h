/*
 * runtime/util/log.h - one structured line per event, on stderr.
 *
 *   taas_log(TAAS_LOG_INFO, "server.start", "listen=%s store=%s", addr, url);
 *
 * text format:  2026-11-30T12:00:00.123Z INFO  server.start listen=127.0.0.1:50051 store=...
 * json format:  {"ts":"2026-11-30T12:00:00.123Z","level":"info","event":"server.start",
 *                "msg":"listen=127.0.0.1:50051 store=..."}
 * The event name is a stable dotted identifier that scripts can grep for;
 * the message is key=value pairs. Thread-safe; one write(2) per line. Never
 * log secrets (tokens, passwords in URLs): callers redact first.
 */
#ifndef TAAS_UTIL_LOG_H
#define TAAS_UTIL_LOG_H

typedef enum taas_log_level {
    TAAS_LOG_DEBUG = 0,
    TAAS_LOG_INFO = 1,
    TAAS_LOG_WARN = 2,
    TAAS_LOG_ERROR = 3,
    TAAS_LOG_OFF = 4
} taas_log_level;

typedef enum taas_log_format { TAAS_LOG_TEXT = 0, TAAS_LOG_JSON = 1 } taas_log_format;

void taas_log_setup(taas_log_level level, taas_log_format format);
/* Parse "debug|info|warn|error|off" / "text|json"; return -1 if unknown. */
int taas_log_level_parse(const char *s);
int taas_log_format_parse(const char *s);
int taas_log_enabled(taas_log_level level);

void taas_log(taas_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
