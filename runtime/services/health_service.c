/*
 * runtime/services/health_service.c - grpc.health.v1.Health for "", the
 * whole server, and for each TaaS service. All of them share one status:
 * SERVING until shutdown begins, NOT_SERVING after. Any other name is
 * NOT_FOUND for Check and SERVICE_UNKNOWN for Watch (whose stream stays
 * open, as the protocol asks, in case the name appears later).
 */
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "services/services_int.h"

struct svc_hwatch {
    struct svc_hwatch *next, *prev;
    taas_services *s;
    taas_call *call;
    bool known;
    bool linked;
};

static bool known_service(const char *name)
{
    return !name[0] || strcmp(name, "taas.v1.TaskService") == 0 ||
           strcmp(name, "taas.v1.RegistryService") == 0;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus status_of(taas_services *s, bool known)
{
    if (!known)
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return atomic_load(&s->serving) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                    : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static void send_status(taas_call *call, Grpc__Health__V1__HealthCheckResponse__ServingStatus st)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    size_t len = 0;
    void *buf = svc_pack(&resp.base, &len);
    if (buf)
        taas_call_send(call, buf, len, TAAS_SEND_COALESCE);
}

static Grpc__Health__V1__HealthCheckRequest *unpack(taas_call *call)
{
    return (Grpc__Health__V1__HealthCheckRequest *)svc_unpack(
        call, &grpc__health__v1__health_check_request__descriptor);
}

static void check(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Grpc__Health__V1__HealthCheckRequest *req = unpack(call);
    if (!req)
        return;
    if (!known_service(req->service)) {
        taas_call_reply(call, TAAS_ST_NOT_FOUND, "unknown service", NULL, 0);
    } else {
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = status_of(s, true);
        svc_reply(call, &resp.base);
    }
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
}

static void hwatch_destroy(void *data)
{
    struct svc_hwatch *w = data;
    pthread_mutex_lock(&w->s->mu);
    if (w->linked) {
        if (w->prev)
            w->prev->next = w->next;
        else
            w->s->hwatches = w->next;
        if (w->next)
            w->next->prev = w->prev;
    }
    pthread_mutex_unlock(&w->s->mu);
    free(w);
}

static void hwatch_cancelled(taas_call *call, void *arg)
{
    taas_call_finish(call, TAAS_ST_CANCELLED, "cancelled by the client");
}

static void watch(taas_call *call, void *arg)
{
    taas_services *s = arg;
    Grpc__Health__V1__HealthCheckRequest *req = unpack(call);
    if (!req)
        return;
    struct svc_hwatch *w = calloc(1, sizeof *w);
    if (!w) {
        grpc__health__v1__health_check_request__free_unpacked(req, NULL);
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    w->s = s;
    w->call = call;
    w->known = known_service(req->service);
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    taas_call_set_data(call, w, hwatch_destroy);

    /* Link first, then send: a change in between is sent twice, never missed. */
    pthread_mutex_lock(&s->mu);
    w->next = s->hwatches;
    if (w->next)
        w->next->prev = w;
    s->hwatches = w;
    w->linked = true;
    pthread_mutex_unlock(&s->mu);
    send_status(call, status_of(s, w->known));
    taas_call_on_cancel(call, hwatch_cancelled, NULL);
}

void svc_health_broadcast(taas_services *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct svc_hwatch *w = s->hwatches; w; w = w->next)
        if (w->known)
            send_status(w->call, status_of(s, true));
    pthread_mutex_unlock(&s->mu);
}

void svc_health_methods(taas_services *s, size_t *i)
{
    s->methods[(*i)++] = (taas_method){"/grpc.health.v1.Health/Check", TAAS_CALL_UNARY, check, s};
    s->methods[(*i)++] = (taas_method){"/grpc.health.v1.Health/Watch", TAAS_CALL_SERVER_STREAM,
                                       watch, s};
}
