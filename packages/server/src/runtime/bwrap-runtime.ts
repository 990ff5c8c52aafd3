/**
 * The bubblewrap runtime driver (docs/architecture.md, "Native helpers" and "Host layout").
 *
 * launch: cgroup → scratch ext4 (from the warm pool) on a loop device → overlay root
 * (lower = image rootfs, upper/work on the scratch) → `--make-shared` → volumes bound with
 * atoll-mount → `atoll-launch … -- bwrap … -- /.atoll/init` → wait for READY.
 * Every failure undoes what was done; kill() and cleanupOrphans() use the same teardown.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, readdir, realpath, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { LIMITS } from "atoll/contract";
import type { Logger } from "pino";
import type { AdoptFacts, LaunchSpec, RuntimeDriver, RuntimeSandbox } from "../core/drivers.js";
import { ensurePrivateMount, mountWithPropagation, mountsUnder, readMountInfo, umountTree } from "../host/mounts.js";
import { AgentChannel } from "./agent-channel.js";
import { launchArgs, procMaskArgs } from "./bwrap-args.js";
import { BwrapSandbox, childShim, runAtollMount, waitForExit, withTimeout } from "./bwrap-sandbox.js";
import { type CgroupDriver, detectCgroups } from "./cgroups.js";
import { makeSandboxPathDir } from "../host/state-dir-modes.js";
import { ensureExecuteOnly } from "./helper-modes.js";
import { writeRootFiles } from "./root-files.js";
import { releaseScratch } from "./scratch-fs.js";
import { LauncherPool, POOL_CGROUP_PREFIX, encodeLaunchArgs } from "./launcher-pool.js";
import { describeExit, watchLauncher } from "./launcher-watch.js";
import { ScratchPool } from "./scratch-pool.js";
import { mountCgroupView } from "./cgroup-view.js";
import { ProcView } from "./proc-view.js";
import { OwnerUids } from "./owner-uids.js";
import { MountBase } from "./mount-base.js";
import { ShimRecords, spawnUnderShim } from "./shim-records.js";
import { adoptSandbox } from "./bwrap-adopt.js";
import type { CommandRunner } from "../host/run-command.js";
import type { DiskBudget } from "../host/disk-budget.js";
import { DaemonError } from "../daemon-error.js";
import { crashPoint } from "../crash-points.js";

export interface BwrapRuntimeOptions {
  /** `<state>`: scratch images go to `<state>/scratch/`. */
  stateDir: string;
  /** `<state>/run`: sandbox roots and scratch mounts go to `<runDir>/sandboxes/<id>/`. */
  runDir: string;
  /** Host uid/gid of sandbox uid/gid 0 (65536 ids are mapped). */
  uidBase: number;
  /** Directory holding atoll-launch, atoll-init and atoll-mount (native/build). */
  nativeDir: string;
  /** Runs mount, losetup, mkfs, atoll-mount, … (the daemon's host spawner; tests: execFileRunner). */
  runner: CommandRunner;
  logger?: Logger;
  /** Name of the parent cgroup (default "atoll"); tests use their own. */
  cgroupParent?: string;
  /** Ready scratch images to keep (default 2). */
  scratchPoolSize?: number;
  /** Pre-started launchers to keep (default 2, or 0 when scratchPoolSize is 0). */
  launcherPoolSize?: number;
  /** bwrap executable (default "bwrap" from PATH). */
  bwrap?: string;
  /** How long to wait for atoll-init's READY (default 15 s). */
  readyTimeoutMs?: number;
  /** The daemon's disk budget: admits each scratch filesystem and shares the host disk fairly. */
  disk?: Pick<DiskBudget, "admitScratch" | "attach" | "adoptScratch" | "cancel" | "forget">;
  /**
   * Sandboxes see their own size: lxcfs's /proc files and their cgroups at /sys/fs/cgroup
   * (proc-view.ts, cgroup-view.ts). Default true; false only to measure what it costs.
   */
  procView?: boolean;
  /** Host files bound read-only into every sandbox (the Deno runtime: deno-binary.ts). */
  readOnlyBinds?: readonly { source: string; target: string }[];
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

