/**
 * Create → first output with 0, 150 and 300 live sandboxes (issue 16): the cost of a create must
 * not grow with the number of sandboxes that already run. Prints each level's p50/p95 and its
 * ratio to the empty daemon, plus the host's mount-table size (what each new mount namespace
 * copies). `ATOLL_MOUNT_BASE=off npm run load -- scale` measures the daemon without its base mount
 * namespace (runtime/mount-base.ts), as before issue 16. Bounded (at most the largest level plus one sandbox) and cleans up: every sandbox it
 * made is killed in `finally`.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { percentile } from "../stats.mjs";

const hostMounts = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).length;

export async function scale({ client, levels = [0, 150, 300], rounds = 20 }) {
  const live = [];
  const rows = [];
  try {
    for (const level of levels) {
      // Small roots: 300 default-size (10 GiB) roots would overcommit the disk, and the disk budget
      // then re-squeezes every root on each create (host/disk-shares.ts), a cost of its own.
      while (live.length < level) live.push(await client.createSandbox({ timeout: "30m", memory: "64MiB", rootfsSize: "128MiB" }));
      const times = [];
      for (let i = 0; i < rounds; i++) {
        const t = performance.now();
        const sb = await client.createSandbox();
        const out = (await sb.sh`echo ${i}`.text()).trimEnd();
        times.push(performance.now() - t);
        await sb.kill();
        // Steady arrivals, not a burst: the warm pools refill (≈ 250 ms after a take) in between.
        await sleep(700);
        if (out !== String(i)) throw new Error(`sandbox ${i}: ${out}`);
      }
      rows.push({ live: level, p50: percentile(times, 50), p95: percentile(times, 95), hostMounts: hostMounts() });
      process.stderr.write(`  ${level} live: p50 ${percentile(times, 50).toFixed(1)} ms\n`);
    }
  } finally {
    for (const sb of live) await sb.kill().catch(() => undefined);
  }
  const base = rows[0]?.p50 ?? Number.NaN;
  console.log("\ncreate → first output with live sandboxes:");
  for (const r of rows) {
    console.log(
      `  ${String(r.live).padStart(4)} live: p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms (${(r.p50 / base).toFixed(2)}× the empty daemon); host mount table ${r.hostMounts} entries`,
    );
  }
  return { levels: rows, ratioAtMax: (rows.at(-1)?.p50 ?? Number.NaN) / base };
}
