/*
 * llm_agent/llm_providers/provider.h - one small interface in front of every
 * LLM API the agent can talk to, and the conversation the agent loop keeps.
 *
 * The conversation is provider-neutral: user text, assistant turns (text and
 * tool calls), and tool results. Each provider file translates it to its own
 * wire format (OpenAI Chat Completions, Anthropic Messages, Ollama /api/chat)
 * and translates the reply back. Everything that is the same for all of them
 * - HTTP through libcurl, timeouts, retries on 429/5xx with Retry-After, the
 * API key from an environment variable, error messages - lives in
 * provider.c, so that a provider file is only its wire format.
 *
 * Adding a provider: write one file defining a `const taas_llm_provider`
 * (version first, as every vtable of the project) and add it to the table in
 * providers.c. docs/llm-agent.md walks through it.
 *
 * Secrets. The API key is read from the environment variable the
 * configuration names, at the moment of each request, and goes only into the
 * request's header. It is never copied into a struct that outlives the
 * request, never logged, and every error message is scrubbed of it (an API
 * that echoes a key back in its error body does not leak it through us).
 *
 * Ownership: strings in taas_llm_message / taas_llm_reply are malloc'd and
 * owned by the struct holding them; the *_free functions release them.
 */
#ifndef TAAS_LLM_PROVIDER_H
#define TAAS_LLM_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The conversation */

typedef struct taas_llm_tool_call {
    char *id;        /* the provider's id ("call_...", "toolu_..."); made up for Ollama */
    char *name;
    char *arguments; /* JSON text exactly as the model sent it: may be invalid JSON */
} taas_llm_tool_call;

typedef enum taas_llm_role {
    TAAS_LLM_USER = 1,
    TAAS_LLM_ASSISTANT = 2,
    TAAS_LLM_TOOL = 3 /* the result of one tool call */
} taas_llm_role;

typedef struct taas_llm_message {
    taas_llm_role role;
    char *text;                /* user or assistant text, or the tool result; may be NULL */
    taas_llm_tool_call *calls; /* assistant: the tool calls it made */
    size_t n_calls;
    char *tool_call_id;        /* tool: the call this answers */
    char *tool_name;           /* tool: the called tool (Ollama matches by name) */
    bool is_error;             /* tool: the text is an error, not an output */
} taas_llm_message;

typedef struct taas_llm_conv {
    taas_llm_message *msgs;
    size_t n, cap;
} taas_llm_conv;

void taas_llm_conv_free(taas_llm_conv *c);
/* Append a copy of `text`. 0, or -1 when out of memory. */
int taas_llm_conv_user(taas_llm_conv *c, const char *text);
/* Append a tool result (copied). */
int taas_llm_conv_tool_result(taas_llm_conv *c, const char *call_id, const char *name,
                              const char *text, bool is_error);

/* A tool offered to the model: a task type's name, description and input schema. */
typedef struct taas_llm_tool {
    const char *name;
    const char *description;
    const char *input_schema; /* JSON Schema text of an object */
} taas_llm_tool;

typedef struct taas_llm_request {
    const char *model;
    const char *system;        /* NULL = none */
    const taas_llm_conv *conv;
    const taas_llm_tool *tools;
    size_t n_tools;
    int max_tokens;            /* per reply; > 0 */
} taas_llm_request;

/* Why the model stopped, mapped from each API's own names. */
typedef enum taas_llm_stop {
    TAAS_LLM_STOP_END = 1,    /* a final answer: stop, end_turn, stop_sequence */
    TAAS_LLM_STOP_TOOLS = 2,  /* it wants tool results: tool_calls, tool_use */
    TAAS_LLM_STOP_LENGTH = 3, /* cut at max_tokens: length, max_tokens */
    TAAS_LLM_STOP_OTHER = 4   /* content_filter, refusal, ...: see stop_raw */
} taas_llm_stop;

typedef struct taas_llm_reply {
    char *text;                /* NULL when the reply has no text */
    taas_llm_tool_call *calls;
    size_t n_calls;
    taas_llm_stop stop;
    char stop_raw[48];         /* the API's own word */
    int64_t input_tokens;
    int64_t output_tokens;
} taas_llm_reply;

