/** #/sandboxes/ID: one sandbox's facts, volumes, network policy, and its live command log. */
import type { CommandLogEntry } from "atoll/contract";
import type { DashboardSandbox } from "../snapshot-types.js";
import { killSandbox } from "./actions.js";
import { bytes, duration, fill, h, when } from "./dom.js";
import { ageCell, cpuCell, memoryCell, timeLeftCell } from "./sandbox-cells.js";
import type { View } from "./view.js";
import { attachmentChip, badge, labelChips, networkPolicy, stateBadge } from "./widgets.js";

/** The outcome of a command as a badge: exit 0, exit N, a signal, OOM, running, or did not start. */
export function outcome(c: CommandLogEntry, sandboxRunning: boolean): HTMLElement {
  if (c.oom) return badge(`OOM${c.signal ? ` · ${c.signal}` : ""}`, "danger", "Killed by the sandbox's memory limit");
  if (c.signal) return badge(c.signal, "danger", "Ended by a signal");
  if (c.exitCode === 0) return badge("exit 0", "ok");
  if (c.exitCode !== null) return badge(`exit ${c.exitCode}`, "danger");
  if (c.durationMs !== null) return badge("did not start", "danger", "The command could not be started");
  return sandboxRunning ? badge("running", "info") : badge("no exit seen", "neutral", "The sandbox stopped before the command ended");
}

function facts(s: DashboardSandbox): HTMLElement {
  const row = (label: string, value: Node | string) => [h("dt", {}, label), h("dd", {}, value)];
  return h(
    "dl",
    { class: "facts" },
    ...row("State", stateBadge(s)),
    ...row("Labels", Object.keys(s.labels).length ? h("div", { class: "chips" }, ...labelChips(s.labels)) : "—"),
    ...row("Age", ageCell(s)),
    ...row("Created", when(s.createdAt)),
    ...row("Time left", timeLeftCell(s)),
    ...row("Memory", memoryCell(s)),
    ...row("CPU", cpuCell(s)),
    ...row("Processes", s.usage ? `${s.usage.pids} of ${s.pids}` : `limit ${s.pids}`),
    ...row("Root filesystem", `${bytes(s.rootfsBytes)} writable layer`),
    ...row("Network", networkPolicy(s)),
  );
}

export function sandboxDetailView(id: string): View {
  const header = h("div", { class: "title-row" });
  const factsBox = h("div");
  const volumesBox = h("div", { class: "chips" });
  const log = h("tbody");
  const logEmpty = h("p", { class: "muted empty" }, "No command yet.");
  const logTable = h(
    "table",
    { class: "grid log", "data-testid": "command-log" },
    h("thead", {}, h("tr", {}, ...["#", "Started", "Command", "User", "Result", "Duration"].map((t) => h("th", { scope: "col" }, t)))),
    log,
  );

  function render(s: DashboardSandbox | null, commands: CommandLogEntry[]): void {
    if (!s) {
      fill(header, h("h1", {}, "Sandbox not found"));
      fill(factsBox, h("p", { class: "muted" }, `No sandbox ${id}. `, h("a", { href: "#/sandboxes" }, "All sandboxes")));
      return;
    }
    fill(
      header,
      h("h1", { class: "mono" }, s.id),
      s.state !== "stopped" ? h("button", { type: "button", class: "danger", "data-action": "kill", onclick: () => killSandbox(s) }, "Kill") : null,
    );
    fill(factsBox, facts(s));
    fill(volumesBox, ...(s.volumes.length ? s.volumes.map((a) => attachmentChip(a, "volume")) : [h("span", { class: "muted" }, "No volume attached.")]));
    const running = s.state === "running";
    log.replaceChildren(
      ...commands.map((c) =>
        h(
          "tr",
          { "data-seq": c.seq },
          h("td", { "data-label": "#", class: "muted" }, c.seq),
          h("td", { "data-label": "Started", title: when(c.startedAt) }, new Date(c.startedAt).toLocaleTimeString()),
          h("td", { "data-label": "Command", class: "cmd" }, h("code", {}, c.command)),
          h("td", { "data-label": "User" }, c.user),
          h("td", { "data-label": "Result", "data-col": "result" }, outcome(c, running)),
          h("td", { "data-label": "Duration" }, c.durationMs === null ? "…" : duration(c.durationMs)),
        ),
      ),
    );
    logEmpty.hidden = commands.length > 0;
  }

  const el = h(
    "section",
    { class: "page", "data-page": "sandbox" },
    h("p", { class: "crumbs" }, h("a", { href: "#/sandboxes" }, "Sandboxes"), " / "),
    header,
    factsBox,
    h("h2", {}, "Volumes"),
    volumesBox,
    h("h2", {}, "Recent commands ", h("span", { class: "muted small" }, "(newest first, live)")),
    h("div", { class: "scroll" }, logTable),
    logEmpty,
  );
  return {
    el,
    title: id,
    focus: id,
    update(state, what) {
      if (what !== "focus" || !state.focus) return;
      render(state.focus.sandbox, state.focus.commands);
    },
  };
}
