/**
 * Flow control of one process's stdin between the daemon and atoll-init (docs/architecture.md,
 * "Control channel protocol"): at most `window` bytes are sent and not yet acknowledged by init
 * (STDIN_ACK: written into the process's pipe, or dropped because it closed its stdin); the rest
 * waits here, and STDIN_CLOSE goes out after the last byte. Callers bound what waits here with
 * their own protocol (the session's stdin window, atoll-fs acknowledgements).
 *
 * @example
 *   const s = new StdinFlow(1 << 20, (d) => send(STDIN(d)), () => send(STDIN_CLOSE));
 *   s.write(bytes);
 *   if (!s.ack(n)) protocolError();   // init acknowledged more than was in flight
 */
export class StdinFlow {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private inFlight = 0;
  private closing = false;
  private closeSent = false;

  constructor(
    private readonly window: number,
    private readonly sendData: (data: Uint8Array) => void,
    private readonly sendClose: () => void,
    /** Largest STDIN payload per frame. */
    private readonly maxFrame = 256 * 1024,
  ) {}

  /** Bytes waiting here, not yet sent to init. */
  get backlog(): number {
    return this.queued;
  }

  /** Bytes sent to init and not acknowledged yet. */
  get unacknowledged(): number {
    return this.inFlight;
  }

  write(data: Uint8Array): void {
    if (this.closing || data.byteLength === 0) return;
    this.queue.push(data);
    this.queued += data.byteLength;
    this.pump();
  }

  /** EOF after what is queued. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.pump();
  }

  /** Init consumed `n` bytes. false (nothing recorded) when that is more than was in flight. */
  ack(n: number): boolean {
    if (!(n >= 1 && n <= this.inFlight)) return false;
    this.inFlight -= n;
    this.pump();
    return true;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.window) {
      const head = this.queue[0]!;
      const n = Math.min(head.byteLength, this.window - this.inFlight, this.maxFrame);
      if (n === head.byteLength) this.queue.shift();
      else this.queue[0] = head.subarray(n);
      this.queued -= n;
      this.inFlight += n;
      this.sendData(head.subarray(0, n));
    }
    if (this.closing && !this.closeSent && this.queue.length === 0) {
      this.closeSent = true;
      this.sendClose();
    }
  }
}
