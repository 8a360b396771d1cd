/* Compiled with -pedantic -Werror: the public header stands on its own. */
#include "taas/client.h"

int taas_client_headertest_anchor(void);
int taas_client_headertest_anchor(void)
{
    taas_client_options o = TAAS_CLIENT_OPTIONS_INIT;
    return o.version;
}
