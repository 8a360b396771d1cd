// The product guide's first test of a task, from Node.js, then its result.
//
//   make run                                            # first terminal
//   (cd client/node && npm ci) && node examples/simple_task.mjs   # second
//
// The server address comes from TAAS_SERVER (default 127.0.0.1:50051); TLS
// and tokens from the same variables as the `taas` CLI (docs/clients.md).
import { TaasClient } from '../client/node/index.js';

const client = new TaasClient();
try {
  const result = await client.submitTask('my_custom_task', { param1: 'test', param2: 42 });
  console.log(`Task ID: ${result.taskId}`);

  // Then follow it to its result.
  const task = await client.wait(result.taskId, { timeoutMs: 60000 });
  console.log(`State: ${task.state}`);
  if (task.output) {
    console.log(`Result: ${task.output.result}`);
  } else {
    console.log(`Error: ${task.error}`);
    process.exitCode = 1;
  }
} finally {
  client.close();
}
