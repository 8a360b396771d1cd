/*
 * runtime/util/log.c - structured log lines on stderr.
 *
 * Cost. The server logs a line per call, so a line is built without the
 * printf machinery where it can be: the timestamp's date and time are
 * formatted once per second per thread (gmtime_r and strftime were a fifth
 * of a line's instructions), and the line is assembled with memcpy; only
 * the caller's printf-style message goes through vsnprintf, and callers on
 * the hot path pass a built message to taas_log_msg instead.
 *
 * Batching (log.h). Two buffers: lines are appended to the current one
 * under buf_mu; whoever writes (the flusher thread, a line that may not
 * wait, a full buffer, taas_log_flush) takes out_mu, swaps the buffers
 * under buf_mu and writes the full one outside it, so a thread appending a
 * line never waits for a write(2) to a slow pipe unless the buffer is full.
 * out_mu also orders the writes: a line that does not wait is written after
 * the ones waiting before it.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MSG_CAP 2048
#define LINE_CAP 4096
#define BATCH_CAP (256 * 1024) /* ~2000 access-log lines; half full wakes the flusher */

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

/* ------------------------------------------------------------------------ */
/* Building a line */

/* "2026-11-30T12:00:00.123Z" into out (40 bytes); returns its length. */
static size_t format_ts(char *out)
{
    static _Thread_local time_t cached_sec = (time_t)-1;
    static _Thread_local char cached[32];
    static _Thread_local size_t cached_len;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = now.tv_sec;
    }
    memcpy(out, cached, cached_len);
    unsigned ms = (unsigned)(now.tv_nsec / 1000000);
    char *p = out + cached_len;
    p[0] = '.';
    p[1] = (char)('0' + ms / 100);
    p[2] = (char)('0' + ms / 10 % 10);
    p[3] = (char)('0' + ms % 10);
    p[4] = 'Z';
    return cached_len + 5;
}

/* Copy n bytes of s at pos, keeping at most `cap` bytes in the line. */
static size_t put(char *line, size_t pos, size_t cap, const char *s, size_t n)
{
    if (pos >= cap)
        return pos;
    if (n > cap - pos)
        n = cap - pos;
    memcpy(line + pos, s, n);
    return pos + n;
}

/* snprintf(line + pos, cap - pos, "%s", lit) without the call: copies what
 * fits and returns pos plus the whole length, as the format path did. */
static size_t put_lit(char *line, size_t pos, size_t cap, const char *lit)
{
    size_t n = strlen(lit);
    if (pos + 1 < cap)
        put(line, pos, cap - 1, lit, n);
    return pos + n;
}

/* Append n bytes of s as the body of a JSON string, escaped, within cap. */
static size_t json_escape(char *out, size_t pos, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && s[i] && pos + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c < 0x20) {
            memcpy(out + pos, "\\u00", 4);
            out[pos + 4] = hex[c >> 4];
            out[pos + 5] = hex[c & 15];
            pos += 6;
        } else {
            out[pos++] = (char)c;
        }
    }
    return pos;
}

/* The whole line, '\n' included, into line[LINE_CAP]; returns its length. */
static size_t build_line(char *line, taas_log_level level, const char *event, const char *msg,
                         size_t msglen)
{
    static const char *const upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    static const char *const lower[] = {"debug", "info", "warn", "error"};
    char ts[40];
    size_t tslen = format_ts(ts);
    size_t pos = 0;
    if (atomic_load(&log_format) == TAAS_LOG_JSON) {
        pos = put(line, pos, LINE_CAP, "{\"ts\":\"", 7);
        pos = put(line, pos, LINE_CAP, ts, tslen);
        pos = put(line, pos, LINE_CAP, "\",\"level\":\"", 11);
        pos = put(line, pos, LINE_CAP, lower[level], strlen(lower[level]));
        pos = put(line, pos, LINE_CAP, "\",\"event\":\"", 11);
        pos = json_escape(line, pos, LINE_CAP, event, strlen(event));
        pos = put_lit(line, pos, LINE_CAP, "\",\"msg\":\"");
        pos = json_escape(line, pos, LINE_CAP, msg, msglen);
        pos = put_lit(line, pos, LINE_CAP, "\"}\n");
        if (pos >= LINE_CAP) {
            pos = LINE_CAP - 1;
            line[pos - 1] = '\n';
        }
        return pos;
    }
    /* At most LINE_CAP - 2 bytes before the '\n', as the snprintf it replaces. */
    const size_t cap = LINE_CAP - 2;
    pos = put(line, pos, cap, ts, tslen);
    pos = put(line, pos, cap, " ", 1);
    pos = put(line, pos, cap, upper[level], 5);
    pos = put(line, pos, cap, " ", 1);
    pos = put(line, pos, cap, event, strlen(event));
    pos = put(line, pos, cap, " ", 1);
    pos = put(line, pos, cap, msg, msglen);
    line[pos++] = '\n';
    return pos;
}

/* ------------------------------------------------------------------------ */
/* Writing */

static pthread_mutex_t buf_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_cv;
/* BSS: untouched pages cost nothing in binaries that never batch. */
static char bufs[2][BATCH_CAP];
static int cur;                   /* under buf_mu */
static volatile size_t cur_len;   /* under buf_mu; read racily by on_fatal only */
static bool batching;             /* under buf_mu */
static atomic_bool ever_batched;  /* writers take out_mu from then on */
static bool stopping, kicked, flusher_idle; /* under buf_mu */
static int flush_interval_ms;
static pthread_t flusher;

