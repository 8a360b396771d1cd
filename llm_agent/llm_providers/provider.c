/*
 * llm_agent/llm_providers/provider.c - what every provider shares: the
 * conversation, configuration from the environment, and the HTTP call with
 * its timeouts and retries.
 *
 * Retries follow what the providers' own SDKs do: 408, 409, 429 and 5xx (and
 * transport failures) are tried again up to max_retries times, waiting what
 * the server asks for in `retry-after-ms` or `retry-after` (seconds or an
 * HTTP date), else an exponential backoff with jitter; `x-should-retry:
 * false` and OpenAI's `insufficient_quota` are never retried, since waiting
 * cannot fix them. A server asking for a wait longer than max_wait_ms fails
 * the call at once rather than hold a worker for it. All waits are in slices
 * that poll the cancel callback, and libcurl's progress callback polls it
 * during a transfer, so a cancelled agent stops within ~100 ms.
 */
#include "provider.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RESPONSE_MAX ((size_t)8 << 20) /* larger bodies are not an answer we can use */

void taas_llm_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void taas_llm_snippet(char *out, size_t cap, const char *body, size_t len)
{
    size_t n = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < 160 && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)body[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > 160 && n + 4 < cap) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Conversation */

static void call_free(taas_llm_tool_call *c)
{
    free(c->id);
    free(c->name);
    free(c->arguments);
}

static void msg_free(taas_llm_message *m)
{
    free(m->text);
    for (size_t i = 0; i < m->n_calls; i++)
        call_free(&m->calls[i]);
    free(m->calls);
    free(m->tool_call_id);
    free(m->tool_name);
}

void taas_llm_conv_free(taas_llm_conv *c)
{
    for (size_t i = 0; i < c->n; i++)
        msg_free(&c->msgs[i]);
    free(c->msgs);
    memset(c, 0, sizeof *c);
}

static taas_llm_message *conv_push(taas_llm_conv *c)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        taas_llm_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m)
            return NULL;
        c->msgs = m;
        c->cap = cap;
    }
    taas_llm_message *m = &c->msgs[c->n++];
    memset(m, 0, sizeof *m);
    return m;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

int taas_llm_conv_user(taas_llm_conv *c, const char *text)
{
    bool oom = false;
    char *t = dup_or_null(text ? text : "", &oom);
    taas_llm_message *m = oom ? NULL : conv_push(c);
    if (!m) {
        free(t);
        return -1;
    }
    m->role = TAAS_LLM_USER;
    m->text = t;
    return 0;
}

int taas_llm_conv_tool_result(taas_llm_conv *c, const char *call_id, const char *name,
                              const char *text, bool is_error)
{
    bool oom = false;
    char *id = dup_or_null(call_id ? call_id : "", &oom);
    char *nm = dup_or_null(name ? name : "", &oom);
    char *t = dup_or_null(text ? text : "", &oom);
    taas_llm_message *m = oom ? NULL : conv_push(c);
    if (!m) {
        free(id);
        free(nm);
        free(t);
        return -1;
    }
    m->role = TAAS_LLM_TOOL;
    m->tool_call_id = id;
    m->tool_name = nm;
    m->text = t;
    m->is_error = is_error;
    return 0;
}

void taas_llm_reply_free(taas_llm_reply *r)
{
    free(r->text);
    for (size_t i = 0; i < r->n_calls; i++)
        call_free(&r->calls[i]);
    free(r->calls);
    memset(r, 0, sizeof *r);
}

