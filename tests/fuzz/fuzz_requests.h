/*
 * tests/fuzz/fuzz_requests.h - the request messages the gRPC handlers
 * unpack, for the fuzz targets that feed bytes to all of them (fuzz_proto,
 * fuzz_strings). One list, so a new request type reaches both.
 */
#ifndef TAAS_FUZZ_REQUESTS_H
#define TAAS_FUZZ_REQUESTS_H

#include "grpc/health/v1/health.pb-c.h"
#include "taas/v1/taas.pb-c.h"

static const ProtobufCMessageDescriptor *const messages[] = {
    &taas__v1__submit_task_request__descriptor,
    &taas__v1__get_task_request__descriptor,
    &taas__v1__list_tasks_request__descriptor,
    &taas__v1__cancel_task_request__descriptor,
    &taas__v1__watch_task_request__descriptor,
    &taas__v1__get_task_type_request__descriptor,
    &taas__v1__list_task_types_request__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
};
#define N_MESSAGES (sizeof messages / sizeof messages[0])

#endif
