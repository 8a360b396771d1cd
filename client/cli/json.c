/*
 * client/cli/json.c - validate and re-emit JSON text (RFC 8259), write
 * string literals.
 *
 * The parser is a plain recursive descent over the text with a depth cap.
 * Emission happens while parsing: scalars are copied byte for byte (strings
 * keep their escapes, numbers their spelling), so re-emitted text means
 * exactly what the server sent.
 */
#include "json.h"

#include <string.h>

#define MAX_DEPTH 256

typedef struct parser {
    const char *p;
    FILE *f;
    json_style style;
} parser;

static void ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static void put(parser *ps, const char *s, size_t n)
{
    if (ps->f && ps->style != JSON_CHECK)
        fwrite(s, 1, n, ps->f);
}

static void newline(parser *ps, int level)
{
    if (ps->f && ps->style == JSON_PRETTY) {
        fputc('\n', ps->f);
        for (int i = 0; i < level; i++)
            fputs("  ", ps->f);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the well-formed UTF-8 character at s (1 to 4), 0 when the bytes
 * there are not one (RFC 3629: no overlong forms, surrogates or code points
 * above U+10FFFF). s is NUL-terminated, so reading stops at the end. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static int string(parser *ps)
{
    const char *start = ps->p;
    if (*ps->p != '"')
        return -1;
    ps->p++;
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            /* Text that is not UTF-8 is not JSON (RFC 8259 8.1): the caller
             * then prints it as a string literal instead. */
            size_t l = utf8_len((const unsigned char *)ps->p);
            if (!l)
                return -1;
            ps->p += l;
            continue;
        }
        if (c == '\\') {
            ps->p++;
            switch (*ps->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u':
                for (int i = 1; i <= 4; i++)
                    if (hexval(ps->p[i]) < 0)
                        return -1;
                ps->p += 4;
                break;
            default:
                return -1;
            }
        }
        ps->p++;
    }
    ps->p++;
    put(ps, start, (size_t)(ps->p - start));
    return 0;
}

static int digits(parser *ps)
{
    if (*ps->p < '0' || *ps->p > '9')
        return -1;
    while (*ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return 0;
}

static int number(parser *ps)
{
    const char *start = ps->p;
    if (*ps->p == '-')
        ps->p++;
    if (*ps->p == '0')
        ps->p++;
    else if (digits(ps))
        return -1;
    if (*ps->p == '.') {
        ps->p++;
        if (digits(ps))
            return -1;
    }
    if (*ps->p == 'e' || *ps->p == 'E') {
        ps->p++;
        if (*ps->p == '+' || *ps->p == '-')
            ps->p++;
        if (digits(ps))
            return -1;
    }
    put(ps, start, (size_t)(ps->p - start));
    return 0;
}

static int value(parser *ps, int level);

static int container(parser *ps, int level, char close, bool object)
{
    char open = object ? '{' : '[';
    put(ps, &open, 1);
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
        ps->p++;
        put(ps, &close, 1);
        return 0;
    }
    for (;;) {
        newline(ps, level + 1);
        if (object) {
            if (string(ps))
                return -1;
            ws(ps);
            if (*ps->p != ':')
                return -1;
            ps->p++;
            put(ps, ps->style == JSON_PRETTY ? ": " : ":", ps->style == JSON_PRETTY ? 2 : 1);
            ws(ps);
        }
        if (value(ps, level + 1))
            return -1;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            put(ps, ",", 1);
            ws(ps);
            continue;
        }
        if (*ps->p != close)
            return -1;
        ps->p++;
        newline(ps, level);
        put(ps, &close, 1);
        return 0;
    }
}

static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(ps->p, word, n) != 0)
        return -1;
    ps->p += n;
    put(ps, word, n);
    return 0;
}

static int value(parser *ps, int level)
{
    if (level > MAX_DEPTH)
        return -1;
    switch (*ps->p) {
    case '{': return container(ps, level, '}', true);
    case '[': return container(ps, level, ']', false);
    case '"': return string(ps);
    case 't': return literal(ps, "true");
    case 'f': return literal(ps, "false");
    case 'n': return literal(ps, "null");
    default: return number(ps);
    }
}

int json_emit(FILE *f, const char *text, json_style style, int level)
{
    if (!text)
        return -1;
    parser ps = { text, f, style };
    ws(&ps);
    if (value(&ps, level))
        return -1;
    ws(&ps);
    return *ps.p == '\0' ? 0 : -1;
}

void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80) {
            /* Only valid UTF-8 goes out as is, so the output is always JSON
             * whatever a server sends. */
            size_t l = utf8_len(p);
            if (l) {
                fwrite(p, 1, l, f);
                p += l - 1;
            } else {
                fputs("\\ufffd", f);
            }
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_embed(FILE *f, const char *text)
{
    if (!text || !text[0])
        fputs("null", f);
    else if (json_valid(text))
        json_emit(f, text, JSON_COMPACT, 0);
    else
        json_str(f, text);
}
