/* A body that uses only the author API and its own folder: accepted. */
#include <stdio.h>

#include "public_only.h"
#include "taas/json.h"
#include "taas/schema.h"
#include "taas/taas.h"
