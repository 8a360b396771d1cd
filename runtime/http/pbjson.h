/*
 * runtime/http/pbjson.h - protobuf-c messages <-> the JSON of the HTTP API.
 *
 * The mapping (docs/http-api.md): field names as in the .proto
 * (snake_case); enums by the name of the value without the enum's common
 * prefix ("RUNNING" for TASK_STATE_RUNNING; the full name and the number are
 * accepted too); 64-bit integers as JSON numbers (the API's are millisecond
 * times, well inside 2^53); a string field whose name ends in "_json" holds
 * JSON text and appears as that JSON value under the name without the
 * suffix ("inputs_json": "{\"a\":1}" is "inputs": {"a": 1}). Every field is
 * written, defaults included, so a client never guesses at a missing key.
 */
#ifndef TAAS_HTTP_PBJSON_H
#define TAAS_HTTP_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "json/json.h"

/*
 * Encode the JSON object at token `obj` of `doc` as the protobuf wire
 * format of `d` (malloc'd *out). `lenient`: strings are accepted for numbers
 * and booleans (query parameters). On error returns -1 with the offending
 * field's JSON name in `field` and a message for a person in `err`.
 */
int taas_pbjson_encode(const ProtobufCMessageDescriptor *d, const taas_jdoc *doc, int obj,
                       bool lenient, uint8_t **out, size_t *len, char *field, size_t fcap,
                       char *err, size_t ecap);

/* Write `m` as a JSON object. */
void taas_pbjson_write(taas_jw *w, const ProtobufCMessage *m);

/* The JSON name of an enum value ("RUNNING"), or NULL for an unknown number. */
const char *taas_pbjson_enum_name(const ProtobufCEnumDescriptor *e, int value);

#endif
