/**
 * The seams between core/ and the host. core/ talks only to these interfaces; the bubblewrap
 * runtime (runtime/) and the loop-device ext4 backend (storage/) implement them, and a
 * Kubernetes driver (sandbox → Pod, volume → PersistentVolumeClaim) could implement them too.
 */
import type { Duplex } from "node:stream";
import type { HostRule, NetRule } from "atoll/contract";

/** Resource limits of one sandbox, already validated and in base units. */
export interface SandboxLimits {
  /** Hard memory limit in bytes (page cache of the sandbox counts too). */
  memoryBytes: number;
  /** Maximum number of processes/threads alive at once. */
  pids: number;
  /** Relative CPU weight, 1..10000 (cgroup v2 cpu.weight semantics, 100 = default share). */
  cpuWeight: number;
  /** Size cap of the sandbox's writable root filesystem layer, in bytes. */
  rootfsBytes: number;
}

/** A volume made available inside a sandbox. */
export interface MountSpec {
  /** Where the storage driver put the volume on this host (from StorageDriver.acquire). */
  source: string;
  /** Absolute, normalised path inside the sandbox. */
  target: string;
  readOnly: boolean;
}

/** A file the runtime writes into the sandbox's root before the first process starts. */
export interface RootFile {
  /** Absolute path inside the sandbox; its parent directory must exist in the image. */
  path: string;
  content: string;
  /** true: `content` is appended to the image's file at that path (e.g. a CA bundle). */
  appendToImage?: boolean;
}

export interface LaunchSpec {
  id: string;
  /** Root filesystem of the base image on the host (read-only lower layer), or of a bootable snapshot or volume (issue 14). */
  imageRootfs: string;
  /**
   * `imageRootfs` is a bootable volume's host mount, booted read-write: it becomes the sandbox's
   * root itself (a bind, no overlay), so what the sandbox changes stays in the volume.
   */
  rootWritable?: boolean;
  limits: SandboxLimits;
  /** Mounted before the first process starts; read-only ones arrive locked. */
  mounts: MountSpec[];
  /**
   * The sandbox's network, being prepared by the NetworkDriver while the runtime builds the root;
   * awaited right before it is needed. Absent: an empty namespace with loopback only.
   */
  network?: Promise<LaunchNetwork>;
}

export interface LaunchNetwork {
  /** Network namespace (host path) the sandbox joins, owned by the host's initial user namespace. */
  netnsPath: string;
  /** Written into the root before the first process starts. */
  files: RootFile[];
}

export interface SpawnRequest {
  /** argv[0] is resolved with PATH from env when it has no slash. */
  argv: string[];
  /** The complete environment of the process (the caller merged defaults and overrides). */
  env: Record<string, string>;
  cwd: string;
  /** "app" = uid/gid 1000, "root" = uid/gid 0 inside the sandbox. */
  user: "app" | "root";
  /** Ids to run as instead of `user`'s (an imported image's User, 0..65535: inside the sandbox's user namespace only). */
  ids?: { uid: number; gid: number };
  /** true: stdin is a pipe fed by ProcessHandle.write; false: /dev/null. */
  stdin: boolean;
}

export interface ProcessExit {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** Signal name ("SIGKILL") when killed by a signal, else null. */
  signal: string | null;
  /** true when the kernel's OOM killer of the sandbox's memory cgroup killed it. */
  oom: boolean;
}

export interface ProcessSink {
  onStarted(pid: number): void;
  onStdout(data: Uint8Array): void;
  onStderr(data: Uint8Array): void;
  onExit(exit: ProcessExit): void;
  /** The process could not start (no exit follows). */
  onSpawnError(message: string, errno: number): void;
  /** `bytes` more of what write() passed were consumed: written into the process's stdin pipe, or dropped because it closed its stdin. */
  onStdinAck?(bytes: number): void;
}

