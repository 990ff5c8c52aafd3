/**
 * The specification's second sample, unchanged but for the import: one volume in two sandboxes,
 * read-write in the first and read-only in the second.
 * Run: npm run example -- volume-share
 */
import { Sandbox } from "atoll";

const shared = await Sandbox.createVolume({
  name: "team-workspace",
  sizeGb: 2,
});

await using sb1 = await Sandbox.create({
  volumes: [{ id: shared.id, mountPath: "/workspace" }],
});
await using sb2 = await Sandbox.create({
  volumes: [{ id: shared.id, mountPath: "/workspace", accessMode: "ro" }],
});

await sb1.sh`echo "artifact" > /workspace/build.txt`;
await sb2.sh`cat /workspace/build.txt`;

// Not part of the sample: delete the volume (force detaches it from sb1 and sb2) so the example can run again.
await Sandbox.deleteVolume(shared.id, { force: true });
