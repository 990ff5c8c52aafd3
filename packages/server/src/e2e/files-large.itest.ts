/**
 * A 256 MiB file up to a sandbox and back, through the daemon, without holding it in memory:
 * the bytes compare equal and the daemon's peak memory stays far below the file's size.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const local = mkdtempSync("/var/tmp/atoll-large-");
after(() => rmSync(local, { recursive: true, force: true }));

const MIB = 1024 * 1024;

async function sha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Peak resident memory of a process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

test("a 256 MiB file round trip, sandbox and volume, with bounded daemon memory", async () => {
  const src = join(local, "big.bin");
  const handle = await open(src, "w");
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < 256; i++) {
    block.fill(i % 251);
    block.writeUInt32BE(i, 0);
    await handle.write(block);
  }
  await handle.close();
  const want = await sha256(src);

  const before = peakRss(ctx.daemon.pid);
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  try {
    const up = await sb.fs.upload(src, "big.bin");
    assert.equal(up.bytes, 256 * MIB);
    assert.equal((await sb.sh`sha256sum big.bin`.text()).trimEnd().split(" ")[0], want);
    const back = join(local, "back.bin");
    await sb.fs.download("big.bin", back);
    assert.equal(statSync(back).size, 256 * MIB);
    assert.equal(await sha256(back), want);
  } finally {
    await sb.kill();
  }
  const vol = await ctx.client.createVolume({ name: "large", sizeGb: 0.5 });
  try {
    await vol.fs.upload(src, "big.bin");
    const back = join(local, "back-vol.bin");
    await vol.fs.download("big.bin", back);
    assert.equal(await sha256(back), want);
  } finally {
    await ctx.client.deleteVolume(vol.id);
  }
  const after = peakRss(ctx.daemon.pid);
  // Not a timing test: a loose bound that buffering the file (≥ 256 MiB) would break.
  assert.ok(after < before + 160 * MIB, `daemon peak RSS grew from ${before >> 20} to ${after >> 20} MiB`);
  writeFileSync(join(local, "done"), "");
});