interface Setup {
  cgroups: CgroupDriver;
  masks: string[];
  launchers: LauncherPool;
  procView: ProcView;
  mountBase: MountBase;
}

export class BwrapRuntime implements RuntimeDriver {
  private readonly pool: ScratchPool;
  private setupPromise: Promise<Setup> | undefined;
  private reachable: Promise<void> | undefined;
  private readonly live = new Map<string, RuntimeSandbox>();
  private readonly launching = new Set<string>();
  /** Each live sandbox's user-namespace owner (its own kernel per-user budgets). */
  private readonly owners: OwnerUids;
  private readonly ownerOf = new Map<string, number>();
  /** The shims' sockets and records (shim-records.ts): what the next daemon adopts by. */
  private readonly shims: ShimRecords;
  /** runDir with symlinks resolved (the form /proc/self/mountinfo uses); set by setup(). */
  private runDir: string;

  constructor(private readonly opts: BwrapRuntimeOptions) {
    if (!Number.isInteger(opts.uidBase) || opts.uidBase < 1) throw new RangeError(`invalid uidBase ${opts.uidBase}`);
    this.runDir = path.resolve(opts.runDir);
    this.owners = new OwnerUids(opts.uidBase);
    this.shims = new ShimRecords(path.join(opts.stateDir, "shims"));
    this.pool = new ScratchPool({
      dir: path.join(opts.stateDir, "scratch"),
      mountDir: path.join(opts.runDir, "pool"),
      uidBase: opts.uidBase,
      runner: opts.runner,
      target: opts.scratchPoolSize ?? 2,
      logger: opts.logger,
    });
  }

  private get launcher(): string {
    return path.join(this.opts.nativeDir, "atoll-launch");
  }
  private get shim(): string {
    return path.join(this.opts.nativeDir, "atoll-shim");
  }
  private get atollMount(): string {
    return path.join(this.opts.nativeDir, "atoll-mount");
  }
  private get init(): string {
    return path.join(this.opts.nativeDir, "atoll-init");
  }

  private paths(id: string) {
    const dir = path.join(this.runDir, "sandboxes", id);
    return { dir, root: path.join(dir, "root"), scratch: path.join(dir, "scratch"), image: this.pool.imagePath(id) };
  }

  /** cgroup detection, the parent cgroup, the private run dir, the /proc masks. Once. */
  private setup(): Promise<Setup> {
    this.setupPromise ??= (async () => {
      const cgroups = await detectCgroups(this.opts.cgroupParent ? { parent: this.opts.cgroupParent } : {});
      await cgroups.setup();
      await ensureExecuteOnly([this.init, path.join(this.opts.nativeDir, "atoll-fs")], this.opts.logger);
      await ensurePrivateMount(this.opts.runner, this.opts.runDir);
      this.runDir = await realpath(this.opts.runDir);
      // Only sandbox root's gid may pass through (host/state-dir-modes.ts); no one may list it.
      makeSandboxPathDir(path.join(this.runDir, "sandboxes"), this.opts.uidBase);
      this.shims.prepare();
      this.opts.logger?.info({ cgroupVersion: cgroups.version }, "bwrap runtime ready");
      const launchers = new LauncherPool({
        cgroups,
        launcher: this.launcher,
        target: this.opts.launcherPoolSize ?? (this.opts.scratchPoolSize === 0 ? 0 : 2),
        logger: this.opts.logger,
        spawn: (launcher, args) => spawnUnderShim(this.shim, this.shims.dir, launcher, args),
      });
      // One lxcfs for all sandboxes (proc-view.ts); without it sandboxes see the host's /proc files.
      const procView = new ProcView({ runDir: this.runDir, cgroups, runner: this.opts.runner, logger: this.opts.logger });
      if (this.opts.procView !== false) await procView.start();
      const mountBase = new MountBase({ runDir: this.runDir, nativeDir: this.opts.nativeDir, runner: this.opts.runner, logger: this.opts.logger });
      await mountBase.create();
      return { cgroups, masks: procMaskArgs(), launchers, procView, mountBase };
    })();
    this.setupPromise.catch(() => (this.setupPromise = undefined));
    return this.setupPromise;
  }

