/* runtime/engine/engine_internal.h - engine pieces shared between its files and tests. */
#ifndef TAAS_ENGINE_INTERNAL_H
#define TAAS_ENGINE_INTERNAL_H

#include <stddef.h>

/*
 * A 128-bit digest (32 hex characters + NUL) of the canonical form of JSON
 * inputs: object keys sorted, insignificant whitespace dropped, strings and
 * numbers normalized. Two submits carry "the same inputs" for idempotency
 * exactly when their digests are equal. `input` must be valid JSON (it has
 * passed the input schema); otherwise the raw bytes are hashed.
 */
void taas_engine_input_hash(const char *input, size_t len, char out[33]);

#endif
