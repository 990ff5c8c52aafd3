/**
 * The STATE frame atoll-init sends to a daemon that adopts its sandbox (answer to HELLO; layout
 * in native/init-state.c and docs/architecture.md, "Live restore"). Init is inside the sandbox:
 * the decoder checks every length, count and procId and throws ProtocolError on anything else.
 *
 * @example
 *   const nonce = randomBytes(8);
 *   send(encodeFrame(FrameType.HELLO, 0, nonce));
 *   const state = decodeState(frame.payload, nonce); // { maxProcId, live: [...], ended: [...] }
 */
import { ProtocolError } from "./agent-protocol.js";

/** Most live and ended processes one STATE lists (init-state.c). */
export const STATE_MAX_LIVE = 1600;
export const STATE_MAX_ENDED = 64;
const HEAD = 16;
const LIVE_BYTES = 38;
const ENDED_BYTES = 28;

/** A process init still has (running, or reaped with output pipes still open). */
export interface LiveProcState {
  procId: number;
  pid: number;
  reaped: boolean;
  stdinOpen: boolean;
  /** STDIN bytes the old daemon sent that init has not acknowledged yet. */
  stdinUnacked: number;
  stdoutSent: number;
  stderrSent: number;
  /** Output credit init still holds (granted by the old daemon, not used yet). */
  stdoutCredit: number;
  stderrCredit: number;
}

/** A process that ended recently (its EXIT may never have reached a daemon). */
export interface EndedProcState {
  procId: number;
  code: number;
  signal: number;
  stdoutSent: number;
  stderrSent: number;
}

export interface InitState {
  /** Highest procId init has seen: the adopting daemon continues above it. */
  maxProcId: number;
  live: LiveProcState[];
  ended: EndedProcState[];
}

function u64(b: Buffer, off: number, what: string): number {
  const v = b.readBigUInt64BE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`STATE frame: ${what} out of range`);
  return Number(v);
}

/** Decodes a STATE payload; `nonce` must be the one this daemon sent in HELLO. */
export function decodeState(payload: Buffer, nonce: Buffer): InitState {
  if (payload.byteLength < HEAD) throw new ProtocolError(`STATE frame of ${payload.byteLength} bytes`);
  if (!payload.subarray(0, 8).equals(nonce)) throw new ProtocolError("STATE frame with another nonce");
  const maxProcId = payload.readUInt32BE(8);
  const nLive = payload.readUInt16BE(12);
  const nEnded = payload.readUInt16BE(14);
  if (nLive > STATE_MAX_LIVE || nEnded > STATE_MAX_ENDED) throw new ProtocolError(`STATE frame lists ${nLive} live and ${nEnded} ended processes`);
  if (payload.byteLength !== HEAD + nLive * LIVE_BYTES + nEnded * ENDED_BYTES)
    throw new ProtocolError(`STATE frame of ${payload.byteLength} bytes for its counts`);
  const seen = new Set<number>();
  const checkId = (procId: number) => {
    if (procId === 0 || procId > maxProcId || seen.has(procId)) throw new ProtocolError(`STATE frame: invalid or repeated process ${procId}`);
    seen.add(procId);
  };
  const flag = (v: number, what: string) => {
    if (v > 1) throw new ProtocolError(`STATE frame: ${what} is ${v}`);
    return v === 1;
  };
  const live: LiveProcState[] = [];
  let off = HEAD;
  for (let i = 0; i < nLive; i++, off += LIVE_BYTES) {
    const procId = payload.readUInt32BE(off);
    checkId(procId);
    live.push({
      procId,
      pid: payload.readUInt32BE(off + 4),
      reaped: flag(payload.readUInt8(off + 8), "reaped"),
      stdinOpen: flag(payload.readUInt8(off + 9), "stdin open"),
      stdinUnacked: payload.readUInt32BE(off + 10),
      stdoutSent: u64(payload, off + 14, "stdout bytes"),
      stderrSent: u64(payload, off + 22, "stderr bytes"),
      stdoutCredit: payload.readUInt32BE(off + 30),
      stderrCredit: payload.readUInt32BE(off + 34),
    });
  }
  const ended: EndedProcState[] = [];
  for (let i = 0; i < nEnded; i++, off += ENDED_BYTES) {
    const procId = payload.readUInt32BE(off);
    checkId(procId);
    ended.push({
      procId,
      code: payload.readInt32BE(off + 4),
      signal: payload.readUInt32BE(off + 8),
      stdoutSent: u64(payload, off + 12, "stdout bytes"),
      stderrSent: u64(payload, off + 20, "stderr bytes"),
    });
  }
  return { maxProcId, live, ended };
}

/** Encodes a STATE payload (tests, and a fake init). */
export function encodeState(nonce: Buffer, s: InitState): Buffer {
  const b = Buffer.alloc(HEAD + s.live.length * LIVE_BYTES + s.ended.length * ENDED_BYTES);
  nonce.copy(b, 0, 0, 8);
  b.writeUInt32BE(s.maxProcId, 8);
  b.writeUInt16BE(s.live.length, 12);
  b.writeUInt16BE(s.ended.length, 14);
  let off = HEAD;
  for (const p of s.live) {
    b.writeUInt32BE(p.procId, off);
    b.writeUInt32BE(p.pid, off + 4);
    b.writeUInt8(p.reaped ? 1 : 0, off + 8);
    b.writeUInt8(p.stdinOpen ? 1 : 0, off + 9);
    b.writeUInt32BE(p.stdinUnacked, off + 10);
    b.writeBigUInt64BE(BigInt(p.stdoutSent), off + 14);
    b.writeBigUInt64BE(BigInt(p.stderrSent), off + 22);
    b.writeUInt32BE(p.stdoutCredit, off + 30);
    b.writeUInt32BE(p.stderrCredit, off + 34);
    off += LIVE_BYTES;
  }
  for (const p of s.ended) {
    b.writeUInt32BE(p.procId, off);
    b.writeInt32BE(p.code, off + 4);
    b.writeUInt32BE(p.signal, off + 8);
    b.writeBigUInt64BE(BigInt(p.stdoutSent), off + 12);
    b.writeBigUInt64BE(BigInt(p.stderrSent), off + 20);
    off += ENDED_BYTES;
  }
  return b;
}
