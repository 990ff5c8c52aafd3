/**
 * One WebSocket of Deno's sandbox protocol (docs/deno-wire-protocol.md): JSON-RPC 2.0 requests
 * from the client, answered with `{ ok }` or `{ error }` results; stream notifications both ways;
 * "ping" answered with "pong". Its processes run on a SandboxSession, its files go through the
 * FileService, its env through the SandboxService: the same machinery as Atoll's own API.
 *
 * Everything the client sends is hostile: frames are bounded by the server's maxPayload, requests
 * in flight by REQUESTS_IN_FLIGHT_MAX, streams by RpcStreams; a frame that is not JSON (4000) or
 * not JSON-RPC (4001) closes this connection only, as Deno's client does itself.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RawData, WebSocket } from "ws";
import { z } from "zod";
import type { Services } from "../api/services.js";
import type { SandboxSession } from "../core/sandbox-session.js";
import { DenoNotSupported, denoErrorValue } from "./deno-errors.js";
import { RpcFs } from "./rpc-fs.js";
import { RpcParamsError, parseParams } from "./rpc-params.js";
import { RpcProcesses } from "./rpc-processes.js";
import { RpcStreams } from "./rpc-streams.js";

/** Requests a client may have unanswered at once. */
export const REQUESTS_IN_FLIGHT_MAX = 512;

/** Methods of Deno's protocol that Atoll does not offer (answered as Deno.errors.NotSupported). */
const NOT_SUPPORTED = [
  "fetch",
  "vscode",
  "spawnDeno",
  "denoHttpWait",
  "spawnDenoRepl",
  "denoReplClose",
  "denoReplEval",
  "denoReplCall",
  "expandGlob",
  "create",
  "link",
  "umask",
  "utime",
  "fileWrite",
  "fileSeek",
  "fileStat",
  "fileSync",
  "fileSyncData",
  "fileTruncate",
  "fileLock",
  "fileUnlock",
  "fileUtime",
];

const requestSchema = z.object({
  jsonrpc: z.literal("2.0"),
  id: z.union([z.string().max(128), z.number()]).optional(),
  method: z.string().max(128),
  params: z.unknown().optional(),
});

const keySchema = z.strictObject({ key: z.string().min(1).max(4096) });
const exposeSchema = z.strictObject({ domain: z.string().min(1).max(300), port: z.number().int().optional(), pid: z.number().int().optional() });

