/**
 * Snapshot figures (issue 14, docs/snapshots.md): snapshot and fork of a 20 GiB volume with
 * 1 GiB written, while a sandbox keeps writing to it, and write throughput on a fork versus a
 * fresh volume of the same size.
 */
import { timeRuns } from "./stats.mjs";
import { ddThroughput } from "./volume-bench.mjs";

/** Median of the `key` field of `xs`. */
const med = (xs, key) => xs.map((x) => x[key]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Takes `n` snapshots of a 20 GiB volume holding 1 GiB while a sandbox appends to it (and syncs)
 * all along, then makes `n` volumes from the first snapshot; returns both durations (ms).
 */
export async function snapshotAndFork(client, n = 10) {
  const volume = await client.createVolume({ name: "bench-snap-source", sizeGb: 20 });
  const sb = await client.createSandbox({ timeout: "30m", volumes: [{ id: volume.id, mountPath: "/v" }] });
  const snapshots = [];
  try {
    await sb.sh`dd if=/dev/urandom of=/v/data bs=1M count=1024 conv=fdatasync status=none`;
    await sb.spawn("sh", { args: ["-c", "while :; do dd if=/dev/zero of=/v/stream bs=1M count=8 conv=notrunc,fdatasync status=none; done"], stdout: "null" });
    const snapshotMs = await timeRuns(n, async (i) => {
      snapshots.push(await volume.snapshot({ name: `bench-snap-${i}` }));
    });
    // One fork at a time (each is deleted before the next): every fork is promised its full
    // 20 GiB in the disk budget, though it takes host space only for what it writes.
    const forkMs = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const fork = await client.createVolume({ name: `bench-fork-${i}`, sizeGb: 20, from: snapshots[0].id });
      forkMs.push(performance.now() - t0);
      await client.deleteVolume(fork.id);
    }
    return { snapshotMs, forkMs };
  } finally {
    await sb.kill();
    for (const s of snapshots) await client.deleteSnapshot(s.id);
    await client.deleteVolume(volume.id);
  }
}

/**
 * MB/s writing `mb` MiB (new file, fdatasync) in a sandbox on a volume made from a snapshot of
 * a 4 GiB volume holding 1 GiB, versus on a fresh 4 GiB volume; and rewriting the inherited
 * data in place (every block copied on write) on the fork. (4 GiB: three volumes are promised
 * their full size in the disk budget at once.)
 */
export async function forkThroughput(client, mb = 256, rounds = 3) {
  const source = await client.createVolume({ name: "bench-tp-source", sizeGb: 4 });
  const fresh = await client.createVolume({ name: "bench-tp-fresh", sizeGb: 4 });
  let fork;
  let snap;
  const sandboxes = [];
  try {
    const seed = await client.createSandbox({ volumes: [{ id: source.id, mountPath: "/s" }] });
    await seed.sh`dd if=/dev/urandom of=/s/data bs=1M count=1024 conv=fdatasync status=none`;
    await seed.kill();
    snap = await source.snapshot({ name: "bench-tp" });
    fork = await client.createVolume({ name: "bench-tp-fork", sizeGb: 4, from: snap.id });
    const onFork = await client.createSandbox({ volumes: [{ id: fork.id, mountPath: "/f" }] });
    const onFresh = await client.createSandbox({ volumes: [{ id: fresh.id, mountPath: "/f" }] });
    sandboxes.push(onFork, onFresh);
    const run = (sb) => (cmd) => sb.sh`sh -c ${cmd}`.text();
    const forkRuns = [];
    const freshRuns = [];
    for (let i = 0; i < rounds; i++) {
      forkRuns.push(await ddThroughput(run(onFork), "/f", mb));
      freshRuns.push(await ddThroughput(run(onFresh), "/f", mb));
    }
    const t0 = performance.now();
    await onFork.sh`dd if=/dev/zero of=/f/data bs=1M count=${mb} conv=notrunc,fdatasync status=none`;
    const rewriteMBs = (mb * 1.048576) / ((performance.now() - t0) / 1000);
    return { forkWriteMBs: med(forkRuns, "writeMBs"), freshWriteMBs: med(freshRuns, "writeMBs"), rewriteMBs };
  } finally {
    for (const sb of sandboxes) await sb.kill();
    if (fork) await client.deleteVolume(fork.id);
    if (snap) await client.deleteSnapshot(snap.id);
    for (const v of [source, fresh]) await client.deleteVolume(v.id);
  }
}
