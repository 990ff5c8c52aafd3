/**
 * The envelope of a volume archive (docs/operations.md, "Archive format"):
 *
 *   "ATOLLVOL" | u32 BE header length | header (JSON, VolumeArchiveHeader) | payload (tar+zstd)
 *   | "ATOLLEND" | u64 BE payload length | SHA-256 of every byte before it
 *
 * Written and read as streams: the writer hashes as the payload passes, the reader holds back
 * only the last TRAILER_LENGTH bytes (it cannot know where the payload ends until the stream
 * does) and checks the trailer when the stream ends. Memory is bounded by the largest chunk plus
 * the header (at most MAX_HEADER bytes); the payload is never gathered.
 */
import { createHash, type Hash } from "node:crypto";
import { ArchiveInvalidError, type VolumeArchiveHeader } from "atoll/contract";

const MAGIC = Buffer.from("ATOLLVOL");
const END = Buffer.from("ATOLLEND");
const DIGEST_LENGTH = 32;
/** "ATOLLEND", the payload length, the digest. */
export const TRAILER_LENGTH = END.length + 8 + DIGEST_LENGTH;
/** Longest header accepted (ours are a few hundred bytes). */
export const MAX_HEADER = 64 * 1024;
const PREFIX = MAGIC.length + 4;

/** Chunks of a whole archive: envelope around `payload`, hashed as it passes. */
export async function* archiveChunks(header: VolumeArchiveHeader, payload: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  const head = Buffer.concat([MAGIC, length, json]);
  hash.update(head);
  yield head;
  let size = 0n;
  for await (const chunk of payload) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    hash.update(buf);
    size += BigInt(buf.length);
    yield buf;
  }
  const tail = Buffer.alloc(END.length + 8);
  END.copy(tail);
  tail.writeBigUInt64BE(size, END.length);
  hash.update(tail);
  yield Buffer.concat([tail, hash.digest()]);
}

function invalid(reason: "format" | "truncated" | "checksum", message: string): ArchiveInvalidError {
  return new ArchiveInvalidError(message, { reason });
}

/**
 * Reads an archive from `source`: `header()` first, then `payload()` yields the payload and, when
 * the source ends, checks the trailer: it throws ArchiveInvalidError ("truncated" or "checksum")
 * instead of ending when the archive is not whole and unaltered. Every byte handed out before
 * then is unverified: the caller keeps what it makes of them invisible until the end.
 *
 * @example
 *   const reader = new ArchiveReader(request.body);
 *   const header = await reader.header();
 *   for await (const chunk of reader.payload()) extract.write(chunk); // throws on a bad trailer
 */
export class ArchiveReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private readonly hash: Hash = createHash("sha256");
  private rest: Buffer = Buffer.alloc(0);
  private parsed: VolumeArchiveHeader | undefined;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** The header; "format" when the stream is not an Atoll volume archive of a known version. */
  async header(): Promise<VolumeArchiveHeader> {
    if (this.parsed) return this.parsed;
    const notOurs = () => invalid("format", "This is not an Atoll volume archive (make one with `atoll volume export` or volume.export()).");
    await this.fill(PREFIX, notOurs);
    if (!this.rest.subarray(0, MAGIC.length).equals(MAGIC)) throw notOurs();
    const length = this.rest.readUInt32BE(MAGIC.length);
    if (length > MAX_HEADER) throw invalid("format", `The archive's header is ${length} bytes long, more than ${MAX_HEADER}: not an Atoll volume archive.`);
    await this.fill(PREFIX + length, () => invalid("truncated", "The archive ends inside its header: it is truncated."));
    const head = this.rest.subarray(0, PREFIX + length);
    this.hash.update(head);
    this.rest = this.rest.subarray(PREFIX + length);
    let header: unknown;
    try {
      header = JSON.parse(head.subarray(PREFIX).toString("utf8"));
    } catch {
      throw invalid("format", "The archive's header is not JSON: not an Atoll volume archive, or corrupted.");
    }
    this.parsed = checkHeader(header);
    return this.parsed;
  }

  /** The payload's bytes (read it once); ends only after the trailer checked out (see the class comment). */
  async *payload(): AsyncGenerator<Buffer> {
    await this.header();
    let size = 0n;
    // Everything but the last TRAILER_LENGTH bytes seen so far is payload.
    let held = this.rest;
    this.rest = Buffer.alloc(0);
    const emit = (buf: Buffer): Buffer => {
      this.hash.update(buf);
      size += BigInt(buf.length);
      return buf;
    };
    for (;;) {
      if (held.length > TRAILER_LENGTH) {
        const out = held.subarray(0, held.length - TRAILER_LENGTH);
        held = Buffer.from(held.subarray(held.length - TRAILER_LENGTH)); // a copy: the big chunk can go
        yield emit(out);
      }
      const next = await this.it.next();
      if (next.done) break;
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length >= TRAILER_LENGTH) {
        // Hand out the held bytes and all but the chunk's tail without copying the chunk.
        if (held.length > 0) yield emit(held);
        held = chunk;
      } else {
        held = Buffer.concat([held, chunk]);
      }
    }
    if (held.length < TRAILER_LENGTH || !held.subarray(0, END.length).equals(END)) {
      throw invalid("truncated", "The archive is truncated (its end marker is missing): copy it again from where it was exported.");
    }
    this.hash.update(held.subarray(0, END.length + 8));
    const declared = held.readBigUInt64BE(END.length);
    const digest = this.hash.digest();
    if (declared !== size || !digest.equals(held.subarray(END.length + 8))) {
      throw invalid("checksum", "The archive's checksum does not match its contents: it was altered or corrupted; nothing was imported.");
    }
  }

  /**
   * Reads and drops the rest of the stream (after a refusal, so the client gets to read the
   * answer: a request body half read blocks it). Never throws.
   */
  async discard(): Promise<void> {
    try {
      for (let next = await this.it.next(); !next.done; next = await this.it.next());
    } catch {
      // the stream broke: nothing left to read
    }
  }

  /** Reads until `this.rest` holds `n` bytes; `short()` is thrown when the stream ends first. */
  private async fill(n: number, short: () => Error): Promise<void> {
    while (this.rest.length < n) {
      const next = await this.it.next();
      if (next.done) throw short();
      this.rest = Buffer.concat([this.rest, next.value]); // n is at most PREFIX + MAX_HEADER
    }
  }
}

/** The header's fields this release relies on, checked. */
function checkHeader(value: unknown): VolumeArchiveHeader {
  const h = value as Partial<VolumeArchiveHeader> | null;
  const v = h?.volume;
  if (!h || typeof h !== "object" || h.version === undefined) throw invalid("format", "The archive's header has no version: not an Atoll volume archive.");
  if (h.version !== 1 || h.payload !== "tar+zstd") {
    throw invalid(
      "format",
      `The archive has format version ${String(h.version)} (${String(h.payload)}); this Atoll reads version 1: upgrade it to import this archive.`,
    );
  }
  const counts = [v?.sizeGb, v?.capacityBytes, v?.usedBytes, v?.usedInodes];
  if (!v || typeof v.name !== "string" || counts.some((n) => typeof n !== "number" || !Number.isFinite(n) || n < 0)) {
    throw invalid("format", "The archive's header does not describe a volume: not an Atoll volume archive, or corrupted.");
  }
  return h as VolumeArchiveHeader;
}
