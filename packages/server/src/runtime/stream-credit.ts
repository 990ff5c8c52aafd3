/**
 * Credit-based flow control of one output stream (a process's stdout or stderr) between
 * atoll-init and the daemon (docs/architecture.md, "Control channel protocol"): init reads the
 * child's pipe only as far as it was granted, the daemon grants more as its consumer takes
 * bytes, and never lets more than `window` bytes be received and not yet consumed. Bytes beyond
 * the grant are a protocol violation (init is inside the sandbox).
 *
 * @example
 *   const c = new StreamCredit(1 << 20);
 *   send(CREDIT(c.open()));
 *   if (!c.receive(chunk.byteLength)) fail();   // more than granted
 *   const more = c.consume(n); if (more > 0) send(CREDIT(more));
 */
export class StreamCredit {
  private granted = 0;
  private received = 0;
  private consumed = 0;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1 || window > 0xffffffff) throw new RangeError(`invalid window ${window}`);
  }

  /** The first grant: the whole window. */
  open(): number {
    this.granted = this.window;
    return this.window;
  }

  /** Bytes granted and not received yet. */
  get available(): number {
    return this.granted - this.received;
  }

  /** Bytes received and not consumed yet (what the daemon holds for this stream). */
  get held(): number {
    return this.received - this.consumed;
  }

  /** Records `n` bytes that arrived. false (and nothing recorded) when they exceed the grant. */
  receive(n: number): boolean {
    if (n > this.available) return false;
    this.received += n;
    return true;
  }

  /**
   * The consumer took `n` more bytes (never more than were received). Returns how many bytes to
   * grant now: 0 until a quarter of the window is free again, so grants come in batches.
   */
  consume(n: number): number {
    if (!(n > 0)) return 0;
    this.consumed = Math.min(this.received, this.consumed + n);
    const outstanding = this.granted - this.consumed;
    const more = this.window - outstanding;
    if (more < this.window / 4) return 0;
    this.granted += more;
    return more;
  }
}
