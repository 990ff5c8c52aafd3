/**
 * Volume backups (issue 17, docs/operations.md "Back up and restore"): the query parameters of
 * `GET /v1/volumes/:id/export` and `POST /v1/volumes/import`, and the header every volume
 * archive starts with.
 */
import { z } from "zod";
import { createVolumeSchema } from "./schemas.js";

/** Content type of a volume archive, both ways. */
export const VOLUME_ARCHIVE_TYPE = "application/vnd.atoll.volume-archive";

/** `GET /v1/volumes/:id/export[?snapshot=]`: export that snapshot of the volume instead of its data now. */
export const exportVolumeQuerySchema = z.strictObject({
  snapshot: z.string().min(1, "snapshot must name a snapshot (id or name)").max(128).optional(),
});
export type ExportVolumeQuery = z.input<typeof exportVolumeQuerySchema>;

/** `POST /v1/volumes/import?name=N[&sizeGb=G]`; without sizeGb the exported volume's size. */
export const importVolumeQuerySchema = z.strictObject({
  name: createVolumeSchema.shape.name,
  sizeGb: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "sizeGb must be a number of GiB, e.g. 5")
    .transform(Number)
    .pipe(createVolumeSchema.shape.sizeGb)
    .optional(),
});

/**
 * What an archive says about the volume it holds (JSON, after the magic). Ids in the archive
 * are the sandboxes' own (0–65535), whatever id range the exporting host used.
 */
export interface VolumeArchiveHeader {
  /** Format version; this release writes and reads 1. */
  version: 1;
  /** "tar+zstd": a GNU tar (sparse, xattrs, POSIX ACLs, numeric owners) compressed with zstd. */
  payload: "tar+zstd";
  /** The exported volume's name and size. */
  volume: { name: string; sizeGb: number; capacityBytes: number; usedBytes: number; usedInodes: number };
  /** The snapshot it was taken from, when one was named. */
  snapshot?: { id: string; name: string; createdAt: string };
  /** ISO 8601. */
  exportedAt: string;
}
