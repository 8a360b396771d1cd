/*
 * runtime/server/absl_mutex.cc - the one C++ file of TaaS: it turns off
 * Abseil's mutex deadlock detection, which only C++ can reach.
 *
 * Debian builds libabsl without NDEBUG, so absl::Mutex runs in its debug
 * mode: every Lock() inside gRPC records the lock in a global lock-order
 * graph (GraphCycles::GetId under a global spin lock) and every lock taken
 * while another is held captures a stack trace (UpdateStackTrace). gRPC
 * core takes several such locks per call. Detection only finds lock-order
 * cycles inside gRPC, which is not ours to fix, and it can abort the
 * process on a false positive; its cost is paid on every call.
 */
#include "server/absl_mutex.h"

#include <absl/synchronization/mutex.h>

/* Called by taas_server_global_init (grpc_server.c) before grpc_init, while
 * no other thread uses Abseil, so no held-lock record is left half made. */
void taas_server_absl_deadlock_detection_off(void)
{
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}
