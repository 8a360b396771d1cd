/*
 * runtime/services/services.h - the gRPC services of TaaS: TaskService,
 * RegistryService and grpc.health.v1.Health, as handlers over the engine.
 *
 * Each handler unpacks its protobuf-c request (malformed -> INVALID_ARGUMENT),
 * calls the engine and packs the response; errors map as the header comment
 * of proto/taas/v1/taas.proto lists. Handlers never see gRPC itself, only
 * taas_call (server/call.h).
 *
 * Shutdown: taas_services_set_serving(false) turns health to NOT_SERVING;
 * taas_services_drain() then refuses every further engine call
 * (UNAVAILABLE), ends every WatchTask stream with UNAVAILABLE and releases
 * its engine watch - after it returns the engine may be stopped. The
 * services themselves are freed only after the server has shut down.
 */
#ifndef TAAS_SERVICES_H
#define TAAS_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "server/call.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct taas_services taas_services;

/* `engine` is borrowed; it must outlive taas_services_drain(). */
taas_services *taas_services_new(taas_engine *engine);
/*
 * Caps on open WatchTask streams: per connection (the peer address) and per
 * principal (with authentication off, every caller is the one anonymous
 * principal, so the principal cap is a server-wide cap). A watch beyond a
 * cap is refused RESOURCE_EXHAUSTED. <= 0 means no cap. Call before serving.
 */
#define TAAS_DEFAULT_MAX_WATCHES_PER_CONNECTION 1000
#define TAAS_DEFAULT_MAX_WATCHES_PER_PRINCIPAL 10000
void taas_services_set_watch_limits(taas_services *s, int per_connection, int per_principal);
/* The methods to register with the server (owned by the services). */
const taas_method *taas_services_methods(taas_services *s, size_t *n);
/* Health status of every served name; Watch streams get the change. */
void taas_services_set_serving(taas_services *s, bool serving);
/* See above. Idempotent. */
void taas_services_drain(taas_services *s);
/*
 * Readiness (/readyz): 0 when the services accept work, the engine is
 * serving and the store answers a read; else -1 with the reason in msg.
 * Safe during shutdown (it goes through the same gate as the handlers).
 */
int taas_services_ready(taas_services *s, char *msg, size_t cap);
/* Tasks PENDING and RUNNING (taas_engine_count_live) through the gate: 0,
 * or -1 when draining or the store cannot say (for /metrics). */
int taas_services_count_live(taas_services *s, int64_t counts[6]);
void taas_services_free(taas_services *s);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_SERVICES_H */
