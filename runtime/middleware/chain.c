/*
 * runtime/middleware/chain.c - the middleware chain and its last element,
 * the dispatcher, which runs the registered method's handler.
 */
#include "middleware/middleware.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct taas_chain {
    taas_middleware *head;
    taas_middleware *dispatch; /* always last */
};

static void dispatch_call(taas_middleware *self, taas_call *call)
{
    const taas_method *m = taas_call_method(call);
    if (!m || !m->handler) {
        taas_middleware_reject(call, TAAS_ST_UNIMPLEMENTED, "unknown method %s",
                               taas_call_method_name(call));
        return;
    }
    m->handler(call, m->arg);
}

static void dispatch_free(taas_middleware *self)
{
    free(self);
}

void taas_middleware_next(taas_middleware *self, taas_call *call)
{
    if (self->next)
        self->next->call(self->next, call);
    else
        taas_middleware_reject(call, TAAS_ST_INTERNAL, "middleware chain has no dispatcher");
}

void taas_middleware_reject(taas_call *call, taas_status st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    taas_call_reply(call, st, msg, NULL, 0);
}

taas_chain *taas_chain_new(void)
{
    taas_chain *c = calloc(1, sizeof *c);
    taas_middleware *d = calloc(1, sizeof *d);
    if (!c || !d) {
        free(c);
        free(d);
        return NULL;
    }
    d->version = TAAS_MIDDLEWARE_VERSION;
    d->name = "dispatch";
    d->call = dispatch_call;
    d->free = dispatch_free;
    c->head = c->dispatch = d;
    return c;
}

int taas_chain_push(taas_chain *chain, taas_middleware *m)
{
    if (!m)
        return -1;
    if (m->version != TAAS_MIDDLEWARE_VERSION || !m->call || !m->free) {
        if (m->free)
            m->free(m);
        return -1;
    }
    /* Insert just before the dispatcher. */
    taas_middleware **pp = &chain->head;
    while (*pp != chain->dispatch)
        pp = &(*pp)->next;
    m->next = chain->dispatch;
    *pp = m;
    return 0;
}

void taas_chain_call(void *chain, taas_call *call)
{
    taas_chain *c = chain;
    c->head->call(c->head, call);
}

void taas_chain_done(void *chain, taas_call *call, taas_status st, int64_t duration_us)
{
    taas_chain *c = chain;
    for (taas_middleware *m = c->head; m; m = m->next)
        if (m->done)
            m->done(m, call, st, duration_us);
}

void taas_chain_free(taas_chain *chain)
{
    if (!chain)
        return;
    taas_middleware *m = chain->head;
    while (m) {
        taas_middleware *next = m->next;
        m->free(m);
        m = next;
    }
    free(chain);
}
