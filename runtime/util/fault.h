/*
 * runtime/util/fault.h - named fault points for the crash tests.
 *
 * A fault point marks a step of the task life where a crash, a stall or a
 * lost write must not break the promises of docs/reliability.md. In a normal
 * build every macro below expands to nothing (or to a constant), so the
 * production server carries no trace of them. Test builds define
 * TAAS_FAULT_INJECTION (taas-server-fi, see tests/crash/) and then the
 * environment chooses what happens, read once at the first hit:
 *
 *   TAAS_FAULT_POINT   name[,name...]      the points to arm
 *   TAAS_FAULT_HIT     N | N+ [,...]        the Nth hit of that point only, or
 *                                           every hit from the Nth on (default 1)
 *   TAAS_FAULT_ACTION  kill | pause:MS | skip [,...]   (default kill)
 *
 * kill raises SIGKILL in the own process: no handler, no flush, no atexit,
 * as a power cut looks to everything above the kernel's page cache. pause
 * sleeps the calling thread. skip makes TAAS_FAULT_SKIP() true at that point
 * (a write that never lands, such as a lost heartbeat); plain points ignore
 * it. A hit that fires is logged on stderr first ("fault: <name> hit N
 * <action>") so a test can tell where the process died.
 */
#ifndef TAAS_UTIL_FAULT_H
#define TAAS_UTIL_FAULT_H

#include <stdbool.h>

#ifdef TAAS_FAULT_INJECTION

void taas_fault_point(const char *name);
/* The point "<prefix>.<op>", op the name of store operation kind `kind`
 * (insert, claim, complete, progress, cancel, heartbeat, recover, release,
 * prune: the order of taas_op_kind). */
void taas_fault_point_op(const char *prefix, int kind);
bool taas_fault_skip(const char *name);

#define TAAS_FAULT_POINT(name) taas_fault_point(name)
#define TAAS_FAULT_POINT_OP(prefix, kind) taas_fault_point_op(prefix, kind)
#define TAAS_FAULT_SKIP(name) taas_fault_skip(name)

#else

#define TAAS_FAULT_POINT(name) ((void)0)
#define TAAS_FAULT_POINT_OP(prefix, kind) ((void)0)
#define TAAS_FAULT_SKIP(name) false

#endif
#endif /* TAAS_UTIL_FAULT_H */