int taas_llm_conv_take_reply(taas_llm_conv *c, taas_llm_reply *r)
{
    taas_llm_message *m = conv_push(c);
    if (!m)
        return -1;
    m->role = TAAS_LLM_ASSISTANT;
    m->text = r->text;
    m->calls = r->calls;
    m->n_calls = r->n_calls;
    r->text = NULL;
    r->calls = NULL;
    r->n_calls = 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON helpers */

char *taas_llm_json_strdup(const taas_jdoc *doc, int tok)
{
    if (tok < 0 || taas_json_kind_of(doc, tok) != TAAS_JSON_STRING)
        return NULL;
    char *s = malloc(taas_json_str_rawlen(doc, tok) + 1);
    if (s)
        taas_json_str_decode(doc, tok, s);
    return s;
}

char *taas_llm_json_rawdup(const taas_jdoc *doc, int tok)
{
    const jsmntok_t *t = &doc->toks[tok];
    return strndup(doc->text + t->start, (size_t)(t->end - t->start));
}

int64_t taas_llm_json_int(const taas_jdoc *doc, int obj, const char *key)
{
    int t = taas_json_obj_get(doc, obj, key, strlen(key));
    int64_t v = 0;
    if (t < 0 || taas_json_kind_of(doc, t) != TAAS_JSON_NUMBER ||
        taas_json_int64(doc, t, &v) != 0)
        return 0;
    return v;
}

int taas_llm_reply_json(taas_jdoc *d, const char *body, size_t len, char *err, size_t errlen)
{
    char perr[200];
    if (taas_json_parse(d, body, len, NULL, perr, sizeof perr) == 0)
        return 0;
    char snip[200];
    taas_llm_snippet(snip, sizeof snip, body, len);
    taas_llm_errf(err, errlen, "not JSON (%s): \"%s\"", perr, snip);
    return -1;
}

int taas_llm_parse_reply(const char *body, size_t len, taas_llm_reply *out, char *err,
                         size_t errlen,
                         int (*read)(const taas_jdoc *d, taas_llm_reply *out, char *err,
                                     size_t errlen))
{
    taas_jdoc d;
    if (taas_llm_reply_json(&d, body, len, err, errlen) != 0)
        return -1;
    int rc = read(&d, out, err, errlen);
    if (rc != 0)
        taas_llm_reply_free(out);
    taas_json_free(&d);
    return rc;
}

int taas_llm_error_json(taas_jdoc *d, const char *body, size_t len, char *msg, size_t cap)
{
    if (taas_json_parse(d, body, len, NULL, NULL, 0) == 0)
        return 0;
    taas_llm_snippet(msg, cap, body, len);
    return -1;
}

void taas_llm_set_stop(taas_llm_reply *out, const taas_jdoc *d, int tok, const char *tools,
                       const char *const *end, const char *length)
{
    char *reason = taas_llm_json_strdup(d, tok);
    snprintf(out->stop_raw, sizeof out->stop_raw, "%s", reason ? reason : "");
    free(reason);
    if (out->n_calls || (tools && !strcmp(out->stop_raw, tools))) {
        out->stop = TAAS_LLM_STOP_TOOLS;
        return;
    }
    for (; *end; end++) {
        if (!strcmp(out->stop_raw, *end)) {
            out->stop = TAAS_LLM_STOP_END;
            return;
        }
    }
    out->stop = !strcmp(out->stop_raw, length) ? TAAS_LLM_STOP_LENGTH : TAAS_LLM_STOP_OTHER;
}

void taas_llm_jw_object_or_empty(taas_jw *w, const char *json)
{
    taas_jdoc d;
    if (json && taas_json_parse(&d, json, strlen(json), NULL, NULL, 0) == 0) {
        bool obj = taas_json_kind_of(&d, 0) == TAAS_JSON_OBJECT;
        taas_json_free(&d);
        if (obj) {
            taas_jw_raw(w, json, strlen(json));
            return;
        }
    }
    taas_jw_obj_begin(w);
    taas_jw_obj_end(w);
}

/* ------------------------------------------------------------------------ */
/* Configuration */

static int env_int(const char *name, int *out, int lo, int hi, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        taas_llm_errf(err, errlen, "%s=%s: expected an integer from %d to %d", name, v, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int env_str(const char *name, char *out, size_t cap, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    if (strlen(v) >= cap) {
        taas_llm_errf(err, errlen, "%s is longer than %zu bytes", name, cap - 1);
        return -1;
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

int taas_llm_config_from_env(taas_llm_config *cfg, const char *provider, char *err,
                             size_t errlen)
{
    char def[32] = "openai";
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_ms = 120000;
    cfg->connect_timeout_ms = 10000;
    cfg->max_retries = 2;
    cfg->max_wait_ms = 60000;
    cfg->max_tokens = 1024;
    if (env_str("TAAS_LLM_PROVIDER", def, sizeof def, err, errlen))
        return -1;
    if (!taas_llm_provider_find(def)) {
        taas_llm_errf(err, errlen, "TAAS_LLM_PROVIDER=%s: unknown provider (known: %s)", def,
                      taas_llm_provider_names());
        return -1;
    }
    if (!provider)
        provider = def;
    if (!taas_llm_provider_find(provider)) {
        taas_llm_errf(err, errlen, "unknown provider \"%s\" (known: %s)", provider,
                      taas_llm_provider_names());
        return -1;
    }
    snprintf(cfg->provider, sizeof cfg->provider, "%s", provider);
    if (!strcmp(provider, def) &&
        (env_str("TAAS_LLM_BASE_URL", cfg->base_url, sizeof cfg->base_url, err, errlen) ||
         env_str("TAAS_LLM_MODEL", cfg->model, sizeof cfg->model, err, errlen) ||
         env_str("TAAS_LLM_API_KEY_ENV", cfg->api_key_env, sizeof cfg->api_key_env, err,
                 errlen)))
        return -1;
    char up[32], name[96];
    size_t i;
    for (i = 0; provider[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(provider[i] >= 'a' && provider[i] <= 'z' ? provider[i] - 32 : provider[i]);
    up[i] = '\0';
    snprintf(name, sizeof name, "TAAS_LLM_%s_BASE_URL", up);
    if (env_str(name, cfg->base_url, sizeof cfg->base_url, err, errlen))
        return -1;
    snprintf(name, sizeof name, "TAAS_LLM_%s_MODEL", up);
    if (env_str(name, cfg->model, sizeof cfg->model, err, errlen))
        return -1;
    snprintf(name, sizeof name, "TAAS_LLM_%s_API_KEY_ENV", up);
    if (env_str(name, cfg->api_key_env, sizeof cfg->api_key_env, err, errlen))
        return -1;
    if (env_int("TAAS_LLM_TIMEOUT_MS", &cfg->timeout_ms, 1, 3600000, err, errlen) ||
        env_int("TAAS_LLM_MAX_RETRIES", &cfg->max_retries, 0, 10, err, errlen) ||
        env_int("TAAS_LLM_MAX_WAIT_MS", &cfg->max_wait_ms, 0, 3600000, err, errlen) ||
        env_int("TAAS_LLM_REPLY_TOKENS", &cfg->max_tokens, 1, 1000000, err, errlen))
        return -1;
    return 0;
}

bool taas_llm_error_is_transient(int code)
{
    return code == TAAS_LLM_ECONNECT || code == TAAS_LLM_ETIMEOUT || code == TAAS_LLM_EHTTP;
}

/* ------------------------------------------------------------------------ */
/* HTTP */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct body_buf {
    char *buf;
    size_t len, cap;
    bool too_big;
} body_buf;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    body_buf *b = arg;
    size_t add = size * n;
    if (b->len + add > RESPONSE_MAX) {
        b->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p)
            return 0;
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, add);
    b->len += add;
    b->buf[b->len] = '\0';
    return add;
}

/* The headers that drive retries, read as they arrive. */
typedef struct retry_hdrs {
    int64_t retry_after_ms; /* -1 = none */
    int should_retry;       /* -1 = not said, 0 = false, 1 = true */
} retry_hdrs;

static bool hdr_is(const char *line, size_t n, const char *name, const char **value)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    const char *v = line + k + 1;
    while (v < line + n && (*v == ' ' || *v == '\t'))
        v++;
    *value = v;
    return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    retry_hdrs *h = arg;
    size_t len = size * n;
    const char *v;
    char val[128];

    if (hdr_is(line, len, "retry-after-ms", &v) || hdr_is(line, len, "retry-after", &v)) {
        size_t vl = (size_t)(line + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof val)
            return len;
        memcpy(val, v, vl);
        val[vl] = '\0';
        bool in_ms = strncasecmp(line, "retry-after-ms", 14) == 0;
        char *end;
        double d = strtod(val, &end);
        if (end != val && *end == '\0' && d >= 0) {
            int64_t ms = (int64_t)(in_ms ? d : d * 1000.0);
            /* retry-after-ms is the more precise of the two: it wins. */
            if (in_ms || h->retry_after_ms < 0)
                h->retry_after_ms = ms;
        } else if (!in_ms) {
            time_t when = curl_getdate(val, NULL); /* an HTTP date */
            if (when > 0 && h->retry_after_ms < 0) {
                int64_t ms = ((int64_t)when - (int64_t)time(NULL)) * 1000;
                h->retry_after_ms = ms > 0 ? ms : 0;
            }
        }
    } else if (hdr_is(line, len, "x-should-retry", &v)) {
        h->should_retry = strncasecmp(v, "true", 4) == 0 ? 1 : strncasecmp(v, "false", 5) == 0 ? 0 : -1;
    }
    return len;
}

typedef struct cancel_ctx {
    taas_llm_cancel_fn fn;
    void *arg;
    bool fired;
} cancel_ctx;

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    cancel_ctx *c = arg;
    if (c->fn && c->fn(c->arg)) {
        c->fired = true;
        return 1;
    }
    return 0;
}

typedef struct header_list {
    struct curl_slist *list;
    bool oom;
} header_list;

static void add_header(void *arg, const char *name, const char *value)
{
    header_list *h = arg;
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line) {
        h->oom = true;
        return;
    }
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(h->list, line);
    /* The line may hold the key: wipe our copy (curl keeps its own). */
    memset(line, 0, n);
    free(line);
    if (!l)
        h->oom = true;
    else
        h->list = l;
}

/* Replace every occurrence of the key in s with "***", in place. */
static void scrub(char *s, const char *key)
{
    size_t k = key ? strlen(key) : 0;
    if (k < 4) /* too short to be a key; scrubbing would garble the text */
        return;
    char *p;
    while ((p = strstr(s, key)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + k, strlen(p + k) + 1);
    }
}

static bool sleep_cancellable(int64_t ms, cancel_ctx *c)
{
    while (ms > 0) {
        if (c->fn && c->fn(c->arg))
            return false;
        int64_t slice = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ms -= slice;
    }
    return !(c->fn && c->fn(c->arg));
}

static int64_t backoff_ms(int attempt)
{
    /* 0.5 s, 1 s, 2 s, ... capped at 8 s, minus up to a quarter of jitter so
     * that many agents hitting one limit do not come back in step. */
    int64_t base = 500;
    for (int i = 1; i < attempt && base < 8000; i++)
        base *= 2;
    if (base > 8000)
        base = 8000;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&base;
    return base - (int64_t)(rand_r(&seed) % (unsigned)(base / 4 + 1));
}

int taas_llm_call(const taas_llm_config *cfg, const taas_llm_request *req,
                  taas_llm_cancel_fn cancel, void *cancel_arg, taas_llm_reply *out,
                  int *attempts, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (attempts)
        *attempts = 0;
    const taas_llm_provider *p = taas_llm_provider_find(cfg->provider);
    if (!p) {
        taas_llm_errf(err, errlen, "unknown LLM provider \"%s\" (known: %s)", cfg->provider,
                      taas_llm_provider_names());
        return TAAS_LLM_ECONFIG;
    }
    if (!req->model || !*req->model) {
        taas_llm_errf(err, errlen, "%s: no model configured (set the task's model or TAAS_LLM_MODEL)",
                      p->name);
        return TAAS_LLM_ECONFIG;
    }
    const char *key_env = cfg->api_key_env[0] ? cfg->api_key_env : p->default_key_env;
    const char *key = NULL;
    if (key_env && *key_env) {
        key = getenv(key_env);
        if (!key || !*key) {
            /* Only a configured variable must be set; a provider's default
             * one is optional (local servers need no key). */
            if (cfg->api_key_env[0]) {
                taas_llm_errf(err, errlen, "%s: the API key variable %s is not set", p->name,
                              key_env);
                return TAAS_LLM_ECONFIG;
            }
            key = NULL;
        }
    }

    char url[1024];
    const char *base = cfg->base_url[0] ? cfg->base_url : p->default_base_url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    if ((size_t)snprintf(url, sizeof url, "%.*s%s", (int)bl, base, p->path) >= sizeof url) {
        taas_llm_errf(err, errlen, "%s: base URL too long", p->name);
        return TAAS_LLM_ECONFIG;
    }

    taas_jw w;
    taas_jw_init(&w, 32u << 20);
    if (p->write_request(req, &w, err, errlen) != 0) {
        taas_jw_free(&w);
        return TAAS_LLM_ECONFIG;
    }
    size_t body_len;
    char *body = taas_jw_take(&w, &body_len);
    if (!body) {
        taas_llm_errf(err, errlen, "%s: could not write the request (JSON error %d)", p->name,
                      w.err);
        taas_jw_free(&w);
        return TAAS_LLM_ENOMEM;
    }

    pthread_once(&curl_once, curl_init_once);
    header_list hl = {NULL, false};
    add_header(&hl, "Content-Type", "application/json");
    add_header(&hl, "Accept", "application/json");
    add_header(&hl, "Expect", ""); /* no 100-continue round trip */
    p->add_headers(key, add_header, &hl);
    CURL *curl = curl_easy_init();
    if (hl.oom || !curl) {
        curl_slist_free_all(hl.list);
        if (curl)
            curl_easy_cleanup(curl);
        free(body);
        taas_llm_errf(err, errlen, "%s: out of memory", p->name);
        return TAAS_LLM_ENOMEM;
    }

    cancel_ctx cc = {cancel, cancel_arg, false};
    int rc = TAAS_LLM_OK;
    int max_attempts = 1 + (cfg->max_retries > 0 ? cfg->max_retries : 0);
    int n = 0;
    char last[768] = "";

    for (n = 1; n <= max_attempts; n++) {
        body_buf resp = {0};
        retry_hdrs rh = {-1, -1};
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl.list);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &rh);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &cc);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_ms > 0 ? cfg->timeout_ms : 120000));
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000));
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM */
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* never resend the key elsewhere */
        curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");

        CURLcode cr = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        bool retry = false;
        int64_t wait = -1;

        if (cc.fired) {
            taas_llm_errf(err, errlen, "%s: cancelled", p->name);
            rc = TAAS_LLM_ECANCELLED;
        } else if (cr != CURLE_OK && resp.too_big) {
            taas_llm_errf(last, sizeof last, "%s: the response from %s is larger than %zu bytes",
                          p->name, url, RESPONSE_MAX);
            rc = TAAS_LLM_EPROTO;
        } else if (cr == CURLE_OPERATION_TIMEDOUT) {
            taas_llm_errf(last, sizeof last, "%s: no answer from %s within %d ms", p->name, url,
                          cfg->timeout_ms);
            rc = TAAS_LLM_ETIMEOUT;
            retry = true;
        } else if (cr != CURLE_OK) {
            taas_llm_errf(last, sizeof last, "%s: could not reach %s: %s", p->name, url,
                          curl_easy_strerror(cr));
            rc = TAAS_LLM_ECONNECT;
            retry = true;
        } else if (status >= 200 && status < 300) {
            char perr[512] = "";
            if (p->parse_reply(resp.buf ? resp.buf : "", resp.len, out, perr, sizeof perr) == 0) {
                rc = TAAS_LLM_OK;
            } else {
                taas_llm_errf(last, sizeof last, "%s: HTTP %ld from %s with a body that is not "
                              "a valid reply: %s", p->name, status, url, perr);
                rc = TAAS_LLM_EPROTO;
            }
        } else {
            char msg[512] = "";
            bool final = false;
            p->parse_error((int)status, resp.buf ? resp.buf : "", resp.len, msg, sizeof msg,
                           &final);
            taas_llm_errf(last, sizeof last, "%s: HTTP %ld from %s: %s", p->name, status, url,
                          msg[0] ? msg : "(no message)");
            rc = TAAS_LLM_EHTTP;
            retry = !final && (status == 408 || status == 409 || status == 429 || status >= 500);
            if (rh.should_retry == 0)
                retry = false;
            else if (rh.should_retry == 1 && !final)
                retry = true;
            wait = rh.retry_after_ms;
        }
        free(resp.buf);
        if (rc == TAAS_LLM_OK || rc == TAAS_LLM_ECANCELLED)
            break;
        if (!retry || n == max_attempts)
            break;
        if (wait < 0)
            wait = backoff_ms(n);
        if (wait > (cfg->max_wait_ms > 0 ? cfg->max_wait_ms : 60000)) {
            size_t l = strlen(last);
            snprintf(last + l, sizeof last - l, " (asks to retry after %lld ms, more than the "
                     "%d ms we wait)", (long long)wait, cfg->max_wait_ms);
            break;
        }
        if (!sleep_cancellable(wait, &cc)) {
            taas_llm_errf(err, errlen, "%s: cancelled while waiting to retry", p->name);
            rc = TAAS_LLM_ECANCELLED;
            break;
        }
    }
    if (n > max_attempts)
        n = max_attempts;
    if (attempts)
        *attempts = n;
    if (rc != TAAS_LLM_OK && rc != TAAS_LLM_ECANCELLED) {
        if (n > 1)
            taas_llm_errf(err, errlen, "%s (after %d attempts)", last, n);
        else
            taas_llm_errf(err, errlen, "%s", last);
    }
    if (err && errlen)
        scrub(err, key);
    curl_easy_cleanup(curl);
    curl_slist_free_all(hl.list);
    free(body);
    return rc;
}
