/** N create → command → kill cycles; host resources and daemon memory before and after. */
import { percentile } from "../stats.mjs";
import { printBeforeAfter, snapshot } from "./host-resources.mjs";

export async function cycles({ client, daemon, n = 1000 }) {
  // One warm-up cycle so lazily created things (pool, cgroup parents) exist before the baseline.
  await (await client.createSandbox()).kill();
  await new Promise((r) => setTimeout(r, 500));
  const before = snapshot(daemon.pid, daemon.stateDir);
  const times = [];
  const rss = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const sb = await client.createSandbox();
    const out = (await sb.sh`echo ${i}`.text()).trimEnd();
    if (out !== String(i)) throw new Error(`cycle ${i}: got ${out}`);
    await sb.kill();
    times.push(performance.now() - t);
    if ((i + 1) % 100 === 0) {
      // RSS along the way: growth that levels off is the heap settling; a steady climb is a leak.
      rss.push(snapshot(daemon.pid, daemon.stateDir).daemonRssMiB);
      process.stderr.write(`  ${i + 1}/${n} cycles, daemon RSS ${rss.at(-1)} MiB\n`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000)); // let the pool settle
  const after = snapshot(daemon.pid, daemon.stateDir);
  console.log(
    `\n${n} create → command → kill cycles in ${seconds.toFixed(1)} s (${(n / seconds).toFixed(1)}/s); cycle p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms`,
  );
  printBeforeAfter(before, after);
  console.log(`daemon RSS every 100 cycles (MiB): ${rss.join(" ")}`);
  return { n, seconds, before, after, rssEvery100: rss };
}
