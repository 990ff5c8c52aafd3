import type { VolumeUsageSample } from "atoll/contract";
import type { Statement } from "better-sqlite3";
import type { Db } from "./database.js";

/** The `volume_usage_samples` table: used bytes of each volume over time. */
export class UsageSampleRepo {
  private readonly insertStmt: Statement;
  private readonly lastStmt: Statement;
  private readonly sinceStmt: Statement;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare("INSERT OR REPLACE INTO volume_usage_samples (volume_id, at, used_bytes) VALUES (?, ?, ?)");
    this.lastStmt = db.prepare("SELECT at, used_bytes FROM volume_usage_samples WHERE volume_id = ? ORDER BY at DESC LIMIT 1");
    this.sinceStmt = db.prepare("SELECT at, used_bytes FROM volume_usage_samples WHERE volume_id = ? AND at >= ? ORDER BY at");
  }

  insert(volumeId: string, at: string, usedBytes: number): void {
    this.insertStmt.run(volumeId, at, usedBytes);
  }

  /** The newest sample of a volume, if any. */
  last(volumeId: string): VolumeUsageSample | undefined {
    const r = this.lastStmt.get(volumeId) as { at: string; used_bytes: number } | undefined;
    return r && { at: r.at, usedBytes: r.used_bytes };
  }

  /** Samples at or after `since` (ISO time), oldest first. */
  since(volumeId: string, since: string): VolumeUsageSample[] {
    return (this.sinceStmt.all(volumeId, since) as { at: string; used_bytes: number }[]).map((r) => ({ at: r.at, usedBytes: r.used_bytes }));
  }

  /** Retention: drops samples older than `before` and those of volumes that no longer exist. */
  prune(before: string): number {
    const old = this.db.prepare("DELETE FROM volume_usage_samples WHERE at < ?").run(before).changes;
    const orphans = this.db.prepare("DELETE FROM volume_usage_samples WHERE volume_id NOT IN (SELECT id FROM volumes)").run().changes;
    return old + orphans;
  }
}
