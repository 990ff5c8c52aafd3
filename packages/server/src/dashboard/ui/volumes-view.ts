/** #/volumes: totals, the table of volumes (sort, filter), create, delete, detach. */
import type { VolumeInfo } from "atoll/contract";
import type { DashboardVolume, Overview } from "../snapshot-types.js";
import { deleteVolume } from "./actions.js";
import { api } from "./api.js";
import { toast } from "./dialogs.js";
import { ago, bar, bytes, fill, h, span, when } from "./dom.js";
import { AtollError } from "./errors.js";
import type { View } from "./view.js";
import { SortableTable, byNumber, byText } from "./table.js";
import { attachmentChip, badge } from "./widgets.js";

/** The usage cell: a bar and "used of capacity · %". */
export function usageCell(v: VolumeInfo): HTMLElement {
  const pct = v.capacityBytes > 0 ? (v.usedBytes / v.capacityBytes) * 100 : 0;
  return h(
    "div",
    { class: "usage", "data-used-bytes": v.usedBytes, "data-capacity-bytes": v.capacityBytes },
    bar(v.usedBytes, v.capacityBytes, `${v.name}: ${bytes(v.usedBytes)} of ${bytes(v.capacityBytes)} used`),
    h("span", { class: "small" }, `${bytes(v.usedBytes)} of ${bytes(v.capacityBytes)} · ${pct < 1 && pct > 0 ? "<1" : Math.round(pct)}%`),
  );
}

/**
 * The files cell: inodes in use of the volume's fixed number, and an "out of inodes" mark when
 * none is left (new files then fail with "No space left on device" though bytes may be free).
 */
export function filesCell(v: VolumeInfo): HTMLElement {
  const out = v.usedInodes >= v.inodeCapacity;
  return h(
    "span",
    { class: "files nowrap", "data-used-inodes": v.usedInodes, "data-inode-capacity": v.inodeCapacity },
    `${v.usedInodes.toLocaleString("en")} of ${v.inodeCapacity.toLocaleString("en")}`,
    out
      ? badge("out of inodes", "danger", "No new file, directory or symlink fits, whatever bytes are free: remove files, or move them to a bigger volume")
      : null,
  );
}

function totalsCards(o: Overview): HTMLElement[] {
  const t = o.totals;
  const card = (label: string, value: string, note: string, testId: string, kind = "") =>
    h(
      "div",
      { class: `card ${kind}`, "data-testid": testId },
      h("div", { class: "label" }, label),
      h("div", { class: "value" }, value),
      h("div", { class: "note" }, note),
    );
  return [
    card(
      "Volumes",
      String(t.volumes),
      t.staleVolumes ? `${t.staleVolumes} stale (idle > ${span(o.staleAfterMs)})` : "none stale",
      "total-volumes",
      t.staleVolumes ? "attention" : "",
    ),
    card("Capacity promised", bytes(t.capacityBytes), `sum of sizes · ${bytes(t.usedBytes)} written`, "total-capacity"),
    card(
      "Host disk free",
      bytes(t.hostFreeBytes),
      t.overcommitBytes > 0 ? "less than the volumes may still fill" : "room for every volume to fill up",
      "total-free",
      t.overcommitBytes > 0 ? "danger" : "ok",
    ),
  ];
}

