/*
 * tests/fuzz/fuzz.h - what every fuzz target shares: the libFuzzer entry
 * points and a check that aborts (so both libFuzzer and the standalone
 * driver report the input) with the reason on stderr.
 */
#ifndef TAAS_FUZZ_H
#define TAAS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Called by the standalone driver after the last input (not by libFuzzer). */
void fuzz_standalone_cleanup(void);

#define FUZZ_CHECK(cond, ...)                                                      \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            abort();                                                               \
        }                                                                          \
    } while (0)

#endif
