/**
 * A daemon restart under load (issue 13): N running sandboxes, each with a background process
 * appending a timestamp to a file every 100 ms; the daemon is killed (kill -9, then SIGTERM) and
 * started again on the same state directory and port. Prints, for each kind of stop, the time
 * from the stop until every sandbox answered `sh\`true\`` again through the same SDK objects (and
 * from the new daemon's start), and the largest gap any sandbox's timestamp writer saw over the
 * whole run (the sandboxes never stop: the gap is the writer's own 100 ms plus scheduling).
 *
 * Runs its own daemon (networking on, uplink none: the sandboxes' namespaces and netd are part of
 * what is adopted), started from wherever the load runner runs.
 */
import { Client } from "atoll";
import { startTestDaemon } from "../../packages/server/dist/testing/daemon-harness.js";

const TICKER = "while :; do date +%s%N >> /tmp/ticks; sleep 0.1; done";

export async function restart({ n = 100 }) {
  let daemon = await startTestDaemon({ net: { network: "on" }, keepSandboxesOnExit: true });
  const sandboxes = [];
  try {
    const client = new Client({ url: daemon.url, token: daemon.token });
    for (let i = 0; i < n; i++) {
      const sb = await client.createSandbox({ timeout: "30m", memory: "128MiB" });
      sandboxes.push(sb);
      // Detached from the command's pipes: the sh returns at once, the ticker keeps running.
      await sb.sh`nohup sh -c ${TICKER} >/dev/null 2>&1 &`;
    }
    process.stderr.write(`  ${n} sandboxes ticking\n`);
    await new Promise((r) => setTimeout(r, 1000));
    const rounds = {};
    for (const how of ["kill -9", "SIGTERM"]) {
      const t0 = performance.now();
      if (how === "kill -9") await daemon.crash();
      else await daemon.stop();
      const tStart = performance.now();
      daemon = await daemon.restart({ samePort: true });
      const tListening = performance.now();
      await Promise.all(sandboxes.map((sb) => sb.sh`true`));
      const tAll = performance.now();
      rounds[how] = { stopToAllAnsweringMs: tAll - t0, startToAllAnsweringMs: tAll - tStart, startToListeningMs: tListening - tStart };
      console.log(
        `\nrestart after ${how} with ${n} running sandboxes: every one answered sh\`true\` ${(tAll - tStart).toFixed(0)} ms after the new daemon was started ` +
          `(listening after ${(tListening - tStart).toFixed(0)} ms; ${(tAll - t0).toFixed(0)} ms after the stop)`,
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
    let largestGapMs = 0;
    for (const sb of sandboxes) {
      const ticks = (await sb.sh`cat /tmp/ticks`.text())
        .split("\n")
        .filter(Boolean)
        .map((t) => Number(BigInt(t) / 1_000_000n));
      for (let i = 1; i < ticks.length; i++) largestGapMs = Math.max(largestGapMs, ticks[i] - ticks[i - 1]);
    }
    console.log(`largest gap between two timestamps of a sandbox's 100 ms writer over both restarts: ${largestGapMs} ms`);
    return { n, rounds, largestGapMs };
  } finally {
    for (const sb of sandboxes) await sb.kill().catch(() => undefined);
    await daemon.dispose();
  }
}
