import { totalmem } from "node:os";
import {
  InvalidArgumentError,
  LIMITS,
  NotFoundError,
  createSandboxSchema,
  envPatchSchema,
  extendTimeoutSchema,
  parseOrThrow,
  SandboxNotRunningError,
  sandboxStoppedMessage,
  type SandboxInfo,
  type SandboxState,
} from "atoll/contract";
import type { Logger } from "pino";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { SandboxRepo, SandboxRow } from "../store/sandbox-repo.js";
import { type AttachmentService, sandboxLockKey } from "./attachment-service.js";
import type { CommandLog } from "./command-log.js";
import type { RuntimeDriver, RuntimeSandbox } from "./drivers.js";
import { newSandboxId, nowIso } from "./ids.js";
import type { QuotaChecker } from "./quota-checker.js";
import type { LiveSandbox, LiveSandboxes } from "./live-sandboxes.js";
import type { NetworkService } from "./network-service.js";
import { SandboxSession, type SessionOutput } from "./sandbox-session.js";
import { crashPoint } from "../crash-points.js";

/** How long a "session" sandbox waits for its creator's session to connect. */
const SESSION_CONNECT_GRACE_MS = 30_000;
const MIB = 2 ** 20;

/**
 * The sandbox lifecycle: create, list, kill, timeouts, env, sessions. Every state change of one
 * sandbox runs under its lock; host work goes through the runtime driver.
 */
export class SandboxService {
  constructor(
    private readonly deps: {
      repo: SandboxRepo;
      attachments: AttachmentService;
      runtime: RuntimeDriver;
      live: LiveSandboxes;
      locks: KeyedMutex;
      imageRootfs: string;
      logger: Logger;
      /** Records the commands sessions run (the dashboard's command log); optional. */
      commandLog?: CommandLog;
      /** Per-tenant limits (QUOTA_EXCEEDED). */
      quotas?: Pick<QuotaChecker, "admitSandbox">;
      /** Sandbox networks (docs/network.md); absent: loopback only. */
      network?: NetworkService;
    },
  ) {}