export interface ProcessHandle {
  /**
   * Bytes for the process's stdin. Always accepted; the runtime keeps at most a window (1 MiB)
   * in flight to the sandbox and queues the rest in `stdinBacklog`: a caller that may send a
   * lot waits for onStdinAck (or its own protocol's acknowledgements) instead of piling up.
   */
  write(data: Uint8Array): void;
  /** Stdin bytes queued in the daemon, not yet sent to the sandbox (runtimes without a queue: absent). */
  readonly stdinBacklog?: number;
  closeStdin(): void;
  /** Sends a signal (name like "SIGTERM" or number) to the process group. */
  signal(sig: string | number): void;
  /**
   * Flow control: the consumer is done with `bytes` more of what onStdout/onStderr delivered on
   * `stream`. The runtime delivers at most a small window (1 MiB) of output per stream that was
   * not acknowledged; beyond it the process blocks on its full pipe, inside the sandbox. Every
   * consumer must acknowledge what it takes (at once, if it keeps nothing).
   */
  ack(stream: "stdout" | "stderr", bytes: number): void;
}

export interface BusyProcess {
  pid: number;
  command: string;
  /** The open file or working directory that keeps the mount busy. */
  path: string;
}

export interface SandboxStats {
  memoryBytes: number;
  cpuUsageNs: number;
  pids: number;
}

export interface RuntimeSandbox {
  readonly id: string;
  spawn(req: SpawnRequest, sink: ProcessSink): ProcessHandle;
  /** Hot attach: the mount appears inside the running sandbox. */
  attachMount(mount: MountSpec): Promise<void>;
  /** Processes inside the sandbox that hold files (or their cwd) under target. */
  busyProcesses(target: string): Promise<BusyProcess[]>;
  /** Hot detach: the mount disappears inside the running sandbox. */
  detachMount(target: string): Promise<void>;
  /** Whether something is mounted at `target` inside the sandbox (adoption checks its volumes). */
  hasMount?(target: string): Promise<boolean>;
  stats(): Promise<SandboxStats>;
  /** Kills every process and releases every host resource. Idempotent. */
  kill(): Promise<void>;
  /** Resolves once the sandbox is dead and its host resources are released. */
  readonly stopped: Promise<{ reason: string }>;
  /**
   * Daemon shutdown without stopping sandboxes (issue 13): lets go of the sandbox and keeps it
   * running, with every host resource, for the next daemon to adopt. `stopped` never resolves.
   */
  detach?(): Promise<void>;
  /**
   * An adopted sandbox: the processes the previous daemon started that still run (procId, pid,
   * output bytes sent so far), and the last that ended. Empty for a sandbox this daemon launched.
   */
  adoptedProcesses?(): { live: AdoptedProcessInfo[]; ended: { procId: number; code: number; signal: number; stdoutSent: number; stderrSent: number }[] };
}

/** A process of an adopted sandbox (RuntimeSandbox.adoptedProcesses). */
export interface AdoptedProcessInfo {
  procId: number;
  pid: number;
  stdoutSent: number;
  stderrSent: number;
  stdinOpen: boolean;
  exit?: ProcessExit;
}

/** What the store knows of a sandbox the runtime is asked to adopt. */
export interface AdoptFacts {
  limits: SandboxLimits;
}

export interface RuntimeDriver {
  launch(spec: LaunchSpec): Promise<RuntimeSandbox>;
  /** At daemon start: remove every host resource of sandboxes not in `keep`. */
  cleanupOrphans(keep: ReadonlySet<string>): Promise<string[]>;
  /**
   * At daemon start, before cleanupOrphans: takes over sandbox `id` that a previous daemon run
   * left running (issue 13). undefined when it is gone or does not answer in time (the caller then
   * stops it and cleanupOrphans removes what is left).
   */
  adopt?(id: string, facts: AdoptFacts): Promise<RuntimeSandbox | undefined>;
  /** Daemon shutdown, after every sandbox was killed: release pooled resources. */
  close?(): Promise<void>;
}

export interface VolumeUsage {
  usedBytes: number;
  capacityBytes: number;
  /** Inodes in use (files, directories, symlinks, and the filesystem's few reserved ones). */
  usedInodes: number;
  /** Inodes the filesystem has: fixed when it was made. */
  inodeCapacity: number;
  /** Bytes of the volume's data that a snapshot also holds (shared, copy-on-write); absent: none. */
  sharedBytes?: number;
}

