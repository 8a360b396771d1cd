/*
 * tests/json/test_hashflood.c - the duplicate-key check of large objects
 * against keys built to collide.
 *
 * The keys collide under FNV-1a, the unkeyed hash the check used before: in
 * FNV-1a the low k bits of the state depend only on the low k bits of the
 * previous state and the bytes, so two 3-character blocks that agree on the
 * low 20 bits from a given state can be chained, and 14 such pairs give
 * 2^14 keys of 42 characters sharing the low 20 bits of their hash: one
 * bucket of any table up to a million slots, and a parse that took seconds.
 * With a keyed hash they are as cheap as random keys of the same size: the
 * test holds the colliding object to 3 times the random one (the fastest of
 * several samples each, taken alternately, so a loaded machine does not
 * decide) and checks that duplicates among such keys are still found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"

#define BLOCKS 14
#define NKEYS (1u << BLOCKS)
#define LOWBITS 20
#define LOWMASK ((1u << LOWBITS) - 1)

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
#define NA 62

static uint32_t fnv_step(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void block(unsigned v, char out[3])
{
    out[0] = alnum[v % NA];
    out[1] = alnum[v / NA % NA];
    out[2] = alnum[v / NA / NA];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *object_of(char keys[][BLOCKS * 3 + 1], unsigned n, size_t *len)
{
    char *buf = malloc((size_t)n * (BLOCKS * 3 + 8) + 16);
    size_t o = 0;
    buf[o++] = '{';
    for (unsigned i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o, "%s\"%s\":0", i ? "," : "", keys[i]);
    buf[o++] = '}';
    buf[o] = '\0';
    *len = o;
    return buf;
}

/* One sample: the time of REPS parses (each some milliseconds, so a sample
 * is long enough that a scheduler tick does not decide it). */
#define REPS 8

static double sample(const char *text, size_t len, int want)
{
    taas_json_limits lim = {.max_bytes = 4u << 20};
    double t0 = now_s();
    for (int r = 0; r < REPS; r++) {
        taas_jdoc d;
        char err[256];
        int rc = taas_json_parse(&d, text, len, &lim, err, sizeof err);
        if (rc != want) {
            fprintf(stderr, "parse returned %d, wanted %d: %s\n", rc, want, err);
            exit(1);
        }
        if (rc == 0)
            taas_json_free(&d);
    }
    return now_s() - t0;
}

/* The fastest of 7 samples of each, taken alternately, so that load from
 * other processes falls on both alike. */
static void best_pair(const char *a, size_t alen, const char *b, size_t blen, double *ta,
                      double *tb)
{
    *ta = *tb = 1e9;
    for (int k = 0; k < 7; k++) {
        double x = sample(a, alen, 0), y = sample(b, blen, 0);
        if (x < *ta)
            *ta = x;
        if (y < *tb)
            *tb = y;
    }
    *ta /= REPS;
    *tb /= REPS;
}

int main(void)
{
    static char keys[NKEYS][BLOCKS * 3 + 1];
    static char pairs[BLOCKS][2][3];
    unsigned *seen = malloc(sizeof *seen * (LOWMASK + 1));
    uint32_t h = 2166136261u;

    /* For each position, two blocks that agree on the low bits from h. */
    for (int b = 0; b < BLOCKS; b++) {
        memset(seen, 0xff, sizeof *seen * (LOWMASK + 1));
        int found = 0;
        for (unsigned v = 0; v < NA * NA * NA && !found; v++) {
            char blk[3];
            block(v, blk);
            uint32_t low = fnv_step(h, blk, 3) & LOWMASK;
            if (seen[low] != 0xffffffffu) {
                block(seen[low], pairs[b][0]);
                memcpy(pairs[b][1], blk, 3);
                h = fnv_step(h, blk, 3);
                found = 1;
            }
            seen[low] = v;
        }
        if (!found) {
            fprintf(stderr, "no colliding pair at block %d\n", b);
            return 1;
        }
    }
    free(seen);
    uint32_t want_low = 0;
    for (unsigned k = 0; k < NKEYS; k++) {
        for (int b = 0; b < BLOCKS; b++)
            memcpy(keys[k] + 3 * b, pairs[b][(k >> b) & 1], 3);
        keys[k][BLOCKS * 3] = '\0';
        uint32_t low = fnv_step(2166136261u, keys[k], BLOCKS * 3) & LOWMASK;
        if (k == 0)
            want_low = low;
        if (low != want_low) { /* the construction itself is checked */
            fprintf(stderr, "key %u does not collide under FNV-1a\n", k);
            return 1;
        }
    }

    size_t clen, rlen;
    char *colliding = object_of(keys, NKEYS, &clen);
    srand(12345);
    for (unsigned k = 0; k < NKEYS; k++) {
        for (int i = 0; i < BLOCKS * 3; i++)
            keys[k][i] = alnum[rand() % NA];
        /* distinct for sure: the index in the first characters */
        for (int i = 0; i < 3; i++)
            keys[k][i] = alnum[k / (i == 0 ? 1 : i == 1 ? NA : NA * NA) % NA];
    }
    char *random = object_of(keys, NKEYS, &rlen);

    double tr, tc;
    best_pair(random, rlen, colliding, clen, &tr, &tc);
    printf("%u keys, %zu bytes: random keys %.1f ms, keys colliding under FNV-1a %.1f ms "
           "(ratio %.2f)\n",
           NKEYS, clen, tr * 1e3, tc * 1e3, tc / tr);
    if (tc > 3 * tr) {
        fprintf(stderr, "colliding keys cost more than 3 times random keys\n");
        return 1;
    }

    /* A duplicate among colliding keys is still found, also when spelt
     * with an escape ("\u0061" is "a"). */
    char *dup = malloc(clen + 128);
    memcpy(dup, colliding, clen - 1);
    size_t o = clen - 1;
    char k0[BLOCKS * 3 + 8];
    memcpy(k0, colliding + 2, BLOCKS * 3);
    k0[BLOCKS * 3] = '\0';
    o += (size_t)sprintf(dup + o, ",\"\\u%04x%s\":1}", (unsigned char)k0[0], k0 + 1);
    sample(dup, o, TAAS_JSON_EDUPKEY);
    puts("duplicate among colliding keys found");
    free(dup);
    free(colliding);
    free(random);
    return 0;
}
