/*
 * runtime/util/util.h - small helpers shared by the runtime: clocks, ids.
 */
#ifndef TAAS_UTIL_H
#define TAAS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, Unix epoch milliseconds (what the store records). */
int64_t taas_now_ms(void);
/* Monotonic milliseconds, for deadlines and intervals. */
int64_t taas_mono_ms(void);
/* Monotonic microseconds, for short durations. */
int64_t taas_mono_us(void);

/* A new UUIDv7 (RFC 9562): 48-bit ms timestamp then random bits, so ids sort
 * by creation time. Writes 36 characters plus NUL. Thread-safe. */
void taas_uuid7(char out[37]);
/* Whether s is a well-formed UUID text (36 chars, hex and dashes). */
int taas_uuid_valid(const char *s);

/* Fill buf with n random bytes from the kernel (getrandom). */
void taas_random_bytes(void *buf, size_t n);

#endif
