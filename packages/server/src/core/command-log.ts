import { quoteShellArg, type CommandLogEntry } from "atoll/contract";
import type { Logger } from "pino";
import type { CommandLogRepo } from "../store/command-log-repo.js";
import type { ProcessExit } from "./drivers.js";
import { nowIso } from "./ids.js";

/** How a recorded process ended: its exit, or the reason it could not start. */
export type CommandOutcome = ProcessExit | { spawnError: string };

/** Told about every process a session starts; `started` returns the function to call when it ends. */
export interface CommandRecorder {
  started(argv: readonly string[], user: "app" | "root"): (outcome: CommandOutcome) => void;
}

/** Longest command text kept per entry. */
export const COMMAND_TEXT_MAX = 2000;

/**
 * The text shown for a command: the script of `sh -c SCRIPT` (what `sandbox.sh` sends), else the
 * argv quoted for sh. Cut at COMMAND_TEXT_MAX characters.
 *
 * @example commandText(["/bin/sh", "-c", "ls -la"]) // "ls -la"
 */
export function commandText(argv: readonly string[]): string {
  const isShellScript = argv.length === 3 && (argv[0] === "/bin/sh" || argv[0] === "sh" || argv[0] === "/bin/bash" || argv[0] === "bash") && argv[1] === "-c";
  const text = isShellScript ? argv[2]! : argv.map((a) => quoteShellArg(a)).join(" ");
  return text.length > COMMAND_TEXT_MAX ? `${text.slice(0, COMMAND_TEXT_MAX - 1)}…` : text;
}

/** What a secret value is replaced with in the command log. */
export const REDACTED = "[secret]";

/**
 * `argv` with every occurrence of a secret value replaced by REDACTED: as given, and as
 * `quoteShellArg` writes it inside single quotes (`'` as `'"'"'`), which is how `sandbox.sh`
 * puts an interpolated value into a script.
 *
 * @example redactArgv(["/bin/sh", "-c", "curl -H 'Bearer abc'"], ["abc"]) // [..., "curl -H 'Bearer [secret]'"]
 */
export function redactArgv(argv: readonly string[], secrets: readonly string[]): string[] {
  if (secrets.length === 0) return [...argv];
  const forms = [...new Set(secrets.flatMap((v) => [v, v.replace(/'/g, `'"'"'`)]))].filter((f) => f !== "").sort((a, b) => b.length - a.length);
  return argv.map((arg) => forms.reduce((text, form) => text.split(form).join(REDACTED), arg));
}

/**
 * The per-sandbox log of commands and how they ended, kept in the store for the dashboard and
 * `GET /v1/sandboxes/:id/commands`. Two small prepared statements per command (insert at
 * spawn, update at exit); each sandbox keeps its newest `keepPerSandbox` entries.
 */
export class CommandLog {
  private readonly nextSeq = new Map<string, number>();
  /** Values never stored for a sandbox: its `secrets` (docs/network.md). */
  private readonly secrets = new Map<string, string[]>();
  private readonly listeners = new Set<(sandboxId: string) => void>();

  constructor(
    private readonly deps: {
      repo: CommandLogRepo;
      logger: Logger;
      keepPerSandbox?: number;
      /** Told of every command started (the metrics' counter). */
      onStarted?: (user: "app" | "root") => void;
    },
  ) {}

  /** A recorder bound to one sandbox, for its sessions. */
  recorder(sandboxId: string): CommandRecorder {
    return { started: (argv, user) => this.start(sandboxId, argv, user) };
  }

  /** The newest `limit` entries of a sandbox, newest first. */
  list(sandboxId: string, limit = 100): CommandLogEntry[] {
    return this.deps.repo.list(sandboxId, limit);
  }

  /** Calls `listener(sandboxId)` after every change; returns the unsubscribe function. */
  onChange(listener: (sandboxId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Retention: forgets the logs of sandboxes that stopped before `before`. */
  pruneStopped(before: Date): number {
    return this.deps.repo.deleteForStoppedBefore(before.toISOString());
  }

  /** The sandbox stopped: its sequence counter and secrets are no longer needed in memory. */
  forget(sandboxId: string): void {
    this.nextSeq.delete(sandboxId);
    this.secrets.delete(sandboxId);
  }

  /**
   * Values that must never be stored for this sandbox's commands (its `secrets`): they are
   * replaced by `[secret]` before an entry is written. Held in memory only.
   */
  protect(sandboxId: string, values: readonly string[]): void {
    if (values.length > 0) this.secrets.set(sandboxId, [...values]);
  }

  private start(sandboxId: string, argv: readonly string[], user: "app" | "root"): (outcome: CommandOutcome) => void {
    const seq = this.nextSeq.get(sandboxId) ?? this.deps.repo.maxSeq(sandboxId) + 1;
    this.nextSeq.set(sandboxId, seq + 1);
    const t0 = performance.now();
    this.deps.onStarted?.(user);
    // The log must never break the command it describes: store errors are logged, not thrown.
    const guarded = (what: string, fn: () => void) => {
      try {
        fn();
        this.emit(sandboxId);
      } catch (err) {
        this.deps.logger.warn({ err, sandboxId, seq }, `command log: ${what} failed`);
      }
    };
    guarded("insert", () => {
      this.deps.repo.start(sandboxId, seq, nowIso(), commandText(redactArgv(argv, this.secrets.get(sandboxId) ?? [])), user);
      const keep = this.deps.keepPerSandbox ?? 1000;
      if (seq > keep && seq % 100 === 0) this.deps.repo.trim(sandboxId, seq - keep);
    });
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      const durationMs = Math.round(performance.now() - t0);
      const end =
        "spawnError" in outcome
          ? { exitCode: null, signal: null, oom: false, durationMs }
          : { exitCode: outcome.code, signal: outcome.signal, oom: outcome.oom, durationMs };
      guarded("update", () => this.deps.repo.finish(sandboxId, seq, end));
    };
  }

  private emit(sandboxId: string): void {
    for (const l of this.listeners) {
      try {
        l(sandboxId);
      } catch (err) {
        this.deps.logger.warn({ err }, "command log listener failed");
      }
    }
  }
}
