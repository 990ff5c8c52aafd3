import type { Db } from "./database.js";

/** One run of the daemon on this state directory. */
export interface DaemonRunRow {
  id: number;
  version: string;
  pid: number;
  startedAt: string;
  /** The run's latest heartbeat (its end, give or take the heartbeat interval, if it did not stop cleanly). */
  lastSeenAt: string;
  /** Set by a clean stop; null while running, or when the run crashed or was killed. */
  stoppedAt: string | null;
}

interface RawRow {
  id: number;
  version: string;
  pid: number;
  started_at: string;
  last_seen_at: string;
  stopped_at: string | null;
}

const fromRaw = (r: RawRow): DaemonRunRow => ({
  id: r.id,
  version: r.version,
  pid: r.pid,
  startedAt: r.started_at,
  lastSeenAt: r.last_seen_at,
  stoppedAt: r.stopped_at,
});

/** How many runs are kept: enough to see a restart loop, small forever. */
const KEEP_RUNS = 100;

/** The daemon_runs table: start, heartbeat and clean stop of each daemon run. */
export class DaemonRunRepo {
  constructor(private readonly db: Db) {}

  /** The newest run recorded (before `start`: the previous run), or undefined on a fresh store. */
  latest(): DaemonRunRow | undefined {
    const r = this.db.prepare("SELECT * FROM daemon_runs ORDER BY id DESC LIMIT 1").get() as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** Records a new run; old runs beyond the newest KEEP_RUNS are dropped. */
  start(version: string, pid: number, at: string): DaemonRunRow {
    return this.db.transaction(() => {
      const { lastInsertRowid } = this.db
        .prepare("INSERT INTO daemon_runs (version, pid, started_at, last_seen_at) VALUES (?, ?, ?, ?)")
        .run(version, pid, at, at);
      this.db.prepare("DELETE FROM daemon_runs WHERE id <= ?").run(Number(lastInsertRowid) - KEEP_RUNS);
      return { id: Number(lastInsertRowid), version, pid, startedAt: at, lastSeenAt: at, stoppedAt: null };
    })();
  }

  heartbeat(id: number, at: string): void {
    this.db.prepare("UPDATE daemon_runs SET last_seen_at = ? WHERE id = ?").run(at, id);
  }

  stopped(id: number, at: string): void {
    this.db.prepare("UPDATE daemon_runs SET last_seen_at = ?, stopped_at = ? WHERE id = ?").run(at, at, id);
  }
}
