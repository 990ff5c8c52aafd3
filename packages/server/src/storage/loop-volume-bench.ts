/**
 * Benchmark of the loop volume backend on this host (root). Not a test: prints figures.
 * Run: node packages/server/dist/storage/loop-volume-bench.js
 *
 * Measures volume create latency (1 GiB, 20 GiB), acquire/release latency, and sequential
 * write throughput (256 MiB + fdatasync) on a volume (loop with and without direct I/O) versus
 * a file on the host disk, in the same run.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { ensurePrivateMount, umountTree } from "../host/mounts.js";
import { execFileRunner as runner } from "../host/run-command.js";
import { LoopVolumeBackend } from "./loop-volume-backend.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Writes 256 MiB in 1 MiB chunks, fdatasyncs, returns MB/s (10^6 bytes). */
async function writeThroughput(file: string, chunk: Buffer, total: number): Promise<number> {
  const handle = await open(file, "w");
  let ms: number;
  try {
    ms = await timed(async () => {
      for (let done = 0; done < total; done += chunk.length) await handle.write(chunk);
      await handle.datasync();
    });
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  return total / 1e6 / (ms / 1000);
}

async function main(): Promise<void> {
  const base = await mkdtemp("/var/tmp/atoll-volume-bench-");
  const stateDir = path.join(base, "state");
  const runDir = path.join(stateDir, "run");
  try {
    await ensurePrivateMount(runner, runDir);
    const backends = {
      dio: new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, directIo: true }),
      buffered: new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, directIo: false }),
    };
    const b = backends.dio;

    for (const size of [1 * GiB, 20 * GiB]) {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const id = `bench_create_${i}`;
        times.push(await timed(() => b.create(id, size)));
        await b.delete(id);
      }
      console.log(`create ${size / GiB} GiB: p50 ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`);
    }

    await b.create("bench_acq", 1 * GiB);
    for (const [name, backend] of Object.entries(backends)) {
      const acq: number[] = [];
      const rel: number[] = [];
      for (let i = 0; i < 10; i++) {
        acq.push(await timed(() => backend.acquire("bench_acq")));
        rel.push(await timed(() => backend.release("bench_acq")));
      }
      console.log(`acquire (${name}, loop+mount): p50 ${median(acq).toFixed(1)} ms; release (umount+detach): p50 ${median(rel).toFixed(1)} ms`);
    }
    await b.delete("bench_acq");

    await b.create("bench_write", 1 * GiB);
    const chunk = randomBytes(MiB);
    const total = 256 * MiB;
    const results: Record<string, number[]> = { host: [], "volume dio": [], "volume buffered": [] };
    for (let round = 0; round < 7; round++) {
      results.host!.push(await writeThroughput(path.join(stateDir, "host-write.bin"), chunk, total));
      for (const [name, backend] of Object.entries(backends)) {
        const dir = await backend.acquire("bench_write");
        try {
          results[`volume ${name}`]!.push(await writeThroughput(path.join(dir, "w.bin"), chunk, total));
        } finally {
          await backend.release("bench_write");
        }
      }
    }
    for (const [name, xs] of Object.entries(results)) {
      console.log(`write 256 MiB + fdatasync, ${name}: median ${median(xs).toFixed(0)} MB/s (${xs.map((x) => x.toFixed(0)).join(", ")})`);
    }
    await b.delete("bench_write");
  } finally {
    await umountTree(runner, base).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
}

await main();