static const int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define N_FATAL (sizeof fatal_sigs / sizeof fatal_sigs[0])
static struct sigaction old_fatal[N_FATAL];

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to log to */
        p += w;
        n -= (size_t)w;
    }
}

/* Write what waits. Caller holds out_mu. */
static void drain_locked(void)
{
    pthread_mutex_lock(&buf_mu);
    size_t n = cur_len;
    const char *b = bufs[cur];
    if (n) {
        cur ^= 1;
        cur_len = 0;
    }
    pthread_mutex_unlock(&buf_mu);
    if (n)
        write_all(b, n);
}

static void emit_now(const char *line, size_t n)
{
    if (!atomic_load_explicit(&ever_batched, memory_order_acquire)) {
        write_all(line, n);
        return;
    }
    pthread_mutex_lock(&out_mu);
    drain_locked();
    write_all(line, n);
    pthread_mutex_unlock(&out_mu);
}

static void emit_batched(const char *line, size_t n)
{
    pthread_mutex_lock(&buf_mu);
    if (batching && cur_len + n <= BATCH_CAP) {
        bool was_empty = cur_len == 0;
        memcpy(bufs[cur] + cur_len, line, n);
        cur_len += n;
        if (was_empty && flusher_idle) {
            pthread_cond_signal(&flush_cv);
        } else if (cur_len >= BATCH_CAP / 2 && !kicked) {
            kicked = true;
            pthread_cond_signal(&flush_cv);
        }
        pthread_mutex_unlock(&buf_mu);
        return;
    }
    pthread_mutex_unlock(&buf_mu);
    emit_now(line, n); /* full (or not batching): what waits, then this line */
}

static void emit(taas_log_level level, unsigned flags, const char *event, const char *msg,
                 size_t msglen)
{
    char line[LINE_CAP];
    size_t n = build_line(line, level, event, msg, msglen);
    if ((flags & TAAS_LOG_BATCH) && level < TAAS_LOG_WARN)
        emit_batched(line, n);
    else
        emit_now(line, n);
}

void taas_log(taas_log_level level, const char *event, const char *fmt, ...)
{
    if (!taas_log_enabled(level))
        return;
    char msg[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    emit(level, 0, event, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

void taas_log_msg(taas_log_level level, unsigned flags, const char *event, const char *msg,
                  size_t len)
{
    if (!taas_log_enabled(level))
        return;
    emit(level, flags, event, msg, len < MSG_CAP ? len : MSG_CAP - 1);
}

/* ------------------------------------------------------------------------ */
/* Batching */

void taas_log_flush(void)
{
    if (!atomic_load_explicit(&ever_batched, memory_order_acquire))
        return;
    pthread_mutex_lock(&out_mu);
    drain_locked();
    pthread_mutex_unlock(&out_mu);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "taas-log");
    pthread_mutex_lock(&buf_mu);
    while (!stopping) {
        if (cur_len == 0) {
            flusher_idle = true;
            pthread_cond_wait(&flush_cv, &buf_mu);
            flusher_idle = false;
            continue;
        }
        /* Lines wait: let more join them for one interval, unless kicked. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)flush_interval_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!stopping && !kicked &&
               pthread_cond_timedwait(&flush_cv, &buf_mu, &until) != ETIMEDOUT) {
        }
        kicked = false;
        pthread_mutex_unlock(&buf_mu);
        taas_log_flush();
        pthread_mutex_lock(&buf_mu);
    }
    pthread_mutex_unlock(&buf_mu);
    return NULL;
}

/* A fatal signal: write what waits (without locks: best effort, the process
 * is dying), put the previous disposition back and let it act. */
static void on_fatal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved = errno;
    size_t n = cur_len;
    if (n > BATCH_CAP)
        n = BATCH_CAP;
    write_all(bufs[cur], n);
    for (size_t i = 0; i < N_FATAL; i++)
        if (fatal_sigs[i] == sig)
            sigaction(sig, &old_fatal[i], NULL);
    /* A fault from an instruction recurs on return; a sent signal (abort,
     * kill) is raised again, pending until this handler returns. */
    if (si == NULL || si->si_code <= 0)
        raise(sig);
    errno = saved;
}

static void flush_at_exit(void)
{
    taas_log_flush();
}

static void init_once(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&flush_cv, &ca);
    pthread_condattr_destroy(&ca);
    atexit(flush_at_exit);
}

int taas_log_batching_start(int interval_ms)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&buf_mu);
    if (batching || stopping) {
        pthread_mutex_unlock(&buf_mu);
        return -1;
    }
    pthread_mutex_unlock(&buf_mu);
    flush_interval_ms = interval_ms > 0 ? interval_ms : 100;
    atomic_store(&ever_batched, true);
    if (pthread_create(&flusher, NULL, flusher_main, NULL) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_sigs[i], &sa, &old_fatal[i]);
    pthread_mutex_lock(&buf_mu);
    batching = true;
    pthread_mutex_unlock(&buf_mu);
    return 0;
}

void taas_log_batching_stop(void)
{
    pthread_mutex_lock(&buf_mu);
    if (!batching) {
        pthread_mutex_unlock(&buf_mu);
        return;
    }
    batching = false;
    stopping = true;
    pthread_cond_signal(&flush_cv);
    pthread_mutex_unlock(&buf_mu);
    pthread_join(flusher, NULL);
    taas_log_flush();
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_sigs[i], &old_fatal[i], NULL);
    pthread_mutex_lock(&buf_mu);
    stopping = false;
    pthread_mutex_unlock(&buf_mu);
}
