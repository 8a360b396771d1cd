/*
 * client/cli/mcp.h - `taas mcp`, the Model Context Protocol over stdio.
 */
#ifndef TAAS_CLI_MCP_H
#define TAAS_CLI_MCP_H

#include "taas/client.h"

/* Serve MCP on stdin/stdout until end of input, through `client`. `call`
 * (may be NULL) holds the deadline of the unary calls. Returns the exit
 * status (0). */
int taas_cli_mcp(taas_client *client, const taas_call_options *call);

#endif
