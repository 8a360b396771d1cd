/*
 * runtime/include/taas/json.h - strict JSON reading (over jsmn) and JSON
 * writing: the one JSON implementation of the server (runtime/json/), public
 * so that task bodies parse and write JSON the way the server does.
 *
 * Reading: taas_json_parse() tokenizes text with jsmn (JSMN_STRICT,
 * JSMN_PARENT_LINKS) and then makes every check jsmn does not: the full
 * RFC 8259 grammar (separators, one root value, no trailing bytes), the
 * number grammar, string escapes and UTF-8 validity, no "\u0000", no
 * duplicate keys in an object, a nesting-depth limit and size caps. A
 * document that passes is safe to walk by token index with the helpers
 * below; they never re-check what parse already checked.
 *
 * Tokens are jsmn's: an object token is followed by key, value, key, value...
 * (key tokens are strings whose `size` is 1); an array token by its items.
 * taas_json_next() skips a whole subtree.
 *
 * Writing: taas_jw builds JSON text into a growing buffer with a hard cap
 * (`max`); commas are placed automatically; strings are escaped; doubles are
 * printed with the fewest digits that read back to the same value.
 *
 * Errors: functions returning int return 0 on success and a negative
 * TAAS_JSON_E* code on failure; messages go into caller-supplied buffers.
 */
#ifndef TAAS_JSON_H
#define TAAS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef JSMN_STRICT
#define JSMN_STRICT
#endif
#ifndef JSMN_PARENT_LINKS
#define JSMN_PARENT_LINKS
#endif
#define JSMN_HEADER
#include <jsmn.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TAAS_JSON_OK = 0,
    TAAS_JSON_ESYNTAX = -1,   /* not JSON: grammar, number, escape */
    TAAS_JSON_EUTF8 = -2,     /* invalid UTF-8 or lone surrogate escape */
    TAAS_JSON_EDUPKEY = -3,   /* duplicate key in one object */
    TAAS_JSON_EDEPTH = -4,    /* nested deeper than limits.max_depth */
    TAAS_JSON_ETOOBIG = -5,   /* over a size cap (bytes, tokens, string) */
    TAAS_JSON_ENOMEM = -6,    /* allocation failed */
    TAAS_JSON_ENUL = -7,      /* "\u0000" in a string */
    TAAS_JSON_ERANGE = -8,    /* number does not fit the requested C type */
    TAAS_JSON_ETYPE = -9      /* token is not of the requested kind */
};

/* Caps applied by taas_json_parse(). Zero in a field means "use the default". */
typedef struct taas_json_limits {
    size_t max_bytes;        /* whole document; default 1 MiB (TAAS_JSON_DEFAULT_MAX_BYTES) */
    size_t max_tokens;       /* default: max_bytes / 2 + 1 */
    size_t max_string_bytes; /* one string's raw length; default = max_bytes */
    int max_depth;           /* arrays + objects nested; default 64 */
} taas_json_limits;

#define TAAS_JSON_DEFAULT_MAX_BYTES ((size_t)1 << 20)
#define TAAS_JSON_DEFAULT_MAX_DEPTH 64

/* The kind of a token's value, as JSON sees it. */
typedef enum taas_json_kind {
    TAAS_JSON_NULL,
    TAAS_JSON_BOOL,
    TAAS_JSON_NUMBER,
    TAAS_JSON_STRING,
    TAAS_JSON_ARRAY,
    TAAS_JSON_OBJECT
} taas_json_kind;

/* A parsed document. `text` is borrowed (not copied): it must outlive the doc. */
typedef struct taas_jdoc {
    const char *text;
    size_t len;
    jsmntok_t *toks; /* owned; toks[0] is the root */
    int ntoks;
} taas_jdoc;

/*
 * Parse and fully check `text[0..len)`. On success fills `doc` (free it with
 * taas_json_free) and returns 0. On failure returns a TAAS_JSON_E* code,
 * leaves nothing to free, and writes a one-line message to `err` (if not NULL)
 * such as "line 1, column 7: invalid number" or "duplicate key \"a\" at /x".
 * `limits` may be NULL for the defaults.
 */
int taas_json_parse(taas_jdoc *doc, const char *text, size_t len,
                    const taas_json_limits *limits, char *err, size_t errlen);
void taas_json_free(taas_jdoc *doc);

/*
 * Index of the token after the whole subtree rooted at `tok`. An object key
 * counts as a leaf here: next(key) is its value; next(value) the next key.
 */
int taas_json_next(const taas_jdoc *doc, int tok);

taas_json_kind taas_json_kind_of(const taas_jdoc *doc, int tok);
/* "null", "boolean", "number", "string", "array", "object"; for messages. */
const char *taas_json_kind_name(taas_json_kind k);

