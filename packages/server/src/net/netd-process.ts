/**
 * netd as a process that outlives the daemon (docs/network.md, "Daemon restarts"): started
 * detached inside the router namespace, reached over a unix socket in a root-only directory of
 * the state dir (`<state>/netd/netd.sock`), found again by the next daemon through that socket.
 * This file starts, connects to and ends netd processes; netd-client.ts decides when.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonError } from "../daemon-error.js";
import type { NetdConfig } from "./netd/netd-main.js";
import { Rpc } from "./netd/rpc.js";
import { SocketEndpoint } from "./netd/socket-endpoint.js";

const NETD_MAIN = fileURLToPath(new URL("./netd/netd-main.js", import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** A connection to a running netd. */
export interface NetdConnection {
  endpoint: SocketEndpoint;
  rpc: Rpc;
  pid: number;
  protocol: number;
  /** Sandboxes it serves (it outlived the previous daemon when > 0). */
  sandboxes: number;
  /** Set when this daemon started it. */
  child?: ChildProcess;
}

export interface NetdPaths {
  dir: string;
  socket: string;
  log: string;
}

/** Where netd's socket and its stderr live: `<state>/netd/`, root only. */
export function netdPaths(stateDir: string): NetdPaths {
  const dir = path.join(stateDir, "netd");
  return { dir, socket: path.join(dir, "netd.sock"), log: path.join(dir, "netd.log") };
}

/** Connects to the netd listening on `socket` and asks who it is; undefined when none answers. */
export async function connectNetd(socket: string, timeoutMs = 5_000): Promise<NetdConnection | undefined> {
  const sock = await new Promise<net.Socket | undefined>((resolve) => {
    const s = net.connect(socket);
    s.once("connect", () => resolve(s));
    s.once("error", () => resolve(undefined));
  });
  if (!sock) return undefined;
  const endpoint = new SocketEndpoint(sock);
  const rpc = new Rpc(endpoint);
  try {
    const hello = await rpc.call<{ protocol: number; pid: number; sandboxes: number }>("hello", null, timeoutMs);
    return { endpoint, rpc, pid: hello.pid, protocol: hello.protocol, sandboxes: hello.sandboxes };
  } catch {
    endpoint.close();
    return undefined;
  }
}

/** Whether `pid` is a netd process (not a pid reused by another program). */
export function isNetd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("atoll-netd");
  } catch {
    return false;
  }
}

/** pids of the netd processes of router `name` (their title names it), e.g. one that stopped answering. */
export function netdPidsOf(name: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ").trim() === `atoll-netd ${name}`) pids.push(Number(p));
    } catch {
      /* it ended meanwhile */
    }
  }
  return pids;
}

/** Ends netd `pid` (SIGKILL) and waits until it is gone, so its ports are free again. */
export async function killNetd(pid: number): Promise<void> {
  if (!isNetd(pid)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  for (let i = 0; i < 200 && isNetd(pid); i++) await new Promise((r) => setTimeout(r, 25));
}

/** Asks a netd to end ("shutdown"), then makes sure it did. */
export async function shutdownNetd(c: NetdConnection): Promise<void> {
  await c.rpc.call("shutdown", null, 2_000).catch(() => undefined);
  c.endpoint.close();
  for (let i = 0; i < 80 && isNetd(c.pid); i++) await new Promise((r) => setTimeout(r, 25));
  await killNetd(c.pid);
}

/**
 * Starts a netd inside the router namespace, detached from the daemon (it survives the daemon's
 * death), and connects to it once it serves. Its stderr goes to `<state>/netd/netd.log`.
 */
export async function spawnNetd(o: { routerNetns: string; paths: NetdPaths; name: string; config: NetdConfig }): Promise<NetdConnection> {
  mkdirSync(o.paths.dir, { recursive: true, mode: 0o700 });
  chmodSync(o.paths.dir, 0o700); // root only, whatever made it before

  const log = openSync(o.paths.log, "w", 0o600);
  let child: ChildProcess;
  try {
    // As root: netd binds its socket first, then drops to 65534 (netd-main.ts).
    child = spawn("nsenter", [`--net=${o.routerNetns}`, "--", process.execPath, NETD_MAIN], {
      detached: true,
      stdio: ["ignore", "ignore", log],
      env: {
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        ATOLL_NETD_CONFIG: JSON.stringify(o.config),
        ATOLL_NETD_SOCKET: o.paths.socket,
        ATOLL_NETD_NAME: o.name,
      },
    });
  } finally {
    closeSync(log);
  }
  child.unref();
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exited with ${code ?? signal}`));
  child.once("error", (err) => (exited = err.message));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (exited === undefined && Date.now() < deadline) {
    const c = await connectNetd(o.paths.socket, Math.max(1, deadline - Date.now()));
    if (c && c.pid === child.pid) return { ...c, child };
    c?.endpoint.close();
    await new Promise((r) => setTimeout(r, 50));
  }
  if (exited === undefined) child.kill("SIGKILL");
  const stderr = readFileSync(o.paths.log, "utf8").slice(-4096).trim();
  throw new DaemonError(
    "NETWORK_FAILED",
    exited ? `netd ${exited} before it was ready: ${stderr}` : `netd did not start within ${START_TIMEOUT_MS} ms: ${stderr}`,
  );
}
