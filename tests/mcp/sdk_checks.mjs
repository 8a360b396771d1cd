// The checks both SDK clients make once connected, whatever the transport
// (sdk_client.mjs: `taas mcp` over stdio; sdk_http_client.mjs: POST /mcp):
// tools and their schemas, a call, progress, a refused input, an unknown
// tool, a cancelled call, and a call after all of that. What they saw goes
// into `seen`; the first failed expectation throws.
import assert from "node:assert/strict";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

export async function toolChecks(client, seen) {
  // Every task type is a tool with its schemas.
  const { tools } = await client.listTools();
  seen.tools = tools.map((t) => t.name);
  const mct = tools.find((t) => t.name === "my_custom_task");
  assert.ok(mct, "my_custom_task is listed");
  assert.equal(mct.inputSchema.type, "object");
  assert.deepEqual(mct.inputSchema.required, ["param1"]);
  assert.equal(mct.outputSchema.properties.result.type, "string");
  assert.ok(mct.description.includes("Processed"));

  // The guide's call.
  const r = await client.callTool({ name: "my_custom_task", arguments: { param1: "test", param2: 42 } });
  assert.equal(r.isError, false);
  assert.deepEqual(r.structuredContent, { result: "Processed test with 42" });
  assert.deepEqual(JSON.parse(r.content[0].text), { result: "Processed test with 42" });
  seen.result = r.structuredContent.result;

  // Progress from countdown.
  const progress = [];
  const cd = await client.callTool(
    { name: "countdown", arguments: { seconds: 1, step_ms: 200 } },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  assert.equal(cd.isError, false);
  assert.deepEqual(cd.structuredContent, { counted: 1, steps: 5 });
  assert.ok(progress.length >= 3, `progress notifications: ${JSON.stringify(progress)}`);
  for (let i = 1; i < progress.length; i++)
    assert.ok(progress[i].progress > progress[i - 1].progress, "progress increases");
  assert.ok(progress.every((p) => p.total === 100));
  assert.ok(progress.some((p) => /second/.test(p.message ?? "")), "countdown's own messages");
  seen.progress = progress;

  // Inputs the task refuses: a tool error naming the bad value.
  const bad = await client.callTool({ name: "my_custom_task", arguments: { param2: "x" } });
  assert.equal(bad.isError, true);
  assert.match(bad.content[0].text, /param1/);
  seen.badArguments = bad.content[0].text;

  // An unknown tool: a JSON-RPC error.
  await assert.rejects(client.callTool({ name: "no_such_task", arguments: {} }), (e) => {
    assert.ok(e instanceof McpError);
    assert.equal(e.code, -32602);
    seen.unknownTool = e.message;
    return true;
  });

  // Cancellation: the SDK sends notifications/cancelled when the call is aborted.
  const ac = new AbortController();
  let firstProgress;
  const started = new Promise((resolve) => (firstProgress = resolve));
  const long = client.callTool(
    { name: "countdown", arguments: { seconds: 60, step_ms: 100 } },
    undefined,
    { signal: ac.signal, onprogress: () => firstProgress() },
  );
  await started;
  ac.abort("the user changed their mind");
  await assert.rejects(long);
  seen.cancelled = true;

  // Still serving after all of that.
  const again = await client.callTool({ name: "my_custom_task", arguments: { param1: "again" } });
  assert.equal(again.structuredContent.result, "Processed again with 0");
}
