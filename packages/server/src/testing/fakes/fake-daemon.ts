/**
 * The daemon's core and HTTP server composed in process on the fake drivers: the fast tier's
 * stand-in for `atoll serve`. Services, repositories (SQLite in memory) and `buildHttpServer`
 * are the real ones, wired as `serve()` in daemon.ts wires them; the runtime, storage and files
 * drivers are the in-memory fakes. Networking is off (`--network off`: no network driver) unless
 * `network` gives a FakeNetwork (fake-network.ts); exposed ports then get URLs from a front that
 * opens no listener (`http://<token>.expose.fake/`).
 * Requests go through Fastify's `app.inject()`: no socket, no root, no host resource.
 *
 * @example
 *   const d = await startFakeDaemon();
 *   const res = await d.request("POST", "/v1/volumes", { body: { name: "cache", sizeGb: 1 } });
 *   assert.equal(res.statusCode, 201);
 *   await d.close();
 */
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import pino from "pino";
import { buildHttpServer } from "../../api/http-server.js";
import { type HttpLimits, resolveWebConfig } from "../../api/web-config.js";
import { AttachmentService } from "../../core/attachment-service.js";
import { CommandLog } from "../../core/command-log.js";
import { FileService } from "../../core/file-service.js";
import { LiveSandboxes } from "../../core/live-sandboxes.js";
import { NetworkService } from "../../core/network-service.js";
import { QuotaChecker } from "../../core/quota-checker.js";
import { reconcileOnStart } from "../../core/reconciler.js";
import { SnapshotService } from "../../core/snapshot-service.js";
import { SnapshotRepo } from "../../store/snapshot-repo.js";
import { SandboxMonitor } from "../../core/sandbox-monitor.js";
import { SandboxService } from "../../core/sandbox-service.js";
import { TokenService } from "../../core/token-service.js";
import { UsageSampler } from "../../core/usage-sampler.js";
import { VolumeService } from "../../core/volume-service.js";
import { durationSetting, parseListen } from "../../daemon-config.js";
import { KeyedMutex } from "../../host/keyed-mutex.js";
import { AttachmentRepo } from "../../store/attachment-repo.js";
import { CommandLogRepo } from "../../store/command-log-repo.js";
import { type Db, openDatabase } from "../../store/database.js";
import { MIGRATIONS } from "../../store/migrations.js";
import { SandboxRepo } from "../../store/sandbox-repo.js";
import { TenantRepo } from "../../store/tenant-repo.js";
import { TokenRepo } from "../../store/token-repo.js";
import { UsageSampleRepo } from "../../store/usage-sample-repo.js";
import { VolumeRepo } from "../../store/volume-repo.js";
import { type CannedAnswer, cannedFilesDriver } from "./canned-files-driver.js";
import type { FakeProgram } from "./fake-programs.js";
import { FakeRuntime } from "./fake-runtime.js";
import type { FakeNetwork } from "./fake-network.js";
import { FakeStorage } from "./fake-storage.js";

const ADMIN_TOKEN = "atl_fake_daemon_admin_token";

export interface FakeDaemonOptions {
  /** Size of the pretend host disk (FakeStorage). */
  hostBytes?: number;
  /** Extra commands sandboxes can run (FakeRuntime). */
  programs?: Record<string, FakeProgram>;
  /** What the file helper answers (canned-files-driver.ts). */
  files?: CannedAnswer;
  /** Overrides of the HTTP limits (default: the daemon's defaults, api/web-config.ts). */
  limits?: Partial<HttpLimits>;
  /** Networking on, with this driver (default: off). */
  network?: FakeNetwork;
}