  async create(tenant: string, input: unknown): Promise<SandboxInfo> {
    const req = parseOrThrow(createSandboxSchema, input, "sandbox options");
    if (req.memory !== undefined && req.memoryMb !== undefined) {
      throw new InvalidArgumentError("Give either memory or memoryMb, not both");
    }
    const memoryBytes = req.memory ?? (req.memoryMb !== undefined ? req.memoryMb * MIB : LIMITS.memoryDefault);
    if (memoryBytes > totalmem() || memoryBytes < LIMITS.memoryMin) {
      throw new InvalidArgumentError(
        `memory must be between ${LIMITS.memoryMin / MIB} MiB and this host's ${Math.floor(totalmem() / MIB)} MiB, got ${Math.floor(memoryBytes / MIB)} MiB`,
      );
    }
    const mounts = this.deps.attachments.resolve(tenant, req.volumes ?? []);
    // A bootable volume or snapshot as the root (issue 14): taken first, recorded at "/".
    const root = req.root === undefined ? undefined : this.deps.attachments.resolveRoot(tenant, req.root);
    // An imported image's Env is the default environment: the request's env wins (docs/images.md).
    const imageEnv = root ? this.deps.attachments.imageDefaults(tenant, root.target)?.env : undefined;
    const netPlan = this.deps.network?.plan(req, tenant);
    const rawTimeout = (input as { timeout?: unknown }).timeout;
    const timeoutMs = req.timeout === "session" || req.timeout === undefined ? null : req.timeout;
    const row: SandboxRow = {
      id: newSandboxId(),
      tenant,
      state: "starting",
      stopReason: null,
      createdAt: nowIso(),
      stoppedAt: null,
      timeout: timeoutMs === null ? "session" : typeof rawTimeout === "string" ? rawTimeout : `${timeoutMs}ms`,
      expiresAt: timeoutMs === null ? null : new Date(Date.now() + timeoutMs).toISOString(),
      labels: req.labels ?? {},
      env: { ...imageEnv, ...req.env, ...netPlan?.env },
      memoryBytes,
      pids: req.pids ?? LIMITS.pidsDefault,
      cpuWeight: req.cpuWeight ?? LIMITS.cpuWeightDefault,
      rootfsBytes: req.rootfsSize ?? LIMITS.rootfsDefault,
    };
    // Recorded before any host resource exists; removed again if the launch fails. The quota
    // check and the insert are one synchronous step (no await before it), so concurrent creates
    // cannot all pass; the runtime then checks and reserves the host disk (INSUFFICIENT_STORAGE).
    if (this.deps.quotas) this.deps.quotas.admitSandbox(row);
    else this.deps.repo.insert(row);
    crashPoint("sandbox.create.after-row");
    let runtime: RuntimeSandbox;
    try {
      const specs = await this.deps.attachments.acquireForLaunch(row.id, root ? [root, ...mounts] : mounts);
      const rootSpec = root ? specs.shift() : undefined;
      crashPoint("sandbox.create.after-volume-refs");
      // The network is prepared while the runtime builds the root; the runtime waits for it
      // right before it needs it.
      const attaching = netPlan && this.deps.network!.enabled ? this.deps.network!.attach(row.id, netPlan) : undefined;
      attaching?.catch(() => undefined); // awaited below; do not report it as unhandled
      try {
        runtime = await this.deps.runtime.launch({
          id: row.id,
          imageRootfs: rootSpec?.source ?? this.deps.imageRootfs,
          ...(rootSpec && !rootSpec.readOnly ? { rootWritable: true } : {}),
          limits: { memoryBytes, pids: row.pids, cpuWeight: row.cpuWeight, rootfsBytes: row.rootfsBytes },
          mounts: specs,
          ...(attaching ? { network: attaching } : {}),
        });
        const net = await attaching;
        if (net && Object.keys(net.env).length > 0) {
          row.env = { ...row.env, ...net.env };
          this.deps.repo.setEnv(row.id, row.env);
        }
      } catch (err) {
        if (attaching) {
          await attaching.catch(() => undefined); // a release must not overtake the attach
          await this.deps
            .network!.release(row.id)
            .catch((e: unknown) => this.deps.logger.error({ err: e, sandboxId: row.id }, "releasing the network of a failed sandbox failed"));
        }
        await this.deps.attachments.releaseAll(row.id);
        throw err;
      }
    } catch (err) {
      this.deps.repo.delete(row.id);
      throw err;
    }
    crashPoint("sandbox.create.before-running");
    this.deps.repo.setRunning(row.id);
    // The command log never stores the values of the sandbox's secrets.
    if (netPlan)
      this.deps.commandLog?.protect(
        row.id,
        netPlan.secrets.map((s) => s.value),
      );
    const live: LiveSandbox = { id: row.id, tenant, runtime, timer: undefined, sessions: new Set(), everHadSession: false, stopping: false };
    this.deps.live.add(live);
    void runtime.stopped.then(({ reason }) => this.stop(row.id, reason));
    if (netPlan) {
      try {
        await this.deps.network!.afterStart(row.id, netPlan);
      } catch (err) {
        await this.stop(row.id, "expose-failed");
        throw err;
      }
    }
    this.arm(live, timeoutMs === null ? SESSION_CONNECT_GRACE_MS : timeoutMs, timeoutMs === null ? "session-never-connected" : "timeout");
    this.deps.logger.info({ sandboxId: row.id, volumes: mounts.length, timeout: row.timeout }, "sandbox created");
    return this.info({ ...row, state: "running", allowNet: netPlan?.allowNet ?? null, network: this.deps.repo.getNetwork(row.id) });
  }

  get(tenant: string, id: string): SandboxInfo {
    return this.info(this.row(tenant, id));
  }

  list(tenant: string, filter: { labels?: Record<string, string>; state?: SandboxState }): SandboxInfo[] {
    const wanted = Object.entries(filter.labels ?? {});
    return this.deps.repo
      .list(tenant, filter.state)
      .filter((row) => wanted.every(([k, v]) => row.labels[k] === v))
      .map((row) => this.info(row));
  }

  /** Kills a sandbox and releases everything it held. Killing a stopped sandbox changes nothing. */
  async kill(tenant: string, id: string): Promise<SandboxInfo> {
    this.row(tenant, id);
    await this.stop(id, "killed");
    return this.get(tenant, id);
  }

