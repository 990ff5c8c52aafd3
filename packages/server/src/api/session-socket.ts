import {
  CapacityError,
  FRAME_STDERR,
  FRAME_STDIN,
  FRAME_STDOUT,
  decodeSessionFrame,
  describeIssues,
  encodeSessionFrame,
  sessionClientMessageSchema,
  type SessionServerMessage,
} from "atoll/contract";
import type { FastifyInstance } from "fastify";
import type { RawData, WebSocket } from "ws";
import type { SandboxSession, SessionOutput } from "../core/sandbox-session.js";
import { toWireError } from "./error-mapping.js";
import type { LiveCredentials } from "./live-credentials.js";
import type { Services } from "./services.js";

/** Output sink that writes the session protocol onto a WebSocket. */
function socketOutput(socket: WebSocket): SessionOutput {
  const send = (msg: SessionServerMessage) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(msg));
  // `flushed` runs from the socket's write callback: once the frame is in the kernel's buffer
  // (or the socket failed). Until then the bytes count against the process's output window.
  const binary = (kind: number, id: number, data: Uint8Array, flushed: () => void) => {
    if (socket.readyState !== socket.OPEN) return flushed();
    socket.send(encodeSessionFrame(kind, id, data), () => flushed());
  };
  return {
    started: (id, pid) => send({ type: "started", id, pid }),
    stdout: (id, data, flushed) => binary(FRAME_STDOUT, id, data, flushed),
    stderr: (id, data, flushed) => binary(FRAME_STDERR, id, data, flushed),
    exit: (id, status) => send({ type: "exit", id, status }),
    error: (id, code, message) => send({ type: "error", id, error: { code, message } }),
    stopped: (reason, timeout) => {
      send({ type: "sandbox_stopped", reason, ...(timeout !== undefined ? { timeout } : {}) });
      socket.close(1000, "sandbox stopped");
    },
    stdinAck: (id, bytes) => send({ type: "stdin_ack", id, bytes }),
    pauseInput: (paused) => (paused ? socket.pause() : socket.resume()),
    violation: (message) => {
      send({ type: "error", id: -1, error: { code: "INVALID_ARGUMENT", message } });
      socket.close(1008, "session protocol violation");
    },
  };
}

/** The per-token cap on session sockets (docs/api.md "Limits"). */
export interface SessionSocketLimits {
  live: LiveCredentials;
  maxPerToken: number;
}

/**
 * GET /v1/sandboxes/:id/session (WebSocket): the process I/O of one client, multiplexed.
 * The sandbox is checked before the upgrade, so a bad id gets an HTTP error, not a socket. A
 * token holds at most `maxPerToken` sockets at once (QUOTA_EXCEEDED, 429, before the upgrade).
 */
export function registerSessionSocket(app: FastifyInstance, { sandboxes }: Services, limits?: SessionSocketLimits): void {
  app.get<{ Params: { id: string } }>(
    "/v1/sandboxes/:id/session",
    {
      websocket: true,
      preValidation: async (req) => {
        sandboxes.assertRunning(req.principal.tenant, req.params.id);
        // Only upgrades hold a socket (a plain GET of this route is a 404).
        if (!limits || !req.ws) return;
        const release = limits.live.reserveSession(req.principal.tokenId, limits.maxPerToken);
        if (!release) {
          throw new CapacityError(
            "QUOTA_EXCEEDED",
            `This token already has ${limits.maxPerToken} open session sockets (ATOLL_MAX_SESSIONS_PER_TOKEN): close sandboxes' sessions you no longer use (sandbox.close()).`,
          );
        }
        req.raw.socket.once("close", release);
      },
    },
    (socket, req) => {
      let session: SandboxSession;
      try {
        session = sandboxes.openSession(req.principal.tenant, req.params.id, socketOutput(socket));
      } catch (err) {
        // It stopped between the check before the upgrade and now: the same notice as a stop.
        const { body, internal } = toWireError(err, req.id);
        if (internal) req.log.error({ err, url: req.url }, "session failed to open");
        const { stopReason, timeout } = body.error.details ?? {};
        socket.send(
          JSON.stringify({
            type: "sandbox_stopped",
            reason: typeof stopReason === "string" ? stopReason : body.error.message,
            ...(typeof timeout === "string" ? { timeout } : {}),
          }),
        );
        socket.close(1011, body.error.code);
        return;
      }
      const onMessage = (data: RawData, isBinary: boolean) => {
        if (isBinary) {
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
          const frame = decodeSessionFrame(buf);
          if (frame?.kind === FRAME_STDIN) session.write(frame.id, frame.data);
          return;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(data.toString());
        } catch {
          return socket.send(JSON.stringify({ type: "error", id: -1, error: { code: "INVALID_ARGUMENT", message: "Session messages are JSON text frames" } }));
        }
        const msg = sessionClientMessageSchema.safeParse(parsed);
        if (!msg.success) {
          const id = typeof (parsed as { id?: unknown })?.id === "number" ? (parsed as { id: number }).id : -1;
          return socket.send(JSON.stringify({ type: "error", id, error: { code: "INVALID_ARGUMENT", message: describeIssues(msg.error) } }));
        }
        session.handle(msg.data);
      };
      // Whatever a client sends ends at most its own socket, never the daemon.
      socket.on("message", (data, isBinary) => {
        try {
          onMessage(data, isBinary);
        } catch (err) {
          req.log.warn({ err, sandboxId: req.params.id }, "session message failed; closing the socket");
          socket.close(1011, "internal error");
        }
      });
      socket.on("close", () => session.close());
    },
  );
}
