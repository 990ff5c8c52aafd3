/**
 * The specification's samples (shared/spec/persistent-volumes.md), verbatim but for the import,
 * against a real daemon. The SDK finds the daemon through ATOLL_URL and ATOLL_TOKEN, exactly as
 * a user's program would.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Sandbox } from "atoll";
import { captureStdout } from "./capture-stdout.js";
import { useDaemonFromEnv } from "./e2e-helpers.js";

useDaemonFromEnv();

test("spec: create and attach a volume", async () => {
  let volumeId = "";
  const printed = await captureStdout(async () => {
    // ---- verbatim from the spec ----
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
    // ---- end of sample ----
    volumeId = volume.id;
    assert.equal(volume.name, "agent-cache");
    assert.equal(volume.sizeGb, 5);
    assert.equal(volume.capacityBytes, 5 * 2 ** 30);
    const df = (await sandbox.sh`df -B1 --output=size,target /mnt/cache | tail -1`.text()).trimEnd();
    const size = Number(df.trim().split(/\s+/)[0]);
    // ext4 keeps a little for its own metadata (journal, inode tables sized for many small
    // files: 4.79 GiB usable, docs/volumes.md "How many files"); the rest is the user's.
    assert.ok(size > 4.75 * 2 ** 30 && size <= 5 * 2 ** 30, `df size ${size}`);
  });
  assert.doesNotMatch(printed, /No such file/);
  // `await using` killed the sandbox; the volume stays until deleted.
  const again = await Sandbox.getVolume(volumeId);
  assert.deepEqual(again.attachments, []);
  await Sandbox.deleteVolume(volumeId);
});

test("spec: share between sandboxes", async () => {
  let sharedId = "";
  const printed = await captureStdout(async () => {
    // ---- verbatim from the spec ----
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
    // ---- end of sample ----
    sharedId = shared.id;
    const info = await Sandbox.getVolume(shared.id);
    assert.deepEqual(info.attachments.map((a) => a.accessMode).sort(), ["ro", "rw"]);
    // sb2 mounted it read-only: writing fails there, also as root.
    const write = await sb2.sh`echo nope > /workspace/build.txt`.sudo().noThrow();
    assert.notEqual(write.status.code, 0);
  });
  // stdout also carries the test runner's own reports, so look for the line, not the whole output.
  assert.match(printed, /artifact\n/);
  await Sandbox.deleteVolume(sharedId);
});

test("spec: volumes remain until deleted with Sandbox.deleteVolume(id)", async () => {
  const volume = await Sandbox.createVolume({ name: "lifecycle", sizeGb: 1 });
  {
    await using sandbox = await Sandbox.create({ volumes: [{ id: volume.id, mountPath: "/mnt/data" }] });
    await sandbox.sh`echo kept > /mnt/data/file && sync`;
  }
  {
    await using sandbox = await Sandbox.create({ volumes: [{ id: volume.id, mountPath: "/mnt/data" }] });
    assert.equal((await sandbox.sh`cat /mnt/data/file`.text()).trimEnd(), "kept");
  }
  assert.ok((await Sandbox.listVolumes()).some((v) => v.id === volume.id));
  await Sandbox.deleteVolume(volume.id);
  assert.ok(!(await Sandbox.listVolumes()).some((v) => v.id === volume.id));
});
