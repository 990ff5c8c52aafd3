import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { ExposeGateway } from "./api/expose-gateway.js";
import { buildHttpServer } from "./api/http-server.js";
import { dashboardFront } from "./dashboard/register-dashboard.js";
import { AttachmentService } from "./core/attachment-service.js";
import { armCrashPoint } from "./crash-points.js";
import { CommandLog } from "./core/command-log.js";
import { forEachConcurrently } from "./core/for-each-concurrently.js";
import { LiveSandboxes } from "./core/live-sandboxes.js";
import { type ReconcileResult, reconcileOnStart } from "./core/reconciler.js";
import { ImageImportService } from "./core/image-import-service.js";
import { SnapshotService } from "./core/snapshot-service.js";
import { SnapshotRepo } from "./store/snapshot-repo.js";
import { SandboxMonitor } from "./core/sandbox-monitor.js";
import { QuotaChecker } from "./core/quota-checker.js";
import { SandboxService } from "./core/sandbox-service.js";
import { TokenService } from "./core/token-service.js";
import { UsageSampler } from "./core/usage-sampler.js";
import { VolumeService } from "./core/volume-service.js";
import type { DaemonConfig } from "./daemon-config.js";
import { DiskBudget } from "./host/disk-budget.js";
import { KeyedMutex } from "./host/keyed-mutex.js";
import { ensurePrivateMount, umountTree } from "./host/mounts.js";
import { createPrivateFile, secureStateDir } from "./host/state-dir-modes.js";
import { readHostIds } from "./host/subid-files.js";
import { planForStateDir, type UidPlan, writeUidRecord } from "./host/uid-range.js";
import { reserveUidRange } from "./host/uid-reservation.js";
import { ensureImage } from "./image/image-builder.js";
import type { CommandRunner } from "./host/run-command.js";
import { BwrapRuntime } from "./runtime/bwrap-runtime.js";
import { DENO_IN_SANDBOX } from "./runtime/deno-binary.js";
import { HostSpawner } from "./runtime/host-spawner.js";
import { NetworkService } from "./core/network-service.js";
import { LinuxNetworkDriver } from "./net/linux-network-driver.js";
import { BwrapFilesDriver } from "./runtime/bwrap-files-driver.js";
import { FileService } from "./core/file-service.js";
import { LoopVolumeBackend } from "./storage/loop-volume-backend.js";
import { assertHostReady } from "./doctor/preflight.js";
import { startupStep } from "./startup-error.js";
import { moveVolumeIds } from "./storage/volume-id-move.js";
import { AttachmentRepo } from "./store/attachment-repo.js";
import { CommandLogRepo } from "./store/command-log-repo.js";
import { DashboardSessionRepo } from "./store/dashboard-session-repo.js";
import { type Db, openDatabase } from "./store/database.js";
import { DaemonRunRepo } from "./store/daemon-run-repo.js";
import { DaemonRuns } from "./core/daemon-runs.js";
import { MIGRATIONS } from "./store/migrations.js";
import { assertSchemaKnown } from "./store/schema-version.js";
import { SandboxRepo } from "./store/sandbox-repo.js";
import { TenantRepo } from "./store/tenant-repo.js";
import { TokenRepo } from "./store/token-repo.js";
import { UsageSampleRepo } from "./store/usage-sample-repo.js";
import { VolumeRepo } from "./store/volume-repo.js";
import { loadOrCreateToken } from "./token-file.js";
import { DaemonError } from "./daemon-error.js";
import { daemonMetrics } from "./metrics/metrics-wiring.js";
import { AuditLog } from "./core/audit-log.js";
import { AuditRepo } from "./store/audit-repo.js";
import { BackupService } from "./core/backup-service.js";
import { TarBackupDriver } from "./backup/tar-backup-driver.js";

export const VERSION = "0.1.0";

/** Adopted sandboxes whose networks are taken over at once at start. */
const ADOPT_NETWORKS_AT_ONCE = 128;

/** A running daemon. */
export interface Daemon {
  url: string;
  tokenFile: string;
  logger: Logger;
  /**
   * Stops accepting requests, kills every sandbox, releases every host resource. With
   * `keepSandboxes` (`atoll serve` on SIGTERM, unless --stop-sandboxes-on-exit) sandboxes the next
   * daemon can adopt keep running with what they hold; the others are stopped.
   */
  stop(opts?: { keepSandboxes?: boolean }): Promise<void>;
  /** What the start adopted: "adopted 12 sandboxes, 30 volumes; ended 1 whose timeout passed". */
  adoption: string;
}

