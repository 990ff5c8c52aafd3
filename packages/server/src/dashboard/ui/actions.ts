/** What the buttons do: each one asks first, then calls the /v1 API. */
import type { SandboxInfo, VolumeAttachment, VolumeInfo } from "atoll/contract";
import { api, seg } from "./api.js";
import { confirmAction } from "./dialogs.js";
import { shortId } from "./dom.js";

/** Delete a volume. Refused while attached (VOLUME_IN_USE, with the daemon's reason), then a forced delete is offered. */
export function deleteVolume(v: VolumeInfo, after?: () => void): void {
  const attached = v.attachments.length;
  confirmAction({
    title: `Delete volume ${v.name}?`,
    body: `Its data (${v.id}) is deleted for good.${attached ? ` It is attached to ${attached} sandbox${attached > 1 ? "es" : ""} right now.` : ""}`,
    confirmLabel: "Delete",
    run: async () => {
      await api("DELETE", `/v1/volumes/${seg(v.id)}`);
      after?.();
    },
    force: {
      codes: ["VOLUME_IN_USE"],
      label: "Detach everywhere and delete",
      run: async () => {
        await api("DELETE", `/v1/volumes/${seg(v.id)}?force=true`);
        after?.();
      },
    },
    done: `Volume ${v.name} deleted`,
  });
}

/** Detach a volume from a sandbox. Refused while files are open (VOLUME_BUSY), then a forced detach is offered. */
export function detach(a: VolumeAttachment): void {
  const path = `/v1/sandboxes/${seg(a.sandboxId)}/volumes/${seg(a.volumeId)}`;
  confirmAction({
    title: `Detach ${a.volumeName}?`,
    body: `It disappears from ${a.mountPath} in sandbox ${shortId(a.sandboxId)}; the data stays in the volume.`,
    confirmLabel: "Detach",
    run: async () => void (await api("DELETE", path)),
    force: { codes: ["VOLUME_BUSY"], label: "Force detach (open files keep working)", run: async () => void (await api("DELETE", `${path}?force=true`)) },
    done: `${a.volumeName} detached from ${shortId(a.sandboxId)}`,
  });
}

/** Kill a sandbox: its processes end, its volumes are released (their data stays). */
export function killSandbox(s: SandboxInfo): void {
  confirmAction({
    title: `Kill sandbox ${shortId(s.id)}?`,
    body: `Every process in ${s.id} ends and its writable root filesystem is discarded. Volumes keep their data.`,
    confirmLabel: "Kill",
    run: async () => void (await api("DELETE", `/v1/sandboxes/${seg(s.id)}`)),
    done: `Sandbox ${shortId(s.id)} killed`,
  });
}
