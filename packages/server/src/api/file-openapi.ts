/** OpenAPI paths of the file API (docs/files.md), merged into openapi.ts. */
import { fsOpSchema } from "atoll/contract";
import { z } from "zod";

const errors = { "4XX": { description: 'Error: `{ "error": { "code", "message", "details" } }`' } };
const q = (name: string, required = false, schema: Record<string, unknown> = { type: "string" }) => ({ name, in: "query", required, schema });
const raw = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: "string", format: "binary" } } } });
const json = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });

/** The file routes under one prefix ("/v1/sandboxes/{id}/fs" or "/v1/volumes/{id}/fs"). */
function pathsUnder(prefix: string, what: string): Record<string, unknown> {
  const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };
  const user = q("user", false, { enum: ["app", "root"] });
  const common = what === "sandbox" ? [idParam, user] : [idParam];
  return {
    [`${prefix}/op`]: {
      post: {
        summary: `One file operation in a ${what} (stat, mkdir, remove, rename, …)`,
        parameters: common,
        requestBody: { required: true, content: { "application/json": { schema: z.toJSONSchema(fsOpSchema, { io: "input", unrepresentable: "any" }) } } },
        responses: { 200: json("operation result"), ...errors },
      },
    },
    [`${prefix}/file`]: {
      get: {
        summary: `Read a file of a ${what} (streamed)`,
        parameters: [...common, q("path", true)],
        responses: { 200: raw("application/octet-stream", "file contents"), ...errors },
      },
      put: {
        summary: `Write a file of a ${what} atomically (streamed body)`,
        parameters: [
          ...common,
          q("path", true),
          q("mode"),
          q("append", false, { type: "boolean" }),
          q("create", false, { type: "boolean" }),
          q("createNew", false, { type: "boolean" }),
        ],
        requestBody: { required: true, ...raw("application/octet-stream", "file contents") },
        responses: { 200: json("{ bytes }"), ...errors },
      },
    },
    [`${prefix}/dir`]: {
      get: {
        summary: "List a directory (NDJSON)",
        parameters: [...common, q("path", true)],
        responses: { 200: raw("application/x-ndjson", "{name,type} lines"), ...errors },
      },
    },
    [`${prefix}/walk`]: {
      get: {
        summary: "Walk a tree (NDJSON, depth first)",
        parameters: [...common, q("path", true), q("maxDepth", false, { type: "integer" }), q("followSymlinks", false, { type: "boolean" })],
        responses: { 200: raw("application/x-ndjson", "{path,name,type,depth} lines"), ...errors },
      },
    },
    [`${prefix}/tar`]: {
      get: {
        summary: "Download a file or directory tree as tar (streamed)",
        parameters: [...common, q("path", true)],
        responses: { 200: raw("application/x-tar", "tar"), ...errors },
      },
      put: {
        summary: "Extract a tar into a directory (streamed body)",
        parameters: [...common, q("path", true)],
        requestBody: { required: true, ...raw("application/x-tar", "tar") },
        responses: { 200: json("{ files, dirs, links, bytes }"), ...errors },
      },
    },
  };
}

export function fileApiPaths(): Record<string, unknown> {
  return { ...pathsUnder("/v1/sandboxes/{id}/fs", "sandbox"), ...pathsUnder("/v1/volumes/{id}/fs", "volume") };
}
