/*
 * runtime/services/registry_service.c - taas.v1.RegistryService: the task
 * types compiled into this server (taas_registry[], sorted by name).
 */
#include <stdlib.h>

#include "services/services_int.h"
#include "taas/registry.h"
#include "taas/v1/taas.pb-c.h"

static void fill_type(Taas__V1__TaskType *t, const taas_task_type *tt)
{
    taas__v1__task_type__init(t);
    t->name = (char *)tt->name;
    t->version = (char *)(tt->version ? tt->version : "");
    t->description = (char *)(tt->description ? tt->description : "");
    t->input_schema_json = (char *)(tt->input_schema ? tt->input_schema : "");
    t->output_schema_json = (char *)(tt->output_schema ? tt->output_schema : "");
    t->idempotent = tt->idempotent;
    t->retries = tt->retries;
    t->timeout_s = tt->timeout_s;
}

static void list_task_types(taas_call *call, void *arg)
{
    Taas__V1__ListTaskTypesRequest *req = (Taas__V1__ListTaskTypesRequest *)svc_unpack(call, &taas__v1__list_task_types_request__descriptor);
    if (!req)
        return;
    taas__v1__list_task_types_request__free_unpacked(req, NULL);

    size_t n = taas_registry_count;
    Taas__V1__TaskType *types = calloc(n ? n : 1, sizeof *types);
    Taas__V1__TaskType **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!types || !ptrs) {
        free(types);
        free(ptrs);
        taas_call_reply(call, TAAS_ST_INTERNAL, "out of memory", NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fill_type(&types[i], taas_registry[i]);
        ptrs[i] = &types[i];
    }
    Taas__V1__ListTaskTypesResponse resp = TAAS__V1__LIST_TASK_TYPES_RESPONSE__INIT;
    resp.n_task_types = n;
    resp.task_types = ptrs;
    svc_reply(call, &resp.base);
    free(types);
    free(ptrs);
}

static void get_task_type(taas_call *call, void *arg)
{
    Taas__V1__GetTaskTypeRequest *req = (Taas__V1__GetTaskTypeRequest *)svc_unpack(call, &taas__v1__get_task_type_request__descriptor);
    if (!req)
        return;
    if (!req->name[0]) {
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, "name: required", NULL, 0);
    } else {
        const taas_task_type *tt = taas_registry_find(req->name);
        if (!tt) {
            char msg[512];
            taas_engine_unknown_task(req->name, msg, sizeof msg);
            taas_call_reply(call, TAAS_ST_NOT_FOUND, msg, NULL, 0);
        } else {
            Taas__V1__TaskType t;
            fill_type(&t, tt);
            Taas__V1__GetTaskTypeResponse resp = TAAS__V1__GET_TASK_TYPE_RESPONSE__INIT;
            resp.task_type = &t;
            svc_reply(call, &resp.base);
        }
    }
    taas__v1__get_task_type_request__free_unpacked(req, NULL);
}

void svc_registry_methods(taas_services *s, size_t *i)
{
    s->methods[(*i)++] = (taas_method){"/taas.v1.RegistryService/ListTaskTypes", TAAS_CALL_UNARY,
                                       list_task_types, s};
    s->methods[(*i)++] = (taas_method){"/taas.v1.RegistryService/GetTaskType", TAAS_CALL_UNARY,
                                       get_task_type, s};
}
