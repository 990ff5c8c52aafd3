/** Plain-text tables and relative times for the CLI's `ls` commands. */

/**
 * Left-aligned columns separated by two spaces, header first.
 *
 * @example formatTable(["NAME", "ID"], [["cache", "vol_1"]])
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/**
 * "5s ago", "3m ago", "2h ago", "4d ago" (or "in 3m" for future times); "never" for null.
 *
 * @example timeAgo(new Date(Date.now() - 90_000).toISOString()) === "1m ago"
 */
export function timeAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const abs = Math.abs(ms);
  const text =
    abs < 60_000
      ? `${Math.floor(abs / 1000)}s`
      : abs < 3_600_000
        ? `${Math.floor(abs / 60_000)}m`
        : abs < 86_400_000
          ? `${Math.floor(abs / 3_600_000)}h`
          : `${Math.floor(abs / 86_400_000)}d`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}