  /** Entries waiting in the warm pools now: scratch filesystems and launchers (metrics). */
  async warmPoolSizes(): Promise<Record<string, number>> {
    const setup = await this.setupPromise?.catch(() => undefined);
    return { scratch: this.pool.readyCount, launcher: setup?.launchers.size ?? 0 };
  }

  /** Starts filling the scratch pool for the default rootfs size (call once the daemon is up). */
  warmPool(sizeBytes: number = LIMITS.rootfsDefault): void {
    this.pool.warm(sizeBytes);
  }

  async launch(spec: LaunchSpec): Promise<RuntimeSandbox> {
    const { id } = spec;
    if (!ID_PATTERN.test(id)) throw new DaemonError("SANDBOX_RUNTIME_FAILED", `invalid sandbox id ${JSON.stringify(id)}`);
    if (this.live.has(id) || this.launching.has(id)) throw new DaemonError("SANDBOX_RUNTIME_FAILED", `sandbox ${id} already exists`);
    this.launching.add(id);
    try {
      const sandbox = await this.launchSteps(spec);
      this.live.set(id, sandbox);
      void sandbox.stopped.then(() => this.live.delete(id));
      return sandbox;
    } finally {
      this.launching.delete(id);
    }
  }

  private async launchSteps(spec: LaunchSpec): Promise<RuntimeSandbox> {
    const { id, limits } = spec;
    const { cgroups, masks, launchers, procView, mountBase } = await this.setup();
    const p = this.paths(id);
    for (const dir of [spec.imageRootfs, p.scratch]) {
      // overlayfs splits its options at ',' and lowerdir lists at ':'.
      if (/[,:\\]/.test(dir)) throw new DaemonError("CONFIG_INVALID", `cannot use ${dir} in an overlay mount: the path contains ',', ':' or '\\'`);
    }
    // bwrap runs as sandbox root (host uid uidBase): it must be able to reach these.
    this.reachable ??= Promise.all([
      assertTraversable(path.dirname(p.dir), this.opts.uidBase),
      assertTraversable(this.init, this.opts.uidBase),
      ...(this.opts.readOnlyBinds ?? []).map((b) => assertTraversable(b.source, this.opts.uidBase)),
    ]).then(() => undefined);
    this.reachable.catch(() => (this.reachable = undefined));
    await this.reachable;
    // The host disk first: INSUFFICIENT_STORAGE before anything is made.
    const grant = await this.opts.disk?.admitScratch(id, limits.rootfsBytes);
    let child: ChildProcess | undefined;
    try {
      const t0 = performance.now();
      const marks: Record<string, number> = {};
      const mark = (step: string) => (marks[step] = Math.round((performance.now() - t0) * 10) / 10);
      // A pooled launcher already sits in a cgroup that becomes this sandbox's.
      const pooled = await launchers.take(id, limits);
      const cgroup = pooled?.cgroup ?? (await cgroups.create(id, limits));
      mark("cgroup");
      crashPoint("sandbox.create.after-cgroup");
      makeSandboxPathDir(p.dir, this.opts.uidBase);
      await mkdir(p.root, { recursive: true });
      const { upper, work } = await this.pool.take(id, limits.rootfsBytes, p.scratch);
      if (grant) await this.opts.disk!.attach(grant, { image: p.image, mountPoint: p.scratch, capBytes: limits.rootfsBytes });
      mark("scratch");
      crashPoint("sandbox.create.after-scratch");
      // Shared: later host-side mounts under the root (hot attach) propagate into the sandbox.
      // A bootable volume booted read-write is the root itself (its host mount is private, so
      // nothing mounted under the sandbox's root reaches it); the scratch then only counts.
      if (spec.rootWritable) await mountWithPropagation(this.opts.runner, "none", spec.imageRootfs, p.root, ["bind", "nosuid", "nodev"], "shared");
      else
        await mountWithPropagation(
          this.opts.runner,
          "overlay",
          "overlay",
          p.root,
          [
            `lowerdir=${spec.imageRootfs}`,
            `upperdir=${upper}`,
            `workdir=${work}`,
            "volatile", // the scratch is thrown away with the sandbox: no syncs needed
            "nosuid",
            "nodev",
          ],
          "shared",
        );
      mark("overlay");
      crashPoint("sandbox.create.after-overlay");
      // Before the volumes: a file must land in the root filesystem, never on a volume.
      const net = spec.network ? await spec.network : undefined;
      crashPoint("sandbox.create.after-network");
      if (net?.files.length) await writeRootFiles(p.root, net.files, this.opts.uidBase);
      for (const m of spec.mounts) {
        await runAtollMount(this.opts.runner, this.atollMount, ["bind", m.source, p.root, m.target, m.readOnly ? "ro" : "rw"]);
      }
      mark("volumes");
      crashPoint("sandbox.create.after-volume-mounts");
      if (this.opts.procView !== false) await mountCgroupView(this.opts.runner, this.atollMount, p.root, cgroup);
      mark("cgroup-view");

      const ownerUid = this.owners.take();
      this.ownerOf.set(id, ownerUid);
      const procBinds = procView.bwrapArgs();
      const args = launchArgs({
        uidBase: this.opts.uidBase,
        ownerUid,
        // v1: a pooled launcher is in the cgroup already, a new one joins it; v2: both fork into it.
        cgroupProcs: pooled || cgroup.cloneInto ? [] : cgroup.procsFiles,
        cgroupDir: cgroup.cloneInto,
        bwrap: this.opts.bwrap ?? "bwrap",
        root: p.root,
        init: this.init,
        fsHelper: path.join(this.opts.nativeDir, "atoll-fs"),
        hostname: id,
        masks: [...masks, ...procBinds, ...(this.opts.readOnlyBinds ?? []).flatMap((b) => ["--ro-bind", b.source, b.target])],
        netnsPath: net?.netnsPath,
        // Only this sandbox's mounts go along: its root, and lxcfs when its files are bound.
        mountBase: mountBase.launchArgs(procBinds.length > 0 ? [p.root, procView.mountPoint] : [p.root]),
      });
      const launcher = pooled?.launcher ?? watchLauncher(spawnUnderShim(this.shim, this.shims.dir, this.launcher, args));
      const proc = launcher.proc;
      if (pooled) proc.stdin.write(encodeLaunchArgs(args));
      child = proc;
      if (proc.pid !== undefined) await this.shims.write(id, { shimPid: proc.pid, ownerUid });
      mark("spawned");
      launcher.onLine((line) => this.opts.logger?.warn({ sandboxId: id, stderr: line }, "sandbox stderr"));
      const channel = new AgentChannel(proc.stdin, proc.stdout, {
        onSinkError: (err) => this.opts.logger?.error({ err, sandboxId: id }, "a process output consumer failed"),
      });
      // A launcher that exits before init is READY fails the launch at once, with its own words.
      const died = launcher.exited.then((e) =>
        Promise.reject(new DaemonError("SANDBOX_RUNTIME_FAILED", `atoll-launch ${describeExit(e)} before atoll-init was ready`)),
      );
      died.catch(() => undefined);
      await withTimeout(Promise.race([channel.ready, died]), this.opts.readyTimeoutMs ?? 15_000, "atoll-init did not become ready").catch(
        async (err: Error) => {
          await waitForExit(proc, 200); // let the last stderr lines arrive
          throw new DaemonError("SANDBOX_RUNTIME_FAILED", `sandbox ${id} failed to start: ${launcher.stderr.trim() || err.message}`, { cause: err });
        },
      );
      mark("ready");
      crashPoint("sandbox.create.after-init-ready");
      this.opts.logger?.debug({ sandboxId: id, ms: marks }, "sandbox launch timings");
      return new BwrapSandbox({
        id,
        root: p.root,
        child: childShim(proc),
        channel,
        cgroup,
        atollMount: this.atollMount,
        runner: this.opts.runner,
        release: () => this.teardown(id),
        logger: this.opts.logger,
      });
    } catch (err) {
      if (grant) this.opts.disk!.cancel(grant);
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await waitForExit(child, 2000);
      }
      await this.teardown(id).catch((cleanupErr: unknown) =>
        this.opts.logger?.error({ err: cleanupErr, sandboxId: id }, "cleanup after a failed launch failed"),
      );
      throw err;
    }
  }

  /**
   * Takes over sandbox `id` left running by a previous daemon run (docs/architecture.md, "Live
   * restore"): connects to its shim's socket, resynchronises with init (HELLO → STATE, within
   * `adoptTimeoutMs`), reopens its cgroup and takes back its owner uid and its scratch's share of
   * the disk budget. undefined when the shim is gone or init does not answer: the caller stops it
   * and cleanupOrphans removes what is left.
   */
  async adopt(id: string, facts: AdoptFacts): Promise<RuntimeSandbox | undefined> {
    if (!ID_PATTERN.test(id) || this.live.has(id)) return undefined;
    const { cgroups } = await this.setup();
    const p = this.paths(id);
    const sandbox = await adoptSandbox(id, facts, {
      shims: this.shims,
      cgroup: () => cgroups.open(id),
      claimOwner: (uid) => {
        if (!this.owners.claim(uid)) this.opts.logger?.warn({ sandboxId: id, ownerUid: uid }, "an adopted sandbox's owner uid is taken twice");
        this.ownerOf.set(id, uid);
      },
      scratch: { image: p.image, mountPoint: p.scratch },
      root: p.root,
      disk: this.opts.disk,
      readyTimeoutMs: this.opts.readyTimeoutMs ?? 15_000,
      atollMount: this.atollMount,
      runner: this.opts.runner,
      release: () => this.teardown(id),
      logger: this.opts.logger,
    });
    if (!sandbox) return undefined;
    this.live.set(id, sandbox);
    void sandbox.stopped.then(() => this.live.delete(id));
    return sandbox;
  }

  /**
   * Releases every host resource of sandbox `id`, whatever state it is in: kills the processes
   * of its cgroup and removes it, unmounts its root (volumes first), releases the scratch
   * (unmount, loop device, image) and removes its directories. Idempotent. Runs every step even
   * when one fails, then throws the first error.
   */
  private async teardown(id: string): Promise<void> {
    const { cgroups } = await this.setup();
    const p = this.paths(id);
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    const t0 = performance.now();
    const marks: Record<string, number> = {};
    const mark = (name: string) => (marks[name] = Math.round((performance.now() - t0) * 10) / 10);
    await step(() => cgroups.open(id).destroy());
    const processesGone = errors.length === 0;
    crashPoint("kill.after-processes");
    mark("cgroup");
    // Volumes and the overlay first (deepest first), then the scratch under the overlay.
    await step(async () => {
      try {
        await umountTree(this.opts.runner, p.root, { lazy: false });
      } catch {
        await umountTree(this.opts.runner, p.root, { lazy: true });
      }
    });
    mark("root");
    crashPoint("kill.after-unmount");
    await step(() => releaseScratch(this.opts.runner, p.image, p.scratch));
    if (processesGone) await step(() => this.shims.remove(id));
    this.opts.disk?.forget(id);
    mark("scratch");
    crashPoint("kill.after-scratch");
    const left = mountsUnder(await readMountInfo(), p.dir);
    if (left.length > 0) errors.push(new DaemonError("HOST_CLEANUP_FAILED", `mounts left under ${p.dir}: ${left.map((m) => m.mountPoint).join(", ")}`));
    // rmdir, never rm -r: a directory that is still a mount point (a volume!) is not emptied.
    if (left.length === 0) {
      for (const d of [p.root, p.scratch, p.dir]) {
        await step(() => rmdir(d).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e))));
      }
    }
    // Its processes are gone (cgroup destroyed): the owner uid is free again (else it stays taken).
    const owner = this.ownerOf.get(id);
    if (owner !== undefined && processesGone) this.owners.release(owner);
    if (processesGone) this.ownerOf.delete(id);
    mark("done");
    this.opts.logger?.debug({ sandboxId: id, ms: marks }, "sandbox teardown timings");
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Removes the host resources of every sandbox not in `keep` (and not live in this process):
   * cgroups under the parent, mounts and directories under `<runDir>/sandboxes`, scratch
   * images and their loop devices. Returns the ids it cleaned up.
   */
  async cleanupOrphans(keep: ReadonlySet<string>): Promise<string[]> {
    const { cgroups } = await this.setup();
    const ids = new Set<string>(await cgroups.list());
    const sandboxesDir = path.join(this.runDir, "sandboxes");
    for (const name of await readdir(sandboxesDir).catch(() => [] as string[])) ids.add(name);
    for (const m of mountsUnder(await readMountInfo(), sandboxesDir)) {
      const name = path.relative(sandboxesDir, m.mountPoint).split("/")[0];
      if (name) ids.add(name);
    }
    const scratchDir = path.join(this.opts.stateDir, "scratch");
    for (const file of await readdir(scratchDir).catch(() => [] as string[])) {
      if (!file.endsWith(".img")) continue;
      const full = path.join(scratchDir, file);
      if (file.startsWith("pool-")) {
        // Pool entries of a previous daemon run: unmount, detach, delete.
        if (!this.pool.owns(full)) {
          const mountPoint = path.join(this.opts.runDir, "pool", file.slice("pool-".length, -".img".length));
          await releaseScratch(this.opts.runner, full, mountPoint);
          await rmdir(mountPoint).catch(() => undefined);
        }
        continue;
      }
      ids.add(file.slice(0, -".img".length));
    }
    const removed: string[] = [];
    const { launchers } = await this.setup();
    for (const id of ids) {
      if (keep.has(id) || this.live.has(id) || this.launching.has(id) || !ID_PATTERN.test(id)) continue;
      if (launchers.owns(id)) continue;
      await this.teardown(id);
      // A previous run's waiting launcher is not a sandbox: remove it without reporting it.
      if (!id.startsWith(POOL_CGROUP_PREFIX)) removed.push(id);
    }
    await this.shims.prune(new Set([...keep, ...this.live.keys(), ...this.launching]));
    // Called once at daemon start: a good moment to get scratch images and launchers ready.
    this.pool.warm(LIMITS.rootfsDefault);
    launchers.warm();
    return removed.sort();
  }

  /** Stops refilling the scratch pool and deletes its images (daemon shutdown, tests). */
  async close(): Promise<void> {
    await this.pool.close();
    if (this.setupPromise) await (await this.setupPromise).launchers.close();
    if (this.setupPromise) await (await this.setupPromise).mountBase.release();
    // Sandboxes left running (detached at shutdown) keep lxcfs: the next daemon adopts it.
    if (this.setupPromise && this.live.size > 0) (await this.setupPromise).procView.detach();
    else if (this.setupPromise) await (await this.setupPromise).procView.stop();
    // The daemon's parent cgroup goes too once no sandbox is left in it (it is recreated at start).
    if (this.live.size === 0 && this.setupPromise) await (await this.setupPromise).cgroups.removeParent();
  }
}

/**
 * Throws unless every directory above `p` is searchable by sandbox root (host uid and gid
 * `id`, no supplementary groups): bwrap opens the sandbox root and atoll-init as that user.
 */
async function assertTraversable(p: string, id: number): Promise<void> {
  const abs = await realpath(p);
  for (let dir = path.dirname(abs); ; dir = path.dirname(dir)) {
    const st = await stat(dir);
    const bit = st.uid === id ? 0o100 : st.gid === id ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new DaemonError(
        "HOST_NOT_READY",
        `${dir} is not searchable by the sandboxes' host uid ${id} (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}:${st.gid}); sandboxes cannot reach ${abs}. Run: chmod o+x ${dir}`,
      );
    }
    if (dir === "/") return;
  }
}
