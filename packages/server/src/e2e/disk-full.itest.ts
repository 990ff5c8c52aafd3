/**
 * The host disk nearly full: creating a volume or a sandbox fails clearly; running sandboxes
 * keep working. The daemon's state directory lives on a small filesystem of the test's own.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Client } from "atoll";
import { startTestDaemon } from "../testing/daemon-harness.js";
import { expectCode } from "./e2e-helpers.js";

const MIB = 2 ** 20;
const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

test("with the disk nearly full, new volumes and sandboxes are refused clearly and running ones keep working", async (t) => {
  const work = mkdtempSync("/var/tmp/atoll-diskfull-");
  const image = join(work, "small.img");
  const stateDir = join(work, "state");
  mkdirSync(stateDir, { mode: 0o711 });
  execFileSync("truncate", ["-s", "700M", image]);
  execFileSync("mkfs.ext4", ["-q", "-m", "0", image]);
  execFileSync("mount", ["-o", "loop", image, stateDir]);
  execFileSync("chmod", ["0711", stateDir, work]);
  t.after(() => {
    execFileSync("umount", ["-l", stateDir]);
    rmSync(work, { recursive: true, force: true });
  });

  const daemon = await startTestDaemon({ stateDir });
  t.after(() => daemon.stop());
  const client = new Client({ url: daemon.url, token: daemon.token });

  const volume = await client.createVolume({ name: "before-full", sizeGb: 0.0625 });
  const running = await client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/v" }] });

  // Fill the disk, leaving 100 MiB.
  const filler = join(stateDir, "filler");
  execFileSync("fallocate", ["-l", String(freeBytes(stateDir) - 100 * MIB), filler]);
  assert.ok(freeBytes(stateDir) < 128 * MIB);

  const v = await expectCode(client.createVolume({ name: "too-big", sizeGb: 0.25 }), "INSUFFICIENT_STORAGE");
  assert.match(v.message, /free/);
  const s = await expectCode(client.createSandbox(), "INSUFFICIENT_STORAGE");
  assert.match(s.message, /almost full/);
  assert.equal((await client.listVolumes()).length, 1, "no volume row was left behind");

  // The sandbox that was running still runs commands and uses its volume.
  assert.equal(await running.sh`echo still-here > /v/note && cat /v/note`.text(), "still-here");
  assert.equal(await running.sh`echo tmp > /tmp/x && cat /tmp/x`.text(), "tmp");

  // With space back, creation works again.
  rmSync(filler);
  const again = await client.createSandbox();
  assert.equal(await again.sh`echo back`.text(), "back");
  await running.kill();
  await again.kill();
  await client.deleteVolume(volume.id);
  assert.equal(await daemon.stop(), 0);
});