  async extendTimeout(tenant: string, id: string, input: unknown): Promise<SandboxInfo> {
    const row = this.row(tenant, id);
    const req = parseOrThrow(extendTimeoutSchema, input, "timeout change");
    const live = this.requireLive(row);
    let expires: number;
    if ("extendBy" in req) {
      if (row.expiresAt === null) {
        throw new InvalidArgumentError('A "session" sandbox lives as long as its session; set { timeout: "5m" } to give it a fixed lifetime instead');
      }
      expires = Math.max(Date.parse(row.expiresAt), Date.now()) + req.extendBy;
    } else {
      expires = Date.now() + req.timeout;
    }
    if (expires - Date.now() > LIMITS.timeoutMaxMs) throw new InvalidArgumentError("A sandbox can live at most 7 days from now");
    const label = "timeout" in req ? String((input as { timeout: unknown }).timeout) : row.timeout;
    this.deps.repo.setTimeout(id, label, new Date(expires).toISOString());
    this.arm(live, expires - Date.now(), "timeout");
    return this.get(tenant, id);
  }

  getEnv(tenant: string, id: string): Record<string, string> {
    return this.row(tenant, id).env;
  }

  patchEnv(tenant: string, id: string, input: unknown): Record<string, string> {
    const row = this.row(tenant, id);
    const patch = parseOrThrow(envPatchSchema, input, "env change");
    const env = { ...row.env, ...patch.set };
    for (const name of patch.delete ?? []) delete env[name];
    this.deps.repo.setEnv(id, env);
    return env;
  }

  /** SANDBOX_NOT_FOUND or SANDBOX_NOT_RUNNING unless the sandbox is running. */
  assertRunning(tenant: string, id: string): void {
    this.requireLive(this.row(tenant, id));
  }

