/** JSON shapes the daemon answers with. Dates are ISO 8601 strings. */

export type AccessMode = "rw" | "ro";
export type SandboxState = "starting" | "running" | "stopped";

/** One volume mounted in one sandbox. */
export interface VolumeAttachment {
  sandboxId: string;
  volumeId: string;
  volumeName: string;
  mountPath: string;
  accessMode: AccessMode;
  attachedAt: string;
}

export interface SandboxInfo {
  id: string;
  state: SandboxState;
  /** Why it stopped: "killed", "timeout", "session-closed", "daemon-restart", "crashed", … */
  stopReason: string | null;
  createdAt: string;
  stoppedAt: string | null;
  /** "session" or the duration it was created with, e.g. "5m". */
  timeout: string;
  /** When it will be killed; null for session sandboxes. */
  expiresAt: string | null;
  labels: Record<string, string>;
  memoryBytes: number;
  pids: number;
  cpuWeight: number;
  rootfsBytes: number;
  volumes: VolumeAttachment[];
  /** Egress policy as given (docs/network.md): null = unrestricted, [] = no egress. */
  allowNet?: string[] | null;
  /** URL of the port given as `port` to Sandbox.create, else null. */
  url?: string | null;
  /** The sandbox's addresses on its network, null when the daemon runs without networking. */
  network?: SandboxNetworkInfo | null;
}

/** Where a sandbox sits on the daemon's network. */
export interface SandboxNetworkInfo {
  ipv4: string;
  ipv6: string;
  /** Ports exposed with exposeHttp (or `port`), and their URLs. */
  exposed: ExposedPort[];
}

/**
 * One port served by the daemon at an unguessable URL (`POST /v1/sandboxes/:id/expose`), on an
 * origin of its own, never the API's (docs/network.md).
 */
export interface ExposedPort {
  port: number;
  /**
   * `http://127.a.b.c:<port>/<random>/` (a loopback address per exposed port; append paths to
   * it), or `http(s)://<random>.<domain>/` when the daemon runs with `--expose-domain`.
   */
  url: string;
}

export interface VolumeInfo {
  id: string;
  name: string;
  /** Size in GiB (2^30 bytes) as requested. */
  sizeGb: number;
  capacityBytes: number;
  /** Live: statfs of the mounted filesystem, or of the image when unmounted. */
  usedBytes: number;
  /** Live, like usedBytes: files, directories and symlinks on the volume (and ext4's 11 reserved inodes). */
  usedInodes: number;
  /** How many files the volume can hold in all (fixed when it was created; docs/volumes.md). */
  inodeCapacity: number;
  createdAt: string;
  lastAttachedAt: string | null;
  attachments: VolumeAttachment[];
  /** Holds a root filesystem a sandbox can boot from (`root`): made `from` a builtin image or a bootable snapshot (docs/snapshots.md). */
  bootable: boolean;
  /** The snapshot the volume was made `from` (null: none, a builtin image, or the snapshot was deleted since). */
  fromSnapshot?: { id: string; name: string } | null;
}

/** A read-only, point-in-time copy of a volume (issue 14, docs/snapshots.md). */
export interface SnapshotInfo {
  /** snap_ + 20 characters. */
  id: string;
  /** Unique per tenant (snapshots and volumes have separate names). */
  name: string;
  /** The volume it was taken of (it may have been deleted since: snapshots are independent). */
  volumeId: string;
  volumeName: string;
  /** The volume's size when the snapshot was taken (what it counts in the tenant's volume quota). */
  sizeGb: number;
  capacityBytes: number;
  createdAt: string;
  /** Bytes only this snapshot holds (no volume or other snapshot shares them): what deleting it frees. */
  allocatedBytes: number;
  /** Can a sandbox boot from it (`root:`)? Not yet: always false. */
  bootable: boolean;
}

export interface SnapshotList {
  snapshots: SnapshotInfo[];
}

export interface SandboxList {
  sandboxes: SandboxInfo[];
}
export interface VolumeList {
  volumes: VolumeInfo[];
}
export interface EnvResponse {
  env: Record<string, string>;
}

/** Live resource use of a running sandbox (`GET /v1/sandboxes/:id/stats`). */
export interface SandboxStats {
  sandboxId: string;
  /** When the figures were read. */
  at: string;
  /** Memory charged to the sandbox's cgroup now (page cache included). */
  memoryBytes: number;
  memoryLimitBytes: number;
  /** CPU time used since the sandbox started, in nanoseconds (all cores). */
  cpuUsageNs: number;
  pids: number;
  pidsLimit: number;
}

/** One command a sandbox ran, newest first in lists (`GET /v1/sandboxes/:id/commands`). */
export interface CommandLogEntry {
  /** 1, 2, 3… per sandbox, in start order. */
  seq: number;
  startedAt: string;
  /** The script of `sh -c SCRIPT`, else the argv quoted for sh; cut at 2000 characters. */
  command: string;
  user: "app" | "root";
  /**
   * Exit code; null while running, when killed by a signal, or when it could not start (then
   * signal is null too and durationMs is set).
   */
  exitCode: number | null;
  /** Signal name when killed by one ("SIGKILL"), else null. */
  signal: string | null;
  /** true when the sandbox's memory limit killed it. */
  oom: boolean;
  /** null while running (or if the sandbox stopped before the exit was seen). */
  durationMs: number | null;
}
export interface CommandLogList {
  commands: CommandLogEntry[];
}

/** A volume's used bytes at one moment, sampled by the daemon. */
export interface VolumeUsageSample {
  at: string;
  usedBytes: number;
}
/** `GET /v1/volumes/:id/usage`: samples oldest first, then the live figure as the last point. */
export interface VolumeUsageHistory {
  volumeId: string;
  capacityBytes: number;
  samples: VolumeUsageSample[];
}

/** Session WebSocket, daemon → client text frames. */
export type SessionServerMessage =
  | { type: "started"; id: number; pid: number }
  | { type: "exit"; id: number; status: { success: boolean; code: number | null; signal: string | null; oom: boolean } }
  | { type: "error"; id: number; error: { code: string; message: string } }
  /** For a process spawned with a `window`: `bytes` more of its stdin were consumed (written to its pipe, or dropped). */
  | { type: "stdin_ack"; id: number; bytes: number }
  /** `reason`: STOP_REASONS; `timeout`: the sandbox's timeout setting ("5m", "session"). */
  | { type: "sandbox_stopped"; reason: string; timeout?: string };

/** Session WebSocket binary frame kinds: `u8 kind | u32 id (BE) | bytes`. */
export const FRAME_STDIN = 0;
export const FRAME_STDOUT = 1;
export const FRAME_STDERR = 2;

/** Builds a binary session frame. */
export function encodeSessionFrame(kind: number, id: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, id);
  out.set(data, 5);
  return out;
}

/** Splits a binary session frame; null when it is too short to be one. */
export function decodeSessionFrame(frame: Uint8Array): { kind: number; id: number; data: Uint8Array } | null {
  if (frame.byteLength < 5) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return { kind: view.getUint8(0), id: view.getUint32(1), data: frame.subarray(5) };
}
