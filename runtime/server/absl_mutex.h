/*
 * runtime/server/absl_mutex.h - the C face of absl_mutex.cc, for
 * grpc_server.c only.
 */
#ifndef TAAS_SERVER_ABSL_MUTEX_H
#define TAAS_SERVER_ABSL_MUTEX_H

#ifdef __cplusplus
extern "C" {
#endif

/* Turn off Abseil's mutex deadlock detection for the whole process (see
 * absl_mutex.cc). Call before grpc_init, while no other thread uses Abseil. */
void taas_server_absl_deadlock_detection_off(void);

#ifdef __cplusplus
}
#endif
#endif /* TAAS_SERVER_ABSL_MUTEX_H */
