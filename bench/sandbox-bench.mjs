/** Sandbox figures: create → first output, command round trip. */
import { timeRuns } from "./stats.mjs";

/** ms from Sandbox.create() to the first command's output; the kill afterwards is not counted. */
export async function createToFirstOutputTimed(client, n = 50, options = {}) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const sb = await client.createSandbox(options);
    await sb.sh`echo ready`.text();
    times.push(performance.now() - t0);
    await sb.kill();
  }
  return times;
}

export async function commandRoundTrip(client, n = 200) {
  const sb = await client.createSandbox();
  try {
    await sb.sh`true`; // warm
    return await timeRuns(n, () => sb.sh`true`);
  } finally {
    await sb.kill();
  }
}
