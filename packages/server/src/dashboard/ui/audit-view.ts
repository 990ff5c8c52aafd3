/** #/audit: the audit trail (GET /v1/audit), newest first, as far as this login's token may see it. */
import type { AuditEntry, AuditList } from "atoll/contract";
import { api } from "./api.js";
import { ago, fill, h, when } from "./dom.js";
import { SortableTable, byText } from "./table.js";
import type { View } from "./view.js";

const SHOWN = 500;

export function auditView(): View {
  const table = new SortableTable<AuditEntry>(
    [
      { key: "at", label: "When", compare: byText((e) => e.at), cell: (e) => h("span", { title: when(e.at) }, ago(e.at)) },
      { key: "tenant", label: "Tenant", compare: byText((e) => e.tenant), cell: (e) => e.tenant || h("span", { class: "muted" }, "—") },
      { key: "token", label: "Token", cell: (e) => h("span", { class: "mono" }, e.tokenId || "—") },
      { key: "action", label: "Action", compare: byText((e) => e.action), cell: (e) => h("span", { class: "mono" }, e.action) },
      { key: "target", label: "Target", cell: (e) => h("span", { class: "mono" }, e.target || "—") },
      {
        key: "outcome",
        label: "Outcome",
        compare: byText((e) => e.outcome),
        cell: (e) => h("span", { class: e.outcome === "ok" ? "badge ok" : "badge danger", "data-outcome": e.outcome }, e.outcome),
      },
    ],
    { sortKey: "at", descending: true, rowKey: (e) => String(e.id), testId: "audit-table" },
  );
  const since = h("select", { "aria-label": "Since" }, ...["1h", "24h", "7d", "90d"].map((s) => h("option", { value: s, selected: s === "24h" }, `last ${s}`)));
  const status = h("p", { class: "muted small" });

  async function load(): Promise<void> {
    try {
      const { entries } = await api<AuditList>("GET", `/v1/audit?since=${since.value}&limit=${SHOWN}`);
      table.render(entries);
      fill(
        status,
        entries.length === 0 ? "No state-changing call in this period." : `${entries.length} entries${entries.length === SHOWN ? " (the newest)" : ""}`,
      );
    } catch (err) {
      fill(status, (err as Error).message);
    }
  }
  since.addEventListener("change", () => void load());
  void load();

  const refresh = h("button", { type: "button", class: "small", onclick: () => void load() }, "Refresh");
  const el = h(
    "section",
    { class: "page", "data-page": "audit" },
    h("h1", {}, "Audit"),
    h("p", { class: "muted" }, "Who created, killed, attached, deleted or changed what, and how it ended."),
    h("div", { class: "toolbar" }, since, refresh, status),
    h("div", { class: "scroll" }, table.el),
  );
  return { el, title: "Audit", update: () => undefined };
}
