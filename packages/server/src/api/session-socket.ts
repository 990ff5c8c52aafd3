import {
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
import type { WebSocket } from "ws";
import type { SandboxSession, SessionOutput } from "../core/sandbox-session.js";
import { toWireError } from "./error-mapping.js";
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
    stopped: (reason) => {
      send({ type: "sandbox_stopped", reason });
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

/**
 * GET /v1/sandboxes/:id/session (WebSocket): the process I/O of one client, multiplexed.
 * The sandbox is checked before the upgrade, so a bad id gets an HTTP error, not a socket.
 */
export function registerSessionSocket(app: FastifyInstance, { sandboxes }: Services): void {
  app.get<{ Params: { id: string } }>(
    "/v1/sandboxes/:id/session",
    {
      websocket: true,
      preValidation: async (req) => sandboxes.assertRunning(req.principal.tenant, req.params.id),
    },
    (socket, req) => {
      let session: SandboxSession;
      try {
        session = sandboxes.openSession(req.principal.tenant, req.params.id, socketOutput(socket));
      } catch (err) {
        const { body } = toWireError(err);
        socket.send(JSON.stringify({ type: "sandbox_stopped", reason: body.error.message }));
        socket.close(1011, body.error.code);
        return;
      }
      socket.on("message", (data, isBinary) => {
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
      });
      socket.on("close", () => session.close());
    },
  );
}
