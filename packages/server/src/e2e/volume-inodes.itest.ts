/**
 * Volumes hold real trees (issue 11, item 5): a 1 GiB volume holds 250,000 files, the inode
 * figures reach the SDK and the CLI, running out of inodes is reported as such, and the volume
 * root does not trip `app` (lost+found).
 */
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FileSystemError } from "atoll";
import { LIMITS } from "atoll/contract";
import { scratchInodeCountFor } from "../host/inode-sizing.js";
import { runCli } from "../testing/cli-runner.js";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const cli = (args: string[]) => runCli({ url: ctx.daemon.url, token: ctx.daemon.token }, args);

/** The CLI's `volume ls` line of a volume. */
async function lsLine(name: string): Promise<string> {
  const r = await cli(["volume", "ls"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").find((l) => l.startsWith(`${name} `)) ?? "";
}

/** Creates empty files in DIR until the filesystem refuses one; prints how many it made and the errno. */
const FILL_INODES = String.raw`
import os, sys
d = sys.argv[1]; n = 0
try:
    while True:
        os.close(os.open(f"{d}/f{n}", os.O_CREAT | os.O_WRONLY, 0o644)); n += 1
except OSError as e:
    print(n, e.errno)
`;

test("a 1 GiB volume holds 250,000 files; usedInodes and inodeCapacity in the SDK and the CLI", async () => {
  const volume = await ctx.client.createVolume({ name: "many-files", sizeGb: 1 });
  assert.equal(volume.inodeCapacity, 262_144);
  assert.equal(volume.usedInodes, 11, "ext4's reserved inodes");
  {
    await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    // Empty files: with 4 KiB blocks a non-empty file takes a block, and 250,000 blocks are more
    // than 1 GiB holds; the inodes are what this measures.
    const made = await sb.sh`python3 -c ${String.raw`
import os, time
t = time.monotonic()
for d in range(250):
    os.mkdir(f"/data/d{d}")
    for f in range(1000):
        os.close(os.open(f"/data/d{d}/f{f}", os.O_CREAT | os.O_WRONLY, 0o644))
print(round(time.monotonic() - t, 1))
`}`.text();
    console.log(`# 250,000 empty files in 250 directories on a 1 GiB volume: ${made} s`);
    assert.equal((await sb.sh`find /data -type f | wc -l`.text()).trimEnd(), "250000");
    const live = await ctx.client.getVolume(volume.id);
    assert.equal(live.usedInodes, 11 + 250 + 250_000, "statfs of the mounted volume");
    assert.equal(live.inodeCapacity, 262_144);
    assert.match(await lsLine("many-files"), /\s250,261 \/ 262,144\s/);
    // The sandbox's own root (10 GiB by default): the first GiB as dense, fewer beyond (inode-sizing.ts).
    assert.ok(Number((await sb.sh`stat -f -c %c /`.text()).trimEnd()) >= scratchInodeCountFor(LIMITS.rootfsDefault));
  }
  const idle = await ctx.client.getVolume(volume.id);
  assert.equal(idle.attachments.length, 0);
  assert.equal(idle.usedInodes, 11 + 250 + 250_000, "from the image's superblock once unmounted");
  const json = JSON.parse((await cli(["volume", "inspect", "many-files"])).stdout) as { usedInodes: number; inodeCapacity: number };
  assert.deepEqual([json.usedInodes, json.inodeCapacity], [250_261, 262_144]);
  await ctx.client.deleteVolume(volume.id);
});

test("a volume out of inodes says so: in its info, the CLI and the file API, while bytes are free", async () => {
  const volume = await ctx.client.createVolume({ name: "few-inodes", sizeGb: 0.0625 });
  {
    await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    await sb.sh`mkdir /data/many`;
    const [made, errno] = (await sb.sh`python3 -c ${FILL_INODES} /data/many`.text()).trimEnd().split(" ").map(Number);
    assert.equal(errno, 28, "the kernel says ENOSPC");
    assert.equal(made, volume.inodeCapacity - 12, "every inode but the reserved ones and the directory");
    // A command just gets the kernel's ENOSPC; the volume's info tells what ran out.
    assert.match((await sb.sh`touch /data/one-more`.stderr("piped").noThrow()).stderrText, /No space left on device/);
    const full = await ctx.client.getVolume(volume.id);
    assert.equal(full.usedInodes, full.inodeCapacity);
    assert.ok(full.usedBytes < full.capacityBytes / 2, `bytes are free: ${full.usedBytes} of ${full.capacityBytes}`);
    assert.match(await lsLine("few-inodes"), /\(out of inodes\)/);

    for (const attempt of [() => sb.fs.writeTextFile("/data/one-more", "x"), () => sb.fs.mkdir("/data/dir")]) {
      const e = await expectCode(attempt(), "NO_SPACE");
      assert.ok(e instanceof FileSystemError);
      assert.match(e.message, /^Out of inodes for \/data\/(one-more|dir): /);
      assert.equal(e.details?.outOfInodes, true);
    }
  }
  // The same through volume.fs, with no sandbox (the volume jail).
  const vol = await ctx.client.getVolume(volume.id);
  const e = await expectCode(vol.fs.writeTextFile("one-more", "x"), "NO_SPACE");
  assert.match(e.message, /^Out of inodes/);
  // Out of bytes instead is not reported as out of inodes.
  await vol.fs.remove("many", { recursive: true });
  const bytes = await expectCode(vol.fs.writeFile("big.bin", new Uint8Array(80 * 1024 * 1024)), "NO_SPACE");
  assert.match(bytes.message, /^No space left for /);
  assert.equal(bytes.details?.outOfInodes, undefined);
  assert.doesNotMatch(await lsLine("few-inodes"), /out of inodes/);
  await ctx.client.deleteVolume(volume.id);
});

test("the root of a fresh volume does not trip app: du -s works, lost+found is app's, and a planted symlink is not followed", async () => {
  const volume = await ctx.client.createVolume({ name: "fresh-root", sizeGb: 0.125 });
  const hostTarget = mkdtempSync("/var/tmp/atoll-lf-target-");
  try {
    {
      await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
      const du = await sb.sh`du -s /data`.stdout("null").stderr("piped").noThrow();
      assert.equal(du.status.code, 0, du.stderrText);
      assert.equal((await sb.sh`stat -c %U:%a /data/lost+found`.text()).trimEnd(), "app:700");
      assert.equal((await sb.sh`find /data`.stdout("null").noThrow()).status.code, 0);
      // The probe can fail: a directory app may not read makes du fail.
      await sb.sh`mkdir -m 700 /data/private`.sudo();
      assert.match((await sb.sh`du -s /data`.stdout("null").stderr("piped").noThrow()).stderrText, /Permission denied/);
      await sb.sh`rmdir /data/private`.sudo();

      // app replaces lost+found with a symlink to a host path; on the host mount it resolves there.
      await sb.sh`rmdir /data/lost+found && ln -s ${hostTarget} /data/lost+found`;
      assert.equal(realpathSync(join(ctx.daemon.stateDir, "run/volumes", volume.id, "lost+found")), hostTarget);
    }
    // The next mount adopts lost+found again: through O_NOFOLLOW, so the host path is untouched.
    {
      await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
      assert.equal((await sb.sh`readlink /data/lost+found`.text()).trimEnd(), hostTarget);
    }
    const st = statSync(hostTarget);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, 0o700], "the host directory kept its owner");
  } finally {
    rmSync(hostTarget, { recursive: true, force: true });
  }
  await ctx.client.deleteVolume(volume.id);
});
