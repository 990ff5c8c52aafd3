/**
 * One output stream (stdout or stderr) of one process on a session, between the runtime and the
 * client's socket (docs/architecture.md, "Session WebSocket", flow control). It holds what the
 * runtime delivered and the client may not have yet, and acknowledges bytes to the runtime
 * (ProcessHandle.ack, which lets init read more of the process's pipe) only once they are gone,
 * written to the socket's kernel buffer (`flushed`, the socket's write callback), so a client that
 * stops reading its TCP socket stops the process, whatever else it does. When the client asked
 * for a `window`, bytes are sent only while the client holds fewer than `window` it did not
 * acknowledge (`ack` messages); the rest waits here, and since the runtime's credit only comes
 * back as bytes leave, that wait is bounded by the runtime's window too. Client acknowledgements
 * beyond what was sent are clamped, so lying gains nothing.
 *
 * So the daemon holds at most the runtime's window per stream, whatever the client does, and the
 * client at most its `window`.
 *
 * @example
 *   const s = new SessionStream(1 << 20, (data, flushed) => socket.send(frame(data), flushed), (n) => handle.ack("stdout", n));
 *   s.push(chunk);          // from the runtime
 *   s.clientAck(65536);     // from an `ack` message
 */
export class SessionStream {
  private readonly queue: Uint8Array[] = [];
  private received = 0;
  private sent = 0;
  private flushed = 0;
  private acked = 0;
  private reported = 0;
  private dropping = false;

  constructor(
    /** Bytes the client may hold unacknowledged; null: the client does not acknowledge. */
    private readonly window: number | null,
    /** Sends bytes to the client; `flushed` runs once they left the daemon (or were dropped). */
    private readonly send: (data: Uint8Array, flushed: () => void) => void,
    /** Acknowledges bytes to the runtime. */
    private readonly ackRuntime: (bytes: number) => void,
    /** Runs whenever the queue becomes empty (a deferred exit may go out). */
    private readonly onIdle: () => void = () => undefined,
  ) {}

  /** Nothing waits to be sent (everything received was handed to the socket or dropped). */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  /** Output from the runtime. */
  push(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.received += data.byteLength;
    if (this.dropping) return this.report();
    this.queue.push(data);
    this.pump();
  }

  /** The client consumed `bytes` more (an `ack` message). */
  clientAck(bytes: number): void {
    if (this.window === null || this.dropping) return;
    this.acked = Math.min(this.sent, this.acked + bytes);
    this.pump();
  }

  /** The client went away: drop what is queued and acknowledge everything, now and later. */
  drop(): void {
    this.dropping = true;
    this.queue.length = 0;
    this.report();
    this.onIdle();
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.dropping) {
      const room = this.window === null ? Infinity : this.window - (this.sent - this.acked);
      if (room <= 0) return;
      const head = this.queue[0]!;
      const piece = head.byteLength <= room ? head : head.subarray(0, room);
      if (piece === head) this.queue.shift();
      else this.queue[0] = head.subarray(room);
      this.sent += piece.byteLength;
      const n = piece.byteLength;
      this.send(piece, () => {
        this.flushed += n;
        this.report();
      });
    }
    this.onIdle();
  }

  /**
   * Acknowledges to the runtime what left the daemon (the socket took it). The client's window is
   * enforced by pump(): bytes wait here while the client holds `window` unacknowledged, and the
   * runtime's window bounds what waits here. (So up to two windows are in flight: the daemon's
   * and the client's.)
   */
  private report(): void {
    const done = this.dropping ? this.received : this.flushed;
    if (done > this.reported) {
      const n = done - this.reported;
      this.reported = done;
      this.ackRuntime(n);
    }
  }
}
