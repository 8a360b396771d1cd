/*
 * runtime/core/arena.h - a bump allocator with a hard cap, one per task
 * execution. Everything is freed at once by taas_arena_free(); nothing is
 * freed individually.
 */
#ifndef TAAS_CORE_ARENA_H
#define TAAS_CORE_ARENA_H

#include <stddef.h>

typedef struct taas_arena_chunk taas_arena_chunk;

typedef struct taas_arena {
    taas_arena_chunk *head;  /* current chunk; older ones linked behind it */
    size_t used;             /* bytes handed out + chunk overhead, against max */
    size_t max;              /* cap; allocations past it return NULL */
    /* A small first chunk lives inside the owner (no malloc for tiny tasks). */
    size_t inline_used;
    _Alignas(16) unsigned char inline_buf[2048];
} taas_arena;

void taas_arena_init(taas_arena *a, size_t max);
/* Zeroed, 16-byte aligned; NULL past the cap or when out of memory. */
void *taas_arena_alloc(taas_arena *a, size_t size);
void taas_arena_free(taas_arena *a);

#endif
