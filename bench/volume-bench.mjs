/** Volume figures: create latency, the cost of a mount, throughput versus the host disk, sharing. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";

/** ms of creating a volume of `sizeGb`, n times; each is deleted before the next (n × 20 GiB need not fit the disk at once). */
export async function volumeCreateLatency(client, sizeGb, n = 10) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const v = await client.createVolume({ name: `bench-${String(sizeGb).replace(".", "_")}-${i}`, sizeGb });
    ms.push(performance.now() - t0);
    await client.deleteVolume(v.id);
  }
  return ms;
}

/** MB/s of writing (with fdatasync) then reading back `mb` MiB with dd, run by `run(cmd)`. */
export async function ddThroughput(run, dir, mb) {
  const w = await run(`dd if=/dev/zero of=${dir}/bench.bin bs=1M count=${mb} conv=fdatasync 2>&1 | tail -1`);
  // Drop the page cache of that file so the read really reads.
  const r = await run(`dd if=${dir}/bench.bin of=/dev/null bs=1M iflag=direct 2>&1 | tail -1`);
  await run(`rm -f ${dir}/bench.bin`);
  return { writeMBs: parseDd(w), readMBs: parseDd(r) };
}

function parseDd(line) {
  const m = /([\d.,]+) ([kMG])B\/s/.exec(line);
  if (!m) throw new Error(`cannot parse dd output: ${line}`);
  const n = Number(m[1].replace(",", "."));
  return m[2] === "G" ? n * 1000 : m[2] === "k" ? n / 1000 : n;
}

export async function throughputVsHost(client, mb = 256, rounds = 3) {
  const volume = await client.createVolume({ name: "bench-throughput", sizeGb: 2 });
  const sb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/bench" }] });
  const hostDir = mkdtempSync("/var/tmp/atoll-bench-");
  try {
    const inSandbox = (cmd) => sb.sh`sh -c ${cmd}`.text();
    const onHost = async (cmd) => execFileSync("sh", ["-c", cmd], { encoding: "utf8" });
    const host = [];
    const vol = [];
    for (let i = 0; i < rounds; i++) {
      host.push(await ddThroughput(onHost, hostDir, mb));
      vol.push(await ddThroughput(inSandbox, "/bench", mb));
    }
    const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return {
      hostWriteMBs: med(host, "writeMBs"),
      hostReadMBs: med(host, "readMBs"),
      volumeWriteMBs: med(vol, "writeMBs"),
      volumeReadMBs: med(vol, "readMBs"),
    };
  } finally {
    rmSync(hostDir, { recursive: true, force: true });
    await sb.kill();
    await client.deleteVolume(volume.id);
  }
}

export async function sharedVolume(client, sandboxes = 20, mbEach = 16) {
  const volume = await client.createVolume({ name: "bench-shared", sizeGb: 2 });
  const sbs = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < sandboxes; i++) sbs.push(await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/shared" }] }));
    const attachAllMs = performance.now() - t0;
    const t1 = performance.now();
    await Promise.all(sbs.map((sb, i) => sb.sh`dd if=/dev/zero of=/shared/w${i} bs=1M count=${mbEach} conv=fdatasync status=none`));
    const writeMs = performance.now() - t1;
    const listing = await sbs[0].sh`ls /shared | grep -c '^w'`.text();
    if (Number(listing) !== sandboxes) throw new Error(`expected ${sandboxes} files, saw ${listing}`);
    return { sandboxes, attachAllMs, aggregateWriteMBs: (sandboxes * mbEach * 1.048576) / (writeMs / 1000) };
  } finally {
    for (const sb of sbs) await sb.kill();
    await client.deleteVolume(volume.id);
  }
}
