/*
 * tests/fuzz/fuzz_tokens_file.c - the tokens file parser on any bytes.
 *
 * The input is the file's text. The parser must accept it or refuse it
 * with a message naming the file (and the line, unless the file holds no
 * token); never read past the text or leak. When it accepts, the number of
 * tokens is the number of lines that are neither blank nor comments (a
 * model of the format written apart), at least one, and every line of the
 * text is within the 1,024-byte line cap and free of NUL.
 */
#include <string.h>

#include "fuzz.h"
#include "middleware/middleware.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[512] = "";
    taas_tokens *t = taas_tokens_parse(text, size, "tokens", err, sizeof err);
    if (!t) {
        FUZZ_CHECK(!strncmp(err, "tokens:", 7), "message '%s'", err);
        return 0;
    }
    FUZZ_CHECK(memchr(text, '\0', size) == NULL, "a NUL byte accepted");
    size_t lines = 0, at = 0;
    while (at < size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : size - at;
        FUZZ_CHECK(n <= 1024, "a line of %zu bytes accepted", n);
        size_t a = at, b = at + n;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (a < b && text[a] != '#')
            lines++;
        at += n + 1;
    }
    FUZZ_CHECK(taas_tokens_count(t) == lines && lines > 0, "%zu tokens from %zu lines",
               taas_tokens_count(t), lines);
    taas_tokens_free(t);
    return 0;
}
