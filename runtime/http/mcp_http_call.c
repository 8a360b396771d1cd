/*
 * runtime/http/mcp_http_call.c - the machinery under /mcp (mcp_http.c): the
 * helper thread that runs jobs in order, and the inner calls, each a
 * taas_call of this transport whose answer goes to a step of an operation.
 * See mcp_http.c for the threads rule the jobs exist for.
 */
#include "http/mcp_http_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ------------------------------------------------------------------------ */
/* Jobs */

void mcp__job_run_all(struct mcp_http *mh)
{
    for (;;) {
        struct job *j = mh->jhead;
        if (!j)
            return;
        mh->jhead = j->next;
        if (!mh->jhead)
            mh->jtail = NULL;
        pthread_mutex_unlock(&mh->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&mh->mu);
    }
}

static void *job_thread(void *arg)
{
    struct mcp_http *mh = arg;
    pthread_mutex_lock(&mh->mu);
    for (;;) {
        mcp__job_run_all(mh);
        if (mh->stop)
            break;
        pthread_cond_wait(&mh->cv, &mh->mu);
    }
    pthread_mutex_unlock(&mh->mu);
    return NULL;
}

void mcp__job_add(struct mcp_http *mh, void (*fn)(void *), void *arg)
{
    struct job *j = malloc(sizeof *j);
    pthread_mutex_lock(&mh->mu);
    if (!j || mh->thr_gone) {
        /* After the thread (the engine has stopped: nothing holds a lock
         * a job could need) or without memory: now, here. */
        pthread_mutex_unlock(&mh->mu);
        free(j);
        fn(arg);
        return;
    }
    *j = (struct job){NULL, fn, arg};
    if (mh->jtail)
        mh->jtail->next = j;
    else
        mh->jhead = j;
    mh->jtail = j;
    pthread_cond_signal(&mh->cv);
    pthread_mutex_unlock(&mh->mu);
}

int http__mcp_init(taas_http *h)
{
    struct mcp_http *mh = calloc(1, sizeof *mh);
    if (!mh)
        return -1;
    mh->h = h;
    pthread_mutex_init(&mh->mu, NULL);
    pthread_cond_init(&mh->cv, NULL);
    if (pthread_create(&mh->thr, NULL, job_thread, mh) != 0) {
        pthread_mutex_destroy(&mh->mu);
        pthread_cond_destroy(&mh->cv);
        free(mh);
        return -1;
    }
    mh->thr_started = true;
    h->mcp = mh;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Inner calls: a taas_call whose answer goes to a step of an operation */



void mcp__ic_ref(taas_call *c)
{
    atomic_fetch_add(&((struct icall *)c)->refs, 1);
}

void mcp__ic_unref(taas_call *c)
{
    struct icall *ic = (struct icall *)c;
    if (atomic_fetch_sub(&ic->refs, 1) != 1)
        return;
    taas_call_head_clear(&ic->head);
    http__hc_unref((taas_call *)ic->outer);
    mcp__op_unref(ic->op);
    free(ic->req);
    pthread_mutex_destroy(&ic->mu);
    free(ic);
}

static const char *ic_method_name(const taas_call *c)
{
    return ((const struct icall *)c)->method->name;
}
static const taas_method *ic_method(const taas_call *c)
{
    return ((const struct icall *)c)->method;
}
static const uint8_t *ic_request(const taas_call *c, size_t *len)
{
    const struct icall *ic = (const struct icall *)c;
    *len = ic->req_len;
    return ic->req ? ic->req : (const uint8_t *)"";
}
static bool ic_has_request(const taas_call *c)
{
    (void)c;
    return true;
}
static const char *ic_peer(const taas_call *c)
{
    return ((const struct icall *)c)->outer->peer;
}
static const char *ic_metadata(const taas_call *c, const char *key, size_t *len)
{
    return http__hc_metadata((const taas_call *)((const struct icall *)c)->outer, key, len);
}
static int64_t ic_deadline(const taas_call *c)
{
    (void)c;
    return -1;
}
static int64_t ic_start_us(const taas_call *c)
{
    return ((const struct icall *)c)->start_us;
}

static void ic_reply(taas_call *c, taas_status st, const char *message, void *buf, size_t len)
{
    struct icall *ic = (struct icall *)c;
    pthread_mutex_lock(&ic->mu);
    bool first = !ic->replied;
    ic->replied = true;
    if (first)
        ic->final_status = st;
    pthread_mutex_unlock(&ic->mu);
    if (first) {
        ic->on_reply(ic->op, st, message, buf, buf ? len : 0);
        /* One access-log line and one count per step, as for the JSON API. */
        taas_http *h = ic->mh->h;
        if (h && h->o.done)
            h->o.done(h->o.arg, c, st, taas_mono_us() - ic->start_us);
    }
    free(buf);
}

static void ic_reply_details(taas_call *c, taas_status st, const char *message, void *details,
                             size_t len)
{
    (void)len;
    free(details);
    ic_reply(c, st, message, NULL, 0);
}

static int ic_send(taas_call *c, void *buf, size_t len, unsigned flags)
{
    (void)flags;
    struct icall *ic = (struct icall *)c;
    pthread_mutex_lock(&ic->mu);
    bool over = ic->replied || atomic_load(&ic->head.cancelled) || !ic->on_event;
    pthread_mutex_unlock(&ic->mu);
    if (over) {
        free(buf);
        return -1;
    }
    ic->on_event(ic->op, ic, buf, len);
    free(buf);
    return 0;
}

static taas_status ic_final_status(const taas_call *c)
{
    return ((const struct icall *)c)->final_status;
}

const taas_call_ops mcp__icall_ops = {
    .transport = "http",
    .method_name = ic_method_name,
    .method = ic_method,
    .request = ic_request,
    .has_request = ic_has_request,
    .peer = ic_peer,
    .metadata = ic_metadata,
    .deadline_left_ms = ic_deadline,
    .start_us = ic_start_us,
    .ref = mcp__ic_ref,
    .unref = mcp__ic_unref,
    .reply = ic_reply,
    .reply_details = ic_reply_details,
    .send = ic_send,
    .final_status = ic_final_status,
};

/* The service is done with the message it sent: let it send the next.
 * (A job: the watch sends while holding its own lock.) */
void mcp__ic_sent_job(void *arg)
{
    struct icall *ic = arg;
    pthread_mutex_lock(&ic->mu);
    taas_call_hook_fn fn = ic->head.on_sent;
    void *a = ic->head.on_sent_arg;
    pthread_mutex_unlock(&ic->mu);
    if (fn)
        fn((taas_call *)ic, a);
    mcp__ic_unref((taas_call *)ic);
}

void mcp__ic_unref_job(void *arg)
{
    mcp__ic_unref(arg);
}

/* The client of the step went away: stop the service's work for it. */
void mcp__ic_cancel(struct icall *ic)
{
    pthread_mutex_lock(&ic->mu);
    void *a;
    taas_call_hook_fn fn = taas_call_head_cancel_locked(&ic->head, &a);
    pthread_mutex_unlock(&ic->mu);
    if (fn)
        fn((taas_call *)ic, a);
}

