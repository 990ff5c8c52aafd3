/** #/sandboxes: running sandboxes with live memory and CPU, their volumes and network policy; kill. */
import type { SandboxInfo, SandboxList } from "atoll/contract";
import type { DashboardSandbox } from "../snapshot-types.js";
import { killSandbox } from "./actions.js";
import { api } from "./api.js";
import { fill, h, shortId } from "./dom.js";
import { ageCell, cpuCell, memoryCell, timeLeftCell } from "./sandbox-cells.js";
import type { DashboardState } from "./state.js";
import { SortableTable, byNumber, byText } from "./table.js";
import type { View } from "./view.js";
import { attachmentChip, labelChips, networkPolicy, stateBadge } from "./widgets.js";

const STOPPED_SHOWN = 50;

export function sandboxesView(): View {
  let filterText = "";
  let showStopped = false;
  let stopped: DashboardSandbox[] = [];
  let stoppedKey = "";
  let last: DashboardState | undefined;

  const table = new SortableTable<DashboardSandbox>(
    [
      {
        key: "id",
        label: "ID",
        compare: byText((s) => s.id),
        cell: (s) => h("a", { href: `#/sandboxes/${s.id}`, class: "mono strong", title: s.id }, shortId(s.id)),
      },
      {
        key: "labels",
        label: "Labels",
        cell: (s) => (Object.keys(s.labels).length ? h("div", { class: "chips" }, ...labelChips(s.labels)) : h("span", { class: "muted" }, "—")),
      },
      { key: "state", label: "State", compare: byText((s) => s.state), cell: stateBadge },
      { key: "age", label: "Age", compare: byText((s) => s.createdAt), cell: ageCell },
      { key: "left", label: "Time left", compare: byText((s) => s.expiresAt ?? "~"), cell: timeLeftCell },
      { key: "memory", label: "Memory", class: "wide", compare: byNumber((s) => s.usage?.memoryBytes ?? -1), cell: memoryCell },
      { key: "cpu", label: "CPU", compare: byNumber((s) => s.usage?.cpuPercent ?? -1), cell: cpuCell },
      {
        key: "volumes",
        label: "Volumes",
        cell: (s) =>
          s.volumes.length ? h("div", { class: "chips" }, ...s.volumes.map((a) => attachmentChip(a, "volume"))) : h("span", { class: "muted" }, "—"),
      },
      { key: "network", label: "Network", cell: networkPolicy },
      {
        key: "actions",
        label: "",
        class: "actions",
        cell: (s) =>
          s.state === "stopped" ? null : h("button", { type: "button", class: "danger small", "data-action": "kill", onclick: () => killSandbox(s) }, "Kill"),
      },
    ],
    { sortKey: "age", descending: true, rowKey: (s) => s.id, testId: "sandboxes-table" },
  );
  const count = h("span", { class: "muted small" });
  const empty = h("p", { class: "empty muted", hidden: true });
  const filterInput = h("input", { type: "search", placeholder: "Filter: id, label", "aria-label": "Filter sandboxes" });
  filterInput.addEventListener("input", () => {
    filterText = filterInput.value.trim().toLowerCase();
    render();
  });
  const stoppedBox = h("input", { type: "checkbox" });
  stoppedBox.addEventListener("change", () => {
    showStopped = stoppedBox.checked;
    stoppedKey = "";
    render();
  });
  const summary = h("p", { class: "muted" });

  /** Stopped sandboxes are not in the live overview: fetched when shown, again when the running set changes. */
  async function refreshStopped(key: string): Promise<void> {
    stoppedKey = key;
    const { sandboxes } = await api<SandboxList>("GET", "/v1/sandboxes?state=stopped");
    stopped = sandboxes.slice(0, STOPPED_SHOWN).map((s: SandboxInfo) => ({ ...s, usage: null }));
    render();
  }

  function render(): void {
    const o = last?.overview;
    if (!o) return;
    const key = o.sandboxes.map((s) => s.id).join(",");
    if (showStopped && key !== stoppedKey) void refreshStopped(key).catch(() => undefined);
    const all = showStopped ? [...o.sandboxes, ...stopped.filter((s) => !o.sandboxes.some((r) => r.id === s.id))] : o.sandboxes;
    const rows = all.filter(
      (s) => !filterText || s.id.includes(filterText) || Object.entries(s.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(filterText)),
    );
    table.render(rows);
    count.textContent = `${rows.length} shown`;
    fill(summary, `${o.totals.sandboxesRunning} running`);
    empty.hidden = rows.length > 0;
    empty.textContent = all.length === 0 ? "No sandbox is running. Create one with Sandbox.create()." : "No sandbox matches the filter.";
  }

  const toolbar = h("div", { class: "toolbar" }, filterInput, h("label", { class: "check" }, stoppedBox, " show stopped"), table.sortSelect(), count);
  const el = h(
    "section",
    { class: "page", "data-page": "sandboxes" },
    h("h1", {}, "Sandboxes"),
    summary,
    toolbar,
    h("div", { class: "scroll" }, table.el),
    empty,
  );
  return {
    el,
    title: "Sandboxes",
    update(s, what) {
      if (what !== "overview") return;
      last = s;
      render();
    },
  };
}
