/** Pieces shown on several pages: attachment chips, labels, badges, the network policy. */
import type { SandboxInfo, VolumeAttachment } from "atoll/contract";
import { detach } from "./actions.js";
import { h, shortId } from "./dom.js";

/** "vol · rw · /data" in a sandbox (or "sbx_… · ro · /data" on a volume's row), with a detach button. */
export function attachmentChip(a: VolumeAttachment, show: "sandbox" | "volume"): HTMLElement {
  const who =
    show === "sandbox"
      ? h("a", { href: `#/sandboxes/${a.sandboxId}`, title: a.sandboxId, class: "mono" }, shortId(a.sandboxId))
      : h("a", { href: `#/volumes/${a.volumeId}`, title: a.volumeId }, a.volumeName);
  return h(
    "span",
    { class: "chip", "data-sandbox": a.sandboxId, "data-volume": a.volumeId },
    who,
    h("span", { class: `mode ${a.accessMode}`, title: a.accessMode === "rw" ? "read-write" : "read-only" }, a.accessMode),
    h("span", { class: "mono path", title: `mounted at ${a.mountPath}` }, a.mountPath),
    h(
      "button",
      {
        type: "button",
        class: "x",
        "data-action": `detach-${a.sandboxId}-${a.volumeId}`,
        title: "Detach",
        "aria-label": `Detach ${a.volumeName} from ${a.sandboxId}`,
        onclick: () => detach(a),
      },
      "×",
    ),
  );
}

export function labelChips(labels: Record<string, string>): HTMLElement[] {
  return Object.entries(labels).map(([k, v]) => h("span", { class: "chip label" }, v === "" ? k : `${k}=${v}`));
}

export function badge(text: string, kind: string, title?: string): HTMLElement {
  return h("span", { class: `badge ${kind}`, title }, text);
}

/**
 * The sandbox's egress policy, when the daemon reports one (`allowNet`): an array is the allow
 * list ([] = no egress at all); null or absent means unrestricted.
 */
export function networkPolicy(s: SandboxInfo): HTMLElement {
  const allow = (s as SandboxInfo & { allowNet?: unknown }).allowNet;
  if (!Array.isArray(allow)) return badge("unrestricted", "neutral", "No allowNet list: egress is not restricted");
  if (allow.length === 0) return badge("no egress", "ok", "allowNet: [] — no outbound connections");
  return h("span", { class: "allow" }, ...allow.map((rule) => h("span", { class: "chip mono" }, String(rule))));
}

export function stateBadge(s: SandboxInfo): HTMLElement {
  if (s.state === "running") return badge("running", "ok");
  if (s.state === "starting") return badge("starting", "info");
  return badge(`stopped${s.stopReason ? ` · ${s.stopReason}` : ""}`, "neutral");
}
