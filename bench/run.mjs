#!/usr/bin/env node
/**
 * npm run bench: starts a real daemon on a temporary state directory, in the default
 * configuration (no network flags) inside a fake host, measured from inside that host
 * (default-daemon.mjs), and prints every figure as a table and as JSON. Nothing leaves this
 * machine. Figures, not assertions. `--save FILE` keeps this run's JSON, `--compare FILE` prints
 * the change against a saved run (compare.mjs); `--quick` runs fewer rounds.
 */
import { withDefaultDaemon } from "./default-daemon.mjs";
import { fileTransfers } from "./files-bench.mjs";
import { bwrapFloor } from "./host-floor.mjs";
import { createWithoutNetworking, proxyVersusDirect } from "./network-bench.mjs";
import { outputThroughput } from "./output-bench.mjs";
import { commandRoundTrip, createToFirstOutputTimed } from "./sandbox-bench.mjs";
import { flagValue, readSaved, saveAndCompare } from "./compare.mjs";
import { round, summary } from "./stats.mjs";
import { sharedVolume, throughputVsHost, volumeCreateLatency } from "./volume-bench.mjs";
import { forkThroughput, snapshotAndFork } from "./snapshot-bench.mjs";
import { rootFromSnapshot } from "./root-bench.mjs";
import { backupThroughput } from "./backup-bench.mjs";

const quick = process.argv.includes("--quick");
const N = quick ? 10 : 50;

