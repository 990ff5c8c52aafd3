/**
 * The dashboard's entry point: routes on the URL hash, keeps one server-sent-events connection
 * (`/ui/events`, plus `?sandbox=ID` on a sandbox's page) and hands every event to the open view.
 * No page reloads: views re-render their parts in place.
 */
import type { Overview, SandboxFocus } from "../snapshot-types.js";
import { auditView } from "./audit-view.js";
import { sandboxDetailView } from "./sandbox-detail-view.js";
import { sandboxesView } from "./sandboxes-view.js";
import { snapshotsView } from "./snapshots-view.js";
import { publish, state, subscribe } from "./state.js";
import type { View } from "./view.js";
import { volumeDetailView } from "./volume-detail-view.js";
import { volumesView } from "./volumes-view.js";

let current: View | undefined;
let source: EventSource | undefined;
let sourceFocus: string | undefined;
let retry: number | undefined;

function route(): View {
  const [page, raw] = window.location.hash.replace(/^#\/?/, "").split("/");
  const id = raw ? decodeURIComponent(raw) : undefined;
  if (page === "sandboxes") return id ? sandboxDetailView(id) : sandboxesView();
  if (page === "volumes" && id) return volumeDetailView(id);
  if (page === "audit") return auditView();
  if (page === "snapshots") return snapshotsView();
  return volumesView();
}

function show(): void {
  current?.dispose?.();
  current = route();
  document.getElementById("view")!.replaceChildren(current.el);
  document.title = `${current.title} · Atoll`;
  const section = ["sandboxes", "snapshots", "audit"].find((p) => window.location.hash.startsWith(`#/${p}`)) ?? "volumes";
  document.querySelectorAll<HTMLAnchorElement>("[data-nav]").forEach((a) => {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  connect(current.focus);
  if (state.overview) current.update(state, "overview");
  if (state.focus && state.focus.sandbox?.id === current.focus) current.update(state, "focus");
}

function setLive(text: string, ok: boolean): void {
  const el = document.getElementById("live");
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("on", ok);
}

/** One EventSource for the page; reopened when the followed sandbox changes. */
function connect(focus: string | undefined): void {
  if (source && source.readyState !== EventSource.CLOSED && sourceFocus === focus) return;
  source?.close();
  window.clearTimeout(retry);
  if (focus !== sourceFocus) state.focus = undefined;
  sourceFocus = focus;
  const es = new EventSource(focus ? `/ui/events?sandbox=${encodeURIComponent(focus)}` : "/ui/events");
  source = es;
  es.addEventListener("overview", (ev) => {
    state.overview = JSON.parse((ev as MessageEvent<string>).data) as Overview;
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
    publish("overview");
  });
  es.addEventListener("focus", (ev) => {
    state.focus = JSON.parse((ev as MessageEvent<string>).data) as SandboxFocus;
    publish("focus");
  });
  es.addEventListener("samples", () => {
    state.samplesVersion++;
    publish("samples");
  });
  es.addEventListener("open", () => setLive("live", true));
  es.addEventListener("error", () => {
    setLive("reconnecting…", false);
    // The browser retries by itself unless the daemon refused the stream (e.g. the session expired).
    if (es.readyState === EventSource.CLOSED) {
      void fetch("/v1/volumes", { credentials: "same-origin" })
        .then((r) => {
          if (r.status === 401) window.location.assign("/login");
        })
        .catch(() => undefined);
      retry = window.setTimeout(() => source === es && connect(sourceFocus), 3000);
    }
  });
}

subscribe((s, what) => current?.update(s, what));
window.addEventListener("hashchange", show);
// Relative times ("3 min ago") move on even when nothing else changes.
window.setInterval(() => state.overview && publish("overview"), 15_000);
show();
