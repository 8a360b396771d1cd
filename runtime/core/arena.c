/*
 * runtime/core/arena.c - see arena.h.
 *
 * Chunks double in size (4 KiB up to 1 MiB); a request larger than half a
 * chunk gets a chunk of its own, so a single big string does not waste the
 * rest of the current one.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct taas_arena_chunk {
    taas_arena_chunk *next;
    size_t size;
    size_t pos;
    _Alignas(16) unsigned char data[];
};

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

void taas_arena_init(taas_arena *a, size_t max)
{
    a->head = NULL;
    a->used = 0;
    a->max = max;
    a->inline_used = 0;
}

void *taas_arena_alloc(taas_arena *a, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t need = ALIGN16(size);

    if (a->inline_used + need <= sizeof a->inline_buf) {
        void *p = a->inline_buf + a->inline_used;
        a->inline_used += need;
        memset(p, 0, size);
        return p;
    }
    if (a->head && a->head->size - a->head->pos >= need) {
        void *p = a->head->data + a->head->pos;
        a->head->pos += need;
        memset(p, 0, size);
        return p;
    }

    size_t csize = a->head ? a->head->size * 2 : 4096;
    if (csize > ((size_t)1 << 20))
        csize = (size_t)1 << 20;
    if (need > csize / 2)
        csize = need;
    if (a->used + csize + sizeof(taas_arena_chunk) > a->max)
        return NULL;
    taas_arena_chunk *c = malloc(sizeof *c + csize);
    if (!c)
        return NULL;
    a->used += csize + sizeof *c;
    c->size = csize;
    c->pos = need;
    if (a->head && need == csize && a->head->size - a->head->pos > 64) {
        /* A dedicated chunk: keep the current one for further small requests. */
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    memset(c->data, 0, size);
    return c->data;
}

void taas_arena_free(taas_arena *a)
{
    taas_arena_chunk *c = a->head;
    while (c) {
        taas_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
    a->inline_used = 0;
}
