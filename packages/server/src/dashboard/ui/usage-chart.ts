/** The usage-over-time chart of a volume: an SVG step line of used bytes, drawn from the samples. */
import type { VolumeUsageSample } from "atoll/contract";
import { bytes, svg } from "./dom.js";

const PAD = { left: 70, right: 12, top: 12, bottom: 26 };

/** A round upper bound for the y axis: 1, 2 or 5 × a power of 1024-ish steps of bytes. */
export function niceMax(v: number): number {
  const floor = 2 ** 20;
  if (v <= floor) return floor;
  const p = 2 ** Math.floor(Math.log2(v));
  for (const m of [1, 1.25, 1.5, 2]) if (p * m >= v) return p * m;
  return p * 2;
}

function timeLabel(t: number, spanMs: number): string {
  const d = new Date(t);
  return spanMs > 86_400_000
    ? `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/**
 * Draws `samples` (oldest first) between `from` and `to` (ms since epoch) into an SVG of the
 * given width. Values are steps: a sample holds until the next one.
 */
export function usageChart(
  samples: readonly VolumeUsageSample[],
  opts: { from: number; to: number; capacityBytes: number; width: number; height: number },
): SVGSVGElement {
  const { width, height } = opts;
  const pts = samples.map((s) => ({ t: Date.parse(s.at), v: s.usedBytes })).filter((p) => p.t <= opts.to);
  const firstT = pts.find((p) => p.t >= opts.from)?.t ?? opts.from;
  const from = Math.max(opts.from, Math.min(firstT, opts.to - 60_000));
  const to = Math.max(opts.to, from + 60_000);
  const yMax = niceMax(Math.max(...pts.map((p) => p.v), 1) * 1.15);
  const x = (t: number) => PAD.left + ((Math.max(t, from) - from) / (to - from)) * (width - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - Math.min(v, yMax) / yMax) * (height - PAD.top - PAD.bottom);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "aria-label": "Used bytes over time" });

  for (const f of [0, 0.5, 1]) {
    root.appendChild(svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y(yMax * f), y2: y(yMax * f), class: "grid-line" }));
    const label = svg("text", { x: PAD.left - 6, y: y(yMax * f) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = bytes(yMax * f);
    root.appendChild(label);
  }
  if (opts.capacityBytes <= yMax) {
    root.appendChild(svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y(opts.capacityBytes), y2: y(opts.capacityBytes), class: "capacity-line" }));
  }
  for (const [t, anchor] of [
    [from, "start"],
    [to, "end"],
  ] as const) {
    const label = svg("text", { x: x(t), y: height - 8, class: "axis", "text-anchor": anchor });
    label.textContent = timeLabel(t, to - from);
    root.appendChild(label);
  }

  // Samples before `from` set the starting level.
  const before = [...pts].reverse().find((p) => p.t < from);
  const visible = pts.filter((p) => p.t >= from);
  const start = before ?? visible[0];
  if (!start) return root;
  let d = `M ${x(from).toFixed(1)} ${y(start.v).toFixed(1)}`;
  for (const p of visible) d += ` H ${x(p.t).toFixed(1)} V ${y(p.v).toFixed(1)}`;
  d += ` H ${x(to).toFixed(1)}`;
  const base = y(0).toFixed(1);
  root.appendChild(svg("path", { d: `${d} V ${base} H ${x(from).toFixed(1)} Z`, class: "area" }));
  root.appendChild(svg("path", { d, class: "line" }));
  const lastP = visible[visible.length - 1] ?? start;
  const dot = svg("circle", { cx: x(to), cy: y(lastP.v), r: 3.5, class: "dot" });
  const title = svg("title");
  title.textContent = `${bytes(lastP.v)} now`;
  dot.appendChild(title);
  root.appendChild(dot);
  return root;
}