export interface FakeDaemon {
  app: FastifyInstance;
  /** The admin token of tenant "default" (the token file's). */
  adminToken: string;
  db: Db;
  runtime: FakeRuntime;
  storage: FakeStorage;
  sandboxes: SandboxService;
  volumes: VolumeService;
  attachments: AttachmentService;
  tokens: TokenService;
  live: LiveSandboxes;
  /** An API request in process; `token` defaults to the admin token, null sends none. */
  request(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    url: string,
    opts?: { body?: unknown; token?: string | null; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  /** A token of `tenant` (created through the admin API), not an admin one. */
  tenantToken(tenant: string): Promise<string>;
  /** Stops as daemon.ts's stop() does: kills every sandbox, closes the server and the store. */
  close(): Promise<void>;
}

export async function startFakeDaemon(opts: FakeDaemonOptions = {}): Promise<FakeDaemon> {
  const logger = pino({ level: "silent" });
  const db = openDatabase(":memory:");
  const startedAt = new Date().toISOString();
  const storage = new FakeStorage(opts.hostBytes === undefined ? {} : { hostBytes: opts.hostBytes });
  const runtime = new FakeRuntime({ files: storage, ...(opts.programs ? { programs: opts.programs } : {}) });
  const repos = { sandboxes: new SandboxRepo(db), volumes: new VolumeRepo(db), attachments: new AttachmentRepo(db) };
  const snapshotRepo = new SnapshotRepo(db);
  await reconcileOnStart({ ...repos, runtime, storage, logger, snapshots: () => snapshotRepo.settleAtStart() });

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
  const volumes = new VolumeService({
    volumes: repos.volumes,
    attachments: repos.attachments,
    storage,
    locks,
    logger,
    quotas,
    detachEverywhere: (id): Promise<void> => attachments.detachEverywhere(id),
    snapshots: snapshotRepo,
    builtinImages: { "builtin:debian-12": "/fake-image" },
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
  const commandLog = new CommandLog({ repo: new CommandLogRepo(db), logger });
  const network = new NetworkService({
    driver: opts.network,
    repo: repos.sandboxes,
    locks,
    logger,
    assertRunning: (t, id) => sandboxes.assertRunning(t, id),
    tenantOpen: (t) => tenants.get(t)?.netOpen ?? [],
    ...(opts.network ? { front: { open: async (token: string) => `http://${token}.expose.fake/`, close: () => undefined } } : {}),
    isAtollToken: (v): boolean => tokens.recognizes(v),
  });
  const tokens = new TokenService({
    tokens: new TokenRepo(db),
    tenants,
    sandboxes: repos.sandboxes,
    volumes: repos.volumes,
    adminToken: ADMIN_TOKEN,
    logger,
    netAccess: network.enabled ? network.netAccess : undefined,
  });
  const sandboxes = new SandboxService({
    repo: repos.sandboxes,
    attachments,
    runtime,
    live,
    locks,
    imageRootfs: "/fake-image",
    logger,
    commandLog,
    network,
    quotas,
  });
  const monitor = new SandboxMonitor({ sandboxes, live });
  const usage = new UsageSampler({
    volumes: repos.volumes,
    samples: new UsageSampleRepo(db),
    storage,
    commandLog,
    logger,
    options: { intervalMs: 60_000, retentionMs: 30 * 86_400_000 },
  });
  const files = new FileService({ sandboxes, live, volumes, storage, locks, driver: cannedFilesDriver(opts.files).driver, logger });

  const limits = { ...resolveWebConfig({}, "127.0.0.1", { listen: parseListen, duration: durationSetting }, {}).limits, ...opts.limits };
  const daemon = { info: () => ({ version: "test", schemaVersion: MIGRATIONS.length, pid: process.pid, startedAt, uptimeSeconds: 0, previousRun: null }) };
  const snapshots = new SnapshotService({ snapshots: snapshotRepo, volumes, storage, locks, logger, quotas, mounts: repos.attachments });
  const services = { sandboxes, volumes, snapshots, attachments, monitor, commandLog, usage, files, network, daemon };
  const app = await buildHttpServer({ services, token: ADMIN_TOKEN, tokens, logger, version: "test", limits });
  await app.ready();

  const request: FakeDaemon["request"] = (method, url, o = {}) => {
    const token = o.token === undefined ? ADMIN_TOKEN : o.token;
    const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...o.headers };
    return app.inject({ method, url, headers, ...(o.body === undefined ? {} : { payload: o.body as object }) });
  };
  return {
    app,
    adminToken: ADMIN_TOKEN,
    db,
    runtime,
    storage,
    sandboxes,
    volumes,
    attachments,
    tokens,
    live,
    request,
    async tenantToken(tenant) {
      const res = await request("POST", "/v1/tokens", { body: { tenant } });
      if (res.statusCode !== 201) throw new Error(`token for ${tenant}: ${res.statusCode} ${res.body}`);
      return (res.json() as { token: string }).token;
    },
    async close() {
      files.shutdown();
      await app.close();
      await sandboxes.shutdown();
      await network.close();
      db.close();
    },
  };
}

/** Asserts an API error answer: `status`, and the body `{ error: { code, message } }` with a message. */
export function assertWireError(res: LightMyRequestResponse, status: number, code: string): void {
  const body = res.json() as { error?: { code?: unknown; message?: unknown } };
  if (res.statusCode !== status || body.error?.code !== code || typeof body.error.message !== "string" || body.error.message.length === 0) {
    throw new Error(`expected ${status} ${code}, got ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
}
