import { randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** 20 random base32 characters (100 bits): unguessable and safe in paths and hostnames. */
function randomId(): string {
  const bytes = randomBytes(20);
  let out = "";
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/** @example newSandboxId() // "sbx_k3j5…" */
export const newSandboxId = (): string => `sbx_${randomId()}`;
/** @example newVolumeId() // "vol_q7x2…" */
export const newVolumeId = (): string => `vol_${randomId()}`;
/** @example newSnapshotId() // "snap_m4w9…" */
export const newSnapshotId = (): string => `snap_${randomId()}`;

/** The current time as the ISO string the store and the API use. */
export const nowIso = (): string => new Date().toISOString();
