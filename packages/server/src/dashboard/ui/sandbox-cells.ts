/** Cells shared by the sandboxes table and a sandbox's page. */
import type { DashboardSandbox } from "../snapshot-types.js";
import { ago, bar, bytes, h, span, when } from "./dom.js";

export function ageCell(s: DashboardSandbox): HTMLElement {
  return h("span", { title: `created ${when(s.createdAt)}` }, span(Date.now() - Date.parse(s.createdAt)));
}

export function timeLeftCell(s: DashboardSandbox): HTMLElement {
  if (s.state === "stopped")
    return h("span", { class: "muted", title: s.stoppedAt ? `stopped ${when(s.stoppedAt)}` : "" }, s.stoppedAt ? `ended ${ago(s.stoppedAt)}` : "ended");
  if (!s.expiresAt) return h("span", { title: "Lives while the session of the program that created it is open" }, "while connected");
  const left = Date.parse(s.expiresAt) - Date.now();
  return h("span", { title: `timeout ${s.timeout}, ends ${when(s.expiresAt)}`, class: left < 60_000 ? "warn-text" : "" }, span(left));
}

export function memoryCell(s: DashboardSandbox): HTMLElement {
  if (!s.usage) return h("span", { class: "muted" }, `— of ${bytes(s.memoryBytes)}`);
  return h(
    "div",
    { class: "usage", "data-memory-bytes": s.usage.memoryBytes },
    bar(s.usage.memoryBytes, s.memoryBytes, `memory ${bytes(s.usage.memoryBytes)} of ${bytes(s.memoryBytes)}`),
    h("span", { class: "small" }, `${bytes(s.usage.memoryBytes)} of ${bytes(s.memoryBytes)}`),
  );
}

export function cpuCell(s: DashboardSandbox): HTMLElement {
  if (!s.usage) return h("span", { class: "muted" }, "—");
  const pct = s.usage.cpuPercent;
  return h(
    "span",
    { title: `${s.usage.pids} processes · CPU weight ${s.cpuWeight}`, "data-cpu": pct ?? "" },
    pct === null ? "…" : `${pct.toFixed(pct < 10 ? 1 : 0)}%`,
  );
}