export interface StorageDriver {
  /** Creates the backing store of a new volume. On failure nothing is left behind. */
  create(volumeId: string, capacityBytes: number): Promise<void>;
  /**
   * Creates a bootable volume holding a copy of the root filesystem `tree` (a host directory;
   * `what` names it in errors, "builtin:debian-12"). INVALID_ARGUMENT when it does not fit.
   * On failure nothing is left behind.
   */
  createFromTree(volumeId: string, capacityBytes: number, tree: string, what: string): Promise<void>;
  /** Removes the backing store; the volume must not be acquired. Frees the space at once. */
  delete(volumeId: string): Promise<void>;
  /** Mounts the volume on the host (once, reference counted) and returns where. */
  acquire(volumeId: string): Promise<string>;
  /**
   * Mounts a snapshot read-only on the host (once, reference counted, like acquire) and returns
   * where; nothing can write its image. deleteSnapshot refuses (SNAPSHOT_IN_USE) while it is held.
   */
  acquireSnapshot(snapshotId: string): Promise<string>;
  /** Drops one reference of a volume or snapshot; the last one unmounts and releases the loop device. */
  release(volumeId: string): Promise<void>;
  /** Live usage (statfs when mounted; from the image otherwise). */
  usage(volumeId: string): Promise<VolumeUsage>;
  /** Bytes available for new volumes' backing files on the host. */
  freeBytes(): Promise<number>;
  /**
   * Bytes the volume's backing store may still take from the host as it fills (0 when it is
   * allocated in full, as every volume made since issue 10 is; older sparse ones until allocated).
   */
  unallocatedBytes(volumeId: string): Promise<number>;
  /**
   * At daemon start: thaw and unmount everything, detach loop devices, fsck images of `known`
   * volumes, remove stray files, half-made snapshots and (given `knownSnapshots`) unknown snapshots.
   * `inUse` (volume or snapshot id → references): volumes and snapshots adopted sandboxes still
   * use stay mounted, held that many times.
   */
  reconcile(known: ReadonlySet<string>, inUse?: ReadonlyMap<string, number>, knownSnapshots?: ReadonlySet<string>): Promise<void>;
  /**
   * A read-only, point-in-time copy of the volume, also while it is acquired and written to (its
   * filesystem is flushed and held still for the copy, milliseconds). Fsck-clean when mounted.
   */
  snapshot(volumeId: string, snapshotId: string): Promise<void>;
  /**
   * Removes a snapshot (a missing one is a no-op); volumes made from it are independent.
   * SNAPSHOT_IN_USE while it is acquired.
   */
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** Size and the space only this snapshot holds. */
  snapshotUsage(snapshotId: string): Promise<SnapshotUsage>;
  /**
   * Creates volume `volumeId` starting as the snapshot, copy-on-write (it takes space only for
   * what it changes), grown to `capacityBytes` (at least the snapshot's). On failure nothing is left.
   */
  createFrom(volumeId: string, snapshotId: string, capacityBytes: number): Promise<void>;
  /** Replaces a volume that is not acquired with a copy of the snapshot, grown to the volume's capacity. */
  restore(volumeId: string, snapshotId: string): Promise<void>;
}

export interface SnapshotUsage {
  /** The volume's capacity when the snapshot was taken. */
  capacityBytes: number;
  /** Bytes no volume or other snapshot shares: what deleting the snapshot gives back. */
  allocatedBytes: number;
}

/** A secret as the network driver needs it: the sandbox only ever sees `placeholder`. */
export interface SecretBinding {
  name: string;
  placeholder: string;
  value: string;
  /** Host names (exact or `*.` wildcard) the value may be sent to. */
  hosts: HostRule[];
}

/** What a sandbox needs from its network before it starts. */
export interface NetworkAttachment {
  /** Host path of the prepared network namespace (LaunchSpec.netnsPath). */
  netnsPath: string;
  /** resolv.conf, and the sandbox CA when it has secrets (LaunchSpec.files). */
  files: RootFile[];
  /** Variables every process gets (CA bundle locations). */
  env: Record<string, string>;
  ipv4: string;
  ipv6: string;
}

/**
 * What the store keeps about a running sandbox's network, enough for the next daemon to adopt it
 * (docs/network.md, "Daemon restarts"). Never a secret's value.
 */
