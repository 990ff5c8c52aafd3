import { DaemonError } from "../../daemon-error.js";
/**
 * Request/response calls over a Node IPC channel (child_process "ipc" stdio), in both directions
 * between the daemon and netd. Messages: `{ rpc: "call", id, method, args }` and
 * `{ rpc: "reply", id, result } | { rpc: "reply", id, error }`.
 */

export interface IpcEndpoint {
  send(message: unknown): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
  on(event: "disconnect", listener: () => void): unknown;
}

type Handler = (args: unknown) => Promise<unknown> | unknown;

interface CallMessage {
  rpc: "call";
  id: number;
  method: string;
  args: unknown;
}
interface ReplyMessage {
  rpc: "reply";
  id: number;
  result?: unknown;
  error?: string;
}

export class Rpc {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly handlers = new Map<string, Handler>();
  private closed = false;

  constructor(private readonly endpoint: IpcEndpoint) {
    endpoint.on("message", (m) => this.onMessage(m as CallMessage | ReplyMessage));
    endpoint.on("disconnect", () => this.close(new DaemonError("NETWORK_FAILED", "the channel to netd closed")));
  }

  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  call<T>(method: string, args: unknown, timeoutMs = 15_000): Promise<T> {
    if (this.closed) return Promise.reject(new DaemonError("NETWORK_FAILED", "the channel to netd is closed"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DaemonError("NETWORK_FAILED", `netd did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.endpoint.send({ rpc: "call", id, method, args } satisfies CallMessage);
    });
  }

  close(err: Error): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  private onMessage(m: CallMessage | ReplyMessage): void {
    if (m?.rpc === "reply") {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(new DaemonError("NETWORK_FAILED", m.error));
      else p.resolve(m.result);
      return;
    }
    if (m?.rpc !== "call") return;
    const handler = this.handlers.get(m.method);
    const reply = (r: Omit<ReplyMessage, "rpc" | "id">) => {
      if (!this.closed) this.endpoint.send({ rpc: "reply", id: m.id, ...r });
    };
    if (!handler) {
      reply({ error: `no handler for ${m.method}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(m.args))
      .then(
        (result) => reply({ result: result ?? null }),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      );
  }
}
