/** #/snapshots: the tenant's volume snapshots (sortable), fork and delete; also the table on a volume's page. */
import type { DashboardSnapshot } from "../snapshot-types.js";
import { ago, bytes, h, when } from "./dom.js";
import { deleteSnapshot, forkSnapshot } from "./snapshot-actions.js";
import { SortableTable, byNumber, byText } from "./table.js";
import type { View } from "./view.js";
import { badge } from "./widgets.js";

/** The source volume: a link, or its name struck out with "deleted" (snapshots outlive their volume). */
function sourceCell(s: DashboardSnapshot): HTMLElement {
  return s.sourceDeleted
    ? h(
        "span",
        { class: "nowrap", title: s.volumeId },
        h("s", {}, s.volumeName),
        " ",
        badge("deleted", "warn", "The volume was deleted; the snapshot keeps its data"),
      )
    : h("a", { href: `#/volumes/${s.volumeId}`, title: s.volumeId }, s.volumeName);
}

/** A sortable table of snapshots with Fork and Delete per row. */
export function snapshotsTable(testId: string): SortableTable<DashboardSnapshot> {
  return new SortableTable<DashboardSnapshot>(
    [
      {
        key: "name",
        label: "Name",
        compare: byText((s) => s.name),
        cell: (s) => [
          h("span", { class: "strong nowrap", title: s.id }, s.name),
          s.bootable ? badge("bootable", "ok", "A sandbox can boot from it (root:)") : null,
        ],
      },
      { key: "source", label: "Source volume", compare: byText((s) => s.volumeName), cell: sourceCell },
      {
        key: "size",
        label: "Size",
        class: "nowrap",
        compare: byNumber((s) => s.allocatedBytes),
        cell: (s) =>
          h(
            "span",
            {
              "data-allocated-bytes": s.allocatedBytes,
              title: `Only this snapshot holds ${bytes(s.allocatedBytes)} (what deleting it frees) of a ${s.sizeGb} GiB volume`,
            },
            `${bytes(s.allocatedBytes)} of ${s.sizeGb} GiB`,
          ),
      },
      { key: "age", label: "Age", compare: byText((s) => s.createdAt), cell: (s) => h("span", { title: when(s.createdAt) }, ago(s.createdAt)) },
      {
        key: "actions",
        label: "",
        class: "actions",
        cell: (s) => [
          h("button", { type: "button", class: "secondary small", "data-action": "fork", onclick: () => forkSnapshot(s) }, "Fork"),
          " ",
          h("button", { type: "button", class: "danger small", "data-action": "delete", onclick: () => deleteSnapshot(s) }, "Delete"),
        ],
      },
    ],
    { sortKey: "age", descending: true, rowKey: (s) => s.id, testId },
  );
}

export function snapshotsView(): View {
  const table = snapshotsTable("snapshots-table");
  const count = h("span", { class: "muted small" });
  const empty = h("p", { class: "empty muted", hidden: true }, "No snapshots yet. Take one on a volume's page or with volume.snapshot().");
  const el = h(
    "section",
    { class: "page", "data-page": "snapshots" },
    h("h1", {}, "Snapshots"),
    h("div", { class: "toolbar" }, table.sortSelect(), count),
    h("div", { class: "scroll" }, table.el),
    empty,
  );
  return {
    el,
    title: "Snapshots",
    update(s, what) {
      if (what !== "overview" || !s.overview) return;
      const rows = s.overview.snapshots;
      table.render(rows);
      count.textContent = `${rows.length} snapshot${rows.length === 1 ? "" : "s"}`;
      empty.hidden = rows.length > 0;
    },
  };
}
