/** The volume rules of issue 3 against a real daemon: capacity, read-only, sharing, attach/detach, delete. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { expectCode, hostFootprint, useDaemon, volumeImage } from "./e2e-helpers.js";

const ctx = useDaemon();

test("a write past the volume's size gets ENOSPC inside the sandbox; the sandbox and the root fs keep working", async () => {
  const volume = await ctx.client.createVolume({ name: "tiny", sizeGb: 0.0625 });
  await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/mnt/tiny" }] });
  const fill = await sb.sh`dd if=/dev/zero of=/mnt/tiny/big bs=1M count=100`.noThrow();
  assert.notEqual(fill.status.code, 0);
  assert.match(fill.stderrText, /No space left on device/);
  assert.equal((await sb.sh`echo still-fine > /tmp/x && cat /tmp/x`.text()).trimEnd(), "still-fine");
  const info = await ctx.client.getVolume(volume.id);
  assert.ok(info.usedBytes > 0.8 * info.capacityBytes, `used ${info.usedBytes} of ${info.capacityBytes}`);
  await sb.kill();
  await ctx.client.deleteVolume(volume.id);
});

test("a read-only mount stays read-only for sandbox root: writes, remount, bind, new mount namespaces", async () => {
  const volume = await ctx.client.createVolume({ name: "ro-check", sizeGb: 0.125 });
  {
    await using writer = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    await writer.sh`echo original > /data/file`;
  }
  await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data", accessMode: "ro" }] });
  const attempts = [
    "echo x > /data/file",
    "touch /data/new",
    "rm -f /data/file",
    "mount -o remount,rw /data",
    "mount -o remount,bind,rw /data",
    "mkdir -p /tmp/m && mount --bind /data /tmp/m && touch /tmp/m/new",
    "unshare -m sh -c 'mount -o remount,rw /data && touch /data/new'",
    "python3 -c \"import os; os.open('/data/file', os.O_WRONLY)\"",
    "python3 -c \"import os; fd=os.open('/data', os.O_RDONLY); os.open('/proc/self/fd/%d/file' % fd, os.O_WRONLY)\"",
  ];
  for (const cmd of attempts) {
    for (const asRoot of [false, true]) {
      const base = sb.sh`sh -c ${cmd}`.noThrow();
      const r = await (asRoot ? base.sudo() : base);
      assert.notEqual(r.status.code, 0, `${asRoot ? "root" : "app"}: ${cmd} succeeded`);
    }
  }
  assert.equal((await sb.sh`cat /data/file`.text()).trimEnd(), "original");
  assert.doesNotMatch((await sb.sh`ls /data /tmp/m 2>/dev/null`.noThrow().text()).trimEnd(), /new/);
  await sb.kill();
  await ctx.client.deleteVolume(volume.id);
});

test("a write in one sandbox is visible in the others at once, and files are usable by app everywhere", async () => {
  const volume = await ctx.client.createVolume({ name: "shared-now", sizeGb: 0.25 });
  await using a = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/w" }] });
  await using b = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/w" }] });
  await using c = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/r", accessMode: "ro" }] });
  for (let i = 0; i < 5; i++) {
    await a.sh`printf ${`round-${i}`} > /w/now`; // no sync: same page cache
    assert.equal((await b.sh`cat /w/now`.text()).trimEnd(), `round-${i}`);
    assert.equal((await c.sh`cat /r/now`.text()).trimEnd(), `round-${i}`);
  }
  // app in b can change and delete what app in a wrote; root-written files are readable by app.
  await a.sh`mkdir -p /w/dir && echo a > /w/dir/f`;
  await b.sh`echo b >> /w/dir/f && mv /w/dir/f /w/dir/g`;
  await a.sh`echo root > /w/by-root`.sudo();
  assert.equal((await c.sh`cat /r/dir/g /r/by-root`.text()).trimEnd(), "a\nb\nroot");
  assert.equal((await b.sh`stat -c %U:%G /w/dir/g`.text()).trimEnd(), "app:app");
  for (const sb of [a, b, c]) await sb.kill();
  await ctx.client.deleteVolume(volume.id);
});

test("hot attach and detach on a running sandbox; detach refuses while files are open unless forced", async () => {
  const volume = await ctx.client.createVolume({ name: "hot", sizeGb: 0.125 });
  await using sb = await ctx.client.createSandbox();
  await sb.sh`echo before-attach`;
  await sb.attachVolume({ id: volume.id, mountPath: "/mnt/hot", accessMode: "rw" });
  assert.deepEqual(
    sb.volumes.map((v) => v.mountPath),
    ["/mnt/hot"],
  );
  await sb.sh`echo hello > /mnt/hot/greeting`;
  assert.equal((await ctx.client.getVolume(volume.id)).attachments[0]?.sandboxId, sb.id);
  assert.ok((await ctx.client.getVolume(volume.id)).lastAttachedAt);

  // A background process keeps a file open on the volume.
  const holder = await sb.spawn("sh", { args: ["-c", "exec 3</mnt/hot/greeting; echo ready; sleep 300"], stdout: "piped" });
  const reader = holder.stdout!.getReader();
  await reader.read();
  const busy = await expectCode(sb.detachVolume(volume.id), "VOLUME_BUSY");
  assert.match(busy.message, /open/);
  assert.ok(Array.isArray(busy.details?.processes) && (busy.details.processes as unknown[]).length > 0);
  assert.equal((await sb.sh`cat /mnt/hot/greeting`.text()).trimEnd(), "hello"); // still attached after the refusal

  await sb.detachVolume(volume.id, { force: true });
  assert.deepEqual(sb.volumes, []);
  const after = await sb.sh`test -e /mnt/hot/greeting`.noThrow();
  assert.notEqual(after.status.code, 0, "the volume's files are gone from the sandbox after detach");
  await holder.kill("SIGKILL");
  await holder.status;
  await expectCode(sb.detachVolume(volume.id), "VOLUME_NOT_ATTACHED");

  // Attach again, read-only this time: the earlier data is there, and writes fail.
  await sb.attachVolume({ id: volume.id, mountPath: "/mnt/again", accessMode: "ro" });
  assert.equal((await sb.sh`cat /mnt/again/greeting`.text()).trimEnd(), "hello");
  assert.notEqual((await sb.sh`touch /mnt/again/x`.sudo().noThrow()).status.code, 0);
  await sb.detachVolume(volume.id);
  await sb.kill();
  await expectCode(sb.attachVolume({ id: volume.id, mountPath: "/mnt/x" }), "SANDBOX_NOT_RUNNING");
  await ctx.client.deleteVolume(volume.id);
});

test("deleting an attached volume fails with VOLUME_IN_USE naming the sandboxes; force detaches and frees the space", async () => {
  const volume = await ctx.client.createVolume({ name: "doomed", sizeGb: 0.25 });
  await using a = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d" }] });
  await using b = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d", accessMode: "ro" }] });
  await a.sh`head -c 20000000 /dev/urandom > /d/blob`;
  const inUse = await expectCode(ctx.client.deleteVolume(volume.id), "VOLUME_IN_USE");
  assert.match(inUse.message, new RegExp(a.id));
  assert.match(inUse.message, new RegExp(b.id));
  assert.deepEqual([...((inUse.details?.sandboxes as string[] | undefined) ?? [])].sort(), [a.id, b.id].sort());

  await ctx.client.deleteVolume(volume.id, { force: true });
  assert.equal(existsSync(volumeImage(ctx.daemon.stateDir, volume.id)), false, "image file removed");
  assert.notEqual((await a.sh`ls /d/blob`.noThrow()).status.code, 0);
  await expectCode(ctx.client.getVolume(volume.id), "VOLUME_NOT_FOUND");
  await expectCode(ctx.client.deleteVolume(volume.id), "VOLUME_NOT_FOUND");
  await a.kill();
  await b.kill();
  assert.deepEqual(hostFootprint(ctx.daemon.stateDir), { loops: [], mounts: [] });
});

test("a volume is mounted once on the host however many sandboxes use it, and released after the last", async () => {
  const volume = await ctx.client.createVolume({ name: "refcount", sizeGb: 0.125 });
  const sandboxes = [];
  for (let i = 0; i < 3; i++) sandboxes.push(await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/v" }] }));
  const loops = hostFootprint(ctx.daemon.stateDir).loops.filter((l) => l.includes(volume.id));
  assert.equal(loops.length, 1);
  for (const sb of sandboxes) await sb.kill();
  assert.deepEqual(hostFootprint(ctx.daemon.stateDir), { loops: [], mounts: [] });
  await ctx.client.deleteVolume(volume.id);
});

test("usedBytes is live", async () => {
  const volume = await ctx.client.createVolume({ name: "usage", sizeGb: 0.5 });
  await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/u" }] });
  const before = (await ctx.client.getVolume(volume.id)).usedBytes;
  await sb.sh`head -c 50000000 /dev/zero > /u/fifty`;
  const afterWrite = (await ctx.client.getVolume(volume.id)).usedBytes;
  assert.ok(afterWrite - before >= 49_000_000, `grew by ${afterWrite - before}`);
  await sb.sh`rm /u/fifty`;
  assert.ok((await ctx.client.getVolume(volume.id)).usedBytes < afterWrite - 40_000_000);
  await sb.kill();
  await ctx.client.deleteVolume(volume.id);
});