/** The daemon's log: JSON lines on stdout. */
export function createDaemonLogger(level: string): Logger {
  return pino({ level, base: { service: "atoll" } });
}

/**
 * Starts `atoll serve`: host checks, state directory and token, store, base image, drivers,
 * reconcile with the host, then the HTTP server. Resolves once /healthz answers. A start that
 * fails leaves nothing behind on the host.
 */
export async function startDaemon(config: DaemonConfig, logger: Logger = createDaemonLogger(config.logLevel)): Promise<Daemon> {
  // Test-only fault injection (crash-points.ts): read once here, never reachable over the API.
  const crashAt = armCrashPoint(process.env);
  if (crashAt) logger.warn({ crashAt }, "crash point armed: this daemon kills itself with SIGKILL at that step (ATOLL_CRASH_AT, tests only)");
  // A state directory of a newer release is refused before anything in it (or on the host) changes.
  assertSchemaKnown(join(config.stateDir, "atoll.db"), MIGRATIONS.length, VERSION);
  // Which host ids sandboxes run as; refuses to start when the host gave any of them to someone.
  const uidPlan = planForStateDir(config.stateDir, config.uidBase, readHostIds(config.etcDir));
  const uidBase = uidPlan.base;
  logger.info({ uidBase, movingFrom: uidPlan.from, reason: uidPlan.reason }, "sandbox id range");
  // Before anything is created: what the host lacks, as one line with its fix (atoll doctor).
  await assertHostReady(config, uidBase, logger);
  // 0711 for parents this creates (bwrap passes through them); secureStateDir sets the state dir's own mode.
  mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
  // Recorded before anything else is written, so a crash never leaves a directory of unknown base.
  writeUidRecord(config.stateDir, uidPlan.from === undefined ? { base: uidBase } : { base: uidPlan.from, movingTo: uidBase });
  reserveRange(config.etcDir, uidBase, [], logger);
  // Root only, except the path bwrap takes to sandbox roots (host/state-dir-modes.ts).
  secureStateDir(config.stateDir, uidBase, config.imagesDir);
  const tokenFile = join(config.stateDir, "token");
  const token = loadOrCreateToken(tokenFile);
  createPrivateFile(join(config.stateDir, "atoll.db"));
  const db = openDatabase(join(config.stateDir, "atoll.db"));
  // Host commands (mount, losetup, ip, nft, …) are forked by a small helper, not by this process;
  // it is this daemon's own (no process-global runner), handed to every driver below.
  const spawner = await HostSpawner.start(config.nativeDir);
  const stopSpawner = () => spawner.close();
  try {
    await ensurePrivateMount(spawner, config.runDir);
    const daemon = await startServing({ ...config, uidBase }, { logger, db, token, tokenFile, uidPlan, runner: spawner });
    return { ...daemon, stop: (opts) => daemon.stop(opts).finally(stopSpawner) };
  } catch (err) {
    // A daemon that could not start leaves nothing mounted behind.
    await umountTree(spawner, config.runDir).catch(() => undefined);
    db.close();
    await stopSpawner();
    throw err;
  }
}

type ServeDeps = { logger: Logger; db: Db; token: string; tokenFile: string; uidPlan: UidPlan; runner: CommandRunner };

/** serve(), and when it fails, whatever it had started stopped again (newest first). */
async function startServing(config: DaemonConfig & { uidBase: number }, deps: ServeDeps): Promise<Daemon> {
  const started: (() => unknown)[] = [];
  try {
    return await serve(config, deps, started);
  } catch (err) {
    for (const undo of started.reverse()) {
      await Promise.resolve()
        .then(undo)
        .catch((e: unknown) => deps.logger.warn({ err: e }, "undoing a failed start failed"));
    }
    throw err;
  }
}

