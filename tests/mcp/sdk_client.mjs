// The official MCP TypeScript SDK's client against `taas mcp`: the checks a
// real assistant's client makes (sdk_checks.mjs). Run by test_mcp.py with
// TAAS_CLI_BIN and TAAS_ADDR set; prints one JSON document of what it saw,
// and exits 1 on the first failed expectation.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { toolChecks } from "./sdk_checks.mjs";

const transport = new StdioClientTransport({
  command: process.env.TAAS_CLI_BIN,
  args: ["--server", process.env.TAAS_ADDR, "mcp"],
  stderr: "inherit",
});
const client = new Client({ name: "taas-mcp-test", version: "1.0.0" });
await client.connect(transport);
const seen = {};

seen.serverVersion = client.getServerVersion();
seen.protocolVersion = transport._protocolVersion ?? null;

await toolChecks(client, seen);

await client.close();
console.log(JSON.stringify(seen));
