/*
 * runtime/middleware/rate_limit.c - token buckets, one over all clients and
 * one per client address.
 *
 * A bucket holds up to one second's worth of tokens and refills
 * continuously; a call takes one token or is refused with
 * RESOURCE_EXHAUSTED. Per-client buckets live in a fixed-size
 * open-addressing table keyed by the principal when the call was
 * authenticated ("p:alice": one user spreading calls over many addresses is
 * still one user), else by the address without its port ("a:ipv4:10.0.0.7":
 * a client opening many connections is still one client). The table has a cap: when it is full it
 * is cleared, which at worst gives every client a fresh bucket - memory
 * stays bounded whatever the number of clients.
 */
#include "middleware/middleware.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define PEER_SLOTS 4096 /* power of two */
#define PEER_MAX_FILL (PEER_SLOTS * 3 / 4)
#define PEER_KEY_MAX 136 /* "p:" + TAAS_PRINCIPAL_MAX + NUL, rounded */

struct bucket {
    double tokens;
    int64_t last_us;
};

struct peer_slot {
    char key[PEER_KEY_MAX];
    struct bucket b;
};

struct rate_limit {
    taas_middleware parent;
    pthread_mutex_t mu;
    double global_rps, peer_rps;
    struct bucket global;
    struct peer_slot *slots;
    size_t used;
};

static bool take(struct bucket *b, double rps, int64_t now_us)
{
    if (b->last_us == 0) {
        b->tokens = rps;
        b->last_us = now_us;
    }
    b->tokens += (double)(now_us - b->last_us) * rps / 1e6;
    if (b->tokens > rps)
        b->tokens = rps < 1 ? 1 : rps;
    b->last_us = now_us;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

/* principal "alice" -> "p:alice"; else
 * "ipv4:127.0.0.1:54321" -> "a:ipv4:127.0.0.1"; "ipv6:[::1]:80" -> "a:ipv6:[::1]". */
static void peer_key(char out[PEER_KEY_MAX], const char *principal, const char *peer)
{
    if (principal) {
        snprintf(out, PEER_KEY_MAX, "p:%s", principal);
        return;
    }
    out[0] = 'a';
    out[1] = ':';
    out += 2;
    size_t n = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (colon && (strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0) &&
        colon > peer + 5)
        n = (size_t)(colon - peer);
    if (n >= PEER_KEY_MAX - 2)
        n = PEER_KEY_MAX - 3;
    memcpy(out, peer, n);
    out[n] = '\0';
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct bucket *peer_bucket(struct rate_limit *m, const char *principal, const char *peer)
{
    char key[PEER_KEY_MAX];
    peer_key(key, principal, peer);
    if (m->used >= PEER_MAX_FILL) {
        memset(m->slots, 0, sizeof *m->slots * PEER_SLOTS);
        m->used = 0;
    }
    size_t i = (size_t)hash(key) & (PEER_SLOTS - 1);
    for (;;) {
        struct peer_slot *s = &m->slots[i];
        if (s->key[0] == '\0') {
            memcpy(s->key, key, sizeof key);
            m->used++;
            return &s->b;
        }
        if (strcmp(s->key, key) == 0)
            return &s->b;
        i = (i + 1) & (PEER_SLOTS - 1);
    }
}

static void rate_call(taas_middleware *self, taas_call *call)
{
    struct rate_limit *m = (struct rate_limit *)self;
    int64_t now = taas_mono_ms() * 1000;
    const char *why = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->global_rps > 0 && !take(&m->global, m->global_rps, now))
        why = "server";
    else if (m->peer_rps > 0 && !take(peer_bucket(m, taas_call_principal(call), taas_call_peer(call)),
                                         m->peer_rps, now))
        why = taas_call_principal(call) ? "principal" : "client";
    pthread_mutex_unlock(&m->mu);
    if (why) {
        taas_middleware_reject(call, TAAS_ST_RESOURCE_EXHAUSTED,
                               "rate limit exceeded (%s limit %.0f calls/s); retry later", why,
                               why[0] == 's' ? m->global_rps : m->peer_rps);
        return;
    }
    taas_middleware_next(self, call);
}

static void rate_free(taas_middleware *self)
{
    struct rate_limit *m = (struct rate_limit *)self;
    pthread_mutex_destroy(&m->mu);
    free(m->slots);
    free(m);
}

taas_middleware *taas_mw_rate_limit_new(double global_rps, double peer_rps)
{
    struct rate_limit *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (peer_rps > 0) {
        m->slots = calloc(PEER_SLOTS, sizeof *m->slots);
        if (!m->slots) {
            free(m);
            return NULL;
        }
    }
    pthread_mutex_init(&m->mu, NULL);
    m->parent.version = TAAS_MIDDLEWARE_VERSION;
    m->parent.name = "rate_limit";
    m->parent.call = rate_call;
    m->parent.free = rate_free;
    m->global_rps = global_rps;
    m->peer_rps = peer_rps;
    return &m->parent;
}
