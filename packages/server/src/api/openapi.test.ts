import assert from "node:assert/strict";
import { test } from "node:test";
import { buildOpenApi } from "./openapi.js";

/** The value at a path of keys in a JSON document (undefined when a step is missing). */
function at(value: unknown, ...keys: (string | number)[]): unknown {
  let v = value;
  for (const k of keys) v = v !== null && typeof v === "object" ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

test("the volume routes answer VolumeInfo, described with its inode figures", () => {
  const doc = buildOpenApi("0.0.0");
  const schema = at(doc, "components", "schemas", "VolumeInfo");
  for (const field of ["id", "name", "capacityBytes", "usedBytes", "usedInodes", "inodeCapacity", "attachments"]) {
    assert.ok((at(schema, "required") as string[]).includes(field), field);
    assert.ok(at(schema, "properties", field), field);
  }
  const ref = { $ref: "#/components/schemas/VolumeInfo" };
  const body = (route: string, method: string, status: number) => at(doc, "paths", route, method, "responses", status, "content", "application/json", "schema");
  assert.deepEqual(body("/v1/volumes", "post", 201), ref);
  assert.deepEqual(at(body("/v1/volumes", "get", 200), "properties", "volumes", "items"), ref);
  assert.deepEqual(body("/v1/volumes/{id}", "get", 200), ref);
  assert.deepEqual(body("/v1/volumes/{id}", "delete", 200), ref);
  assert.deepEqual(body("/v1/volumes/import", "post", 201), ref);
  assert.ok(at(doc, "paths", "/v1/volumes/{id}/export", "get", "responses", 200));
});
