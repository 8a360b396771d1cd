/*
 * runtime/http/openapi.h - the OpenAPI 3.1 document of the HTTP API,
 * served at /openapi.json. The request and response schemas of each task
 * type are the spec's own input and output schemas, from the registry, so
 * the document always matches the tasks this server was built with.
 */
#ifndef TAAS_HTTP_OPENAPI_H
#define TAAS_HTTP_OPENAPI_H

#include <stddef.h>

/* The document (malloc'd), NULL when out of memory. */
char *taas_http_openapi(const char *version, size_t *len);

#endif