  /**
   * Waits until those of `ids` that are ending have stopped: being stopped, or a "session"
   * sandbox whose last session closed (its stop is queued on its lock). Deno's client resolves
   * close() before the daemon has stopped such a sandbox; a request right after it (deleting a
   * volume the sandbox held) waits here instead of failing. A sandbox that is not ending is left.
   */
  async awaitEnding(ids: readonly string[]): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        const live = this.deps.live.get(id);
        if (!live) return;
        const sessionEnded = live.everHadSession && live.sessions.size === 0 && this.deps.repo.get(live.tenant, id)?.timeout === "session";
        if (live.stopping || sessionEnded) await this.deps.locks.run(sandboxLockKey(id), async () => undefined);
      }),
    );
  }

  /** Opens a session (one client connection) on a running sandbox. */
  openSession(tenant: string, id: string, out: SessionOutput): SandboxSession {
    const row = this.row(tenant, id);
    const live = this.requireLive(row);
    const session = new SandboxSession(
      live.runtime,
      () => this.deps.repo.get(tenant, id)?.env ?? {},
      out,
      (s) => {
        live.sessions.delete(s);
        const isSession = this.deps.repo.get(tenant, id)?.timeout === "session";
        if (isSession && live.sessions.size === 0 && !live.stopping && !this.keepingSandboxes) void this.stop(id, "session-closed");
      },
      this.deps.commandLog?.recorder(id),
      this.deps.attachments.imageDefaults(tenant, { sandboxId: id }),
    );
    live.sessions.add(session);
    if (row.timeout === "session" && !live.everHadSession) clearTimeout(live.timer);
    live.everHadSession = true;
    return session;
  }

  /** Daemon shutdown: kill every live sandbox. */
  async shutdown(): Promise<void> {
    await Promise.all(this.deps.live.all().map((l) => this.stop(l.id, "daemon-shutdown")));
  }

  /**
   * Daemon shutdown that will leave sandboxes running (call before the HTTP server closes its
   * connections): a session that closes from now on does not end its "session" sandbox; the
   * next daemon gives it the connect grace period.
   */
  keepSandboxesOnShutdown(): void {
    this.keepingSandboxes = true;
  }
  private keepingSandboxes = false;

  /**
   * Daemon shutdown that leaves sandboxes running for the next daemon (issue 13): timers and
   * sessions end here, the runtime lets go of each sandbox, the store keeps them `running`.
   * Only those `adoptable` says the next daemon can adopt (the rest are stopped by shutdown()).
   */
  async detachAll(adoptable: (id: string) => boolean = () => true): Promise<number> {
    this.keepingSandboxes = true;
    const all = this.deps.live.all().filter((l) => !l.stopping && l.runtime.detach && adoptable(l.id));
    for (const live of all) {
      clearTimeout(live.timer);
      // The client loses its connection, not its sandbox (no "sandbox_stopped").
      for (const s of [...live.sessions]) s.close();
      await live.runtime.detach?.();
      this.deps.live.remove(live.id);
    }
    return all.length;
  }

  /**
   * Registers a sandbox adopted at start (reconciler.ts): its timeout is re-armed for what is
   * left of its wall-clock deadline; a "session" sandbox gets the connect grace period from now
   * (the daemon being back), as a new one does.
   */
  adopt(row: SandboxRow, runtime: RuntimeSandbox): void {
    const live: LiveSandbox = { id: row.id, tenant: row.tenant, runtime, timer: undefined, sessions: new Set(), everHadSession: false, stopping: false };
    this.deps.live.add(live);
    void runtime.stopped.then(({ reason }) => this.stop(row.id, reason));
    if (row.expiresAt === null) this.arm(live, SESSION_CONNECT_GRACE_MS, "session-closed");
    else this.arm(live, Math.max(0, Date.parse(row.expiresAt) - Date.now()), "timeout");
  }

  /** Ends an adopted sandbox whose takeover could not be finished (its network could not be adopted). */
  async endAdopted(id: string, reason: string): Promise<void> {
    await this.stop(id, reason);
  }

  /** Stops a live sandbox (idempotent): processes, mounts, volumes, timers, sessions. */
  private async stop(id: string, reason: string): Promise<void> {
    await this.deps.locks.run(sandboxLockKey(id), async () => {
      const live = this.deps.live.get(id);
      if (!live) return;
      live.stopping = true;
      live.stopReason = reason;
      clearTimeout(live.timer);
      // Clients hear why before the processes die: a command the stop kills fails with the
      // reason ("its timeout (5m) expired"), not with its SIGKILL, and none starts meanwhile.
      const timeout = this.deps.repo.get(live.tenant, id)?.timeout;
      for (const s of [...live.sessions]) s.stop(reason, timeout);
      try {
        await live.runtime.kill();
      } finally {
        await this.deps.attachments.releaseAll(id);
        await this.deps.network?.release(id).catch((err: unknown) => this.deps.logger.error({ err, sandboxId: id }, "releasing the sandbox's network failed"));
        crashPoint("kill.before-row");
        this.deps.repo.setStopped(id, reason, nowIso());
        this.deps.live.remove(id);
        this.deps.commandLog?.forget(id);
        this.deps.logger.info({ sandboxId: id, reason }, "sandbox stopped");
      }
    });
  }

  private arm(live: LiveSandbox, ms: number, reason: string): void {
    clearTimeout(live.timer);
    live.timer = setTimeout(() => void this.stop(live.id, reason), ms);
  }

  private row(tenant: string, id: string): SandboxRow {
    const row = this.deps.repo.get(tenant, id);
    if (!row) throw new NotFoundError("SANDBOX_NOT_FOUND", `No sandbox with id "${id}". List sandboxes with Sandbox.list().`, { sandboxId: id });
    return row;
  }

  private requireLive(row: SandboxRow): LiveSandbox {
    const live = this.deps.live.get(row.id);
    if (!live || live.stopping) {
      const reason = live?.stopReason ?? row.stopReason;
      throw new SandboxNotRunningError(
        "SANDBOX_NOT_RUNNING",
        reason ? sandboxStoppedMessage(row.id, reason, row.timeout) : `Sandbox ${row.id} is not running; create a new one.`,
        {
          sandboxId: row.id,
          stopReason: reason ?? null,
          timeout: row.timeout,
        },
      );
    }
    return live;
  }

  private info(row: SandboxRow): SandboxInfo {
    return {
      id: row.id,
      state: row.state,
      stopReason: row.stopReason,
      createdAt: row.createdAt,
      stoppedAt: row.stoppedAt,
      timeout: row.timeout,
      expiresAt: row.expiresAt,
      labels: row.labels,
      memoryBytes: row.memoryBytes,
      pids: row.pids,
      cpuWeight: row.cpuWeight,
      rootfsBytes: row.rootfsBytes,
      volumes: this.deps.attachments.forSandbox(row.id),
      allowNet: row.allowNet ?? null,
      ...(this.deps.network?.info(row.network ?? null) ?? { network: null, url: null }),
    };
  }
}
