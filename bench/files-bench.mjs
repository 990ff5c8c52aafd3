/**
 * File transfer figures (docs/files.md): upload and download of one 256 MiB file and of a
 * directory of 10,000 small files, through sandbox.fs, as ratios to `cp` of the same data on
 * this host in the same run (1.0 = as fast as cp; higher is better). Median of `rounds`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

const MIB = 1024 * 1024;

async function makeBigFile(file, mib) {
  const h = await open(file, "w");
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < mib; i++) {
    block.fill(i % 251);
    await h.write(block);
  }
  await h.close();
}

function makeSmallFiles(dir, count) {
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < count / 100; f++) writeFileSync(join(dir, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.padEnd(1024, "x"));
  }
}

async function seconds(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Returns { bigUpload, bigDownload, smallUpload, smallDownload } each { seconds, cpSeconds, ratio }. */
export async function fileTransfers(client, { rounds = 3, bigMiB = 256, smallCount = 10_000 } = {}) {
  const dir = mkdtempSync("/var/tmp/atoll-bench-files-");
  const sb = await client.createSandbox({ timeout: "30m" });
  try {
    const big = join(dir, "big.bin");
    await makeBigFile(big, bigMiB);
    const small = join(dir, "small");
    makeSmallFiles(small, smallCount);
    const cp = (src, dst) => seconds(async () => execFileSync("cp", ["-r", src, dst]));
    const runs = { bigUpload: [], bigDownload: [], smallUpload: [], smallDownload: [], cpBig: [], cpSmall: [] };
    for (let i = 0; i < rounds; i++) {
      runs.cpBig.push(await cp(big, join(dir, `cp-big-${i}`)));
      runs.cpSmall.push(await cp(small, join(dir, `cp-small-${i}`)));
      runs.bigUpload.push(await seconds(() => sb.fs.upload(big, `big-${i}.bin`)));
      runs.bigDownload.push(await seconds(() => sb.fs.download(`big-${i}.bin`, join(dir, `down-big-${i}.bin`))));
      runs.smallUpload.push(await seconds(() => sb.fs.upload(small, `small-${i}`)));
      runs.smallDownload.push(await seconds(() => sb.fs.download(`small-${i}`, join(dir, `down-small-${i}`))));
      await sb.sh`rm -rf big-${i}.bin small-${i}`;
      rmSync(join(dir, `cp-big-${i}`), { force: true });
      rmSync(join(dir, `cp-small-${i}`), { recursive: true, force: true });
      rmSync(join(dir, `down-big-${i}.bin`), { force: true });
      rmSync(join(dir, `down-small-${i}`), { recursive: true, force: true });
    }
    const cpBig = median(runs.cpBig);
    const cpSmall = median(runs.cpSmall);
    const fig = (xs, base, mib) => ({ seconds: median(xs), cpSeconds: base, ratio: base / median(xs), MBs: mib / median(xs) });
    const smallMiB = (smallCount * 1024) / MIB;
    return {
      bigUpload: fig(runs.bigUpload, cpBig, bigMiB),
      bigDownload: fig(runs.bigDownload, cpBig, bigMiB),
      smallUpload: fig(runs.smallUpload, cpSmall, smallMiB),
      smallDownload: fig(runs.smallDownload, cpSmall, smallMiB),
    };
  } finally {
    await sb.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
