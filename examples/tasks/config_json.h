/*
 * examples/tasks/config_json.h - what the configuration tasks share: where
 * their files live, and the JSON handling of free-form configurations
 * (taas_json values) on top of runtime/json.
 */
#ifndef TAAS_EXAMPLES_CONFIG_JSON_H
#define TAAS_EXAMPLES_CONFIG_JSON_H

#include <stddef.h>

#include "taas/taas.h"

/* Files larger than this are refused by load_config (1 MiB). */
#define CONFIG_FILE_MAX ((size_t)1 << 20)

/* TAAS_OUTPUT_ROOT, or "taas-output" (relative to the working directory). */
const char *config_output_root(void);
/* TAAS_CONFIG_ROOT, else TAAS_OUTPUT_ROOT, else "taas-output". */
const char *config_read_root(void);

/*
 * `json` (which must be a JSON object) pretty-printed with two-space
 * indentation and a final newline: keys keep their order, strings and
 * numbers keep their exact text. Equal input text gives equal bytes, and
 * so does the same configuration sent with different white space. The
 * result is in ctx's arena. Returns NULL with `msg` set when the text is
 * not a JSON object or memory runs out.
 */
char *config_pretty(taas_ctx *ctx, const char *json, size_t len, size_t *out_len, char *msg,
                    size_t msgcap);

/*
 * Parse `json` and list the top-level keys of the object, decoded and
 * sorted by their bytes, in the arena. Returns 0, or -1 with `msg` when the
 * text is not a JSON object ("is an array, not an object") or memory runs
 * out. `what` names the text in messages ("file 'a.json'").
 */
int config_keys(taas_ctx *ctx, const char *json, size_t len, const char *what,
                const char ***keys, size_t *count, char *msg, size_t msgcap);

#endif
