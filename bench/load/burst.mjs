/** A burst of concurrent Sandbox.create() calls: time to first output. */
import { percentile } from "../stats.mjs";

export async function burst({ client, n = 50 }) {
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const sb = await client.createSandbox();
      const out = (await sb.sh`echo ${i}`.text()).trimEnd();
      const ms = performance.now() - t0;
      if (out !== String(i)) throw new Error(`sandbox ${i}: ${out}`);
      return { sb, ms };
    }),
  );
  const times = results.map((r) => r.ms);
  for (const r of results) await r.sb.kill();
  const res = { n, p50: percentile(times, 50), p95: percentile(times, 95), max: Math.max(...times) };
  console.log(
    `\nburst of ${n} concurrent creates, time to first output: p50 ${res.p50.toFixed(0)} ms, p95 ${res.p95.toFixed(0)} ms, max ${res.max.toFixed(0)} ms`,
  );
  return res;
}
