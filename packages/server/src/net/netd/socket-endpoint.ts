/**
 * The RPC channel between the daemon and netd over a unix socket (rpc.ts's IpcEndpoint): one JSON
 * message per line. It replaces the inherited IPC pipe so netd can outlive the daemon and the
 * next daemon can reconnect to it (docs/network.md, "Daemon restarts"). Lines are bounded: a peer
 * that sends a longer one loses the connection.
 */
import type { Socket } from "node:net";
import type { IpcEndpoint } from "./rpc.js";

/** Longest message either side accepts (a sandbox with its secrets and CA fits many times over). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export class SocketEndpoint implements IpcEndpoint {
  private readonly messageListeners: ((m: unknown) => void)[] = [];
  private readonly disconnectListeners: (() => void)[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.onClose());
  }

  get connected(): boolean {
    return !this.closed;
  }

  send(message: unknown): boolean {
    if (this.closed) return false;
    return this.socket.write(`${JSON.stringify(message)}\n`);
  }

  on(event: "message", listener: (message: unknown) => void): this;
  on(event: "disconnect", listener: () => void): this;
  on(event: "message" | "disconnect", listener: ((message: unknown) => void) | (() => void)): this {
    if (event === "message") this.messageListeners.push(listener as (m: unknown) => void);
    else this.disconnectListeners.push(listener as () => void);
    return this;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      this.pending.push(chunk.subarray(start, i));
      const line = Buffer.concat(this.pending).toString("utf8");
      this.pending = [];
      this.pendingBytes = 0;
      start = i + 1;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        this.socket.destroy();
        return;
      }
      for (const l of this.messageListeners) l(message);
      if (this.closed) return;
    }
    const rest = chunk.subarray(start);
    this.pendingBytes += rest.length;
    if (this.pendingBytes > MAX_MESSAGE_BYTES) {
      this.socket.destroy();
      return;
    }
    if (rest.length > 0) this.pending.push(Buffer.from(rest));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    for (const l of this.disconnectListeners) l();
  }
}
