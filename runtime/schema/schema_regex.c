/*
 * runtime/schema/schema_regex.c - lazy per-schema state and pattern matching.
 *
 * Regular expressions and constants are compiled/parsed once per schema, on
 * first use, under rt_lock. Matching uses one PCRE2 match data per thread
 * and a match context whose limits make a catastrophic pattern fail
 * instead of hang.
 */
#include "schema/schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Lazy per-schema state: compiled regexes and parsed constants */

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_match_context *match_ctx;
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void md_init(void)
{
    (void)pthread_key_create(&md_key, md_free);
}

/* This thread's match data (one ovector pair is enough: we only ask "does it match"). */
static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (md && pthread_setspecific(md_key, md) != 0) {
            pcre2_match_data_free(md);
            md = NULL;
        }
    }
    return md;
}

int taas_schema__rt_init(const taas_schema *s)
{
    taas_schema_rt *rt = s->rt;
    if (atomic_load_explicit(&rt->ready, memory_order_acquire) == 1)
        return 0;
    pthread_mutex_lock(&rt_lock);
    int rc = 0;
    if (atomic_load_explicit(&rt->ready, memory_order_relaxed) == 1)
        goto out;
    if (!match_ctx) {
        match_ctx = pcre2_match_context_create(NULL);
        if (!match_ctx) {
            rc = -1;
            goto out;
        }
        pcre2_set_match_limit(match_ctx, SCHEMA_MATCH_LIMIT);
        pcre2_set_depth_limit(match_ctx, SCHEMA_DEPTH_LIMIT);
    }
    if (s->regex_count) {
        rt->regex = calloc(s->regex_count, sizeof *rt->regex);
        rt->regex_err = calloc(s->regex_count, sizeof *rt->regex_err);
        if (!rt->regex || !rt->regex_err) {
            rc = -1;
            goto out;
        }
        for (size_t i = 0; i < s->regex_count; i++) {
            int ec;
            PCRE2_SIZE eo;
            /* PCRE2_UTF: code points, as JSON Schema counts them; no PCRE2_UCP, so
             * \d \w \s stay ASCII like ECMA-262 without the u flag's classes. */
            rt->regex[i] = pcre2_compile((PCRE2_SPTR)s->regexes[i].s, s->regexes[i].n,
                                         PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
            if (!rt->regex[i]) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(ec, msg, sizeof msg);
                char buf[256];
                snprintf(buf, sizeof buf, "pattern does not compile at offset %zu: %s",
                         (size_t)eo, (const char *)msg);
                rt->regex_err[i] = strdup(buf);
            }
        }
    }
    if (s->const_count) {
        rt->consts = calloc(s->const_count, sizeof *rt->consts);
        if (!rt->consts) {
            rc = -1;
            goto out;
        }
        for (size_t i = 0; i < s->const_count; i++) {
            char err[128];
            /* Generated text is canonical JSON; a failure here is a generator bug. */
            if (taas_json_parse(&rt->consts[i], s->consts[i].s, s->consts[i].n, NULL, err,
                                sizeof err) != 0) {
                rc = -1;
                goto out;
            }
        }
    }
    atomic_store_explicit(&rt->ready, 1, memory_order_release);
out:
    if (rc != 0) {
        /* Leave it unset: the next call retries, nothing half-built is used. */
        if (rt->regex) {
            for (size_t i = 0; i < s->regex_count; i++) {
                pcre2_code_free(rt->regex[i]);
                free(rt->regex_err[i]);
            }
        }
        free(rt->regex);
        free(rt->regex_err);
        if (rt->consts) {
            for (size_t i = 0; i < s->const_count; i++)
                taas_json_free(&rt->consts[i]);
        }
        free(rt->consts);
        rt->regex = NULL;
        rt->regex_err = NULL;
        rt->consts = NULL;
    }
    pthread_mutex_unlock(&rt_lock);
    return rc;
}

static int regex_match(walker *w, int32_t ri, const char *s, size_t n)
{
    taas_schema_rt *rt = w->s->rt;
    pcre2_code *re = rt->regex[ri];
    if (!re)
        return -2;
    pcre2_match_data *md = thread_match_data();
    if (!md)
        return -3;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, md, match_ctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -4; /* match limit and friends */
}

/* Does string token `tok` match regex `ri`? 1 yes, 0 no, <0 could not tell. */
int taas_schema__tok_matches(walker *w, int tok, int32_t ri)
{
    char stackbuf[512];
    size_t len;
    bool heap;
    const jsmntok_t *t = &w->doc->toks[tok];
    /* Without escapes the raw bytes are the decoded string. */
    if (!memchr(w->doc->text + t->start, '\\', (size_t)(t->end - t->start)))
        return regex_match(w, ri, w->doc->text + t->start, (size_t)(t->end - t->start));
    char *buf = taas_schema__str_get(w, tok, stackbuf, sizeof stackbuf, &len, &heap);
    if (!buf)
        return -3;
    int rc = regex_match(w, ri, buf, len);
    if (heap)
        free(buf);
    return rc;
}

int taas_schema__regex_fail(walker *w, int32_t ri, int rc)
{
    const taas_schema_str *src = &w->s->regexes[ri];
    if (rc == -2)
        return taas_schema__fail(w, "%s", w->s->rt->regex_err[ri] ? w->s->rt->regex_err[ri]
                                                      : "pattern does not compile");
    if (rc == -3) {
        w->oom = true;
        return taas_schema__fail(w, "out of memory");
    }
    return taas_schema__fail(w, "pattern \"%.*s\" is too expensive to match against this value",
                (int)(src->n > 200 ? 200 : src->n), src->s);
}