async function serve(
  config: DaemonConfig & { uidBase: number },
  { logger, db, token, tokenFile, uidPlan, runner }: ServeDeps,
  started: (() => unknown)[],
): Promise<Daemon> {
  const imageRootfs = await startupStep(
    "the base image could not be built",
    "check that Debian's mirror is reachable; `atoll image build` shows every step",
    () =>
      ensureImage({
        imagesDir: config.imagesDir,
        uidBase: config.uidBase,
        runner,
        onProgress: (p) => logger.info({ progress: p }, "building base image"),
      }),
  );

  // One budget for everything that takes space in the state directory (docs/operations.md).
  const disk = new DiskBudget({ stateDir: config.stateDir, runner, reserveBytes: config.disk.reserveBytes, overcommit: config.disk.overcommit, logger });
  const runtime = new BwrapRuntime({
    disk,
    stateDir: config.stateDir,
    runDir: config.runDir,
    uidBase: config.uidBase,
    nativeDir: config.nativeDir,
    runner,
    cgroupParent: config.cgroupParent,
    logger,
    readOnlyBinds: config.denoBinary ? [{ source: config.denoBinary, target: DENO_IN_SANDBOX }] : [],
  });
  started.push(() => runtime.close?.());
  const storage = new LoopVolumeBackend({ stateDir: config.stateDir, runDir: config.runDir, uidBase: config.uidBase, runner, logger, disk });
  const repos = { sandboxes: new SandboxRepo(db), volumes: new VolumeRepo(db), attachments: new AttachmentRepo(db) };
  const snapshotRepo = new SnapshotRepo(db);
  const reconciled = await reconcileOnStart({ ...repos, runtime, storage, logger, snapshots: () => snapshotRepo.settleAtStart() });
  started.push(() => Promise.all(reconciled.adopted.map((a) => a.runtime.detach?.())));
  if (uidPlan.from !== undefined) await finishUidMove(config, { storage, volumes: repos.volumes, logger, runner }, uidPlan.from);

  const locks = new KeyedMutex();
  const live = new LiveSandboxes();
  const tenants = new TenantRepo(db);
  const quotas = new QuotaChecker({
    tenants,
    sandboxes: repos.sandboxes,
    volumes: repos.volumes,
    snapshots: snapshotRepo,
    atomic: (fn) => db.transaction(fn)(),
  });
  // The two need each other: volumes reach the attachment service through this closure.
  const volumes = new VolumeService({
    volumes: repos.volumes,
    attachments: repos.attachments,
    storage,
    locks,
    logger,
    quotas,
    detachEverywhere: (volumeId): Promise<void> => attachments.detachEverywhere(volumeId),
    snapshots: snapshotRepo,
    builtinImages: { "builtin:debian-12": imageRootfs },
  });
  const attachments = new AttachmentService({
    volumes,
    volumeRepo: repos.volumes,
    attachments: repos.attachments,
    storage,
    locks,
    live,
    logger,
    snapshots: snapshotRepo,
  });
  const commandLog = new CommandLog({ repo: new CommandLogRepo(db), logger, onStarted: (user) => metrics.commandStarted(user) });
  // After reconcile (the previous run's sandboxes are dead): their namespaces go, the router comes.
  const netDriver = config.net.enabled
    ? new LinuxNetworkDriver({ config: config.net, stateDir: config.stateDir, nativeDir: config.nativeDir, runner, logger })
    : undefined;
  if (netDriver) {
    // The networks of sandboxes being adopted stay (namespaces, nft rules, netd); the rest of the previous run's go.
    const keep = NetworkService.keepForAdoption(reconciled.adopted.map((a) => a.row));
    await startupStep("sandbox networks could not be set up", "run atoll doctor, or start with --network off (loopback only)", () => netDriver.start(keep));
    started.push(() => netDriver.close());
  }
  // Exposed ports are served on origins of their own, never the API's (docs/network.md); the
  // network service forwards what the gateway routes.
  const gateway = new ExposeGateway({
    config: config.web.expose,
    limits: config.web.limits,
    proxy: { proxyExposed: (...a) => network.proxyExposed(...a), proxyExposedUpgrade: (...a) => network.proxyExposedUpgrade(...a) },
    apiHost: config.host,
    logger,
  });
  const network = new NetworkService({
    driver: netDriver,
    repo: repos.sandboxes,
    locks,
    logger,
    upstreamCa: config.net.upstreamCaFile ? readFileSync(config.net.upstreamCaFile, "utf8") : undefined,
    assertRunning: (t, id) => sandboxes.assertRunning(t, id),
    tenantOpen: (t) => tenants.get(t)?.netOpen ?? [],
    front: gateway,
    isAtollToken: (v): boolean => tokens.recognizes(v),
  });
  const tokens = new TokenService({
    tokens: new TokenRepo(db),
    tenants,
    sandboxes: repos.sandboxes,
    volumes: repos.volumes,
    adminToken: token,
    logger,
    netAccess: network.enabled ? network.netAccess : undefined,
  });
  const sandboxes = new SandboxService({ repo: repos.sandboxes, attachments, runtime, live, locks, imageRootfs, logger, commandLog, network, quotas });
  for (const a of reconciled.adopted) sandboxes.adopt(a.row, a.runtime);
  // Then their networks; a sandbox whose network cannot be taken over is ended (never left without its policy).
  // All at once: their firewall entries go into nftables in batches (one nft run, not one each).
  const networkLost = await forEachConcurrently(
    reconciled.adopted.filter((a) => a.row.network),
    ADOPT_NETWORKS_AT_ONCE,
    async (a) => {
      if (!netDriver) throw new DaemonError("NETWORK_FAILED", "this daemon runs with --network off");
      await network.adopt(a.row);
    },
  );
  for (const { item: a, error } of networkLost) {
    logger.warn({ err: error, sandboxId: a.row.id }, "the sandbox's network could not be adopted; ending the sandbox");
    await sandboxes.endAdopted(a.row.id, "daemon-restart");
    reconciled.adopted.splice(reconciled.adopted.indexOf(a), 1);
    reconciled.stopped++;
  }
  await network.endAdoption();
  const adoption = describeAdoption(reconciled);
  const runs = DaemonRuns.begin(new DaemonRunRepo(db), {
    version: VERSION,
    schemaVersion: MIGRATIONS.length,
    adoption: {
      sandboxes: reconciled.adopted.length,
      volumes: reconciled.adoptedVolumes,
      timedOut: reconciled.timedOut,
      stopped: reconciled.stopped,
      summary: adoption,
    },
  });
  started.push(() => runs.stop());
  logger.info({ previousRun: runs.info().previousRun }, "daemon run recorded");
  logger.info({ adopted: reconciled.adopted.length, volumes: reconciled.adoptedVolumes, timedOut: reconciled.timedOut, stopped: reconciled.stopped }, adoption);
  const monitor = new SandboxMonitor({ sandboxes, live });
  const usage = new UsageSampler({ volumes: repos.volumes, samples: new UsageSampleRepo(db), storage, commandLog, logger, options: config.usageSampling });

  const filesDriver = new BwrapFilesDriver({ nativeDir: config.nativeDir, uidBase: config.uidBase, logger });
  const files = new FileService({ sandboxes, live, volumes, storage, locks, driver: filesDriver, logger });

  const snapshots = new SnapshotService({ snapshots: snapshotRepo, volumes, storage, locks, logger, quotas, mounts: repos.attachments });
  // `atoll image import` (issue 14): OCI archives become bootable snapshots; a crash's work dirs go now.
  const images = new ImageImportService({
    stateDir: config.stateDir,
    uidBase: config.uidBase,
    nativeDir: config.nativeDir,
    runner,
    storage,
    snapshots: snapshotRepo,
    snapshotInfo: snapshots,
    locks,
    disk,
    logger,
    quotas,
  });
  await images.cleanLeftovers();
  // Prometheus metrics (docs/operations.md, "Metrics"): scraped with <state-dir>/metrics-token or an admin token.
  const metrics = daemonMetrics({ stateDir: config.stateDir, live, volumes: repos.volumes, usage, runtime, netDriver, runs });
  const scrapeToken = loadOrCreateToken(join(config.stateDir, "metrics-token"));
  const audit = new AuditLog({ repo: new AuditRepo(db), logger, options: config.audit });
  // Volume export/import (issue 17): tar confined like a sandbox; leftovers of a crashed export go first.
  const backupDriver = new TarBackupDriver({
    nativeDir: config.nativeDir,
    uidBase: config.uidBase,
    runDir: config.runDir,
    runner,
    snapshotImage: (id) => storage.snapshotImagePath(id),
  });
  await backupDriver.reconcile();
  const backups = new BackupService({ volumes, volumeRepo: repos.volumes, snapshots, storage, driver: backupDriver, locks, logger, quotas });
  const services = { sandboxes, volumes, snapshots, attachments, monitor, commandLog, usage, files, network, daemon: runs, backups, images };
  const app = await buildHttpServer({
    services,
    token,
    tokens,
    logger,
    version: VERSION,
    fronts: [dashboardFront({ services, tokens, staleAfterMs: config.staleAfterMs, version: VERSION, logger })],
    limits: config.web.limits,
    sessionRecords: new DashboardSessionRepo(db),
    metrics: { metrics, scrapeToken },
    audit,
  });
  await gateway.start();
  started.push(() => gateway.closeAll());
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace("0.0.0.0", "127.0.0.1");
  usage.start();
  disk.start();
  audit.start();
  logger.info({ url, tokenFile, stateDir: config.stateDir, imageRootfs }, "listening");

  let stopping: Promise<void> | undefined;
  const stop = (opts: { keepSandboxes?: boolean } = {}) =>
    (stopping ??= (async () => {
      logger.info({ keepSandboxes: opts.keepSandboxes === true }, "shutting down");
      if (opts.keepSandboxes) sandboxes.keepSandboxesOnShutdown();
      files.shutdown(); // running file operations would keep app.close() waiting
      backups.shutdown(); // and so would running exports and imports
      await app.close();
      await usage.stop();
      disk.stop();
      // Kept: left running for the next daemon (those it cannot adopt yet are stopped).
      const kept = opts.keepSandboxes ? await sandboxes.detachAll() : 0;
      if (opts.keepSandboxes) logger.info({ sandboxes: kept }, "sandboxes left running for the next daemon");
      audit.stop();
      await sandboxes.shutdown();
      gateway.closeAll();
      // Kept sandboxes keep their networks and netd (its policies and secrets) for the next daemon.
      if (kept > 0) await network.detach();
      else await network.close();
      await runtime.close?.();
      // Sandbox volumes were released with their sandboxes; this drops the copy-on-write pool and the
      // private run mount itself (not while sandboxes left running have their roots and volumes there).
      if (kept === 0) {
        await storage.close().catch((err: unknown) => logger.warn({ err }, "could not unmount the copy-on-write pool")); // issue 14
        await umountTree(runner, config.runDir);
      }
      runs.stop();
      db.close();
      logger.info("stopped");
    })());
  return { url, tokenFile, logger, stop, adoption };
}

