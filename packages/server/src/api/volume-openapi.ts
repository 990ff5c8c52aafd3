/** OpenAPI schema of `VolumeInfo` (the answer of the volume routes), referenced from openapi.ts. */
import type { VolumeInfo } from "atoll/contract";

const integer = (description: string) => ({ type: "integer", minimum: 0, description });
const text = (description: string) => ({ type: "string", description });

/** Every field of VolumeInfo, described; the type check keeps it complete. */
const properties = {
  id: text("vol_ + 20 characters"),
  name: text("unique per tenant"),
  sizeGb: { type: "number", description: "size in GiB as requested" },
  capacityBytes: integer("sizeGb × 2^30, in whole blocks"),
  usedBytes: integer("bytes in use now (statfs), ext4's metadata included"),
  usedInodes: integer("files, directories and symlinks now (statfs), ext4's 11 reserved inodes included"),
  inodeCapacity: integer("files the volume can hold in all; fixed at creation (262,144 for 1 GiB)"),
  createdAt: { type: "string", format: "date-time" },
  lastAttachedAt: { type: ["string", "null"], format: "date-time" },
  bootable: { type: "boolean", description: "a sandbox can boot from it (root); made from builtin:debian-12 or a bootable snapshot" },
  fromSnapshot: {
    type: ["object", "null"],
    properties: { id: text("snap_ + 20 characters"), name: text("") },
    description: "the snapshot it was made from, while that snapshot exists",
  },
  attachments: {
    type: "array",
    items: {
      type: "object",
      properties: {
        sandboxId: text(""),
        volumeId: text(""),
        volumeName: text(""),
        mountPath: text(""),
        accessMode: { enum: ["rw", "ro"] },
        attachedAt: { type: "string", format: "date-time" },
      },
    },
  },
} satisfies Record<keyof VolumeInfo, unknown>;

/** JSON Schema of VolumeInfo for `components.schemas`. */
export const volumeInfoSchema = { type: "object", required: Object.keys(properties), properties };
