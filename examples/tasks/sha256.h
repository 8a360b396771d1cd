/*
 * examples/tasks/sha256.h - SHA-256 (FIPS 180-4), for the digests that
 * save_config reports. Small and dependency-free; not constant-time (it
 * hashes public file contents, never secrets).
 */
#ifndef TAAS_EXAMPLES_SHA256_H
#define TAAS_EXAMPLES_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]);
/* One call: the digest of data[0..n) as 64 lowercase hex digits plus NUL. */
void sha256_hex(const void *data, size_t n, char out[65]);

#endif
