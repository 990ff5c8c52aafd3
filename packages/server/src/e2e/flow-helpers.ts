/**
 * Helpers of the flow-control tests (attack-channel.itest.ts): a writer program that counts what
 * it managed to write, a raw session WebSocket client that can stop reading, and memory figures.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { FRAME_STDIN, FRAME_STDOUT, decodeSessionFrame, encodeSessionFrame } from "atoll/contract";
import type { Sandbox } from "atoll";
import { WebSocket } from "ws";

/**
 * Python for the sandbox: writes `total` random bytes to stdout in 64 KiB blocks, keeps the count
 * written so far in /tmp/<name>.count, and at the end writes "count sha256" to /tmp/<name>.done.
 * Run it with `python3 -c WRITER name total`.
 */
export const WRITER = `
import hashlib, os, sys
name, total = sys.argv[1], int(sys.argv[2])
h, n = hashlib.sha256(), 0
with open(f"/tmp/{name}.count", "w") as c:
  while n < total:
    block = os.urandom(min(65536, total - n))
    view = memoryview(block)
    while view:
      k = os.write(1, view)
      view = view[k:]
    h.update(block)
    n += len(block)
    c.seek(0); c.write(str(n).ljust(20)); c.flush()
with open(f"/tmp/{name}.done", "w") as d:
  d.write(f"{n} {h.hexdigest()}")
`;

/**
 * Python for the sandbox: waits until /tmp/<name>.go exists (reading nothing meanwhile), then
 * reads stdin to EOF and writes "count sha256" to /tmp/<name>.done. `python3 -c READER name`.
 */
export const READER = `
import hashlib, os, sys, time
name = sys.argv[1]
while not os.path.exists(f"/tmp/{name}.go"):
  time.sleep(0.05)
h, n = hashlib.sha256(), 0
while True:
  block = os.read(0, 1 << 20)
  if not block: break
  h.update(block); n += len(block)
with open(f"/tmp/{name}.done", "w") as d:
  d.write(f"{n} {h.hexdigest()}")
`;

/** Bytes the writer `name` has written so far (0 before it started). */
export async function written(sandbox: Sandbox, name: string): Promise<number> {
  const text = (await sandbox.sh`cat /tmp/${name}.count 2>/dev/null || echo 0`.text()).trimEnd();
  return Number(text.trim());
}

/** The writer's own count and checksum once it finished. */
export async function writerDone(sandbox: Sandbox, name: string): Promise<{ bytes: number; sha256: string }> {
  const [bytes, sha256] = (await sandbox.sh`cat /tmp/${name}.done`.text()).trimEnd().split(" ");
  return { bytes: Number(bytes), sha256: sha256! };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the writer's count stops growing (two reads `quietMs` apart agree, the second
 * non-zero) and returns it; gives up after `maxMs` and returns the last count (the caller
 * asserts it is below the total).
 */
export async function waitUntilBlocked(sandbox: Sandbox, name: string, quietMs = 1500, maxMs = 120_000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = -1;
  for (;;) {
    const now = await written(sandbox, name);
    if (now === last && now > 0) return now;
    if (Date.now() > end) return now;
    last = now;
    await sleep(quietMs);
  }
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

/** What one process sent on a raw session: bytes, checksum, exit. */
export interface RawProcess {
  bytes: number;
  hash: ReturnType<typeof createHash>;
  exited: Promise<{ code: number | null }>;
}

/**
 * A session WebSocket without the SDK: spawns with or without a flow-control `window`, can stop
 * reading its TCP socket (`pause`) and acknowledge whatever it likes.
 */
export class RawSession {
  private readonly procs = new Map<number, RawProcess & { resolve: (s: { code: number | null }) => void; autoAck: boolean }>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) {
        const f = decodeSessionFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
        const p = f && this.procs.get(f.id);
        if (f && p && f.kind === FRAME_STDOUT) {
          p.bytes += f.data.byteLength;
          p.hash.update(f.data);
          if (p.autoAck) this.ack(f.id, f.data.byteLength);
        }
        return;
      }
      const msg = JSON.parse(buf.toString()) as { type: string; id: number; status?: { code: number | null } };
      if (msg.type === "exit") this.procs.get(msg.id)?.resolve(msg.status!);
    });
  }

  static open(url: string, token: string, sandboxId: string): Promise<RawSession> {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/sandboxes/${sandboxId}/session`, { headers: { authorization: `Bearer ${token}` } });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new RawSession(ws)));
      ws.once("error", reject);
    });
  }

  /** Spawns a process; with `window`, `autoAck` acknowledges every frame as it arrives. */
  spawn(id: number, cmd: string, args: string[], window?: number, stdin = false): RawProcess {
    let resolve!: (s: { code: number | null }) => void;
    const exited = new Promise<{ code: number | null }>((r) => (resolve = r));
    const p = { bytes: 0, hash: createHash("sha256"), exited, resolve, autoAck: window !== undefined };
    this.procs.set(id, p);
    this.ws.send(JSON.stringify({ type: "spawn", id, cmd, args, stdin, ...(window ? { window } : {}) }));
    return p;
  }

  /** Sends stdin bytes (without waiting for anything). */
  write(id: number, data: Uint8Array): void {
    this.ws.send(encodeSessionFrame(FRAME_STDIN, id, data));
  }

  stdinClose(id: number): void {
    this.ws.send(JSON.stringify({ type: "stdin_close", id }));
  }

  /** Resolves with the close code once the daemon closed the socket. */
  closed(): Promise<number> {
    if (this.ws.readyState === this.ws.CLOSED) return Promise.resolve(-1);
    return new Promise((resolve) => this.ws.once("close", (code) => resolve(code)));
  }

  ack(id: number, stdout: number): void {
    this.ws.send(JSON.stringify({ type: "ack", id, stdout }));
  }

  /** Stops reading the TCP socket (the kernel's buffers fill, then the daemon's writes stall). */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Reads a web stream to its end, calling `onChunk` for every chunk (then awaiting what it returns). */
export async function drain(stream: ReadableStream<Uint8Array>, onChunk: (chunk: Uint8Array) => unknown = () => undefined): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
    await onChunk(value);
  }
}
