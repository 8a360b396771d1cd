/*
 * runtime/json/json_int.h - internals shared by the JSON module's files.
 * Not part of the contract: nothing outside runtime/json includes this.
 */
#ifndef TAAS_JSON_INT_H
#define TAAS_JSON_INT_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

/* The "C" locale, created once; numbers never depend on LC_NUMERIC. */
locale_t taas_json__c_locale(void);

/* strtod in the C locale; s[0..n) need not be NUL-terminated. */
double taas_json__strtod(const char *s, size_t n);

/* UTF-8 sequences are checked with taas_utf8_seq (util/utf8.h), the one
 * UTF-8 check of the runtime. */

/* Value of 4 hex digits (already validated by the caller). */
uint32_t taas_json__hex4(const char *s);

/*
 * Decode the next code point of an already-validated raw string body,
 * advancing *i. Escapes, surrogate pairs and raw UTF-8 are all handled.
 */
uint32_t taas_json__next_cp(const char *s, size_t *i);

/* Encode cp as UTF-8 into out (room for 4); returns the length. */
size_t taas_json__utf8_put(char *out, uint32_t cp);

/* Decoded equality of two validated raw string bodies. */
int taas_json__raw_eq(const char *a, size_t an, const char *b, size_t bn);

/*
 * A number token split into exact decimal parts: the value is
 * (neg ? -1 : 1) * D * 10^exp, where D is the digit string of `ndig`
 * significant digits (no leading or trailing zeros) read from `text` from
 * index `first` to `last` inclusive, skipping a '.'. ndig == 0 means zero.
 */
typedef struct taas_json__num {
    int neg;
    size_t first, last, ndig;
    int64_t exp;
} taas_json__num;

void taas_json__num_split(const char *text, size_t start, size_t end, taas_json__num *out);

#endif
