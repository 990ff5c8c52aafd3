import type { AccessMode, VolumeAttachment } from "atoll/contract";
import type { Db } from "./database.js";

interface RawRow {
  sandbox_id: string;
  volume_id: string;
  volume_name: string;
  mount_path: string;
  access_mode: AccessMode;
  attached_at: string;
}

const SELECT = `SELECT a.sandbox_id, a.volume_id, v.name AS volume_name, a.mount_path, a.access_mode, a.attached_at
  FROM attachments a JOIN volumes v ON v.id = a.volume_id`;
/** Snapshots mounted read-only (issue 14) look like attachments whose volumeId is the snapshot's id. */
const SELECT_SNAPSHOTS = `SELECT m.sandbox_id, m.snapshot_id AS volume_id, s.name AS volume_name, m.mount_path, 'ro' AS access_mode, m.attached_at
  FROM snapshot_mounts m JOIN snapshots s ON s.id = m.snapshot_id`;
/** Both kinds; `a` names the columns of the union for WHERE and ORDER BY. */
const SELECT_ALL = `SELECT * FROM (${SELECT} UNION ALL ${SELECT_SNAPSHOTS}) a`;

function fromRaw(r: RawRow): VolumeAttachment {
  return {
    sandboxId: r.sandbox_id,
    volumeId: r.volume_id,
    volumeName: r.volume_name,
    mountPath: r.mount_path,
    accessMode: r.access_mode,
    attachedAt: r.attached_at,
  };
}

/**
 * Which volume is mounted where in which sandbox, right now; and which snapshot is mounted
 * read-only where (table snapshot_mounts): listed with the volumes, with the snapshot's id and
 * name as volumeId and volumeName.
 */
export class AttachmentRepo {
  constructor(private readonly db: Db) {}

  insert(a: Omit<VolumeAttachment, "volumeName">): void {
    this.db
      .prepare("INSERT INTO attachments (sandbox_id, volume_id, mount_path, access_mode, attached_at) VALUES (?, ?, ?, ?, ?)")
      .run(a.sandboxId, a.volumeId, a.mountPath, a.accessMode, a.attachedAt);
  }

  /** Records a snapshot mounted read-only in a sandbox. */
  insertSnapshot(a: { sandboxId: string; snapshotId: string; mountPath: string; attachedAt: string }): void {
    this.db
      .prepare("INSERT INTO snapshot_mounts (sandbox_id, snapshot_id, mount_path, attached_at) VALUES (?, ?, ?, ?)")
      .run(a.sandboxId, a.snapshotId, a.mountPath, a.attachedAt);
  }

  /** Removes the attachment of a volume, or the mount of a snapshot, by its id. */
  delete(sandboxId: string, volumeId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE sandbox_id = ? AND volume_id = ?").run(sandboxId, volumeId);
    this.db.prepare("DELETE FROM snapshot_mounts WHERE sandbox_id = ? AND snapshot_id = ?").run(sandboxId, volumeId);
  }

  deleteForSandbox(sandboxId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE sandbox_id = ?").run(sandboxId);
    this.db.prepare("DELETE FROM snapshot_mounts WHERE sandbox_id = ?").run(sandboxId);
  }

  /** Volumes and snapshots mounted in the sandbox. */
  forSandbox(sandboxId: string): VolumeAttachment[] {
    return (this.db.prepare(`${SELECT_ALL} WHERE a.sandbox_id = ? ORDER BY a.mount_path`).all(sandboxId) as RawRow[]).map(fromRaw);
  }

  /** Where a snapshot is mounted (read-only). */
  forSnapshot(snapshotId: string): VolumeAttachment[] {
    return (this.db.prepare(`${SELECT_SNAPSHOTS} WHERE m.snapshot_id = ? ORDER BY m.attached_at`).all(snapshotId) as RawRow[]).map(fromRaw);
  }

  forVolume(volumeId: string): VolumeAttachment[] {
    return (this.db.prepare(`${SELECT} WHERE a.volume_id = ? ORDER BY a.attached_at`).all(volumeId) as RawRow[]).map(fromRaw);
  }

  /** Every attachment and snapshot mount (reconcile). */
  all(): VolumeAttachment[] {
    return (this.db.prepare(SELECT_ALL).all() as RawRow[]).map(fromRaw);
  }
}
