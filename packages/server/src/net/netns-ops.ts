/**
 * Host operations on network namespaces with iproute2, nsenter and nft. Named namespaces live
 * at /run/netns/<name> (a bind mount of the namespace, made by `ip netns add`).
 */
import { readdir, rm } from "node:fs/promises";
import { HostCommandError, type CommandRunner } from "../host/run-command.js";

export const NETNS_DIR = "/run/netns";

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export async function addNetns(runner: CommandRunner, name: string): Promise<void> {
  await runner.run("ip", ["netns", "add", name]);
}

/** Removes a named namespace (its interfaces go with it once no process is left in it). Idempotent. */
export async function deleteNetns(runner: CommandRunner, name: string): Promise<void> {
  try {
    await runner.run("ip", ["netns", "delete", name]);
  } catch (err) {
    if (!(err instanceof HostCommandError)) throw err;
    // "No such file": already gone. "Invalid argument": a file left without its mount.
    if (/No such file/i.test(err.stderr)) return;
    await rm(netnsPath(name), { force: true });
    const left = await listNetns(name);
    if (left.includes(name)) throw err;
  }
}

/** Names under /run/netns starting with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  const names = await readdir(NETNS_DIR).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e)));
  return names.filter((n) => n.startsWith(prefix)).sort();
}

/** Runs `ip -batch -` (inside namespace `ns` when given): one process for many commands. */
export async function ipBatch(runner: CommandRunner, ns: string | null, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await runner.run("ip", [...(ns ? ["-n", ns] : []), "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** Runs a program inside namespace `ns` (network only: the mounts stay the host's). */
export function nsRun(runner: CommandRunner, ns: string, file: string, args: readonly string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return runner.run("nsenter", [`--net=${netnsPath(ns)}`, "--", file, ...args], input === undefined ? {} : { input });
}

/** Applies an nft script atomically inside namespace `ns`. */
export async function nftApply(runner: CommandRunner, ns: string, script: string): Promise<void> {
  if (script.trim() === "") return;
  await nsRun(runner, ns, "nft", ["-f", "-"], script);
}

/** Sets sysctls inside namespace `ns` (`net.ipv4.ip_forward=1` …). */
export async function nsSysctl(runner: CommandRunner, ns: string, settings: Record<string, string>): Promise<void> {
  await nsRun(runner, ns, "sysctl", ["-q", "-w", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}
