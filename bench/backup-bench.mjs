/**
 * Volume archive figures (issue 17, docs/operations.md "Volume archives"): export and import
 * throughput of a tree of about 200 MiB of mixed files (incompressible, text, many small ones),
 * next to host GNU tar + zstd over the same tree on the host's disk (same options, no confinement,
 * no HTTP; read from a cold page cache like the export, which reads a fresh snapshot's image).
 * MB/s of the tree's bytes; figures, not assertions.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import path from "node:path";

/** Writes the tree into argv[1] and prints its bytes. Same on the host and in a sandbox. */
const TREE_PY = `
import os, random, sys
root = sys.argv[1]; rnd = random.Random(17); total = 0
def put(p, data):
    global total
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f: f.write(data)
    total += len(data)
for i in range(4): put(f"{root}/big/random-{i}.bin", rnd.randbytes(25 << 20))
line = b"".join(b"line %d of a log that compresses well, status=ok latency=%dms\\n" % (n, n % 97) for n in range(20000))
for i in range(40): put(f"{root}/logs/app-{i}.log", line[: (1300 << 10)])
for i in range(12000):
    size = rnd.randint(1024, 8192)
    put(f"{root}/small/{i % 100}/f{i}", rnd.randbytes(size) if i % 2 else (b"x" * size))
print(total)
`;

/** Drops the tree's pages from the page cache (an export reads the snapshot's image cold too). */
const EVICT_PY = `
import os, sys
os.sync()
for dp, _, fns in os.walk(sys.argv[1]):
    for f in fns:
        fd = os.open(os.path.join(dp, f), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
`;

const TAR = ["--sparse", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "--zstd"];

/** Seconds `fn` takes. */
async function seconds(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Export and import MB/s through the daemon, and host tar + zstd MB/s over the same tree. */
export async function backupThroughput(client, rounds = 3) {
  const volume = await client.createVolume({ name: "bench-backup-src", sizeGb: 1 });
  const host = mkdtempSync("/var/tmp/atoll-bench-backup-");
  const imported = [];
  try {
    const sb = await client.createSandbox({ timeout: "30m", volumes: [{ id: volume.id, mountPath: "/v" }] });
    let bytes;
    try {
      bytes = Number((await sb.sh`python3 -c ${TREE_PY} /v/tree && sync`.text()).trim());
    } finally {
      await sb.kill();
    }
    const mb = bytes / 1e6;
    const exportS = [];
    const importS = [];
    let archive;
    for (let i = 0; i < rounds; i++) {
      exportS.push(
        await seconds(async () => {
          archive = Buffer.from(await new Response(await volume.export()).arrayBuffer());
        }),
      );
      importS.push(
        await seconds(async () => {
          imported.push(await client.importVolume(new Uint8Array(archive), { name: `bench-backup-copy-${i}` }));
        }),
      );
      await client.deleteVolume(imported.pop().id);
    }
    // The host: the same tree on the host's disk, GNU tar + zstd as root, no confinement.
    execFileSync("python3", ["-c", TREE_PY, path.join(host, "tree")]);
    const file = path.join(host, "tree.tar.zst");
    const hostCreateS = [];
    const hostExtractS = [];
    for (let i = 0; i < rounds; i++) {
      execFileSync("python3", ["-c", EVICT_PY, path.join(host, "tree")]);
      hostCreateS.push(await seconds(() => execFileSync("tar", ["-c", ...TAR, "-f", file, "-C", host, "tree"])));
      const into = path.join(host, `x${i}`);
      execFileSync("mkdir", [into]);
      hostExtractS.push(await seconds(() => execFileSync("sh", ["-c", 'tar -x "$@" && sync -f "$0"', into, ...TAR, "-f", file, "-C", into])));
      rmSync(into, { recursive: true, force: true });
    }
    const best = (xs) => Math.min(...xs);
    return {
      mb,
      archiveMb: archive.length / 1e6,
      hostArchiveMb: statSync(file).size / 1e6,
      exportMBs: mb / best(exportS),
      importMBs: mb / best(importS),
      hostCreateMBs: mb / best(hostCreateS),
      hostExtractMBs: mb / best(hostExtractS),
    };
  } finally {
    for (const v of imported) await client.deleteVolume(v.id).catch(() => undefined);
    await client.deleteVolume(volume.id);
    rmSync(host, { recursive: true, force: true });
  }
}
