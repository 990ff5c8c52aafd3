/**
 * The record protocol between the daemon and atoll-fs (docs/files.md, native/fs.h): every
 * record is `u8 type | u32 length (BE) | payload`, in both directions, over the helper's
 * stdin/stdout.
 */
import { AtollError } from "atoll/contract";
import { ByteQueue } from "../runtime/byte-queue.js";

export const Rec = {
  DATA: 0x44, // 'D'
  END: 0x45, // 'E'
  CREDIT: 0x43, // 'C'
  ACK: 0x41, // 'A'
  JSON: 0x4a, // 'J'
  OPENED: 0x4f, // 'O'
  RESULT: 0x52, // 'R'
  ERROR: 0x58, // 'X'
} as const;

/**
 * Largest record the daemon accepts from the helper (the helper sends < 256 KiB of data; a
 * listing entry with two 4 KiB paths, escaped, stays far below). Longer is a protocol error,
 * found before anything is buffered.
 */
export const MAX_RECORD_IN = 256 * 1024;
/** Largest D record the daemon sends (the helper accepts ≤ 1 MiB). */
export const MAX_DATA_OUT = 256 * 1024;

export interface FsRecord {
  type: number;
  payload: Buffer;
}

/** Encodes one record. */
export function encodeRecord(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.byteLength);
  out.writeUInt8(type, 0);
  out.writeUInt32BE(payload.byteLength, 1);
  out.set(payload, 5);
  return out;
}

/** A CREDIT record granting `bytes` more output. */
export function creditRecord(bytes: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(Math.min(bytes, 0xffffffff), 0);
  return encodeRecord(Rec.CREDIT, p);
}

/** Thrown for a byte stream that is not a valid record sequence. Internal (FS_HELPER_PROTOCOL_VIOLATION). */
export class RecordProtocolError extends AtollError {
  constructor(message: string) {
    super("FS_HELPER_PROTOCOL_VIOLATION", message);
  }
}

/** Incremental decoder of the helper's stdout: push chunks, get complete records. */
export class RecordDecoder {
  private readonly queue = new ByteQueue();

  push(chunk: Uint8Array): FsRecord[] {
    this.queue.push(chunk);
    const out: FsRecord[] = [];
    while (this.queue.length >= 5) {
      const length = this.queue.peek(5).readUInt32BE(1);
      if (length > MAX_RECORD_IN) throw new RecordProtocolError(`record of ${length} bytes is larger than ${MAX_RECORD_IN}`);
      if (this.queue.length < 5 + length) break;
      const bytes = this.queue.take(5 + length);
      out.push({ type: bytes.readUInt8(0), payload: bytes.subarray(5) });
    }
    return out;
  }
}