void taas_llm_reply_free(taas_llm_reply *r);
/* Move the reply into the conversation as an assistant turn (r is emptied). */
int taas_llm_conv_take_reply(taas_llm_conv *c, taas_llm_reply *r);

/* ------------------------------------------------------------------------ */
/* Providers */

#define TAAS_LLM_PROVIDER_VERSION 1

/* Adds one request header; the provider calls it from add_headers. */
typedef void (*taas_llm_header_fn)(void *arg, const char *name, const char *value);

typedef struct taas_llm_provider {
    int version;                  /* TAAS_LLM_PROVIDER_VERSION */
    const char *name;             /* "openai", "anthropic", "ollama" */
    const char *default_base_url; /* used when the configuration names none */
    const char *default_key_env;  /* NULL = no key unless configured */
    const char *path;             /* appended to the base URL: "/chat/completions" */

    /* Headers besides Content-Type and Accept. `api_key` may be NULL. */
    void (*add_headers)(const char *api_key, taas_llm_header_fn add, void *arg);
    /* Write the request body. 0, or -1 with err filled. */
    int (*write_request)(const taas_llm_request *req, taas_jw *w, char *err, size_t errlen);
    /* Read a 2xx body. 0, or -1 with err filled (nothing to free in out). */
    int (*parse_reply)(const char *body, size_t len, taas_llm_reply *out, char *err,
                       size_t errlen);
    /* The message of an error body (any status), and whether the error must
     * not be retried whatever its status (OpenAI's insufficient_quota). */
    void (*parse_error)(int status, const char *body, size_t len, char *msg, size_t cap,
                        bool *final);
} taas_llm_provider;

/* The provider called `name`, or NULL. */
const taas_llm_provider *taas_llm_provider_find(const char *name);
/* The names, comma-separated, for error messages. Static. */
const char *taas_llm_provider_names(void);

/* ------------------------------------------------------------------------ */
/* Configuration and calls */

typedef struct taas_llm_config {
    char provider[32];      /* a name in the table */
    char base_url[512];     /* "" = the provider's default */
    char model[128];
    char api_key_env[128];  /* the NAME of the variable holding the key; "" = provider default */
    int timeout_ms;         /* whole request, connect included; default 120000 */
    int connect_timeout_ms; /* default 10000 */
    int max_retries;        /* further attempts on 408/409/429/5xx and transport errors; default 2 */
    int max_wait_ms;        /* longest Retry-After we honour; longer fails at once; default 60000 */
    int max_tokens;         /* per reply; default 1024 */
} taas_llm_config;

/*
 * The configuration of `provider` (NULL = the server's default provider,
 * TAAS_LLM_PROVIDER, else "openai") from the server's environment:
 *   TAAS_LLM_<P>_BASE_URL, TAAS_LLM_<P>_MODEL, TAAS_LLM_<P>_API_KEY_ENV
 *     for provider P (upper case: OPENAI, ANTHROPIC, OLLAMA);
 *   TAAS_LLM_BASE_URL, TAAS_LLM_MODEL, TAAS_LLM_API_KEY_ENV
 *     the same for the default provider (the per-provider names win);
 *   TAAS_LLM_TIMEOUT_MS, TAAS_LLM_MAX_RETRIES, TAAS_LLM_MAX_WAIT_MS,
 *   TAAS_LLM_REPLY_TOKENS for every provider.
 * 0, or -1 with err filled (an unknown provider, a value that does not parse).
 */
int taas_llm_config_from_env(taas_llm_config *cfg, const char *provider, char *err,
                             size_t errlen);

enum {
    TAAS_LLM_OK = 0,
    TAAS_LLM_ECONFIG = -1,    /* unknown provider, no model, key variable unset */
    TAAS_LLM_ECONNECT = -2,   /* could not reach the server */
    TAAS_LLM_ETIMEOUT = -3,   /* no complete answer within timeout_ms */
    TAAS_LLM_EHTTP = -4,      /* an error status, retries spent or not retryable */
    TAAS_LLM_EPROTO = -5,     /* a 2xx body that is not what the API documents */
    TAAS_LLM_ECANCELLED = -6, /* the cancel callback said stop */
    TAAS_LLM_ENOMEM = -7
};

