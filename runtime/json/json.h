/*
 * runtime/json/json.h - the runtime's name for the JSON API, which is public
 * (task bodies use it): see runtime/include/taas/json.h. The implementation
 * is in runtime/json/.
 */
#ifndef TAAS_RUNTIME_JSON_H
#define TAAS_RUNTIME_JSON_H

#include "taas/json.h"

#endif
