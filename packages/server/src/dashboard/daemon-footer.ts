import type { DaemonInfo } from "../core/daemon-runs.js";
import { escapeHtml } from "./pages.js";

const UNITS: readonly (readonly [string, number])[] = [
  ["d", 86_400],
  ["h", 3_600],
  ["m", 60],
  ["s", 1],
];

/** "3d 4h", "2h", "7m 5s", "40s": the largest unit of a duration and the next one (when not 0). */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const i = UNITS.findIndex(([, size]) => s >= size);
  if (i < 0) return "0s";
  const [unit, size] = UNITS[i]!;
  const head = `${Math.floor(s / size)}${unit}`;
  const next = UNITS[i + 1];
  const rest = next ? Math.floor((s % size) / next[1]) : 0;
  return rest > 0 ? `${head} ${rest}${next![0]}` : head;
}

const time = (iso: string) => `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.replace("T", " ").replace(/\.\d+Z$/, " UTC"))}</time>`;

/**
 * The dashboard footer's daemon line (HTML): uptime, and how the last restart went — after a
 * clean stop, or after a crash (then the previous run's last heartbeat stands for its end).
 *
 * @example daemonFooter(daemon.info()) // "up 2h 5m (since …) · last restart …, after a clean stop (atoll 0.1.0)"
 */
export function daemonFooter(info: DaemonInfo): string {
  const up = `<span data-daemon="uptime">up ${formatUptime(info.uptimeSeconds)} (since ${time(info.startedAt)})</span>`;
  const prev = info.previousRun;
  if (!prev) return `${up} · <span data-daemon="restart">first run on this state directory</span>`;
  const how = prev.clean ? `after a clean stop at ${time(prev.endedAt)}` : `after a crash (last seen ${time(prev.endedAt)})`;
  return `${up} · <span data-daemon="restart">last restart ${time(info.startedAt)}, ${how}; previous run: atoll ${escapeHtml(prev.version)}</span>`;
}
