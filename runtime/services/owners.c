/*
 * runtime/services/owners.c - which principal submitted which task, for
 * per-principal isolation while the store keeps no owner column.
 *
 * Method. A hash table from task id to principal, filled when a submit is
 * acknowledged (before the answer leaves, so the client can never ask about
 * its task before the entry exists) and bounded: entries sit in a FIFO ring
 * of OWNERS_MAX slots and the oldest is dropped when the ring is full.
 *
 * The table fails closed: a task it does not know (submitted before a
 * restart, by another server on the same database, or evicted) belongs to
 * nobody but admin. That keeps isolation sound at the cost of
 * non-admin principals losing sight of such tasks; a principal stored with
 * each task (see docs/server.md, "Isolation") removes the cost.
 */
#include "services/services_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OWNERS_BUCKETS (OWNERS_MAX * 2) /* power of two */

struct owner {
    struct owner *next; /* bucket chain */
    char id[40];
    char *principal;
};

struct svc_owners {
    pthread_mutex_t mu;
    struct owner **buckets;
    struct owner *ring; /* OWNERS_MAX slots, filled in order */
    size_t head;        /* next slot to (re)use */
    size_t used;
};

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return (size_t)h & (OWNERS_BUCKETS - 1);
}

struct svc_owners *svc_owners_new(void)
{
    struct svc_owners *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->buckets = calloc(OWNERS_BUCKETS, sizeof *o->buckets);
    o->ring = calloc(OWNERS_MAX, sizeof *o->ring);
    if (!o->buckets || !o->ring) {
        free(o->buckets);
        free(o->ring);
        free(o);
        return NULL;
    }
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void svc_owners_free(struct svc_owners *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < OWNERS_MAX; i++)
        free(o->ring[i].principal);
    free(o->buckets);
    free(o->ring);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

static void unlink_locked(struct svc_owners *o, struct owner *e)
{
    struct owner **pp = &o->buckets[bucket_of(e->id)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp)
        *pp = e->next;
    free(e->principal);
    memset(e, 0, sizeof *e);
}

int svc_owners_set(struct svc_owners *o, const char *id, const char *principal)
{
    if (strlen(id) >= sizeof o->ring[0].id)
        return -1;
    char *p = strdup(principal);
    if (!p)
        return -1;
    pthread_mutex_lock(&o->mu);
    struct owner *e = &o->ring[o->head];
    if (e->principal)
        unlink_locked(o, e);
    else
        o->used++;
    o->head = (o->head + 1) % OWNERS_MAX;
    memcpy(e->id, id, strlen(id) + 1);
    e->principal = p;
    size_t b = bucket_of(id);
    e->next = o->buckets[b];
    o->buckets[b] = e;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

bool svc_owners_is(struct svc_owners *o, const char *id, const char *principal)
{
    bool yes = false;
    pthread_mutex_lock(&o->mu);
    for (struct owner *e = o->buckets[bucket_of(id)]; e; e = e->next) {
        if (strcmp(e->id, id) == 0) {
            yes = strcmp(e->principal, principal) == 0;
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return yes;
}
