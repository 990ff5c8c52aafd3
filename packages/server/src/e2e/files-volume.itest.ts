/**
 * volume.fs end to end: a volume attached nowhere (throwaway jail) and one attached to a
 * running sandbox (writes visible in the sandbox at once, and the other way round), size
 * limits (NO_SPACE, nothing partial), uploads/downloads, the volume staying deletable after.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { expectCode, hostFootprint, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const local = mkdtempSync("/var/tmp/atoll-vfiles-");
after(() => rmSync(local, { recursive: true, force: true }));

const names = async (it: AsyncIterable<{ name: string }>) => {
  const out: string[] = [];
  for await (const e of it) if (e.name !== "lost+found") out.push(e.name);
  return out.sort();
};

test("volume.fs on a volume attached nowhere: every operation, then nothing stays mounted", async () => {
  const vol = await ctx.client.createVolume({ name: "vfs-free", sizeGb: 0.125 });
  await vol.fs.mkdir("docs/old", { recursive: true });
  await vol.fs.writeTextFile("docs/a.txt", "alpha");
  await vol.fs.writeTextFile("/docs/a.txt", "-beta", { append: true });
  assert.equal(await vol.fs.readTextFile("docs/a.txt"), "alpha-beta");
  const info = await vol.fs.stat("docs/a.txt");
  assert.equal(info.uid, 1000, "volume files belong to app, as in a sandbox");
  await vol.fs.copyFile("docs/a.txt", "docs/b.txt");
  await vol.fs.rename("docs/b.txt", "docs/old/b.txt");
  await vol.fs.symlink("../a.txt", "docs/old/link");
  assert.equal(await vol.fs.readTextFile("docs/old/link"), "alpha-beta");
  assert.deepEqual(await names(vol.fs.readDir("docs")), ["a.txt", "old"]);
  assert.equal(await vol.fs.realPath("docs/old/link"), "/docs/a.txt");
  assert.equal(await vol.fs.realPath("/../../.."), "/", "the volume root is the root");
  const walked: string[] = [];
  for await (const e of vol.fs.walk("/")) walked.push(e.path);
  assert.ok(walked.includes("/docs/old/b.txt") && walked.includes("/lost+found"), walked.join(","));
  await vol.fs.remove("docs/old", { recursive: true });
  await expectCode(vol.fs.readFile("docs/old/b.txt"), "NOT_FOUND");
  await expectCode(vol.fs.readFile("/docs"), "IS_A_DIRECTORY");
  await expectCode(vol.fs.readFile("/lost+found"), "IS_A_DIRECTORY");
  assert.deepEqual(await names(vol.fs.readDir("/lost+found")), [], "lost+found belongs to the volume's owner");
  await expectCode(
    ctx.client.getVolume("nope").then((v) => v.fs.stat("/")),
    "VOLUME_NOT_FOUND",
  );
  // Nothing of the volume is mounted between operations, and it can be deleted right away.
  assert.deepEqual(
    hostFootprint(ctx.daemon.stateDir).mounts.filter((m) => m.includes(vol.id)),
    [],
  );
  await ctx.client.deleteVolume(vol.id);
});

test("volume.fs on a volume a running sandbox has mounted: both see each other's writes at once", async () => {
  const vol = await ctx.client.createVolume({ name: "vfs-shared", sizeGb: 0.125 });
  const sb = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: vol.id, mountPath: "/mnt/v" }] });
  try {
    await vol.fs.writeTextFile("from-api.txt", "written through volume.fs");
    assert.equal((await sb.sh`cat /mnt/v/from-api.txt`.text()).trimEnd(), "written through volume.fs");
    await sb.sh`echo from-sandbox > /mnt/v/from-sandbox.txt`;
    assert.equal(await vol.fs.readTextFile("from-sandbox.txt"), "from-sandbox\n");
    // The same file through sandbox.fs and volume.fs.
    assert.equal((await sb.fs.stat("/mnt/v/from-api.txt")).ino, (await vol.fs.stat("from-api.txt")).ino);
    // Writing while the sandbox has it open: atomic replace, the reader sees old or new, never half.
    await vol.fs.writeTextFile("from-api.txt", "v2");
    assert.equal(await sb.fs.readTextFile("/mnt/v/from-api.txt"), "v2");
  } finally {
    await sb.kill();
  }
  // Still usable after the sandbox is gone, and the data is there.
  assert.equal(await vol.fs.readTextFile("from-sandbox.txt"), "from-sandbox\n");
  await ctx.client.deleteVolume(vol.id);
});

test("a write past the volume's size fails with NO_SPACE and leaves nothing behind", async () => {
  const vol = await ctx.client.createVolume({ name: "vfs-tiny", sizeGb: 0.0625 });
  let sent = 0;
  const big = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 100 * 1024 * 1024) return c.close();
      sent += 1024 * 1024;
      c.enqueue(new Uint8Array(1024 * 1024).fill(9));
    },
  });
  const e = await expectCode(vol.fs.writeFile("huge.bin", big), "NO_SPACE");
  assert.equal(e.status, 507);
  assert.equal(await vol.fs.exists("huge.bin"), false);
  assert.deepEqual(await names(vol.fs.readDir("/")), [], "no temp file left either");
  // Through a sandbox mount: same error, same cleanliness.
  const sb = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: vol.id, mountPath: "/small" }] });
  try {
    await expectCode(sb.fs.writeFile("/small/huge.bin", new Uint8Array(80 * 1024 * 1024)), "NO_SPACE");
    assert.equal((await sb.sh`ls -A /small | grep -v lost+found | wc -l`.text()).trimEnd(), "0");
    // An upload of a tree that does not fit.
    const tree = join(local, "too-big");
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, "small.txt"), "fits");
    writeFileSync(join(tree, "z-large.bin"), Buffer.alloc(70 * 1024 * 1024, 1));
    await expectCode(vol.fs.upload(tree, "tree"), "NO_SPACE");
    assert.deepEqual(await names(vol.fs.readDir("tree")), ["small.txt"], "complete files stay, the partial one does not");
    const usage = await ctx.client.getVolume(vol.id);
    assert.ok(usage.usedBytes < usage.capacityBytes / 2, `space was given back: ${usage.usedBytes}`);
  } finally {
    await sb.kill();
  }
  await ctx.client.deleteVolume(vol.id);
});

test("upload to and download from a volume", async () => {
  const vol = await ctx.client.createVolume({ name: "vfs-transfer", sizeGb: 0.125 });
  const src = join(local, "src");
  mkdirSync(join(src, "x/y"), { recursive: true });
  writeFileSync(join(src, "x/y/z.txt"), "zzz");
  writeFileSync(join(src, "root.txt"), "root");
  const up = await vol.fs.upload(src, "copy");
  assert.equal(up.files, 2);
  const back = join(local, "back");
  const down = await vol.fs.download("copy", back);
  assert.equal(down.files, 2);
  assert.equal(readFileSync(join(back, "x/y/z.txt"), "utf8"), "zzz");
  // The whole volume, lost+found included (an empty directory of the volume's owner).
  const all = join(local, "all");
  await vol.fs.download("/", all);
  assert.equal(readFileSync(join(all, "copy/root.txt"), "utf8"), "root");
  await ctx.client.deleteVolume(vol.id);
});