/** Every figure, measured through `client` (a default-configuration daemon). */
async function figures(client) {
  const rows = [];
  const results = {};
  const units = {};
  const add = (name, value, unit, note = "") => {
    results[name] = value;
    units[name] = unit;
    const shown =
      typeof value === "object"
        ? Object.entries(value)
            .map(([k, v]) => `${k}=${round(v)}`)
            .join(" ")
        : round(value);
    rows.push({ figure: name, value: shown, unit, note });
  };

  add("bwrap /bin/true (floor)", summary(await bwrapFloor(N)), "ms", "bare bubblewrap, same run");
  add(
    "create → first output, default configuration",
    summary(await createToFirstOutputTimed(client, N)),
    "ms",
    "npm start's daemon (uplink host, DNS host); target p50 < 50 ms",
  );
  add(
    "create → first output, without networking",
    summary(await createWithoutNetworking(N)),
    "ms",
    "--network off daemon: what the netns, veth, nft and resolver cost",
  );
  add("sh`true` round trip", summary(await commandRoundTrip(client, quick ? 50 : 200)), "ms", "target p50 < 10 ms");
  add("volume create 1 GiB", summary(await volumeCreateLatency(client, 1, 10)), "ms");
  add("volume create 20 GiB", summary(await volumeCreateLatency(client, 20, 10)), "ms");
  const snaps = await snapshotAndFork(client, quick ? 5 : 10);
  add("snapshot of a 20 GiB volume (1 GiB written), being written", summary(snaps.snapshotMs), "ms", "fsfreeze + clone + thaw; target p50 < 100 ms");
  add("volume from that snapshot (fork), 20 GiB", summary(snaps.forkMs), "ms", "clone + allocate; target p50 < 100 ms; compare volume create 20 GiB");
  const ftp = await forkThroughput(client, 256, quick ? 1 : 3);
  add(
    "fork write / fresh volume write",
    ftp.forkWriteMBs / ftp.freshWriteMBs,
    "ratio",
    `${round(ftp.forkWriteMBs)} vs ${round(ftp.freshWriteMBs)} MB/s, 256 MiB new file + fdatasync; target ≥ 0.9; rewriting inherited data: ${round(ftp.rewriteMBs)} MB/s`,
  );
  const boot = await rootFromSnapshot(client, N);
  const bootP50 = summary(boot.snapshotMs).p50 / summary(boot.defaultMs).p50;
  add(
    "create → first output, root: a snapshot",
    summary(boot.snapshotMs),
    "ms",
    `bootable snapshot of builtin:debian-12; target ≤ 1.2× the default image (interleaved, same run)`,
  );
  add("create → first output, default image (beside it)", summary(boot.defaultMs), "ms", `p50 ratio root:snapshot / default = ${round(bootP50)}`);
  const vol = await client.createVolume({ name: "bench-mount-cost", sizeGb: 1 });
  add(
    "create → first output, with 1 volume",
    summary(await createToFirstOutputTimed(client, N, { volumes: [{ id: vol.id, mountPath: "/v" }] })),
    "ms",
    "compare with the line without",
  );
  await client.deleteVolume(vol.id);
  add(
    "process output: head -c 1 GiB through sh, piped to the SDK",
    summary(await outputThroughput(client, quick ? 256 : 1024, quick ? 1 : 3)),
    "MB/s",
    "init → daemon → session WebSocket, flow-controlled (1 MiB windows)",
  );
  const tp = await throughputVsHost(client, 256, quick ? 1 : 3);
  add(
    "volume write / host write",
    tp.volumeWriteMBs / tp.hostWriteMBs,
    "ratio",
    `${round(tp.volumeWriteMBs)} vs ${round(tp.hostWriteMBs)} MB/s, 256 MiB + fdatasync; target ≥ 0.9`,
  );
  add("volume read / host read", tp.volumeReadMBs / tp.hostReadMBs, "ratio", `${round(tp.volumeReadMBs)} vs ${round(tp.hostReadMBs)} MB/s, O_DIRECT`);
  const shared = await sharedVolume(client, 20, 16);
  add("20 sandboxes on one volume: create all", shared.attachAllMs, "ms");
  add("20 sandboxes on one volume: parallel write", shared.aggregateWriteMBs, "MB/s", "16 MiB each, fdatasync");
  const files = await fileTransfers(client, { rounds: quick ? 1 : 3 });
  for (const [name, f] of Object.entries({
    "upload 256 MiB file": files.bigUpload,
    "download 256 MiB file": files.bigDownload,
    "upload 10,000 small files": files.smallUpload,
    "download 10,000 small files": files.smallDownload,
  })) {
    add(`fs ${name} / cp`, f.ratio, "ratio", `${round(f.seconds)} s vs cp ${round(f.cpSeconds)} s (${round(f.MBs)} MB/s)`);
  }
  const backup = await backupThroughput(client, quick ? 1 : 3);
  const sizes = `${round(backup.mb)} MB tree of mixed files → ${round(backup.archiveMb)} MB archive (host ${round(backup.hostArchiveMb)} MB)`;
  add(
    "volume export / host tar + zstd",
    backup.exportMBs / backup.hostCreateMBs,
    "ratio",
    `${round(backup.exportMBs)} vs ${round(backup.hostCreateMBs)} MB/s; ${sizes}`,
  );
  add(
    "volume import / host tar + zstd -x",
    backup.importMBs / backup.hostExtractMBs,
    "ratio",
    `${round(backup.importMBs)} vs ${round(backup.hostExtractMBs)} MB/s, + sync; new volume each time`,
  );
  const net = await proxyVersusDirect(client, { runs: quick ? 1 : 3 });
  add(
    "HTTP keep-alive requests/s: proxy / direct",
    net.proxy.rps / net.direct.rps,
    "ratio",
    `${round(net.proxy.rps)} vs ${round(net.direct.rps)} req/s, sandbox → fake internet`,
  );
  add("HTTP download: proxy / direct", net.proxy.mbs / net.direct.mbs, "ratio", `${round(net.proxy.mbs)} vs ${round(net.direct.mbs)} MB/s, 64 MiB`);
  console.table(rows);
  const run = { bench: "atoll", at: new Date().toISOString(), results };
  console.log(JSON.stringify(run, null, 2));
  saveAndCompare(process.argv, run, units);
}

// A wrong --compare file fails now, not after the whole run.
const compareFile = flagValue(process.argv, "--compare");
if (compareFile) readSaved(compareFile);
await withDefaultDaemon(({ client }) => figures(client));
