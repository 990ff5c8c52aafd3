/**
 * The specification's first sample, unchanged but for the import: create a volume and mount it.
 * Run: npm run example -- volume-create-attach
 */
import { Sandbox } from "atoll";

const volume = await Sandbox.createVolume({
  name: "agent-cache",
  sizeGb: 5,
});

await using sandbox = await Sandbox.create({
  volumes: [
    {
      id: volume.id,
      mountPath: "/mnt/cache",
      accessMode: "rw",
    },
  ],
});

await sandbox.sh`ls /mnt/cache`;

// Not part of the sample: volumes stay until deleted, so remove it to keep the example re-runnable.
await sandbox.kill();
await Sandbox.deleteVolume(volume.id);
