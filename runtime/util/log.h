/*
 * runtime/util/log.h - one structured line per event, on stderr.
 *
 *   taas_log(TAAS_LOG_INFO, "server.start", "listen=%s store=%s", addr, url);
 *
 * text format:  2026-11-30T12:00:00.123Z INFO  server.start listen=127.0.0.1:50051 store=...
 * json format:  {"ts":"2026-11-30T12:00:00.123Z","level":"info","event":"server.start",
 *                "msg":"listen=127.0.0.1:50051 store=..."}
 * The event name is a stable dotted identifier that scripts can grep for;
 * the message is key=value pairs. Thread-safe; lines never interleave. Never
 * log secrets (tokens, passwords in URLs): callers redact first.
 *
 * Writes. A line is written with its own write(2) when it is logged, except
 * the lines logged with TAAS_LOG_BATCH while batching runs
 * (taas_log_batching_start): those wait in memory and go out together, at
 * most interval_ms later, sooner when the buffer fills, when any line
 * without the flag is logged (it follows them, so the order is kept), on
 * taas_log_flush(), at exit() and on a fatal signal. A SIGKILL loses what
 * waits; so only high-volume lines whose loss in a crash is acceptable (the
 * per-call access log) take the flag, and WARN and ERROR lines never wait.
 */
#ifndef TAAS_UTIL_LOG_H
#define TAAS_UTIL_LOG_H

#include <stddef.h>

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

/* taas_log_msg flags */
#define TAAS_LOG_BATCH 1u /* may wait in memory (see above); ignored for WARN and ERROR */

/* Like taas_log with the message already built: `len` bytes of `msg` (no
 * NUL needed; cut at 2047 bytes like a formatted one). */
void taas_log_msg(taas_log_level level, unsigned flags, const char *event, const char *msg,
                  size_t len);

/*
 * Start batching TAAS_LOG_BATCH lines: a small thread writes them at most
 * interval_ms after they were logged; a handler of SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE and SIGABRT writes them before the previous disposition runs, and
 * exit() writes them too. Returns 0, or -1 (lines are then written at once,
 * as before). Call once, from the main thread, after the signal handlers
 * of anything else (sanitizers) are in place.
 */
int taas_log_batching_start(int interval_ms);
/* Write every waiting line now. */
void taas_log_flush(void);
/* Flush, stop the thread; lines are written at once from here on. */
void taas_log_batching_stop(void);

#endif
