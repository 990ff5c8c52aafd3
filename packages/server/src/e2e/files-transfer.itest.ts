/**
 * upload/download correctness across the sizes where the transfer path changes shape (docs/files.md,
 * docs/performance.md): small files read and written in one piece (≤ 64 KiB down, ≤ 1 MiB up), larger
 * ones streamed in 1 MiB writes; empty and sparse files, many files, odd names. Every tree is
 * compared byte for byte after a round trip, and inside the sandbox by checksum.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, lstatSync, rmSync, writeFileSync, writeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Sandbox } from "atoll";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const local = mkdtempSync("/var/tmp/atoll-transfer-");
let shared: Promise<Sandbox> | undefined;
const sandbox = () => (shared ??= ctx.client.createSandbox({ timeout: "15m" }));
after(() => rmSync(local, { recursive: true, force: true }));

const MIB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes that differ per file and per position (a shifted chunk would show). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Every entry under `dir` as "rel type size sha" lines, sorted: two equal trees give equal lists. */
function manifest(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    if (st.isDirectory()) out.push(`${r} dir`, ...manifest(dir, r));
    else out.push(`${r} file ${st.size} ${sha256(readFileSync(join(dir, r)))}`);
  }
  return out.sort();
}

test("many small files and every size boundary survive a round trip", { timeout: 600_000 }, async () => {
  const sb = await sandbox();
  const src = join(local, "many");
  const sizes = [0, 1, 511, 512, 513, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 17];
  mkdirSync(src);
  for (const [i, n] of sizes.entries()) writeFileSync(join(src, `size-${n}`), bytes(n, i));
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(src, `d${d}`));
    for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), bytes((d * 100 + f) % 3000, d * 1000 + f));
  }
  mkdirSync(join(src, "empty-dir"));
  const want = manifest(src);

  const up = await sb.fs.upload(src, "many");
  assert.equal(up.files, sizes.length + 3000);
  // Inside the sandbox, by checksum: the same bytes arrived.
  const inside = (await sb.sh`cd many && find . -type f -exec sha256sum {} + | sort -k2`.text()).trim().split("\n");
  const local256 = want
    .filter((l) => l.includes(" file "))
    .map((l) => `${l.split(" ")[3]}  ./${l.split(" ")[0]}`)
    .sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1));
  assert.deepEqual(inside, local256);
  assert.equal((await sb.sh`test -d many/empty-dir && echo yes`.text()).trim(), "yes");

  const back = join(local, "many-back");
  const down = await sb.fs.download("many", back);
  assert.equal(down.files, sizes.length + 3000);
  assert.deepEqual(manifest(back), want);
});

test("a large file of an odd size round trips with its checksum", { timeout: 600_000 }, async () => {
  const sb = await sandbox();
  const file = join(local, "odd.bin");
  const data = bytes(37 * MIB + 12_345, 7);
  writeFileSync(file, data);
  await sb.fs.upload(file, "odd.bin");
  assert.equal((await sb.sh`sha256sum odd.bin`.text()).split(" ")[0], sha256(data));
  await sb.fs.download("odd.bin", join(local, "odd-back.bin"));
  assert.equal(sha256(readFileSync(join(local, "odd-back.bin"))), sha256(data));
});

test("a sparse file arrives with its holes as zeros", { timeout: 600_000 }, async () => {
  const sb = await sandbox();
  const file = join(local, "sparse.bin");
  const fd = openSync(file, "w");
  ftruncateSync(fd, 64 * MIB + 3);
  writeSync(fd, Buffer.from("start"), 0, 5, 0);
  writeSync(fd, Buffer.from("middle"), 0, 6, 20 * MIB + 1);
  writeSync(fd, Buffer.from("end"), 0, 3, 64 * MIB);
  closeSync(fd);
  const want = sha256(readFileSync(file));
  await sb.fs.upload(file, "sparse.bin");
  assert.equal((await sb.sh`stat -c %s sparse.bin`.text()).trim(), String(64 * MIB + 3));
  assert.equal((await sb.sh`sha256sum sparse.bin`.text()).split(" ")[0], want);
  await sb.sh`truncate -s 10M hole.bin && printf tail >> hole.bin`;
  await sb.fs.download("hole.bin", join(local, "hole.bin"));
  const got = readFileSync(join(local, "hole.bin"));
  assert.equal(got.length, 10 * MIB + 4);
  assert.equal(
    got.subarray(0, 10 * MIB).every((b) => b === 0),
    true,
  );
  assert.equal(got.subarray(10 * MIB).toString(), "tail");
});

test("names with odd characters keep their exact bytes both ways", { timeout: 600_000 }, async () => {
  const sb = await sandbox();
  const src = join(local, "names");
  mkdirSync(src);
  const names = ["with space", "new\nline", "tab\there", 'quote"s', "back\\slash", "-leading-dash", "ünïcødé-名前", "*?[glob]", "x".repeat(255), " ", "..."];
  for (const [i, n] of names.entries()) writeFileSync(join(src, n), `content ${i}`);
  mkdirSync(join(src, "dir with\nnewline"));
  writeFileSync(join(src, "dir with\nnewline", "inner"), "inner");
  const want = manifest(src);
  await sb.fs.upload(src, "names");
  for (const n of names) assert.equal(await sb.fs.readTextFile(`names/${n}`), `content ${names.indexOf(n)}`);
  await sb.fs.download("names", join(local, "names-back"));
  assert.deepEqual(manifest(join(local, "names-back")), want);
});
