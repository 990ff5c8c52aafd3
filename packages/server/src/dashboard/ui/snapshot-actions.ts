/** What the snapshot buttons do: fork, delete, take. Each asks first, then calls the /v1 API. */
import type { SnapshotInfo, VolumeInfo } from "atoll/contract";
import { api, seg } from "./api.js";
import { confirmAction } from "./dialogs.js";
import { formDialog } from "./form-dialog.js";

const NAME = { pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*", maxlength: 63, spellcheck: false, autocomplete: "off" };

/** Fork: a new volume that starts as the snapshot (POST /v1/volumes with `from`); its size defaults to the snapshot's. */
export function forkSnapshot(s: SnapshotInfo): void {
  formDialog({
    title: `Fork snapshot ${s.name}`,
    body: `A new read-write volume with the data of ${s.name} (taken of ${s.volumeName}). It can be larger than ${s.sizeGb} GiB, not smaller.`,
    fields: [
      { name: "name", label: "Volume name", attrs: { ...NAME, placeholder: `${s.volumeName}-fork` } },
      { name: "sizeGb", label: "Size (GiB)", attrs: { type: "number", min: 0.0625, max: 1024, step: "any", value: s.sizeGb } },
    ],
    submitLabel: "Fork",
    run: async ({ name, sizeGb }) => {
      const v = await api<VolumeInfo>("POST", "/v1/volumes", { name, sizeGb: Number(sizeGb), from: s.id });
      return `Volume ${v.name} made from ${s.name}`;
    },
  });
}

/** Delete a snapshot. Refused while a sandbox mounts it (SNAPSHOT_IN_USE, with the daemon's reason). */
export function deleteSnapshot(s: SnapshotInfo): void {
  confirmAction({
    title: `Delete snapshot ${s.name}?`,
    body: `Its data (${s.id}) is deleted for good. The volume it was taken of and the volumes forked from it keep theirs.`,
    confirmLabel: "Delete",
    run: async () => void (await api("DELETE", `/v1/snapshots/${seg(s.id)}`)),
    done: `Snapshot ${s.name} deleted`,
  });
}

/** Take a snapshot of a volume (POST /v1/volumes/:id/snapshots), also while it is attached and written to. */
export function takeSnapshot(v: VolumeInfo): void {
  formDialog({
    title: `Snapshot of ${v.name}`,
    body: "A read-only copy of the volume as it is now; writers pause for a moment if it is attached.",
    fields: [{ name: "name", label: "Snapshot name", attrs: { ...NAME, placeholder: `${v.name}-1` } }],
    submitLabel: "Take snapshot",
    run: async ({ name }) => {
      const s = await api<SnapshotInfo>("POST", `/v1/volumes/${seg(v.id)}/snapshots`, { name });
      return `Snapshot ${s.name} taken`;
    },
  });
}
