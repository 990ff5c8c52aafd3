/**
 * Booting from a snapshot (issue 14, docs/snapshots.md "Bootable volumes"): create → first output
 * with `root:` a bootable snapshot of the builtin image, against the default image, interleaved
 * in the same run so both see the same load.
 */
import { createToFirstOutputTimed } from "./sandbox-bench.mjs";

/** `n` creates of each kind, alternating; returns both lists of durations (ms). */
export async function rootFromSnapshot(client, n = 50) {
  const image = await client.createVolume({ name: "bench-root-image", sizeGb: 1, from: "builtin:debian-12" });
  const snap = await image.snapshot({ name: "bench-root-image-v1" });
  const defaultMs = [];
  const snapshotMs = [];
  try {
    for (let i = 0; i < n; i++) {
      defaultMs.push(...(await createToFirstOutputTimed(client, 1)));
      snapshotMs.push(...(await createToFirstOutputTimed(client, 1, { root: snap.id })));
    }
  } finally {
    await client.deleteSnapshot(snap.id);
    await client.deleteVolume(image.id);
  }
  return { defaultMs, snapshotMs };
}
