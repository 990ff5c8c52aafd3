/**
 * The control-channel protocol between the daemon and atoll-init (docs/architecture.md,
 * "Control channel protocol"): frame encoding and an incremental decoder for the byte stream.
 *
 * Frame: u32 length (BE, bytes after this field) | u8 type | u32 procId (BE) | payload.
 */
import { AtollError } from "atoll/contract";
import { ByteQueue } from "./byte-queue.js";

export const FrameType = {
  SPAWN: 1,
  STDIN: 2,
  STDIN_CLOSE: 3,
  SIGNAL: 4,
  KILL_ALL: 5,
  CREDIT: 6,
  HELLO: 7,
  READY: 64,
  STARTED: 65,
  SPAWN_FAILED: 66,
  STDOUT: 67,
  STDERR: 68,
  EXIT: 69,
  STDIN_ACK: 70,
  STATE: 71,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Header bytes of a frame: length (4) + type (1) + procId (4). */
export const HEADER_BYTES = 9;
/** Largest payload atoll-init accepts; bigger STDIN writes are split by encodeStdin. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
/**
 * Largest payload atoll-init sends (one read of a child's pipe, OUTPUT_CHUNK in init.h; a
 * SPAWN_FAILED message is shorter). The daemon's decoder refuses longer frames before buffering
 * them.
 */
export const MAX_INIT_PAYLOAD = 256 * 1024;

export interface Frame {
  type: number;
  procId: number;
  payload: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(type: number, procId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (payload.byteLength > MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.byteLength} bytes exceeds ${MAX_PAYLOAD}`);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(5 + payload.byteLength, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32BE(procId >>> 0, 5);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

export interface SpawnFrameArgs {
  uid: number;
  gid: number;
  cwd: string;
  argv: readonly string[];
  /** `K=V` strings or a record. */
  env: Readonly<Record<string, string>> | readonly string[];
  /** true: stdin is a pipe (fed by STDIN frames); false: /dev/null. */
  stdinPipe: boolean;
}

/** Strings of a SPAWN payload may not contain NUL (it is their terminator). */
function checkString(what: string, s: string): string {
  if (s.includes("\0")) throw new TypeError(`${what} must not contain a NUL character`);
  return s;
}

/**
 * Encodes a SPAWN frame: NUL-terminated uid, gid, cwd, argc, argv..., envc, env..., flags.
 * Throws TypeError when a string contains NUL or argv is empty.
 */
export function encodeSpawn(procId: number, args: SpawnFrameArgs): Buffer {
  if (args.argv.length === 0) throw new TypeError("argv must not be empty");
  const env = Array.isArray(args.env)
    ? (args.env as readonly string[])
    : Object.entries(args.env as Record<string, string>).map(([k, v]) => {
        if (k === "" || k.includes("=")) throw new TypeError(`invalid environment variable name ${JSON.stringify(k)}`);
        return `${k}=${v}`;
      });
  const parts = [
    String(args.uid),
    String(args.gid),
    checkString("cwd", args.cwd),
    String(args.argv.length),
    ...args.argv.map((a) => checkString("argument", a)),
    String(env.length),
    ...env.map((e) => checkString("environment", e)),
    args.stdinPipe ? "1" : "0",
  ];
  return encodeFrame(FrameType.SPAWN, procId, Buffer.from(`${parts.join("\0")}\0`, "utf8"));
}

/** Encodes STDIN bytes as one or more frames (split at MAX_PAYLOAD). */
export function encodeStdin(procId: number, data: Uint8Array): Buffer[] {
  const frames: Buffer[] = [];
  for (let off = 0; off < data.byteLength; off += MAX_PAYLOAD) {
    frames.push(encodeFrame(FrameType.STDIN, procId, data.subarray(off, off + MAX_PAYLOAD)));
  }
  return frames;
}

/** Encodes a SIGNAL frame. */
export function encodeSignal(procId: number, signal: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(signal, 0);
  return encodeFrame(FrameType.SIGNAL, procId, p);
}

/** Encodes a CREDIT frame: init may read `stdout` and `stderr` more bytes of the process's pipes. */
export function encodeCredit(procId: number, stdout: number, stderr: number): Buffer {
  const p = Buffer.allocUnsafe(8);
  p.writeUInt32BE(stdout, 0);
  p.writeUInt32BE(stderr, 4);
  return encodeFrame(FrameType.CREDIT, procId, p);
}

/**
 * Thrown by FrameDecoder when the stream is not a valid frame sequence (the sandbox's init broke
 * the protocol: that sandbox ends). Internal (AGENT_PROTOCOL_VIOLATION).
 */
export class ProtocolError extends AtollError {
  constructor(message: string) {
    super("AGENT_PROTOCOL_VIOLATION", message);
  }
}

/**
 * Incremental decoder: push() chunks of the byte stream as they arrive and get back every
 * frame they complete (a frame may span chunks, a chunk may hold many frames).
 */
export class FrameDecoder {
  private readonly queue = new ByteQueue();

  constructor(private readonly maxPayload = MAX_PAYLOAD) {}

  /** Bytes received that do not form a complete frame yet. */
  get pending(): number {
    return this.queue.length;
  }

  push(chunk: Uint8Array): Frame[] {
    this.queue.push(chunk);
    const frames: Frame[] = [];
    while (this.queue.length >= 4) {
      const length = this.queue.peek(4).readUInt32BE(0);
      if (length < 5 || length - 5 > this.maxPayload) throw new ProtocolError(`invalid frame length ${length}`);
      if (this.queue.length < 4 + length) break;
      const bytes = this.queue.take(4 + length);
      frames.push({
        type: bytes.readUInt8(4),
        procId: bytes.readUInt32BE(5),
        // A copy-free view; take() never hands out a region twice.
        payload: bytes.subarray(HEADER_BYTES),
      });
    }
    return frames;
  }
}

function expectLength(what: string, payload: Buffer, exact: number | { atLeast: number }): void {
  const ok = typeof exact === "number" ? payload.byteLength === exact : payload.byteLength >= exact.atLeast;
  if (!ok) {
    const want = typeof exact === "number" ? `${exact}` : `at least ${exact.atLeast}`;
    throw new ProtocolError(`${what} frame of ${payload.byteLength} bytes (expected ${want})`);
  }
}

/** Payload of STARTED: the pid inside the sandbox. */
export function decodeStarted(payload: Buffer): number {
  expectLength("STARTED", payload, 4);
  return payload.readUInt32BE(0);
}

/** Payload of SPAWN_FAILED: errno and message. */
export function decodeSpawnFailed(payload: Buffer): { errno: number; message: string } {
  expectLength("SPAWN_FAILED", payload, { atLeast: 4 });
  return { errno: payload.readUInt32BE(0), message: payload.subarray(4).toString("utf8") };
}

/** Payload of STDIN_ACK: stdin bytes init wrote to the process's pipe (or dropped) since the last one. */
export function decodeStdinAck(payload: Buffer): number {
  expectLength("STDIN_ACK", payload, 4);
  return payload.readUInt32BE(0);
}

/** Payload of EXIT: exit code (-1 if signalled) and signal number (0 if exited). */
export function decodeExit(payload: Buffer): { code: number; signal: number } {
  expectLength("EXIT", payload, 8);
  return { code: payload.readInt32BE(0), signal: payload.readUInt32BE(4) };
}
