/* A header in the body's own folder. */
#include "taas/registry.h"
