/** Options of `sandbox.spawn` and their translation into a session spawn request. */
import { InvalidArgumentError } from "./contract/index.js";
import type { SpawnRequest } from "./session.js";

/**
 * How a process's output stream is handled.
 *
 * @example await sandbox.spawn("ls", { stdout: "piped", stderr: "null" });
 */
export type StdioMode = "piped" | "inherit" | "null";

/**
 * The user a command runs as: `app` (uid 1000, default) or sandbox `root`.
 *
 * @example await sandbox.spawn("apt-get", { args: ["update"], user: "root" });
 */
export type SandboxUser = "app" | "root";

/**
 * Options of `sandbox.spawn(cmd, options)`.
 *
 * @example
 *   await sandbox.spawn("python3", { args: ["-c", "print(1)"], stdout: "piped", cwd: "project" });
 */
export interface SpawnOptions {
  /** Arguments after the command. */
  args?: readonly string[];
  /** Working directory; relative paths resolve against /home/app (the default). */
  cwd?: string;
  /** Extra environment variables, on top of the sandbox's environment. */
  env?: Record<string, string>;
  /** Start from an empty environment instead of the sandbox's. */
  clearEnv?: boolean;
  /** "piped" gives a writable `child.stdin`; "null" (default) connects /dev/null. */
  stdin?: "piped" | "null";
  /** "inherit" (default) writes to this program's stdout; "piped" gives `child.stdout`; "null" drops it. */
  stdout?: StdioMode;
  /** Like `stdout`, for stderr. */
  stderr?: StdioMode;
  /** Aborting sends SIGTERM to the process (its whole process group). */
  signal?: AbortSignal;
  /** "app" (default) or "root". */
  user?: SandboxUser;
}

/** Spawn options with every default filled in. */
export interface ResolvedSpawnOptions {
  request: SpawnRequest;
  stdin: "piped" | "null";
  stdout: StdioMode;
  stderr: StdioMode;
  signal: AbortSignal | undefined;
}

export const HOME_DIR = "/home/app";

const KNOWN = new Set(["args", "cwd", "env", "clearEnv", "stdin", "stdout", "stderr", "signal", "user"]);
const STDIO = new Set(["piped", "inherit", "null"]);

/**
 * Resolves `cwd` inside the sandbox: absolute paths are normalised, relative ones are taken
 * from /home/app. `..` never climbs above `/`.
 *
 * @example resolveSandboxPath("src/../build") === "/home/app/build"
 */
export function resolveSandboxPath(path: string): string {
  const full = path.startsWith("/") ? path : `${HOME_DIR}/${path}`;
  const out: string[] = [];
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** Checks options and fills in defaults. Throws InvalidArgumentError on a bad or unknown option. */
export function resolveSpawnOptions(cmd: string, options: SpawnOptions = {}): ResolvedSpawnOptions {
  if (typeof cmd !== "string" || cmd === "") throw new InvalidArgumentError("spawn: the command must be a non-empty string");
  const unknown = Object.keys(options).filter((k) => !KNOWN.has(k));
  if (unknown.length) {
    throw new InvalidArgumentError(`Invalid spawn options: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}`);
  }
  const stdin = options.stdin ?? "null";
  if (stdin !== "piped" && stdin !== "null") throw new InvalidArgumentError(`spawn: stdin must be "piped" or "null", got ${JSON.stringify(stdin)}`);
  const stdout = options.stdout ?? "inherit";
  const stderr = options.stderr ?? "inherit";
  for (const [name, mode] of [
    ["stdout", stdout],
    ["stderr", stderr],
  ] as const) {
    if (!STDIO.has(mode)) throw new InvalidArgumentError(`spawn: ${name} must be "piped", "inherit" or "null", got ${JSON.stringify(mode)}`);
  }
  const args = options.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
    throw new InvalidArgumentError("spawn: args must be an array of strings");
  }
  if (options.cwd !== undefined && typeof options.cwd !== "string") throw new InvalidArgumentError("spawn: cwd must be a string");
  return {
    request: {
      cmd,
      args: [...args],
      // Unset: the daemon's default (/home/app, or an imported image's WorkingDir).
      ...(options.cwd === undefined ? {} : { cwd: resolveSandboxPath(options.cwd) }),
      env: { ...(options.env ?? {}) },
      clearEnv: options.clearEnv ?? false,
      user: options.user ?? "app",
      stdin: stdin === "piped",
    },
    stdin,
    stdout,
    stderr,
    signal: options.signal,
  };
}
