/**
 * Shared pieces of the web attack tests (attack-web*.itest.ts): the hostile web server a
 * sandbox runs (runtime-scripts/hostile-web-server.py), the same server on the host's loopback
 * behind an unguarded proxy (to prove a probe can hurt), and a liveness check of the daemon.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Sandbox } from "atoll";
import type { TestDaemon } from "../testing/daemon-harness.js";

export const SERVER_SCRIPT = readFileSync(new URL("../../src/e2e/runtime-scripts/hostile-web-server.py", import.meta.url), "utf8");

/** Fault names the hostile server knows, with what a client of the daemon should see. */
export const FAULTS: Record<string, "502" | "502 or cut"> = {
  status000: "502",
  status999: "502",
  "reason-control-char": "502",
  "reason-del": "502",
  "header-name-space": "502",
  "header-value-control": "502",
  "huge-head": "502",
  garbage: "502",
  "switching-protocols": "502",
  "continue-then-close": "502",
  "both-lengths": "502",
  empty: "502",
  "mid-body-reset": "502 or cut",
  "bad-chunk": "502 or cut",
};

/** Writes `files` to /tmp/www, starts the hostile server on `port` and waits until it answers. */
export async function startHostileServer(sb: Sandbox, port: number, files: Record<string, string> = {}): Promise<void> {
  await sb.sh`mkdir -p /tmp/www`;
  await sb.fs.writeTextFile("/tmp/hostile-web-server.py", SERVER_SCRIPT);
  for (const [name, text] of Object.entries(files)) await sb.fs.writeTextFile(`/tmp/www/${name}`, text);
  await sb.spawn("python3", { args: ["/tmp/hostile-web-server.py", String(port)], stdout: "null", stderr: "null" });
  for (let i = 0; i < 200; i++) {
    if ((await sb.sh`curl -s -o /dev/null http://127.0.0.1:${port}/echo`.noThrow()).status.code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the hostile web server did not start");
}

/** Whether the daemon process still runs and answers /healthz. */
export async function daemonAlive(daemon: TestDaemon): Promise<boolean> {
  try {
    process.kill(daemon.pid, 0);
    return (await fetch(`${daemon.url}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

/** What a client sees of a GET: its status, and whether the body arrived whole. */
export async function probe(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<string> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    try {
      await res.arrayBuffer();
      return String(res.status);
    } catch {
      return `${res.status} then cut`;
    }
  } catch (err) {
    return `no answer (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`;
  }
}

/** The shape of the expose proxy before issue 10: the sandbox's head written as it came. */
const UNGUARDED_PROXY = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  const up = http.request({ host: "127.0.0.1", port: Number(process.env.TARGET_PORT), method: req.method, path: req.url, headers: req.headers }, (u) => {
    res.writeHead(u.statusCode ?? 502, u.statusMessage, u.headers);
    u.pipe(res);
  });
  up.on("error", () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(up);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

function startChild(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
}

/**
 * The hostile server on the host's loopback (nothing leaves the machine) behind the unguarded
 * proxy: `outcome(fault)` says what that proxy did with the fault ("crashed" or a status), the
 * proof that a probe is able to hurt a proxy without the defence.
 */
export async function unguardedProxy(): Promise<{ outcome(fault: string): Promise<string>; close(): void }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = startChild("python3", ["-c", SERVER_SCRIPT, String(port), "127.0.0.1"]);
  for (let i = 0; ; i++) {
    if ((await probe(`http://127.0.0.1:${port}/echo`)) === "200") break;
    if (i > 100) throw new Error("the host copy of the hostile server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    async outcome(fault) {
      const proxy = startChild(process.execPath, ["-e", UNGUARDED_PROXY], { TARGET_PORT: String(port) });
      const exited = new Promise<string>((r) => proxy.once("exit", () => r("crashed")));
      const proxyPort = await new Promise<string>((r) => proxy.stdout!.once("data", (d: Buffer) => r(d.toString().trim())));
      const seen = await Promise.race([probe(`http://127.0.0.1:${proxyPort}/fault/${fault}`, {}, 5000), exited]);
      const crashed = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r(seen), 500))]);
      proxy.kill("SIGKILL");
      return crashed === "crashed" ? "crashed" : seen;
    },
    close: () => void server.kill("SIGKILL"),
  };
}