/** "adopted 12 sandboxes, 30 volumes; ended 1 whose timeout passed" (and how many could not be). */
function describeAdoption(r: ReconcileResult): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  let line = `adopted ${n(r.adopted.length, "sandbox")}, ${n(r.adoptedVolumes, "volume")}`.replace("sandboxs", "sandboxes");
  if (r.timedOut > 0) line += `; ended ${r.timedOut} whose timeout passed`;
  if (r.stopped > 0) line += `; stopped ${r.stopped} that could not be adopted`;
  return line;
}

/**
 * Reserves the sandbox id range in /etc/subuid and /etc/subgid (and drops Atoll's reservations
 * of `release`). The overlap check already passed, so a failure only leaves future useradd
 * runs unguarded: it is logged with the fix, not fatal.
 */
function reserveRange(etcDir: string, base: number, release: number[], logger: Logger): void {
  try {
    const changed = reserveUidRange(etcDir, base, release);
    if (changed.length > 0) logger.info({ files: changed, base }, "reserved the sandbox id range");
  } catch (err) {
    logger.warn({ err, base }, `could not reserve the sandbox id range: add "atoll:${base}:131072" to ${etcDir}/subuid and ${etcDir}/subgid`);
  }
}

/** Moves every volume's files from base `from` to `config.uidBase`, then records the new base. */
async function finishUidMove(
  config: DaemonConfig & { uidBase: number },
  deps: { storage: LoopVolumeBackend; volumes: VolumeRepo; logger: Logger; runner: CommandRunner },
  from: number,
): Promise<void> {
  const ids = deps.volumes
    .listAll()
    .filter((v) => v.state === "ready")
    .map((v) => v.id);
  deps.logger.info({ from, to: config.uidBase, volumes: ids.length }, "moving sandbox files to the new id range");
  const result = await moveVolumeIds(
    { storage: deps.storage, nativeDir: config.nativeDir, logger: deps.logger, runner: deps.runner },
    ids,
    from,
    config.uidBase,
  );
  writeUidRecord(config.stateDir, { base: config.uidBase });
  reserveRange(config.etcDir, config.uidBase, [from], deps.logger);
  deps.logger.info({ from, to: config.uidBase, ...result }, "sandbox files moved to the new id range");
}
