/**
 * Byte streams of Deno's JSON-RPC protocol on one connection (docs/deno-wire-protocol.md,
 * "Streams"): notifications `$sandbox.stream.start|enqueue|end|error|cancel` with base64 data.
 * Outbound streams (a process's stdout, a walk's entries) get daemon-wide unique ids, because
 * the client keeps one table of stream ids for all its connections. Inbound streams (stdin, a
 * writeFile body) may start before the request that uses them arrives: until a method claims
 * one its bytes wait here, at most INBOUND_UNCLAIMED_MAX for the whole connection.
 */
import { randomInt } from "node:crypto";

/** Bytes of inbound streams no method has claimed yet, per connection. */
export const INBOUND_UNCLAIMED_MAX = 16 * 1024 * 1024;
/** Inbound streams open at once, per connection. */
export const INBOUND_STREAMS_MAX = 256;

// Random start: two daemons (or a restart) do not hand one client the same ids.
let nextOutboundId = randomInt(1, 2 ** 40);

/** Where a claimed inbound stream's bytes go. */
export interface InboundSink {
  write(data: Buffer): void;
  end(): void;
  fail(message: string): void;
}

interface Inbound {
  waiting: Buffer[];
  ended: boolean;
  failed: string | undefined;
  sink: InboundSink | undefined;
}

export class RpcStreams {
  private readonly inbound = new Map<number, Inbound>();
  private readonly cancelled = new Set<number>();
  private unclaimedBytes = 0;

  constructor(
    /** Sends one JSON-RPC notification; `flushed` once the socket took it. */
    private readonly notify: (method: string, params: unknown, flushed?: () => void) => void,
    /** The client broke the protocol's bounds: end its connection. */
    private readonly violation: (message: string) => void,
  ) {}

  /** Opens an outbound stream; returns its id. */
  open(): number {
    const streamId = nextOutboundId++;
    this.notify("$sandbox.stream.start", { streamId });
    return streamId;
  }

  /** Sends bytes on an outbound stream (dropped, and `flushed` at once, if the client cancelled it). */
  send(streamId: number, data: Uint8Array, flushed: () => void = () => undefined): void {
    if (this.cancelled.has(streamId)) return flushed();
    this.notify("$sandbox.stream.enqueue", { streamId, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") }, flushed);
  }

  end(streamId: number): void {
    if (!this.cancelled.delete(streamId)) this.notify("$sandbox.stream.end", { streamId });
  }

  /** Handles a stream notification from the client; false when `method` is not one. */
  handle(method: string, params: unknown): boolean {
    if (!method.startsWith("$sandbox.stream.")) return false;
    const p = (params ?? {}) as { streamId?: unknown; data?: unknown };
    const id = p.streamId;
    if (typeof id !== "number" || !Number.isSafeInteger(id)) return true;
    switch (method) {
      case "$sandbox.stream.start":
        if (this.inbound.has(id)) return true;
        if (this.inbound.size >= INBOUND_STREAMS_MAX) {
          this.violation(`more than ${INBOUND_STREAMS_MAX} inbound streams open at once`);
          return true;
        }
        this.inbound.set(id, { waiting: [], ended: false, failed: undefined, sink: undefined });
        return true;
      case "$sandbox.stream.enqueue": {
        const s = this.inbound.get(id);
        if (!s || s.ended || typeof p.data !== "string") return true;
        const data = Buffer.from(p.data, "base64");
        if (s.sink) {
          s.sink.write(data);
          return true;
        }
        this.unclaimedBytes += data.byteLength;
        if (this.unclaimedBytes > INBOUND_UNCLAIMED_MAX) {
          this.violation(`more than ${INBOUND_UNCLAIMED_MAX} bytes sent on streams no request uses`);
          return true;
        }
        s.waiting.push(data);
        return true;
      }
      case "$sandbox.stream.end":
      case "$sandbox.stream.error": {
        const s = this.inbound.get(id);
        if (!s || s.ended) return true;
        s.ended = true;
        if (method === "$sandbox.stream.error") s.failed = "the client's stream failed";
        if (s.sink) this.finish(id, s);
        return true;
      }
      case "$sandbox.stream.cancel":
        this.cancelled.add(id);
        return true;
      default:
        return true;
    }
  }

  /** Hands inbound stream `streamId` to `sink` (what already arrived first). */
  claim(streamId: number, sink: InboundSink): void {
    let s = this.inbound.get(streamId);
    if (!s) {
      // The request overtook its stream's start (or named none): wait for it as if started.
      s = { waiting: [], ended: false, failed: undefined, sink: undefined };
      this.inbound.set(streamId, s);
    }
    if (s.sink) return sink.fail(`stream ${streamId} is already in use`);
    s.sink = sink;
    for (const chunk of s.waiting) {
      this.unclaimedBytes -= chunk.byteLength;
      sink.write(chunk);
    }
    s.waiting = [];
    if (s.ended) this.finish(streamId, s);
  }

  /** The connection ended: claimed streams that did not end fail. */
  close(): void {
    for (const s of this.inbound.values()) s.sink?.fail("the connection closed");
    this.inbound.clear();
  }

  private finish(id: number, s: Inbound): void {
    this.inbound.delete(id);
    if (s.failed) s.sink!.fail(s.failed);
    else s.sink!.end();
  }
}
