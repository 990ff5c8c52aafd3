/**
 * Runs escape-suite probes outside any sandbox, to prove that each probe can succeed (or fail
 * differently) when the defence is not there. Two places, both throwaway namespaces made by real
 * root with util-linux `unshare`, so nothing a probe does reaches the host's own network,
 * mounts, hostname or processes:
 *
 * - `userns`: a new user namespace mapping root to root plus new mount, network, pid, ipc and uts
 *   namespaces: root of its own namespaces, like sandbox root, without the seccomp filter;
 * - `host`: the same namespaces without a new user namespace, for probes that need a capability
 *   of the initial user namespace to get past the kernel's permission check. Only harmless calls
 *   go there (syscall-probes.ts).
 */
import { spawnSync } from "node:child_process";
import { PROBE_PROGRAM } from "./syscall-probes.js";

export type Outside = "userns" | "host";

/** The host's own python (the sandbox image's is Debian's too); not a PATH shim. */
const PYTHON = "/usr/bin/python3";

function unshareArgs(where: Outside): string[] {
  return [...(where === "userns" ? ["--user", "--map-root-user"] : []), "--mount", "--net", "--pid", "--fork", "--ipc", "--uts", "--"];
}

/** Runs `argv` in the throwaway namespaces of `where`; returns its exit status and output. */
export function runOutside(where: Outside, argv: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync("unshare", [...unshareArgs(where), ...argv], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs the named system call probes in `where`: probe name → "ok" or errno name. */
export function probeOutside(where: Outside, names: readonly string[]): Record<string, string> {
  if (names.length === 0) return {};
  const r = runOutside(where, [PYTHON, "-c", PROBE_PROGRAM, ...names]);
  if (r.code !== 0) throw new Error(`probes outside (${where}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}
