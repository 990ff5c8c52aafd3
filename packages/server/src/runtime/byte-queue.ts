/**
 * A queue of received bytes for incremental decoders of framed streams: append chunks as they
 * arrive, look at and consume the first n bytes. Copies only when a read spans chunks.
 *
 * @example
 *   const q = new ByteQueue();
 *   q.push(chunk);
 *   if (q.length >= 4) { const len = q.peek(4).readUInt32BE(0); if (q.length >= 4 + len) q.take(4 + len); }
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Bytes queued. */
  get length(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
  }

  /** The first n queued bytes (n ≤ length), without consuming them. */
  peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.byteLength >= n) return first.subarray(0, n);
    this.join(n);
    return this.chunks[0]!.subarray(0, n);
  }

  /** Removes and returns the first n queued bytes (n ≤ length); never hands out a region twice. */
  take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      this.join(n);
      return this.take(n);
    }
    this.buffered -= n;
    return out;
  }

  /**
   * Makes the first chunk hold at least n bytes, copying only the chunks those bytes span (not
   * the whole queue: a decoder waiting for a large frame may queue many chunks, and each record
   * that spans two chunks would otherwise copy all of them again).
   */
  private join(n: number): void {
    let count = 0;
    for (let have = 0; have < n; count++) have += this.chunks[count]!.byteLength;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count)));
  }
}
