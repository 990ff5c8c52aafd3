/**
 * Raw clients for the web attack tests: a session WebSocket that runs one command at a time,
 * an event stream that says when it ends, a request whose body trickles in, and a flood of idle
 * TCP connections. All on this machine's loopback.
 */
import net from "node:net";
import { WebSocket } from "ws";

/** Resolves to `value` after `ms`, unless something else settles first. */
const after = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms).unref());

export interface RawSession {
  /** Runs a command; resolves to "exit <code>", rejects when the socket is gone. */
  run(cmd: string, args: string[]): Promise<string>;
  /** "closed" once the daemon closed the socket, or "still open" after `ms`. */
  whenClosed(ms?: number): Promise<string>;
  /** Closes the socket; resolves once it is closed. */
  close(): Promise<void>;
}

/** Opens `/v1/sandboxes/:id/session` with a bearer token; rejects with "<status> <body>" when refused. */
export function sessionSocket(daemonUrl: string, sandboxId: string, token: string): Promise<RawSession> {
  const ws = new WebSocket(`${daemonUrl.replace("http:", "ws:")}/v1/sandboxes/${sandboxId}/session`, { headers: { authorization: `Bearer ${token}` } });
  const closed = new Promise<string>((r) => ws.once("close", () => r("closed")));
  const pending = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  ws.on("message", (data, binary) => {
    if (binary) return;
    const msg = JSON.parse(data.toString()) as { type: string; id?: number; status?: { code: number | null }; error?: { code: string } };
    const p = msg.id === undefined ? undefined : pending.get(msg.id);
    if (msg.type === "exit" && p) p.resolve(`exit ${msg.status?.code}`);
    if (msg.type === "error" && p) p.reject(new Error(msg.error?.code ?? "error"));
  });
  void closed.then(() => {
    for (const p of pending.values()) p.reject(new Error("socket closed"));
  });
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(new Error(`${res.statusCode} ${body}`)));
    });
    ws.once("error", (err) => reject(err));
    ws.once("open", () => {
      ws.on("error", () => undefined);
      resolve({
        run(cmd, args) {
          if (ws.readyState !== ws.OPEN) return Promise.reject(new Error("socket closed"));
          const id = nextId++;
          return new Promise((res, rej) => {
            pending.set(id, { resolve: res, reject: rej });
            ws.send(JSON.stringify({ type: "spawn", id, cmd, args }));
          });
        },
        whenClosed: (ms = 15_000) => Promise.race([closed, after(ms, "still open")]),
        close: () => {
          ws.close();
          return closed.then(() => undefined);
        },
      });
    });
  });
}

/** A streaming GET (server-sent events): whether a first chunk came, and when it ends. */
export async function openStream(url: string, headers: Record<string, string>): Promise<{ firstChunk: boolean; ended: Promise<string> }> {
  const res = await fetch(url, { headers });
  if (!res.ok || !res.body) throw new Error(`stream refused: ${res.status}`);
  const reader = res.body.getReader();
  const first = await reader.read();
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) return "ended";
    } catch {
      return "ended";
    }
  })();
  return { firstChunk: !first.done, ended: Promise.race([ended, after(15_000, "still flowing")]) };
}

/**
 * Sends `head`, then `fill` one byte every 200 ms until `bytes` are sent or the server closes
 * (at most 60 s). Returns how many bytes got out, how long it took, and the status line if any.
 */
export function slowRequest(host: string, port: number, head: string, bytes: number, fill = "x"): Promise<{ sent: number; ms: number; answer: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let sent = 0;
    let answer = "";
    const socket = net.connect(port, host, () => socket.write(head));
    socket.on("data", (d) => (answer ||= d.toString("latin1").split("\r\n")[0]!));
    socket.on("error", () => undefined);
    const timer = setInterval(() => {
      if (sent >= bytes || Date.now() - t0 > 60_000 || socket.destroyed) return;
      socket.write(fill);
      sent++;
    }, 200);
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ sent, ms: Date.now() - t0, answer });
    });
  });
}

/**
 * Opens `count` idle TCP connections one after the other, then counts which the server kept
 * open and which it cut; one kept connection sends `GET /healthz`. All are closed at the end.
 */
export async function tcpConnections(host: string, port: number, count: number): Promise<{ kept: number; cut: number; answered: string }> {
  const sockets: { socket: net.Socket; closed: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const entry = { socket: net.connect(port, host), closed: false };
    entry.socket.on("error", () => undefined);
    entry.socket.on("close", () => {
      entry.closed = true;
    });
    await new Promise((r) => {
      entry.socket.once("connect", r);
      entry.socket.once("close", r);
    });
    sockets.push(entry);
  }
  await after(500, undefined);
  const kept = sockets.filter((s) => !s.closed);
  let answered = "none kept";
  if (kept[0]) {
    const s = kept[0].socket;
    answered = await Promise.race([
      new Promise<string>((r) => {
        s.once("data", (d) => r(d.toString("latin1").split(" ")[1] ?? "?"));
        s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
      }),
      after(5000, "no answer"),
    ]);
  }
  for (const s of sockets) s.socket.destroy();
  await after(200, undefined);
  return { kept: kept.length, cut: count - kept.length, answered };
}
