/*
 * runtime/util/utf8.c - see utf8.h.
 */
#include "util/utf8.h"

#include <string.h>

size_t taas_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF are surrogates, not characters */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool taas_utf8_text_ok(const void *p, size_t n, size_t *bad_at)
{
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs are the common case: one compare per byte. */
        if (s[i] >= 0x01 && s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = s[i] ? taas_utf8_seq(s + i, n - i) : 0;
        if (!l) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
        i += l;
    }
    return true;
}

size_t taas_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    /* Back over continuation bytes to the start of the cut character, then
     * keep that character only if it fits whole. */
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

char *taas_utf8_copy(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src), i = 0, o = 0;
    while (i < n) {
        size_t l = taas_utf8_seq(s + i, n - i);
        if (!l) {
            if (o + 1 >= cap)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + l >= cap)
            break;
        memcpy(dst + o, s + i, l);
        o += l;
        i += l;
    }
    dst[o] = '\0';
    return dst;
}

void taas_utf8_fix(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t l = taas_utf8_seq(u + i, n - i);
        if (l) {
            i += l;
            continue;
        }
        /* A lead byte whose character runs past the end was cut: drop it
         * and its continuation bytes. Anything else malformed becomes '?'. */
        size_t want = u[i] >= 0xF0 ? 4 : u[i] >= 0xE0 ? 3 : u[i] >= 0xC2 ? 2 : 0;
        if (want && n - i < want) {
            size_t j = i + 1;
            while (j < n && (u[j] & 0xC0) == 0x80)
                j++;
            if (j == n) {
                u[i] = '\0';
                return;
            }
        }
        u[i++] = '?';
    }
}
