/*
 * runtime/util/util.c - clocks, random bytes and UUIDv7 ids.
 */
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t taas_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t taas_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t taas_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void taas_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 with a valid buffer. */
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

/*
 * Random bytes for ids come from a per-thread block that getrandom refills:
 * one system call per RAND_BLOCK / 10 ids instead of one per id (it was
 * ~2% of the gRPC thread's time under load). The bytes are the kernel's
 * CSPRNG output all the same, each used once (they end up in the ids, so
 * keeping them in memory hides nothing). A child process must not
 * reuse its parent's unused bytes (same ids in both): fork empties the
 * forking thread's block in the child (the only thread the child has).
 */
#define RAND_BLOCK 512
static _Thread_local unsigned char rand_block[RAND_BLOCK];
static _Thread_local size_t rand_used = RAND_BLOCK;
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void rand_after_fork(void)
{
    rand_used = RAND_BLOCK;
}

static void rand_init(void)
{
    pthread_atfork(NULL, NULL, rand_after_fork);
}

static void block_random(unsigned char *out, size_t n)
{
    if (rand_used + n > RAND_BLOCK) {
        pthread_once(&rand_once, rand_init);
        taas_random_bytes(rand_block, RAND_BLOCK);
        rand_used = 0;
    }
    memcpy(out, rand_block + rand_used, n);
    rand_used += n;
}

/*
 * RFC 9562 UUIDv7: 48 bits of Unix milliseconds, version 7, 12 bits of
 * "rand_a", variant 10, 62 bits of "rand_b". Ids from one process must sort
 * in creation order even within one millisecond (ListTasks pages by id), so
 * rand_a is a per-process counter seeded randomly each new millisecond
 * (RFC 9562 section 6.2, method 1); if it overflows we borrow the next ms.
 */
static pthread_mutex_t uuid_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t uuid_last_ms;
static uint32_t uuid_counter;

void taas_uuid7(char out[37])
{
    /* b[6..7]: the counter's seed; b[8..15]: rand_b. b[0..5] is the time. */
    unsigned char b[16];
    block_random(b + 6, 10);

    int64_t ms = taas_now_ms();
    pthread_mutex_lock(&uuid_mu);
    if (ms > uuid_last_ms) {
        uuid_last_ms = ms;
        uuid_counter = ((uint32_t)b[6] << 8 | b[7]) & 0x7ff; /* leave headroom */
    } else {
        if (++uuid_counter > 0xfff) {
            uuid_last_ms++;
            uuid_counter = 0;
        }
        ms = uuid_last_ms;
    }
    uint32_t ctr = uuid_counter;
    pthread_mutex_unlock(&uuid_mu);

    b[0] = (unsigned char)(ms >> 40);
    b[1] = (unsigned char)(ms >> 32);
    b[2] = (unsigned char)(ms >> 24);
    b[3] = (unsigned char)(ms >> 16);
    b[4] = (unsigned char)(ms >> 8);
    b[5] = (unsigned char)ms;
    b[6] = (unsigned char)(0x70 | ((ctr >> 8) & 0x0f));
    b[7] = (unsigned char)ctr;
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));

    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}

int taas_uuid_valid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}
