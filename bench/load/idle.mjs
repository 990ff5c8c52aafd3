/** As many idle sandboxes as the machine holds (up to a target): memory per sandbox, command round trip while all live. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { percentile } from "../stats.mjs";
import { memAvailable } from "./host-resources.mjs";

const CLI = fileURLToPath(new URL("../../packages/server/dist/cli/main.js", import.meta.url));

export async function idle({ client, daemon, target = 500, reserveBytes = 2 * 2 ** 30 }) {
  const sandboxes = [];
  const before = memAvailable();
  const t0 = performance.now();
  try {
    while (sandboxes.length < target) {
      if (memAvailable() < reserveBytes) {
        console.log(`stopping at ${sandboxes.length}: less than ${reserveBytes / 2 ** 30} GiB of memory left`);
        break;
      }
      try {
        sandboxes.push(await client.createSandbox({ timeout: "30m", memory: "256MiB" }));
      } catch (err) {
        console.log(`stopping at ${sandboxes.length}: ${err.message}`);
        break;
      }
      if (sandboxes.length % 50 === 0) process.stderr.write(`  ${sandboxes.length} idle sandboxes\n`);
    }
    const createSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const perSandbox = (before - memAvailable()) / sandboxes.length;
    const rtt = [];
    for (let i = 0; i < 200; i++) {
      const sb = sandboxes[Math.floor(Math.random() * sandboxes.length)];
      const t = performance.now();
      await sb.sh`true`;
      rtt.push(performance.now() - t);
    }
    const result = {
      sandboxes: sandboxes.length,
      createSeconds,
      memoryPerSandboxMiB: perSandbox / 2 ** 20,
      rttP50: percentile(rtt, 50),
      rttP95: percentile(rtt, 95),
    };
    console.log(
      `\n${result.sandboxes} idle sandboxes (created in ${createSeconds.toFixed(1)} s): ${result.memoryPerSandboxMiB.toFixed(2)} MiB host memory each; ` +
        `sh\`true\` round trip while all live: p50 ${result.rttP50.toFixed(2)} ms, p95 ${result.rttP95.toFixed(2)} ms`,
    );
    return result;
  } finally {
    // As an operator would: one CLI call for all of them (`atoll sandbox kill --all`).
    const t = performance.now();
    const cli = spawnSync(process.execPath, [CLI, "--url", daemon.url, "--token", daemon.token, "sandbox", "kill", "--all"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const killSeconds = (performance.now() - t) / 1000;
    console.log(`killed ${sandboxes.length} with one \`atoll sandbox kill --all\` in ${killSeconds.toFixed(1)} s (exit ${cli.status})`);
    for (const sb of sandboxes) await sb.kill(); // whatever the CLI left (none when it succeeded)
  }
}
