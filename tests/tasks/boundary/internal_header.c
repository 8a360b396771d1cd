/* A body that reaches for an internal header: the boundary check refuses it. */
#include "json/json.h"
#include "taas/taas.h"
