/*
 * runtime/http/mcp_http_int.h - what the two halves of /mcp share:
 * mcp_http.c (sessions, operations, the protocol's requests) and
 * mcp_http_call.c (the helper thread's jobs, and the inner calls: a
 * taas_call whose answer goes to a step of an operation).
 */
#ifndef TAAS_HTTP_MCP_HTTP_INT_H
#define TAAS_HTTP_MCP_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/http_internal.h"

struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
};

struct session;
struct mop;

struct mcp_http {
    taas_http *h;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *jhead, *jtail;
    bool stop;      /* no new inner calls */
    bool thr_gone;  /* jobs run inline from here on */
    bool thr_started;
    pthread_t thr;
    struct session *sessions;
    size_t n_sessions;
    struct mop *ops; /* tools/call in flight, for notifications/cancelled */
};

struct icall;
typedef void (*ic_reply_fn)(struct mop *op, taas_status st, const char *msg, const uint8_t *buf,
                            size_t len);
typedef void (*ic_event_fn)(struct mop *op, struct icall *ic, const uint8_t *buf, size_t len);

struct icall {
    taas_call_head head; /* first: see call.h */
    atomic_int refs;
    pthread_mutex_t mu;
    struct mcp_http *mh;
    const taas_method *method;
    struct hcall *outer; /* referenced: its headers and peer are this call's */
    uint8_t *req;
    size_t req_len;
    int64_t start_us;
    bool replied;
    taas_status final_status;
    struct mop *op; /* referenced */
    ic_reply_fn on_reply;
    ic_event_fn on_event;
};

/* Run fn(arg) on the helper thread, in order (at once, here, once the
 * thread is gone or without memory). */
void mcp__job_add(struct mcp_http *mh, void (*fn)(void *), void *arg);
/* Run the queued jobs; called and returns with mh->mu held. */
void mcp__job_run_all(struct mcp_http *mh);

/* The inner calls' transport, and what the operations do with them. */
extern const taas_call_ops mcp__icall_ops;
void mcp__ic_ref(taas_call *c);
void mcp__ic_unref(taas_call *c);
/* Jobs: let the service send its next message; drop a reference. */
void mcp__ic_sent_job(void *arg);
void mcp__ic_unref_job(void *arg);
/* The client of the step went away: stop the service's work for it. */
void mcp__ic_cancel(struct icall *ic);

/* Operations (mcp_http.c): drop a reference. */
void mcp__op_unref(struct mop *op);

#endif