export function volumesView(): View {
  let filterText = "";
  let staleOnly = false;
  const totals = h("section", { class: "cards", "aria-label": "Totals" });
  const overcommit = h("p", { class: "banner danger", role: "alert", "data-testid": "overcommit", hidden: true });
  const count = h("span", { class: "muted small" });
  const table = new SortableTable<DashboardVolume>(
    [
      {
        key: "name",
        label: "Name",
        compare: byText((v) => v.name),
        cell: (v) => [
          h("a", { href: `#/volumes/${v.id}`, class: "strong nowrap" }, v.name),
          v.stale ? badge("stale", "warn", `Not attached for over ${span(Date.now() - Date.parse(v.idleSince!))}`) : null,
        ],
      },
      { key: "id", label: "ID", cell: (v) => h("span", { class: "mono small" }, v.id) },
      { key: "usage", label: "Usage", class: "wide", compare: byNumber((v) => v.usedBytes / v.capacityBytes), cell: usageCell },
      { key: "files", label: "Files", compare: byNumber((v) => v.usedInodes / v.inodeCapacity), cell: filesCell },
      { key: "size", label: "Size", class: "nowrap", compare: byNumber((v) => v.capacityBytes), cell: (v) => bytes(v.capacityBytes) },
      {
        key: "attachments",
        label: "Attached to",
        compare: byNumber((v) => v.attachments.length),
        cell: (v) =>
          v.attachments.length ? h("div", { class: "chips" }, ...v.attachments.map((a) => attachmentChip(a, "sandbox"))) : h("span", { class: "muted" }, "—"),
      },
      { key: "created", label: "Created", compare: byText((v) => v.createdAt), cell: (v) => h("span", { title: when(v.createdAt) }, ago(v.createdAt)) },
      {
        key: "lastAttached",
        label: "Last attached",
        compare: byText((v) => (v.attachments.length ? "9" : (v.lastAttachedAt ?? ""))),
        cell: (v) =>
          v.attachments.length
            ? badge("now", "ok")
            : v.lastAttachedAt
              ? h("span", { title: when(v.lastAttachedAt) }, ago(v.lastAttachedAt))
              : h("span", { class: "muted" }, "never"),
      },
      {
        key: "actions",
        label: "",
        class: "actions",
        cell: (v) => h("button", { type: "button", class: "danger small", "data-action": "delete", onclick: () => deleteVolume(v) }, "Delete"),
      },
    ],
    { sortKey: "name", rowKey: (v) => v.id, testId: "volumes-table" },
  );
  const empty = h("p", { class: "empty muted", hidden: true });

  const nameInput = h("input", {
    name: "name",
    required: true,
    placeholder: "agent-cache",
    pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*",
    maxlength: 63,
    "aria-label": "Name",
  });
  const sizeInput = h("input", { name: "sizeGb", type: "number", required: true, min: 0.0625, max: 1024, step: "any", value: 1, "aria-label": "Size in GiB" });
  const formError = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "create", hidden: true, "aria-label": "New volume" },
    h("label", {}, "Name ", nameInput),
    h("label", {}, "Size (GiB) ", sizeInput),
    h("button", { type: "submit", class: "primary" }, "Create"),
    h("button", { type: "button", class: "secondary", onclick: () => (form.hidden = true) }, "Cancel"),
    formError,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    formError.hidden = true;
    const submit = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
    submit.disabled = true;
    api<VolumeInfo>("POST", "/v1/volumes", { name: nameInput.value.trim(), sizeGb: Number(sizeInput.value) })
      .then((v) => {
        form.hidden = true;
        form.reset();
        toast(`Volume ${v.name} created`);
      })
      .catch((err: unknown) => {
        formError.textContent = err instanceof AtollError ? err.message : String(err);
        formError.hidden = false;
      })
      .finally(() => (submit.disabled = false));
  });

  const filterInput = h("input", { type: "search", placeholder: "Filter: name, id, sandbox", "aria-label": "Filter volumes" });
  filterInput.addEventListener("input", () => {
    filterText = filterInput.value.trim().toLowerCase();
    render(last);
  });
  const staleBox = h("input", { type: "checkbox" });
  staleBox.addEventListener("change", () => {
    staleOnly = staleBox.checked;
    render(last);
  });
  const toolbar = h(
    "div",
    { class: "toolbar" },
    filterInput,
    h("label", { class: "check" }, staleBox, " stale only"),
    table.sortSelect(),
    count,
    h(
      "button",
      {
        type: "button",
        class: "primary",
        "data-action": "new-volume",
        onclick: () => {
          form.hidden = false;
          nameInput.focus();
        },
      },
      "New volume",
    ),
  );

  let last: Overview | undefined;
  function render(o: Overview | undefined): void {
    if (!o) return;
    fill(totals, ...totalsCards(o));
    const t = o.totals;
    overcommit.hidden = t.overcommitBytes <= 0;
    overcommit.textContent =
      t.overcommitBytes > 0
        ? `Overcommitted: volumes made by an earlier version are not allocated in full yet and may still take ${bytes(t.overcommitBytes + t.hostFreeBytes)}, but the host has only ${bytes(t.hostFreeBytes)} free (${bytes(t.overcommitBytes)} short). Their writes will fail once the disk fills; free disk space (the daemon allocates them at its next start) or delete stale volumes.`
        : "";
    const rows = o.volumes.filter(
      (v) =>
        (!staleOnly || v.stale) &&
        (!filterText || v.name.toLowerCase().includes(filterText) || v.id.includes(filterText) || v.attachments.some((a) => a.sandboxId.includes(filterText))),
    );
    table.render(rows);
    count.textContent = rows.length === o.volumes.length ? `${rows.length} volume${rows.length === 1 ? "" : "s"}` : `${rows.length} of ${o.volumes.length}`;
    empty.hidden = rows.length > 0;
    empty.textContent = o.volumes.length === 0 ? "No volumes yet. Create one here or with Sandbox.createVolume()." : "No volume matches the filter.";
  }

  const el = h(
    "section",
    { class: "page", "data-page": "volumes" },
    h("h1", {}, "Volumes"),
    totals,
    overcommit,
    toolbar,
    form,
    h("div", { class: "scroll" }, table.el),
    empty,
  );
  return {
    el,
    title: "Volumes",
    update(s, what) {
      if (what !== "overview") return;
      last = s.overview;
      render(last);
    },
  };
}