export interface NetworkFacts {
  /** NetworkAttachment.netnsPath as attach gave it. */
  netnsPath: string;
  ipv4: string;
  ipv6: string;
  allowNet: NetRule[] | null;
  /** Its tenant's closed ranges now (closedRanges). */
  closed: string[];
  /** Its secrets without their values. */
  secrets: Omit<SecretBinding, "value">[];
}

/**
 * Sandbox networks: one network namespace per sandbox behind a router the driver owns, the
 * egress policy (`allowNet`), the resolver, the egress proxy and secret substitution.
 *
 * Restarts: the driver's host state (namespaces, router, nftables, netd) outlives the daemon.
 * The next daemon's driver is started keeping the namespaces of the sandboxes it may adopt,
 * adopts each with `adopt`, then `dropUnadopted` removes the rest. `detach` is a daemon stopping
 * while its sandboxes keep running.
 */
export interface NetworkDriver {
  /**
   * Prepares the network of a new sandbox. On failure nothing is left behind. `closed`: CIDRs the
   * sandbox may never reach whatever its rules say (closedRanges of its tenant).
   */
  attach(id: string, spec: { allowNet: NetRule[] | null; secrets: SecretBinding[]; closed: string[] }): Promise<NetworkAttachment>;
  /** Replaces the egress policy of a sandbox; effective for new connections. */
  setAllowNet(id: string, allowNet: NetRule[] | null): Promise<void>;
  /** CIDRs closed to a tenant's sandboxes given its open list (core/special-ranges.ts), with the driver's own ranges. */
  closedRanges(tenantOpen: readonly string[]): string[];
  /** Replaces the closed ranges of a running sandbox (its tenant's setting changed). */
  setClosed(id: string, closed: string[]): Promise<void>;
  /**
   * A TCP connection made from inside the sandbox's network namespace to the first of
   * `addresses` (numeric) that accepts on `port`. Rejects with a NetworkError when none does.
   */
  connect(id: string, addresses: readonly string[], port: number): Promise<Duplex>;
  /** Resolves `name` the way the sandbox's resolver does (its policy applies). */
  resolve(id: string, name: string): Promise<string[]>;
  /** PEM of the CA the sandbox trusts for intercepted TLS, when it has secrets. */
  sandboxCa(id: string): string | undefined;
  /** Releases the sandbox's network (after its processes are gone). Idempotent. */
  release(id: string): Promise<void>;
  /**
   * Takes over the network of a sandbox a previous daemon attached (its namespace was kept at
   * start): its addresses, policy and closed ranges from `facts`, what it admitted from the host,
   * its secrets and CA from the surviving resolver (without one, its secrets are lost: requests
   * needing them are refused). NETWORK_FAILED when it cannot be adopted (nothing is changed then).
   */
  adopt(id: string, facts: NetworkFacts): Promise<NetworkAttachment>;
  /** After the adoptions at start: removes the kept networks nobody adopted. */
  dropUnadopted(): Promise<void>;
  /** The daemon stops, its sandboxes keep running: everything stays on the host for the next daemon. */
  detach(): Promise<void>;
  /** Daemon shutdown, after every sandbox was released. */
  close(): Promise<void>;
}

/**
 * File operations (docs/files.md). Every one runs as a process of the file helper `atoll-fs`
 * (argv after the program name, record protocol on stdin/stdout: files/fs-call.ts), placed
 * where paths resolve as the sandbox or the volume sees them: never resolved on the host. core/
 * decides what runs, where, as whom; the driver only starts the helper there.
 */
export interface FilesDriver {
  /**
   * Runs the helper inside a running sandbox of this runtime, as `user`, with the sandbox's own
   * root, mounts, limits and filters (read-only mounts refuse writes with EROFS).
   */
  runInSandbox(sandbox: RuntimeSandbox, user: "app" | "root", argv: readonly string[], stdin: boolean, sink: ProcessSink): ProcessHandle;
  /**
   * Runs the helper as `app` in a throwaway view that holds nothing but one volume, at its root
   * (`source`: where StorageDriver.acquire put it). The view ends with the helper.
   */
  runOnVolume(source: string, argv: readonly string[], stdin: boolean, sink: ProcessSink): ProcessHandle;
  /** Daemon shutdown: kills every helper of runOnVolume still running. */
  close(): void;
}