/* Polled during requests and waits; true = give up now. */
typedef bool (*taas_llm_cancel_fn)(void *arg);

/*
 * One model call, retried as the configuration says. On success returns 0
 * with *out filled (free with taas_llm_reply_free). On failure returns a
 * TAAS_LLM_E* code and a one-line message naming the provider, the status
 * and the API's own message, without the API key. `*attempts` (may be NULL)
 * receives the number of HTTP requests made.
 */
int taas_llm_call(const taas_llm_config *cfg, const taas_llm_request *req,
                  taas_llm_cancel_fn cancel, void *cancel_arg, taas_llm_reply *out,
                  int *attempts, char *err, size_t errlen);

/* Whether a failure of taas_llm_call is worth trying again later (a whole
 * task attempt later, not within the call). */
bool taas_llm_error_is_transient(int code);

/* ------------------------------------------------------------------------ */
/* Helpers for provider files */

/* Decoded copy of a string token (malloc'd), or NULL (not a string / no memory). */
char *taas_llm_json_strdup(const taas_jdoc *doc, int tok);
/* Copy of the raw text of any token (an object as JSON text), malloc'd. */
char *taas_llm_json_rawdup(const taas_jdoc *doc, int tok);
/* The integer at key in obj, or 0. */
int64_t taas_llm_json_int(const taas_jdoc *doc, int obj, const char *key);
/* Write `json` (an object's text) as a value; {} when it is not a JSON object. */
void taas_llm_jw_object_or_empty(taas_jw *w, const char *json);
/* Parse a 2xx body into d: 0, or -1 with err saying "not JSON (why):
 * "<snippet>"" (nothing to free then). */
int taas_llm_reply_json(taas_jdoc *d, const char *body, size_t len, char *err, size_t errlen);
/* A parse_reply built on `read`, which fills out from the parsed body and
 * returns 0, or -1 with err filled: the body is parsed (taas_llm_reply_json)
 * and, when read fails, what it filled is freed. */
int taas_llm_parse_reply(const char *body, size_t len, taas_llm_reply *out, char *err,
                         size_t errlen,
                         int (*read)(const taas_jdoc *d, taas_llm_reply *out, char *err,
                                     size_t errlen));
/* Parse an error body into d: 0, or -1 with msg holding a snippet of the
 * body (nothing to free then). */
int taas_llm_error_json(taas_jdoc *d, const char *body, size_t len, char *msg, size_t cap);
/* Set out->stop_raw to the string at `tok` ("" when absent) and out->stop
 * from it: TOOLS when the reply calls tools (or says `tools`, if not NULL),
 * END for a word of `end` (NULL-ended), LENGTH for `length`, else OTHER. */
void taas_llm_set_stop(taas_llm_reply *out, const taas_jdoc *d, int tok, const char *tools,
                       const char *const *end, const char *length);
/* One tool's "name", "description" and its input schema under
 * `schema_key`, inside an object the caller opened. */
void taas_llm_jw_tool_fields(taas_jw *w, const taas_llm_tool *t, const char *schema_key);
/* A short, printable excerpt of a body that is not the JSON we expected:
 * at most 160 bytes, control and non-ASCII bytes shown as '?'. */
void taas_llm_snippet(char *out, size_t cap, const char *body, size_t len);
/* The chat shape OpenAI and Ollama share (chat_shape.c): "messages" (the
 * system prompt first) and "tools" as functions, each written with its key.
 * The dialect decides the three places they differ. */
typedef enum taas_llm_dialect { TAAS_LLM_DIALECT_OPENAI, TAAS_LLM_DIALECT_OLLAMA } taas_llm_dialect;
void taas_llm_jw_chat_messages(taas_jw *w, const taas_llm_request *req, taas_llm_dialect dialect);
void taas_llm_jw_function_tools(taas_jw *w, const taas_llm_request *req);
/* "Authorization: Bearer <key>" when a key is configured (add_headers of
 * OpenAI-shaped providers). */
void taas_llm_bearer_header(const char *key, taas_llm_header_fn add, void *arg);
/* printf into err, bounded. */
void taas_llm_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif /* TAAS_LLM_PROVIDER_H */
