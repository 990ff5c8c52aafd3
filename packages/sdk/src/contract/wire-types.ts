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
}

export interface VolumeInfo {
  id: string;
  name: string;
  /** Size in GiB (2^30 bytes) as requested. */
  sizeGb: number;
  capacityBytes: number;
  /** Live: statfs of the mounted filesystem, or of the image when unmounted. */
  usedBytes: number;
  createdAt: string;
  lastAttachedAt: string | null;
  attachments: VolumeAttachment[];
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

/** Session WebSocket, daemon → client text frames. */
export type SessionServerMessage =
  | { type: "started"; id: number; pid: number }
  | { type: "exit"; id: number; status: { success: boolean; code: number | null; signal: string | null; oom: boolean } }
  | { type: "error"; id: number; error: { code: string; message: string } }
  | { type: "sandbox_stopped"; reason: string };

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
