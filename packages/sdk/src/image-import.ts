/**
 * `Sandbox.importImage()` / `client.importImage()` (docs/images.md "Importing an image"): an OCI
 * image archive (`docker save`, OCI layout tarball) becomes a bootable snapshot.
 */
import { type ImportImageRequest, type SnapshotInfo, importImageSchema, parseOrThrow } from "./contract/index.js";
import { fsJson } from "./fs-http.js";
import type { HttpClient } from "./http-client.js";
import { Snapshot } from "./snapshot.js";

/** @internal Sends the archive as the request body of `POST /v1/images/import`. */
export async function importImage(http: HttpClient, archive: Uint8Array | ReadableStream<Uint8Array>, options: ImportImageRequest): Promise<Snapshot> {
  const req = parseOrThrow(importImageSchema, options, "image import options");
  const query = { name: req.name, sizeGb: req.sizeGb === undefined ? undefined : String(req.sizeGb) };
  return new Snapshot(http, await fsJson<SnapshotInfo>(http, "POST", "/v1/images/import", { query, body: archive, contentType: "application/x-tar" }));
}
