/*
 * client/cli/json.h - the JSON the CLI reads and writes.
 *
 * The server hands back JSON as text (inputs, outputs, schemas). The CLI
 * checks that text before it embeds it in its own --json documents, prints
 * it compact or indented for people, and writes its own values with proper
 * string escaping. Nothing is parsed into a tree: one recursive-descent
 * pass validates and, when asked, re-emits the text.
 */
#ifndef TAAS_CLI_JSON_H
#define TAAS_CLI_JSON_H

#include <stdbool.h>
#include <stdio.h>

typedef enum json_style {
    JSON_CHECK,   /* validate only */
    JSON_COMPACT, /* no insignificant whitespace */
    JSON_PRETTY   /* two-space indentation */
} json_style;

/*
 * Validates `text` as exactly one JSON value (surrounded by optional
 * whitespace, nesting at most 256 deep) and, unless style is JSON_CHECK,
 * writes it to `f` in that style, starting at indentation level `level`.
 * Returns 0, or -1 for invalid text (output may then be partial, so check
 * first when that matters).
 */
int json_emit(FILE *f, const char *text, json_style style, int level);

static inline bool json_valid(const char *text)
{
    return text && json_emit(NULL, text, JSON_CHECK, 0) == 0;
}

/* Writes s as a JSON string literal (NULL as null). */
void json_str(FILE *f, const char *s);

/* Writes JSON text compactly when valid, null when empty or NULL, and as a
 * string literal otherwise, so the surrounding document stays valid. */
void json_embed(FILE *f, const char *text);

#endif
