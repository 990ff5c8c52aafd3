/**
 * Opens the session WebSocket with whatever the runtime has: `globalThis.WebSocket` (Deno, Bun,
 * Node ≥ 22, browsers; token in the subprotocol list since such sockets cannot set headers) or
 * the `ws` package (Node 20; token in an `Authorization: Bearer` header). Both are wrapped in
 * one tiny interface so session.ts does not care which it got.
 */
import { ConnectionError, errorFromWire } from "./contract/index.js";

/** What session.ts needs from a WebSocket. */
export interface SessionSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent. */
  readonly bufferedAmount: number;
}

export interface SocketHandlers {
  onMessage(data: string | Uint8Array): void;
  onClose(code: number, reason: string): void;
}

/** Subprotocol that carries the API version; the token rides in `atoll.token.<token>`. */
export const SESSION_PROTOCOL = "atoll.v1";

/** http(s)://host/path → ws(s)://host/path */
export function toWebSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, "ws");
}

/**
 * Opens a WebSocket to `url` and resolves once it is open. Handlers are attached before the
 * socket opens, so no message is lost.
 *
 * @example const socket = await openSessionSocket("ws://127.0.0.1:7420/v1/sandboxes/x/session", token, handlers);
 */
export async function openSessionSocket(url: string, token: string, handlers: SocketHandlers): Promise<SessionSocket> {
  const NativeWebSocket = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (typeof NativeWebSocket === "function") return openNative(NativeWebSocket, url, token, handlers);
  return openWithWs(url, token, handlers);
}

function failure(url: string, detail: string): ConnectionError {
  return new ConnectionError(`Cannot open the session WebSocket ${url}: ${detail}. Is \`atoll serve\` running?`);
}

function openNative(Impl: typeof WebSocket, url: string, token: string, handlers: SocketHandlers): Promise<SessionSocket> {
  return new Promise((resolve, reject) => {
    let opened = false;
    let socket: WebSocket;
    try {
      socket = new Impl(url, [SESSION_PROTOCOL, `atoll.token.${token}`]);
    } catch (e) {
      reject(failure(url, (e as Error).message));
      return;
    }
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      opened = true;
      resolve(socket);
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      const data: unknown = event.data;
      if (typeof data === "string") handlers.onMessage(data);
      else if (data instanceof ArrayBuffer) handlers.onMessage(new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) handlers.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    socket.addEventListener("close", (event: CloseEvent) => {
      if (!opened) {
        // Browsers hide the HTTP status of a refused handshake; a wrong token looks like this too.
        reject(failure(url, `handshake refused or connection failed (close code ${event.code}); check the token and the sandbox id`));
        return;
      }
      handlers.onClose(event.code, event.reason);
    });
    socket.addEventListener("error", () => {
      /* a close event always follows */
    });
  });
}

async function openWithWs(url: string, token: string, handlers: SocketHandlers): Promise<SessionSocket> {
  let WS: typeof import("ws").WebSocket;
  try {
    WS = (await import("ws")).WebSocket;
  } catch {
    throw failure(url, "this runtime has no global WebSocket and the `ws` package cannot be loaded");
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    let opened = false;
    const socket = new WS(url, { headers: { authorization: `Bearer ${token}` } });
    socket.on("unexpected-response", (_req, res) => {
      // The daemon refused the upgrade with an HTTP error: surface its typed error.
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          /* not JSON */
        }
        settled = true;
        reject(body ? errorFromWire(body, res.statusCode ?? 0) : failure(url, `HTTP ${res.statusCode}`));
        socket.terminate();
      });
    });
    socket.on("open", () => {
      settled = true;
      opened = true;
      resolve(socket);
    });
    socket.on("error", (err: Error & { code?: string }) => {
      if (!settled) {
        settled = true;
        reject(failure(url, err.code ?? err.message));
      }
    });
    socket.on("message", (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data;
      if (isBinary) handlers.onMessage(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      else handlers.onMessage(buf.toString("utf8"));
    });
    socket.on("close", (code, reason) => {
      if (opened) handlers.onClose(code, reason.toString("utf8"));
    });
  });
}
