/**
 * Test helper: a tiny in-process daemon that speaks the documented HTTP API and session
 * protocol (docs/architecture.md) without running anything. It lets SDK unit tests check what
 * the SDK puts on the wire. Not a model of the host: commands are interpreted by these rules
 * (`/bin/sh -c SCRIPT` or `/bin/bash -c SCRIPT` uses SCRIPT, any other command uses its name):
 *
 * - `echo-request…`: stdout is the JSON of the spawn message, then exit 0
 * - `cat`: stdin is echoed to stdout; exit 0 after stdin_close
 * - `exit N`: stderr "boom\n", exit N
 * - `print:TEXT`: stdout TEXT (`\n` escapes allowed), exit 0
 * - `sleep`: runs until signalled; exits with that signal
 * - `/nonexistent`: spawn fails with an error message
 * - anything else: exit 0, no output
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import {
  AtollError,
  FRAME_STDERR,
  FRAME_STDIN,
  FRAME_STDOUT,
  NotFoundError,
  SandboxNotRunningError,
  type SandboxInfo,
  type VolumeInfo,
  createSandboxSchema,
  createVolumeSchema,
  decodeSessionFrame,
  encodeSessionFrame,
  parseOrThrow,
} from "../contract/index.js";

export interface FakeDaemon {
  url: string;
  token: string;
  /** Every client → daemon session message (text frames parsed, stdin frames as {type:"stdin"}). */
  messages: Record<string, unknown>[];
  /** Every HTTP request as "METHOD /path?query" with its parsed body. */
  requests: { method: string; path: string; body: unknown }[];
  /** Number of spawn messages received. */
  spawnCount(): number;
  /**
   * A daemon restart: every socket drops (`closeCode` sent, or the TCP connection cut without a
   * close frame when it is 1006), the port refuses connections for `downMs`, then the same
   * sandboxes answer again on the same port.
   */
  restart(downMs: number, closeCode?: 1006 | 1012): Promise<void>;
  stop(): Promise<void>;
}

interface FakeSandbox {
  info: SandboxInfo;
  env: Record<string, string>;
  sockets: Set<WebSocket>;
}

const enc = new TextEncoder();

