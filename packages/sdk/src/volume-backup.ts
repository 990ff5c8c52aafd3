/**
 * Volume backups over HTTP (docs/operations.md "Back up and restore"): the archive streams both
 * ways as web streams, never gathered in memory (Node, Deno, Bun).
 */
import { VOLUME_ARCHIVE_TYPE, type VolumeInfo } from "./contract/index.js";
import { fsFetch } from "./fs-http.js";
import { type HttpClient, seg } from "./http-client.js";

/**
 * Options of `volume.export()`.
 *
 * @example const archive = await volume.export({ snapshot: "nightly" });
 */
export interface ExportVolumeOptions {
  /** Export this snapshot (id or name) of the volume; without it, the volume as it is now (a point in time). */
  snapshot?: string;
  signal?: AbortSignal;
}

/**
 * Options of `Sandbox.importVolume()`.
 *
 * @example await Sandbox.importVolume(archive, { name: "restored", sizeGb: 10 });
 */
export interface ImportVolumeOptions {
  /** Name of the new volume (unique per tenant). */
  name: string;
  /** Its size in GiB; default the exported volume's. */
  sizeGb?: number;
  signal?: AbortSignal;
}

/** GET /v1/volumes/:id/export: the archive as a stream. */
export async function exportVolume(http: HttpClient, volumeId: string, options: ExportVolumeOptions = {}): Promise<ReadableStream<Uint8Array>> {
  const res = await fsFetch(http, "GET", `/v1/volumes/${seg(volumeId)}/export`, {
    query: { snapshot: options.snapshot },
    signal: options.signal,
  });
  if (!res.body) throw new TypeError("the daemon answered the export without a body");
  return res.body;
}

/** POST /v1/volumes/import: a new volume from an archive stream (or its bytes). */
export async function importVolume(http: HttpClient, archive: ReadableStream<Uint8Array> | Uint8Array, options: ImportVolumeOptions): Promise<VolumeInfo> {
  const res = await fsFetch(http, "POST", "/v1/volumes/import", {
    query: { name: options.name, sizeGb: options.sizeGb === undefined ? undefined : String(options.sizeGb) },
    body: archive,
    contentType: VOLUME_ARCHIVE_TYPE,
    signal: options.signal,
  });
  return (await res.json()) as VolumeInfo;
}
