/**
 * How the doctor's checks ask the host: run a tool (with a deadline, the daemon's PATH, maybe as
 * another uid), read a /proc or /sys file (host/find-tool.ts finds a tool the way the daemon would). Probes never
 * throw: a failure is an answer (`ok: false` with what went wrong).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";

/** What one run of a tool did. */
export type ProbeRun = { ok: true; stdout: string; stderr: string } | { ok: false; error: string; stdout: string; stderr: string };

/** A probe that does not answer within this long has failed (the whole doctor stays under a few seconds). */
export const PROBE_TIMEOUT_MS = 5000;

/**
 * Runs `file args…` without a shell, PATH = `searchPath`, LC_ALL=C; as `uid`/`gid` when given.
 * `error` is the tool's last stderr line, or what kept it from running ("not found", "timed out").
 */
export function runProbe(
  file: string,
  args: readonly string[],
  options: { searchPath: string; uid?: number; gid?: number; timeoutMs?: number },
): Promise<ProbeRun> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        encoding: "utf8",
        timeout: options.timeoutMs ?? PROBE_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
        env: { PATH: options.searchPath, LC_ALL: "C" },
        cwd: "/",
        ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ ok: true, stdout, stderr });
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        const why =
          e.code === "ENOENT"
            ? "not found"
            : e.killed
              ? `did not answer within ${(options.timeoutMs ?? PROBE_TIMEOUT_MS) / 1000} s`
              : lastLine(stderr) || lastLine(stdout) || e.message;
        resolve({ ok: false, error: why, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

/** The last non-empty line of a tool's output. */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ""
  );
}

/** A file's text, or undefined when it cannot be read (absent, no permission). */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** A sysctl under /proc/sys as a number ("user.max_user_namespaces"), or undefined when the kernel has no such knob. */
export function readSysctl(name: string): number | undefined {
  const text = readText(`/proc/sys/${name.replaceAll(".", "/")}`);
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** The message of an error thrown by a node:fs call ("EROFS: read-only file system"). */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.message.includes(":") ? `: ${e.message.split(":")[1]!.split(",")[0]!.trim()}` : ""}` : String(err);
}