export class DenoRpcConnection {
  private readonly streams: RpcStreams;
  private readonly processes: RpcProcesses;
  private readonly fs: RpcFs;
  private readonly session: SandboxSession;
  private readonly methods: Record<string, (params: unknown) => Promise<unknown>>;
  private readonly pausedBy = new Set<object>();
  private readonly sessionPause = {};
  private inFlight = 0;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: { tenant: string; sandboxId: string; services: Services; log: FastifyBaseLogger },
  ) {
    const { tenant, sandboxId, services } = ctx;
    this.streams = new RpcStreams(
      (method, params, flushed) => this.send({ jsonrpc: "2.0", method, params }, flushed),
      (message) => this.end(1008, message),
    );
    this.processes = new RpcProcesses(this.streams);
    this.fs = new RpcFs(services.files, { kind: "sandbox", tenant, id: sandboxId, user: "app" }, this.streams, (key, paused) => this.pause(key, paused));
    // Throws (SANDBOX_NOT_RUNNING) when the sandbox stopped since the upgrade was accepted.
    this.session = services.sandboxes.openSession(tenant, sandboxId, {
      ...this.processes.output(),
      stopped: () => this.end(1000, "sandbox stopped"),
      pauseInput: (paused) => this.pause(this.sessionPause, paused),
      violation: (message) => this.end(1008, message),
    });
    this.processes.session = this.session;
    const env = services.sandboxes;
    this.methods = {
      ...this.fs.methods(),
      spawn: (p) => this.processes.spawn(p),
      processWait: (p) => this.processes.wait(p),
      processKill: (p) => this.processes.kill(p),
      // Aborting a request in flight: the request runs to its end (docs/deno-wire-protocol.md).
      abort: async () => null,
      envGet: async (p) => env.getEnv(tenant, sandboxId)[parseParams(keySchema, p).key] ?? null,
      envSet: async (p) => {
        const q = parseParams(z.strictObject({ key: z.string().min(1).max(4096), value: z.string() }), p);
        env.patchEnv(tenant, sandboxId, { set: { [q.key]: q.value } });
        return null;
      },
      envDelete: async (p) => {
        env.patchEnv(tenant, sandboxId, { delete: [parseParams(keySchema, p).key] });
        return null;
      },
      envToObject: async () => env.getEnv(tenant, sandboxId),
      // The domain came from POST …/expose/http (deno-rest-routes.ts): its first label is the token.
      exposeHttp: async (p) => {
        const q = parseParams(exposeSchema, p);
        if (q.port === undefined || !services.network) throw new DenoNotSupported(q.port === undefined ? "exposeHttp({ pid })" : "exposeHttp");
        await services.network.expose(tenant, sandboxId, { port: q.port }, q.domain.split(".")[0]);
        return null;
      },
    };
    for (const name of NOT_SUPPORTED) {
      this.methods[name] = async () => {
        throw new DenoNotSupported(name);
      };
    }
    socket.on("message", (data, isBinary) => {
      try {
        this.onMessage(data, isBinary);
      } catch (err) {
        ctx.log.warn({ err, sandboxId }, "Deno protocol message failed; closing the connection");
        this.end(1011, "internal error");
      }
    });
    socket.on("close", () => this.onClose());
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (isBinary) return this.end(1003, "binary frames are not part of the protocol");
    const text = data.toString();
    if (text === "ping") {
      this.socket.send("pong");
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.end(4000, "Invalid JSON");
    }
    const msg = requestSchema.safeParse(parsed);
    if (!msg.success) return this.end(4001, "Invalid message");
    const { id, method, params } = msg.data;
    if (id === undefined) {
      this.streams.handle(method, params);
      return;
    }
    if (this.inFlight >= REQUESTS_IN_FLIGHT_MAX) {
      return this.send({ jsonrpc: "2.0", id, error: { code: -32000, message: `More than ${REQUESTS_IN_FLIGHT_MAX} requests in flight` } });
    }
    const fn = Object.hasOwn(this.methods, method) ? this.methods[method] : undefined;
    if (!fn) return this.send({ jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${method}` } });
    this.inFlight++;
    fn(params).then(
      (ok) => this.reply(id, { ok: ok === undefined ? null : ok }),
      (err: unknown) => {
        if (err instanceof RpcParamsError) return this.reply(id, undefined, { code: -32602, message: err.message });
        const value = denoErrorValue(err);
        if (value.code === "INTERNAL") this.ctx.log.error({ err, sandboxId: this.ctx.sandboxId, method }, "Deno protocol method failed");
        this.reply(id, { error: value });
      },
    );
  }

  private reply(id: string | number, result: unknown, error?: { code: number; message: string }): void {
    this.inFlight--;
    this.send(error ? { jsonrpc: "2.0", id, error } : { jsonrpc: "2.0", id, result });
  }

  private send(msg: unknown, flushed?: () => void): void {
    if (this.socket.readyState !== this.socket.OPEN) return flushed?.();
    this.socket.send(JSON.stringify(msg), flushed ? () => flushed() : undefined);
  }

  /** Reading the socket stops while anything asks it to (the session's stdin, an upload). */
  private pause(key: object, paused: boolean): void {
    if (paused) this.pausedBy.add(key);
    else this.pausedBy.delete(key);
    if (this.closed) return;
    if (this.pausedBy.size > 0) this.socket.pause();
    else this.socket.resume();
  }

  private end(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code, reason.slice(0, 120));
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.streams.close();
    this.fs.close();
    this.session.close();
  }
}
