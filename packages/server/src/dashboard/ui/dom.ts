/** Small DOM and formatting helpers for the dashboard (no framework). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/**
 * Creates an element: `h("a", { href: "#/x", class: "link" }, "text")`. Attributes named `on…`
 * with a function become listeners; `false`/`null`/`undefined` attributes and children are
 * skipped. Text is always set as text, never parsed as HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** An SVG element with attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: SVGElement[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(c);
  return el;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** "1.50 GiB". */
export function bytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
  const d = Math.floor(hrs / 24);
  return hrs % 24 ? `${d} d ${hrs % 24} h` : `${d} d`;
}

/** "3 min ago" / "in 3 min", relative to now. */
export function ago(iso: string, now = Date.now()): string {
  const diff = now - Date.parse(iso);
  return diff >= 0 ? `${span(diff)} ago` : `in ${span(-diff)}`;
}

/** Local date and time, for tooltips. */
export function when(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** "12 ms", "1.4 s", "2 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return span(ms);
}

/** "sbx_abcd…wxyz" for narrow places (the full id goes in the title). */
export function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 10)}…` : id;
}

/** A usage bar: `used` of `total`, with a class for high fill. */
export function bar(used: number, total: number, label: string): HTMLElement {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const fill = h("span", { class: "fill" });
  fill.style.width = `${pct.toFixed(2)}%`;
  return h(
    "div",
    {
      class: `bar${pct >= 90 ? " crit" : pct >= 75 ? " warn" : ""}`,
      role: "meter",
      "aria-valuemin": 0,
      "aria-valuemax": total,
      "aria-valuenow": used,
      "aria-label": label,
    },
    fill,
  );
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}
