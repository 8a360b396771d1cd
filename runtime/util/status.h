/*
 * runtime/util/status.h - status codes used across the runtime.
 *
 * The values are gRPC's status codes, so that the one place that talks to
 * gRPC (runtime/server/) converts without a table, while nothing else in the
 * runtime includes a gRPC header.
 */
#ifndef TAAS_UTIL_STATUS_H
#define TAAS_UTIL_STATUS_H

typedef enum taas_status {
    TAAS_ST_OK = 0,
    TAAS_ST_CANCELLED = 1,
    TAAS_ST_UNKNOWN = 2,
    TAAS_ST_INVALID_ARGUMENT = 3,
    TAAS_ST_DEADLINE_EXCEEDED = 4,
    TAAS_ST_NOT_FOUND = 5,
    TAAS_ST_ALREADY_EXISTS = 6,
    TAAS_ST_PERMISSION_DENIED = 7,
    TAAS_ST_RESOURCE_EXHAUSTED = 8,
    TAAS_ST_FAILED_PRECONDITION = 9,
    TAAS_ST_ABORTED = 10,
    TAAS_ST_OUT_OF_RANGE = 11,
    TAAS_ST_UNIMPLEMENTED = 12,
    TAAS_ST_INTERNAL = 13,
    TAAS_ST_UNAVAILABLE = 14,
    TAAS_ST_DATA_LOSS = 15,
    TAAS_ST_UNAUTHENTICATED = 16
} taas_status;

/* "OK", "INVALID_ARGUMENT", ... */
const char *taas_status_name(taas_status st);

#endif
