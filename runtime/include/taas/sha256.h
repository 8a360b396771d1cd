/*
 * runtime/include/taas/sha256.h - SHA-256 (FIPS 180-4), small and dependency-free:
 * bearer tokens are stored as these hashes, and task bodies (save_config)
 * report content digests with it (public: part of the author API).
 */
#ifndef TAAS_SHA256_H
#define TAAS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct taas_sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} taas_sha256_ctx;

void taas_sha256_init(taas_sha256_ctx *c);
void taas_sha256_update(taas_sha256_ctx *c, const void *data, size_t n);
void taas_sha256_final(taas_sha256_ctx *c, unsigned char out[32]);
/* The digest of data[0..n) as 64 lowercase hex digits plus NUL. */
void taas_sha256_hex(const void *data, size_t n, char out[65]);

#endif
