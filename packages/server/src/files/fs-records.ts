/**
 * The record protocol between the daemon and atoll-fs (docs/files.md, native/fs.h): every
 * record is `u8 type | u32 length (BE) | payload`, in both directions, over the helper's
 * stdin/stdout.
 */

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

/** Largest record the daemon accepts from the helper (the helper sends ≤ 64 KiB of data). */
export const MAX_RECORD_IN = 1024 * 1024;
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

/** Thrown for a byte stream that is not a valid record sequence. */
export class RecordProtocolError extends Error {}

/** Incremental decoder of the helper's stdout: push chunks, get complete records. */
export class RecordDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Uint8Array): FsRecord[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.byteLength;
    }
    const out: FsRecord[] = [];
    while (this.buffered >= 5) {
      const head = this.peek(5);
      const length = head.readUInt32BE(1);
      if (length > MAX_RECORD_IN) throw new RecordProtocolError(`record of ${length} bytes is larger than ${MAX_RECORD_IN}`);
      if (this.buffered < 5 + length) break;
      const bytes = this.take(5 + length);
      out.push({ type: bytes.readUInt8(0), payload: bytes.subarray(5) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.byteLength < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.byteLength > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