/* true for the literal true; only valid on a TAAS_JSON_BOOL token. */
bool taas_json_bool(const taas_jdoc *doc, int tok);

/* The number as a double (strtod semantics; huge values become +-HUGE_VAL). */
double taas_json_double(const taas_jdoc *doc, int tok);
/*
 * The number as an int64. Accepts any number whose value is integral and in
 * range ("3", "3.0", "3e2"), else TAAS_JSON_ERANGE (fractional or too large)
 * or TAAS_JSON_ETYPE (not a number).
 */
int taas_json_int64(const taas_jdoc *doc, int tok, int64_t *out);
/* Whether a number token's value is integral (1.0 and 1e2 are). */
bool taas_json_is_integral(const taas_jdoc *doc, int tok);

/*
 * Strings. The raw (escaped) bytes of a string token are
 * doc->text[t.start .. t.end). Decoding never grows a string, so a buffer of
 * raw length + 1 always suffices.
 */
size_t taas_json_str_rawlen(const taas_jdoc *doc, int tok);
/* Decode into `out` (capacity >= rawlen + 1), NUL-terminate, return byte length. */
size_t taas_json_str_decode(const taas_jdoc *doc, int tok, char *out);
/* Decoded string equals s[0..n) exactly. */
bool taas_json_str_eq(const taas_jdoc *doc, int tok, const char *s, size_t n);
/* Number of Unicode code points in the decoded string (surrogate pair = 1). */
size_t taas_json_str_codepoints(const taas_jdoc *doc, int tok);

/* Look up a key in an object token; returns the value token or -1. */
int taas_json_obj_get(const taas_jdoc *doc, int obj, const char *key, size_t keylen);

/*
 * JSON equality as JSON Schema defines it (for enum, const, uniqueItems):
 * numbers compare by value (1 == 1.0), objects ignore key order, strings
 * compare decoded.
 */
bool taas_json_equal(const taas_jdoc *a, int ta, const taas_jdoc *b, int tb);

/*
 * Append the JSON Pointer escape of s[0..n) ("~" -> "~0", "/" -> "~1").
 * Writes into out (NUL-terminated when cap > 0, never splitting an escape)
 * and returns the full escaped length, like snprintf: a result >= cap means
 * the output was cut.
 */
size_t taas_json_pointer_escape(char *out, size_t cap, const char *s, size_t n);

/* ------------------------------------------------------------------------ */
/* Writer */

#define TAAS_JW_MAX_DEPTH 128

typedef struct taas_jw {
    char *buf;     /* owned, NUL-terminated when err == 0 */
    size_t len;
    size_t cap;
    size_t max;    /* hard cap on len; 0 = 16 MiB */
    int err;       /* first error (TAAS_JSON_ETOOBIG, ENOMEM, ESYNTAX for misuse,
                      EUTF8/ENUL for a bad string, EDEPTH past TAAS_JW_MAX_DEPTH - 1); sticky */
    int depth;
    unsigned char first[TAAS_JW_MAX_DEPTH]; /* per depth: bit 0 no value yet, bit 1 object */
    unsigned char after_key;
} taas_jw;

void taas_jw_init(taas_jw *w, size_t max);
void taas_jw_free(taas_jw *w);
/*
 * Take the buffer (caller frees with free()); the writer is reset. NULL on
 * error, or when a container or a key is still open (err is then ESYNTAX).
 */
char *taas_jw_take(taas_jw *w, size_t *len);

void taas_jw_obj_begin(taas_jw *w);
void taas_jw_obj_end(taas_jw *w);
void taas_jw_arr_begin(taas_jw *w);
void taas_jw_arr_end(taas_jw *w);
void taas_jw_key(taas_jw *w, const char *key);              /* NUL-terminated */
void taas_jw_keyn(taas_jw *w, const char *key, size_t n);
/* Strings and keys must be valid UTF-8 without NUL bytes (else err EUTF8 or
 * ENUL and nothing of the string is written), so output always re-parses. */
void taas_jw_str(taas_jw *w, const char *s);                /* NULL writes null */
void taas_jw_strn(taas_jw *w, const char *s, size_t n);
void taas_jw_int64(taas_jw *w, int64_t v);
void taas_jw_double(taas_jw *w, double v);  /* shortest round-trip; NaN/Inf -> err ESYNTAX */
void taas_jw_bool(taas_jw *w, bool v);
void taas_jw_null(taas_jw *w);
/* Insert already-valid JSON text as one value (e.g. a taas_json field). */
void taas_jw_raw(taas_jw *w, const char *json, size_t n);

/* Escape s[0..n) as a JSON string body (no quotes) appended to the writer. */
void taas_jw_escape(taas_jw *w, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_JSON_H */
