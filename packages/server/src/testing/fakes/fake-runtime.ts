/**
 * An in-memory RuntimeDriver for the fast test tier. Sandboxes are objects, processes are
 * in-process programs (fake-programs.ts), mounts are a table; nothing touches the host. It keeps
 * the contract of the bubblewrap runtime, proven by the same suite
 * (testing/contracts/runtime-contract.ts): output before exit, flow control by `ack` (at most a
 * 1 MiB window unacknowledged per stream, then the process waits), stdin acknowledged as it is
 * consumed, signals end processes with the signal's name, a missing command fails to start
 * with ENOENT, `kill()` is idempotent, reports running processes as SIGKILLed and resolves
 * `stopped` with "killed", and a stopped sandbox refuses spawns (ESRCH) and mount changes.
 * Tests can also make things happen that the host would: `crash()` (init died), a launch that
 * fails (`failNextLaunch`).
 *
 * @example
 *   const runtime = new FakeRuntime({ files: storage }); // cat reads volumes of a FakeStorage
 *   const sb = await runtime.launch({ id: "sbx_1", imageRootfs: "/x", limits, mounts: [] });
 */
import { constants } from "node:os";
import { InvalidArgumentError } from "atoll/contract";
import type {
  BusyProcess,
  LaunchSpec,
  MountSpec,
  ProcessHandle,
  ProcessSink,
  RuntimeDriver,
  RuntimeSandbox,
  SandboxStats,
  SpawnRequest,
} from "../../core/drivers.js";
import { BUILTIN_PROGRAMS, type FakeProgram } from "./fake-programs.js";
import { FakeProcess } from "./fake-process.js";

/** Where a fake sandbox's `cat` finds the files of a mount's source (a FakeStorage does). */
export interface FakeHostFiles {
  readFile(source: string, relPath: string): Uint8Array | undefined;
}

export interface FakeRuntimeOptions {
  /** Files behind mount sources; without it every mount looks empty. */
  files?: FakeHostFiles;
  /** Extra commands (name → program), next to the built-in ones. */
  programs?: Record<string, FakeProgram>;
}

const isUnder = (p: string, target: string) => p === target || p.startsWith(`${target}/`);

export class FakeSandbox implements RuntimeSandbox {
  readonly stopped: Promise<{ reason: string }>;
  readonly mounts = new Map<string, MountSpec>();
  private resolveStopped!: (v: { reason: string }) => void;
  private stopping: Promise<void> | undefined;
  private readonly procs = new Set<FakeProcess>();
  private nextPid = 2; // 1 is the sandbox's init
  private cpuNs = 0;

  constructor(
    readonly spec: LaunchSpec,
    private readonly options: FakeRuntimeOptions,
  ) {
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    for (const m of spec.mounts) this.mounts.set(m.target, m);
  }

  get id(): string {
    return this.spec.id;
  }

  /** true once kill() or crash() began. */
  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Processes alive now. */
  processes(): FakeProcess[] {
    return [...this.procs].filter((p) => p.running);
  }

  spawn(req: SpawnRequest, sink: ProcessSink): ProcessHandle {
    const name = req.argv[0]?.split("/").pop() ?? "";
    const program = this.options.programs?.[name] ?? BUILTIN_PROGRAMS[name];
    const proc = new FakeProcess(req, sink, {
      pid: this.nextPid++,
      program,
      readFile: (path) => this.readFile(path),
      onEnd: () => this.procs.delete(proc),
    });
    if (this.stopping) proc.refuse("the sandbox is not running", constants.errno.ESRCH);
    else if (!program) proc.refuse(`${req.argv[0]}: No such file or directory`, constants.errno.ENOENT);
    else {
      this.procs.add(proc);
      proc.start();
    }
    return proc.handle;
  }

  async attachMount(mount: MountSpec): Promise<void> {
    this.assertRunning();
    if (this.mounts.has(mount.target)) throw new InvalidArgumentError(`${mount.target} is already a mount point`, { target: mount.target });
    this.mounts.set(mount.target, mount);
  }

  async busyProcesses(target: string): Promise<BusyProcess[]> {
    return this.processes()
      .filter((p) => isUnder(p.req.cwd, target))
      .map((p) => ({ pid: p.pid, command: p.name, path: p.req.cwd }));
  }

  async detachMount(target: string): Promise<void> {
    this.assertRunning();
    if (!this.mounts.delete(target)) throw new InvalidArgumentError(`${target} is not a mount point`, { target });
  }

  async stats(): Promise<SandboxStats> {
    this.cpuNs += 1_000_000;
    const running = this.processes().length;
    return { memoryBytes: (1 + running) * 2 ** 20, cpuUsageNs: this.cpuNs, pids: 1 + running };
  }

  kill(): Promise<void> {
    return this.stop("killed");
  }

  /** The sandbox's init died on its own (crash, OOM of init): what the runtime reports then. */
  crash(reason = "init-exited"): Promise<void> {
    return this.stop(reason);
  }

  private stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      for (const p of [...this.procs]) p.killed();
      this.procs.clear();
      this.mounts.clear();
      this.resolveStopped({ reason });
    })();
    return this.stopping;
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error(`sandbox ${this.id} is stopping`);
  }

  /** A sandbox path through the deepest mount that holds it; the image's own files are not modelled. */
  private readFile(path: string): Uint8Array | undefined {
    const mount = [...this.mounts.values()].filter((m) => isUnder(path, m.target)).sort((a, b) => b.target.length - a.target.length)[0];
    if (!mount || path === mount.target) return undefined;
    return this.options.files?.readFile(mount.source, path.slice(mount.target.length + 1));
  }
}

export class FakeRuntime implements RuntimeDriver {
  /** Every sandbox launched and not yet cleaned up, by id (stopped ones too, until cleanupOrphans). */
  readonly sandboxes = new Map<string, FakeSandbox>();
  private launchFailures: Error[] = [];
  closed = false;

  constructor(private readonly options: FakeRuntimeOptions = {}) {}

  /** The next launch rejects with `err` after awaiting the network (as a failing bwrap would). */
  failNextLaunch(err: Error): void {
    this.launchFailures.push(err);
  }

  async launch(spec: LaunchSpec): Promise<RuntimeSandbox> {
    if (this.sandboxes.get(spec.id)?.isStopping === false) throw new Error(`sandbox ${spec.id} already runs`);
    await spec.network; // the runtime waits for the network right before it needs it
    const failure = this.launchFailures.shift();
    if (failure) throw failure;
    const sb = new FakeSandbox(spec, this.options);
    this.sandboxes.set(spec.id, sb);
    return sb;
  }

  /** Live sandboxes (not stopping). */
  running(): FakeSandbox[] {
    return [...this.sandboxes.values()].filter((s) => !s.isStopping);
  }

  /** A sandbox still in `sandboxes` and not stopping is one whose shim answers (live restore). */
  async adopt(id: string): Promise<RuntimeSandbox | undefined> {
    const sb = this.sandboxes.get(id);
    return sb && !sb.isStopping ? sb : undefined;
  }

  async cleanupOrphans(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const [id, sb] of this.sandboxes) {
      if (keep.has(id)) continue;
      await sb.kill();
      this.sandboxes.delete(id);
      removed.push(id);
    }
    return removed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