/** Starts the fake daemon on 127.0.0.1 with a random port. */
export async function startFakeDaemon(token = "test-token"): Promise<FakeDaemon> {
  const sandboxes = new Map<string, FakeSandbox>();
  const volumes = new Map<string, VolumeInfo>();
  const messages: Record<string, unknown>[] = [];
  const requests: { method: string; path: string; body: unknown }[] = [];
  let counter = 0;

  const sendError = (res: ServerResponse, e: unknown) => {
    const err = e instanceof AtollError ? e : new AtollError("INTERNAL", String(e));
    res.writeHead(err.status || 500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: err.toWire() }));
  };
  const sendJson = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const findVolume = (idOrName: string) => {
    const v = volumes.get(idOrName) ?? [...volumes.values()].find((x) => x.name === idOrName);
    if (!v) throw new NotFoundError("VOLUME_NOT_FOUND", `No volume ${idOrName}`);
    return v;
  };
  const findSandbox = (id: string) => {
    const s = sandboxes.get(id);
    if (!s) throw new NotFoundError("SANDBOX_NOT_FOUND", `No sandbox ${id}`);
    return s;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    requests.push({ method: req.method ?? "", path: url.pathname + url.search, body });
    if (req.headers.authorization !== `Bearer ${token}`) {
      throw new AtollError("UNAUTHORIZED", "Missing or wrong API token");
    }
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent); // v1, sandboxes, id, ...
    const [v1, kind, id, sub, subId] = parts;
    if (v1 !== "v1") throw new NotFoundError("NOT_FOUND", `No route ${url.pathname}`);
    if (kind === "sandboxes") {
      if (!id && req.method === "POST") {
        const parsed = parseOrThrow(createSandboxSchema, body ?? {}, "CreateSandboxRequest");
        const sbxId = `sbx_fake${++counter}`;
        const info: SandboxInfo = {
          id: sbxId,
          state: "running",
          stopReason: null,
          createdAt: new Date().toISOString(),
          stoppedAt: null,
          timeout: typeof (body as { timeout?: unknown })?.timeout === "string" ? (body as { timeout: string }).timeout : "session",
          expiresAt: null,
          labels: parsed.labels ?? {},
          memoryBytes: parsed.memory ?? 1280 * 2 ** 20,
          pids: 512,
          cpuWeight: 100,
          rootfsBytes: 10 * 2 ** 30,
          volumes: [],
        };
        sandboxes.set(sbxId, { info, env: { ...(parsed.env ?? {}) }, sockets: new Set() });
        return sendJson(res, 201, info);
      }
      if (!id && req.method === "GET") return sendJson(res, 200, { sandboxes: [...sandboxes.values()].map((s) => s.info) });
      const sbx = findSandbox(id!);
      if (!sub && req.method === "GET") return sendJson(res, 200, sbx.info);
      if (!sub && req.method === "DELETE") {
        if (sbx.info.state !== "stopped") {
          sbx.info = { ...sbx.info, state: "stopped", stopReason: "killed", stoppedAt: new Date().toISOString() };
          for (const ws of sbx.sockets) {
            ws.send(JSON.stringify({ type: "sandbox_stopped", reason: "killed" }));
            ws.close(1000, "sandbox stopped");
          }
        }
        return sendJson(res, 200, sbx.info);
      }
      if (sub === "env" && req.method === "GET") return sendJson(res, 200, { env: sbx.env });
      if (sub === "env" && req.method === "PATCH") {
        const patch = body as { set?: Record<string, string>; delete?: string[] };
        Object.assign(sbx.env, patch.set ?? {});
        for (const k of patch.delete ?? []) delete sbx.env[k];
        return sendJson(res, 200, { env: sbx.env });
      }
      if (sub === "timeout" && req.method === "POST") {
        return sendJson(res, 200, { ...sbx.info, expiresAt: new Date(Date.now() + 60_000).toISOString() });
      }
      if (sub === "volumes" && req.method === "POST") {
        const m = body as { id: string; mountPath: string; accessMode?: "rw" | "ro" };
        const vol = findVolume(m.id);
        sbx.info.volumes.push({
          sandboxId: sbx.info.id,
          volumeId: vol.id,
          volumeName: vol.name,
          mountPath: m.mountPath,
          accessMode: m.accessMode ?? "rw",
          attachedAt: new Date().toISOString(),
        });
        return sendJson(res, 200, sbx.info);
      }
      if (sub === "volumes" && req.method === "DELETE") {
        const vol = findVolume(subId!);
        sbx.info.volumes = sbx.info.volumes.filter((a) => a.volumeId !== vol.id);
        return sendJson(res, 200, sbx.info);
      }
    }
    if (kind === "volumes") {
      if (!id && req.method === "POST") {
        const parsed = parseOrThrow(createVolumeSchema, body, "CreateVolumeRequest");
        const info: VolumeInfo = {
          id: `vol_fake${++counter}`,
          name: parsed.name,
          sizeGb: parsed.sizeGb,
          capacityBytes: parsed.sizeGb * 2 ** 30,
          usedBytes: 0,
          usedInodes: 11,
          inodeCapacity: Math.floor((parsed.sizeGb * 2 ** 30) / 4096),
          createdAt: new Date().toISOString(),
          lastAttachedAt: null,
          attachments: [],
          bootable: parsed.from === "builtin:debian-12",
        };
        volumes.set(info.id, info);
        return sendJson(res, 201, info);
      }
      if (!id && req.method === "GET") return sendJson(res, 200, { volumes: [...volumes.values()] });
      const vol = findVolume(id!);
      if (req.method === "GET") return sendJson(res, 200, vol);
      if (req.method === "DELETE") {
        volumes.delete(vol.id);
        return sendJson(res, 200, vol);
      }
    }
    throw new NotFoundError("NOT_FOUND", `No route ${req.method} ${url.pathname}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => sendError(res, e));
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has("atoll.v1") ? "atoll.v1" : false),
  });

  server.on("upgrade", (req, socket, head) => {
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((s) => s.trim());
    const authorised = req.headers.authorization === `Bearer ${token}` || offered.includes(`atoll.token.${token}`);
    const m = /^\/v1\/sandboxes\/([^/]+)\/session$/.exec(req.url ?? "");
    const sbx = m ? sandboxes.get(decodeURIComponent(m[1]!)) : undefined;
    if (!authorised || !sbx || sbx.info.state === "stopped") {
      const err = !authorised
        ? new AtollError("UNAUTHORIZED", "Missing or wrong API token")
        : !sbx
          ? new NotFoundError("SANDBOX_NOT_FOUND", "No such sandbox")
          : new SandboxNotRunningError("SANDBOX_NOT_RUNNING", `Sandbox ${sbx.info.id} is stopped`, { stopReason: sbx.info.stopReason });
      const payload = JSON.stringify({ error: err.toWire() });
      socket.end(
        `HTTP/1.1 ${err.status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => runSession(ws, sbx));
  });

  function runSession(ws: WebSocket, sbx: FakeSandbox): void {
    sbx.sockets.add(ws);
    ws.on("close", () => sbx.sockets.delete(ws));
    const running = new Map<number, { kind: string }>();
    let pid = 100;
    const out = (id: number, kind: number, text: string) => ws.send(encodeSessionFrame(kind, id, enc.encode(text)));
    const exit = (id: number, code: number | null, signal: string | null = null) => {
      running.delete(id);
      ws.send(JSON.stringify({ type: "exit", id, status: { success: code === 0, code, signal, oom: false } }));
    };
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        const frame = decodeSessionFrame(new Uint8Array(data as Buffer));
        if (!frame || frame.kind !== FRAME_STDIN) return;
        messages.push({ type: "stdin", id: frame.id, text: new TextDecoder().decode(frame.data) });
        if (running.has(frame.id)) ws.send(JSON.stringify({ type: "stdin_ack", id: frame.id, bytes: frame.data.byteLength }));
        if (running.get(frame.id)?.kind === "cat" && frame.data.byteLength) ws.send(encodeSessionFrame(FRAME_STDOUT, frame.id, frame.data));
        return;
      }
      const msg = JSON.parse(String(data)) as Record<string, unknown> & { type: string; id: number };
      messages.push(msg);
      if (msg.type === "spawn") {
        const args = msg.args as string[];
        const script = (msg.cmd === "/bin/sh" || msg.cmd === "/bin/bash") && args[0] === "-c" ? args[1]! : String(msg.cmd);
        if (msg.cmd === "/nonexistent") {
          ws.send(JSON.stringify({ type: "error", id: msg.id, error: { code: "INVALID_ARGUMENT", message: "/nonexistent: not found" } }));
          return;
        }
        const kind = script.startsWith("print:") ? "print" : /^exit \d+$/.test(script) ? "exit" : script.startsWith("echo-request") ? "echo-request" : script;
        running.set(msg.id, { kind });
        ws.send(JSON.stringify({ type: "started", id: msg.id, pid: ++pid }));
        if (kind === "echo-request") {
          out(msg.id, FRAME_STDOUT, `${JSON.stringify(msg)}\n`);
          exit(msg.id, 0);
        } else if (kind === "print") {
          out(msg.id, FRAME_STDOUT, script.slice(6).replace(/\\n/g, "\n"));
          exit(msg.id, 0);
        } else if (kind === "exit") {
          out(msg.id, FRAME_STDERR, "boom\n");
          exit(msg.id, Number(script.slice(5)));
        } else if (kind !== "cat" && kind !== "sleep") {
          exit(msg.id, 0);
        }
      } else if (msg.type === "stdin_close") {
        if (running.get(msg.id)?.kind === "cat") exit(msg.id, 0);
      } else if (msg.type === "signal") {
        if (running.has(msg.id)) exit(msg.id, null, String(msg.signal));
      }
    });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const dropEverything = async (closeCode: 1006 | 1012) => {
    for (const client of wss.clients) {
      if (closeCode === 1006) client.terminate();
      else client.close(closeCode, "daemon restarting");
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    messages,
    requests,
    spawnCount: () => messages.filter((m) => m.type === "spawn").length,
    async restart(downMs, closeCode = 1006) {
      await dropEverything(closeCode);
      for (const sbx of sandboxes.values()) sbx.sockets.clear();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    async stop() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
