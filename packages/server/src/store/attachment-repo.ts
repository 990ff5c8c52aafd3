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

/** Which volume is mounted where in which sandbox, right now. */
export class AttachmentRepo {
  constructor(private readonly db: Db) {}

  insert(a: Omit<VolumeAttachment, "volumeName">): void {
    this.db
      .prepare("INSERT INTO attachments (sandbox_id, volume_id, mount_path, access_mode, attached_at) VALUES (?, ?, ?, ?, ?)")
      .run(a.sandboxId, a.volumeId, a.mountPath, a.accessMode, a.attachedAt);
  }

  delete(sandboxId: string, volumeId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE sandbox_id = ? AND volume_id = ?").run(sandboxId, volumeId);
  }

  deleteForSandbox(sandboxId: string): void {
    this.db.prepare("DELETE FROM attachments WHERE sandbox_id = ?").run(sandboxId);
  }

  forSandbox(sandboxId: string): VolumeAttachment[] {
    return (this.db.prepare(`${SELECT} WHERE a.sandbox_id = ? ORDER BY a.mount_path`).all(sandboxId) as RawRow[]).map(fromRaw);
  }

  forVolume(volumeId: string): VolumeAttachment[] {
    return (this.db.prepare(`${SELECT} WHERE a.volume_id = ? ORDER BY a.attached_at`).all(volumeId) as RawRow[]).map(fromRaw);
  }

  /** Every attachment (reconcile). */
  all(): VolumeAttachment[] {
    return (this.db.prepare(SELECT).all() as RawRow[]).map(fromRaw);
  }
}
