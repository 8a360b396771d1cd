// The official MCP TypeScript SDK's Streamable HTTP client against POST /mcp
// on the server's HTTP port. Run by test_mcp_http.py with TAAS_MCP_URL and
// TAAS_TOKEN set: the token and session rules, then the same tool checks
// as over stdio (sdk_checks.mjs); prints one JSON document of what it saw,
// and exits 1 on the first failed expectation.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { toolChecks } from "./sdk_checks.mjs";

const url = new URL(process.env.TAAS_MCP_URL);
const seen = {};

// Without a token: refused before anything runs.
{
  const t = new StreamableHTTPClientTransport(url);
  const c = new Client({ name: "taas-mcp-http-test", version: "1.0.0" });
  await assert.rejects(c.connect(t), (e) => {
    seen.unauthenticated = `${e.code}: ${e.message}`;
    return e.code === 401;
  });
}

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${process.env.TAAS_TOKEN}` } },
});
const client = new Client({ name: "taas-mcp-http-test", version: "1.0.0" });
await client.connect(transport);
seen.serverVersion = client.getServerVersion();
seen.sessionId = transport.sessionId ?? null;
assert.match(seen.sessionId ?? "", /^[0-9a-f]{32}$/);
seen.protocolVersion = transport.protocolVersion ?? null;

await toolChecks(client, seen);

// The session ends with DELETE; the id no longer works.
await transport.terminateSession();
seen.terminated = transport.sessionId === undefined;
await client.close();
console.log(JSON.stringify(seen));
