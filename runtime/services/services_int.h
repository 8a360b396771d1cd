/*
 * runtime/services/services_int.h - state shared by the service files.
 *
 * The gate. Handlers reach the engine only between svc_enter() and
 * svc_leave() (a read lock); taas_services_drain() takes the write lock,
 * ends the watches and forgets the engine, so no handler can be inside the
 * engine while it stops.
 */
#ifndef TAAS_SERVICES_INT_H
#define TAAS_SERVICES_INT_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>

#include "services/services.h"

#define SVC_N_METHODS 15

struct svc_watch;  /* task_service.c */
struct svc_hwatch; /* health_service.c */

struct taas_services {
    taas_method methods[SVC_N_METHODS];
    pthread_rwlock_t gate;
    taas_engine *engine; /* NULL once drained; under gate */

    pthread_mutex_t mu;  /* the two watcher lists */
    struct svc_watch *watches;
    struct svc_hwatch *hwatches;
    atomic_bool serving;

    /* Open WatchTask streams per connection (peer) and per principal, under
     * mu, so that one client cannot hold an unbounded number of them. */
    struct svc_wcount *wcounts;
    int max_watches_conn, max_watches_principal; /* <= 0: no cap */
};

/* The engine, with the gate held for reading; NULL (and no gate held) when
 * the services are draining. */
taas_engine *svc_enter(taas_services *s);
void svc_leave(taas_services *s);

/*
 * The call's request as message `d`, or NULL after answering the call
 * INVALID_ARGUMENT: "malformed <Message>" when the bytes do not unpack, or
 * "<field>: not valid UTF-8 at byte N" / "<field>: contains a NUL character
 * at byte N" when a string field (nested ones too) is not valid UTF-8 or
 * holds a NUL. The check reads the wire bytes, because protobuf-c copies a
 * string NUL-terminated and so hides an inner NUL from strlen: without it,
 * "<id>\0junk" would be read as "<id>". Every handler unpacks through here.
 */
ProtobufCMessage *svc_unpack(taas_call *call, const ProtobufCMessageDescriptor *d);
/* The check alone: 0 when every string field of the packed message
 * data[0..len) of type `d` is valid UTF-8 without NUL, else -1 with msg. */
int svc_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                      char *msg, size_t cap);

/* Pack a protobuf-c message into a malloc'd buffer; NULL when out of memory. */
void *svc_pack(const ProtobufCMessage *m, size_t *len);
/* Answer OK with `m` packed (INTERNAL when out of memory). */
void svc_reply(taas_call *call, const ProtobufCMessage *m);
/*
 * A packed google.rpc.Status{code, message, [BadRequest of v[0..n)]} (capped
 * in count and size), malloc'd; NULL when out of memory.
 */
struct taas_error;
void *svc_bad_request_status(taas_status code, const char *message, const struct taas_error *v,
                             size_t n, size_t *len);
/* At most this many violations travel in one BadRequest (see error_details.c). */
#define SVC_MAX_VIOLATIONS 16
/*
 * Refuse a submit whose inputs break the task's schema: INVALID_ARGUMENT
 * with `message` (the first violation, as the engine worded it) and the
 * violations the engine found, v[0..n), as error details.
 */
void svc_reply_invalid_inputs(taas_call *call, const char *message, const struct taas_error *v,
                              size_t n);
/*
 * Isolation: the principal whose tasks alone the call may see - NULL when
 * authentication is off or the caller is admin. The engine applies it
 * (GetTask, CancelTask, WatchTask, ListTasks) and answers another's task
 * exactly as one that does not exist.
 */
const char *svc_principal(const taas_call *call);
/* Frees the watch counters (task_service.c); at taas_services_free. */
void svc_wcount_free_all(taas_services *s);

/* Method tables of each file: fill methods[*i..] and advance *i. */
void svc_task_methods(taas_services *s, size_t *i);
void svc_registry_methods(taas_services *s, size_t *i);
void svc_health_methods(taas_services *s, size_t *i);
void svc_schedule_methods(taas_services *s, size_t *i);
/* End every task watch (drain). Gate held for writing. */
void svc_task_drain(taas_services *s);
/* Send the current status to every health watcher. */
void svc_health_broadcast(taas_services *s);

#endif
