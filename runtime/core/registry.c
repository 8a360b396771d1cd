/*
 * runtime/core/registry.c - lookups over the generated taas_registry[]
 * (sorted by name by the generator).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taas/registry.h"

const taas_task_type *taas_registry_find(const char *name)
{
    size_t lo = 0, hi = taas_registry_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, taas_registry[mid]->name);
        if (c == 0)
            return taas_registry[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Levenshtein distance, capped: names are short, so an O(n*m) row is fine. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return (size_t)-1;
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

size_t taas_registry_suggest(const char *name, const char **out, size_t max)
{
    size_t n = 0;
    size_t dist[16];
    if (max > 16)
        max = 16;
    size_t len = strlen(name);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    for (size_t i = 0; i < taas_registry_count; i++) {
        const char *cand = taas_registry[i]->name;
        size_t d = edit_distance(name, cand);
        /* A shared prefix of 4+ characters also counts as close. */
        if (d > limit && !(len >= 4 && strncmp(name, cand, 4) == 0))
            continue;
        /* Insert sorted by distance (stable: registry order breaks ties). */
        size_t pos = n;
        while (pos > 0 && dist[pos - 1] > d)
            pos--;
        if (pos >= max)
            continue;
        size_t last = n < max ? n : max - 1;
        for (size_t k = last; k > pos; k--) {
            out[k] = out[k - 1];
            dist[k] = dist[k - 1];
        }
        out[pos] = cand;
        dist[pos] = d;
        if (n < max)
            n++;
    }
    return n;
}
