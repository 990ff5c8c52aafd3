/** #/volumes/ID: one volume's usage, its usage chart over time, attachments, snapshots, delete. */
import type { VolumeUsageHistory } from "atoll/contract";
import type { DashboardVolume } from "../snapshot-types.js";
import { deleteVolume } from "./actions.js";
import { takeSnapshot } from "./snapshot-actions.js";
import { snapshotsTable } from "./snapshots-view.js";
import { api, seg } from "./api.js";
import { ago, fill, h, span, when } from "./dom.js";
import { usageChart } from "./usage-chart.js";
import type { View } from "./view.js";
import { filesCell, usageCell } from "./volumes-view.js";
import { attachmentChip, badge } from "./widgets.js";

const RANGES: [string, number][] = [
  ["1h", 3_600_000],
  ["24h", 86_400_000],
  ["7d", 7 * 86_400_000],
  ["30d", 30 * 86_400_000],
];

export function volumeDetailView(id: string): View {
  let range = RANGES[1]!;
  let history: VolumeUsageHistory | undefined;
  let volume: DashboardVolume | undefined;
  let seen = false;
  const header = h("div", { class: "title-row" });
  const factsBox = h("div");
  const chartBox = h("div", { class: "chart-box", "data-testid": "usage-chart" });
  const attachBox = h("div", { class: "chips" });
  const snapTable = snapshotsTable("volume-snapshots-table");
  const snapEmpty = h("p", { class: "muted", hidden: true }, "No snapshots of this volume.");
  const snapButton = h(
    "button",
    { type: "button", class: "primary", "data-action": "take-snapshot", disabled: true, onclick: () => volume && takeSnapshot(volume) },
    "Take snapshot",
  );
  const rangeButtons = RANGES.map(([label, ms]) => {
    const b = h("button", { type: "button", class: "secondary small", "aria-pressed": label === range[0] ? "true" : "false" }, label);
    b.addEventListener("click", () => {
      range = [label, ms];
      for (const other of rangeButtons) other.setAttribute("aria-pressed", String(other === b));
      void load();
    });
    return b;
  });

  async function load(): Promise<void> {
    try {
      history = await api<VolumeUsageHistory>("GET", `/v1/volumes/${seg(id)}/usage?since=${range[0]}`);
      drawChart();
    } catch {
      /* deleted meanwhile: the overview says so */
    }
  }

  function drawChart(): void {
    if (!history) return;
    const samples = [...history.samples];
    // The live figure from the event stream replaces the fetched one at the end.
    if (volume && samples.length) samples[samples.length - 1] = { at: new Date().toISOString(), usedBytes: volume.usedBytes };
    const width = Math.max(280, Math.min(chartBox.clientWidth || 640, 1100));
    const now = Date.now();
    fill(chartBox, usageChart(samples, { from: now - range[1], to: now, capacityBytes: history.capacityBytes, width, height: width < 500 ? 180 : 240 }));
    chartBox.dataset.samples = String(history.samples.length);
  }

  function render(v: DashboardVolume | undefined): void {
    volume = v;
    if (!v) {
      fill(header, h("h1", {}, seen ? "Volume deleted" : "Volume not found"));
      fill(factsBox, h("p", { class: "muted" }, `No volume ${id}. `, h("a", { href: "#/volumes" }, "All volumes")));
      fill(chartBox);
      fill(attachBox);
      return;
    }
    seen = true;
    fill(
      header,
      h("h1", {}, v.name),
      v.stale ? badge("stale", "warn") : null,
      h("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => deleteVolume(v) }, "Delete"),
    );
    const row = (label: string, value: Node | string) => [h("dt", {}, label), h("dd", {}, value)];
    fill(
      factsBox,
      h(
        "dl",
        { class: "facts" },
        ...row("ID", h("span", { class: "mono" }, v.id)),
        ...row("Usage", usageCell(v)),
        ...row("Files", filesCell(v)),
        ...row("Size", `${v.sizeGb} GiB · ${v.capacityBytes.toLocaleString("en")} bytes`),
        ...row("Created", h("span", { title: when(v.createdAt) }, ago(v.createdAt))),
        ...row(
          "Last attached",
          v.attachments.length ? "attached now" : v.lastAttachedAt ? h("span", { title: when(v.lastAttachedAt) }, ago(v.lastAttachedAt)) : "never",
        ),
        ...row("Idle for", v.idleSince ? span(Date.now() - Date.parse(v.idleSince)) : "—"),
      ),
    );
    fill(attachBox, ...(v.attachments.length ? v.attachments.map((a) => attachmentChip(a, "sandbox")) : [h("span", { class: "muted" }, "Not attached.")]));
    drawChart();
  }

  const onResize = () => drawChart();
  window.addEventListener("resize", onResize);
  void load();
  const el = h(
    "section",
    { class: "page", "data-page": "volume" },
    h("p", { class: "crumbs" }, h("a", { href: "#/volumes" }, "Volumes"), " / "),
    header,
    factsBox,
    h("div", { class: "title-row" }, h("h2", {}, "Usage over time"), h("div", { class: "range", role: "group", "aria-label": "Time range" }, ...rangeButtons)),
    chartBox,
    h("h2", {}, "Attached to"),
    attachBox,
    h("div", { class: "title-row" }, h("h2", {}, "Snapshots"), snapButton),
    h("div", { class: "scroll" }, snapTable.el),
    snapEmpty,
  );
  return {
    el,
    title: id,
    update(state, what) {
      if (what === "samples") return void load();
      if (what !== "overview" || !state.overview) return;
      const v = state.overview.volumes.find((v) => v.id === id || v.name === id);
      render(v);
      snapButton.disabled = !v;
      // A deleted volume's snapshots stay listed here: they keep its data.
      const snaps = state.overview.snapshots.filter((s) => s.volumeId === (v?.id ?? id));
      snapTable.render(snaps);
      snapEmpty.hidden = snaps.length > 0;
    },
    dispose: () => window.removeEventListener("resize", onResize),
  };
}
