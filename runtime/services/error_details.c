/*
 * runtime/services/error_details.c - rich error details (google.rpc.Status
 * with a google.rpc.BadRequest) for refused submits.
 *
 * A refused submit names its first bad value in the status message
 * ("invalid inputs for my_custom_task: /param2: expected number, got
 * string"), which stays as it is for people and old clients. Clients that
 * want every bad value read the grpc-status-details-bin trailer: a Status
 * whose code and message equal the trailers', holding one Any with a
 * BadRequest, one FieldViolation (JSON Pointer, description) per violation.
 * The list is capped in count and bytes: trailers share the client's
 * metadata limit (8 KiB by default in gRPC) with everything else.
 *
 * The violations come from the engine's validation (taas_submit_req's
 * violations); this file only translates them. The messages come from
 * proto/internal/rpc_status.proto, a wire-compatible subset of googleapis'
 * definitions.
 */
#include <stdlib.h>
#include <string.h>

#include "internal/rpc_status.pb-c.h"
#include "services/services_int.h"
#include "taas/registry.h"

/* At most SVC_MAX_VIOLATIONS violations, and about this many bytes of them. */
#define MAX_VIOLATIONS SVC_MAX_VIOLATIONS
#define MAX_VIOLATION_BYTES 3000

static const char BAD_REQUEST_URL[] = "type.googleapis.com/google.rpc.BadRequest";

void *svc_bad_request_status(taas_status code, const char *message, const taas_error *v,
                             size_t n, size_t *len)
{
    Taas__Internal__Rpc__BadRequest__FieldViolation fv[MAX_VIOLATIONS];
    Taas__Internal__Rpc__BadRequest__FieldViolation *fvp[MAX_VIOLATIONS];
    Taas__Internal__Rpc__BadRequest br = TAAS__INTERNAL__RPC__BAD_REQUEST__INIT;
    size_t used = 0, k = 0;
    for (size_t i = 0; i < n && k < MAX_VIOLATIONS; i++) {
        size_t sz = strlen(v[i].path) + strlen(v[i].message) + 8; /* tags and lengths */
        if (used + sz > MAX_VIOLATION_BYTES)
            break;
        used += sz;
        taas__internal__rpc__bad_request__field_violation__init(&fv[k]);
        fv[k].field = (char *)v[i].path;
        fv[k].description = (char *)v[i].message;
        fvp[k] = &fv[k];
        k++;
    }
    br.n_field_violations = k;
    br.field_violations = fvp;
    size_t brlen;
    uint8_t *brbuf = svc_pack(&br.base, &brlen);
    if (!brbuf)
        return NULL;

    Taas__Internal__Rpc__Any any = TAAS__INTERNAL__RPC__ANY__INIT;
    any.type_url = (char *)BAD_REQUEST_URL;
    any.value.data = brbuf;
    any.value.len = brlen;
    Taas__Internal__Rpc__Any *anyp = &any;
    Taas__Internal__Rpc__Status st = TAAS__INTERNAL__RPC__STATUS__INIT;
    st.code = (int32_t)code;
    st.message = (char *)message;
    st.n_details = 1;
    st.details = &anyp;
    void *out = svc_pack(&st.base, len);
    free(brbuf);
    return out;
}

void svc_reply_invalid_inputs(taas_call *call, const char *message, const taas_error *v,
                              size_t n)
{
    if (n > SVC_MAX_VIOLATIONS)
        n = SVC_MAX_VIOLATIONS;
    size_t len = 0;
    void *details = n ? svc_bad_request_status(TAAS_ST_INVALID_ARGUMENT, message, v, n, &len)
                      : NULL;
    if (details)
        taas_call_reply_details(call, TAAS_ST_INVALID_ARGUMENT, message, details, len);
    else
        taas_call_reply(call, TAAS_ST_INVALID_ARGUMENT, message, NULL, 0);
}
