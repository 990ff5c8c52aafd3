/** OpenAPI paths of volume backups (docs/operations.md "Back up and restore"), merged into openapi.ts. */
import { VOLUME_ARCHIVE_TYPE } from "atoll/contract";

const errors = { "4XX": { description: 'Error: `{ "error": { "code", "message", "details" } }`' } };
const q = (name: string, required: boolean, description: string) => ({ name, in: "query", required, description, schema: { type: "string" } });
const archive = (description: string) => ({ description, content: { [VOLUME_ARCHIVE_TYPE]: { schema: { type: "string", format: "binary" } } } });

/** `GET /v1/volumes/{id}/export` and `POST /v1/volumes/import`. */
export function backupApiPaths(): Record<string, unknown> {
  return {
    "/v1/volumes/{id}/export": {
      get: {
        summary: "Export a volume's files as a checksummed archive (streamed); audited",
        parameters: [
          { name: "id", in: "path", required: true, schema: { type: "string" } },
          q("snapshot", false, "a snapshot of the volume (id or name) to export instead of its data now"),
        ],
        responses: { 200: archive("the volume archive"), ...errors },
      },
    },
    "/v1/volumes/import": {
      post: {
        summary: "Create a volume from an archive (streamed request body); ARCHIVE_INVALID when it is not whole and unaltered",
        parameters: [q("name", true, "name of the new volume"), q("sizeGb", false, "size in GiB; default the exported volume's")],
        requestBody: { required: true, ...archive("a volume archive made by an export") },
        responses: { 201: { description: "VolumeInfo", content: { "application/json": { schema: { $ref: "#/components/schemas/VolumeInfo" } } } }, ...errors },
      },
    },
  };
}
