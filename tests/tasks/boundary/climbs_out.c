/* A body that climbs out of its folders to an internal header: refused. */
#include "../../../runtime/schema/schema.h"
