import type { CommandLogEntry } from "atoll/contract";
import type { Statement } from "better-sqlite3";
import type { Db } from "./database.js";

interface RawRow {
  seq: number;
  started_at: string;
  command: string;
  user: "app" | "root";
  exit_code: number | null;
  signal: string | null;
  oom: number;
  duration_ms: number | null;
}

const fromRaw = (r: RawRow): CommandLogEntry => ({
  seq: r.seq,
  startedAt: r.started_at,
  command: r.command,
  user: r.user,
  exitCode: r.exit_code,
  signal: r.signal,
  oom: r.oom !== 0,
  durationMs: r.duration_ms,
});

/**
 * The `command_log` table: one row per process a sandbox session started. Statements are
 * prepared once, because `start` and `finish` run on the spawn path of every command.
 */
export class CommandLogRepo {
  private readonly insertStmt: Statement;
  private readonly finishStmt: Statement;
  private readonly listStmt: Statement;
  private readonly maxSeqStmt: Statement;
  private readonly trimStmt: Statement;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare("INSERT INTO command_log (sandbox_id, seq, started_at, command, user) VALUES (?, ?, ?, ?, ?)");
    this.finishStmt = db.prepare("UPDATE command_log SET exit_code = ?, signal = ?, oom = ?, duration_ms = ? WHERE sandbox_id = ? AND seq = ?");
    this.listStmt = db.prepare("SELECT * FROM command_log WHERE sandbox_id = ? ORDER BY seq DESC LIMIT ?");
    this.maxSeqStmt = db.prepare("SELECT MAX(seq) AS seq FROM command_log WHERE sandbox_id = ?");
    this.trimStmt = db.prepare("DELETE FROM command_log WHERE sandbox_id = ? AND seq <= ?");
  }

  start(sandboxId: string, seq: number, startedAt: string, command: string, user: "app" | "root"): void {
    this.insertStmt.run(sandboxId, seq, startedAt, command, user);
  }

  finish(sandboxId: string, seq: number, end: { exitCode: number | null; signal: string | null; oom: boolean; durationMs: number }): void {
    this.finishStmt.run(end.exitCode, end.signal, end.oom ? 1 : 0, end.durationMs, sandboxId, seq);
  }

  /** The newest `limit` entries, newest first. */
  list(sandboxId: string, limit: number): CommandLogEntry[] {
    return (this.listStmt.all(sandboxId, limit) as RawRow[]).map(fromRaw);
  }

  /** Highest seq recorded for a sandbox, 0 if none. */
  maxSeq(sandboxId: string): number {
    return (this.maxSeqStmt.get(sandboxId) as { seq: number | null }).seq ?? 0;
  }

  /** Drops the entries of a sandbox up to and including `seq`. */
  trim(sandboxId: string, uptoSeq: number): void {
    this.trimStmt.run(sandboxId, uptoSeq);
  }

  /** Drops the log of every sandbox that stopped before `before` (ISO time); returns rows removed. */
  deleteForStoppedBefore(before: string): number {
    return this.db.prepare("DELETE FROM command_log WHERE sandbox_id IN (SELECT id FROM sandboxes WHERE state = 'stopped' AND stopped_at < ?)").run(before)
      .changes;
  }
}
