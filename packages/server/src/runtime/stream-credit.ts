/**
 * Credit-based flow control of one output stream (a process's stdout or stderr) between
 * atoll-init and the daemon (docs/architecture.md, "Control channel protocol"): init reads the
 * child's pipe only as far as it was granted, the daemon grants more as its consumer takes
 * bytes, and never lets more than `window` bytes be received and not yet consumed. Bytes beyond
 * the grant are a protocol violation (init is inside the sandbox).
 *
 * @example
 *   const c = new StreamCredit(1 << 20);
 *   send(CREDIT(c.topUp()));
 *   if (!c.receive(chunk.byteLength)) fail();   // more than granted
 *   c.consume(n);
 *   const more = c.topUp(); if (more > 0) send(CREDIT(more));
 */
export class StreamCredit {
  private granted = 0;
  private received = 0;
  private consumed = 0;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1 || window > 0xffffffff) throw new RangeError(`invalid window ${window}`);
  }

  /** A stream taken over from a previous daemon, whose peer still holds `credit` bytes of its grant. */
  static held(window: number, credit: number): StreamCredit {
    const c = new StreamCredit(window);
    c.granted = credit;
    return c;
  }

  /** Bytes granted and not consumed yet: what this stream may make the daemon hold. */
  get outstanding(): number {
    return this.granted - this.consumed;
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

  /** The consumer took `n` more bytes (never more than were received). Returns by how much `outstanding` fell. */
  consume(n: number): number {
    if (!(n > 0)) return 0;
    const before = this.consumed;
    this.consumed = Math.min(this.received, this.consumed + n);
    return this.consumed - before;
  }

  /**
   * Grants what brings `outstanding` up to `target` (at most the window) and returns it; 0 while
   * that would be less than a quarter window (or half a small target): grants come in batches.
   */
  topUp(target: number = this.window): number {
    const goal = Math.min(target, this.window);
    const more = goal - this.outstanding;
    if (more <= 0 || more < Math.min(this.window / 4, goal / 2)) return 0;
    this.granted += more;
    return more;
  }
}
