/*
 * runtime/util/utf8.h - UTF-8 checks for text that crosses the API.
 *
 * Every string the server stores or sends must be valid UTF-8 without NUL:
 * protobuf declares `string` fields UTF-8, and conforming clients (grpcio,
 * protobuf-java) refuse a message holding anything else, so one bad string
 * in a stored task would make every read of it fail. Incoming strings are
 * checked here, and messages built from them are cut only between
 * characters.
 */
#ifndef TAAS_UTF8_H
#define TAAS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s[0..n) (1 to 4), or 0 when
 * the bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF are refused, RFC 3629). s[0] must exist (n >= 1). */
size_t taas_utf8_seq(const unsigned char *s, size_t n);

/* Whether s[0..n) is valid UTF-8 holding no NUL; when not, *bad_at (if not
 * NULL) is the offset of the first offending byte. */
bool taas_utf8_text_ok(const void *s, size_t n, size_t *bad_at);

/* The longest prefix of s[0..n) that is at most max bytes and does not end
 * inside a multi-byte character. */
size_t taas_utf8_cut(const char *s, size_t n, size_t max);

/* Copy src (NUL-terminated) into dst[cap] as valid UTF-8 without NUL: bytes
 * that are not part of a well-formed character become '?', and the copy is
 * cut between characters. Returns dst. */
char *taas_utf8_copy(char *dst, size_t cap, const char *src);

/* Make the NUL-terminated s valid in place: a multi-byte character cut at
 * the end is dropped, other malformed bytes become '?'. */
void taas_utf8_fix(char *s);

#endif
