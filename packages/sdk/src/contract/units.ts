/** Parsing of human-friendly sizes and durations, shared by the SDK, the CLI and the daemon. */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i;

/**
 * Bytes from a number of bytes or a string like "512MiB", "1GiB", "2GB", "1048576".
 * Returns an error message instead of throwing, so callers can wrap it in their own error.
 *
 * @example parseSize("1GiB") // { ok: true, value: 1073741824 }
 */
export function parseSize(input: unknown): { ok: true; value: number } | { ok: false; error: string } {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input <= 0) return { ok: false, error: `${input} is not a positive whole number of bytes` };
    return { ok: true, value: input };
  }
  if (typeof input !== "string") return { ok: false, error: `expected bytes (a number) or a string like "512MiB", got ${typeof input}` };
  const m = SIZE_RE.exec(input);
  const unit = (m?.[2] ?? "b").toLowerCase();
  const factor = SIZE_UNITS[unit];
  if (!m || factor === undefined) {
    return { ok: false, error: `"${input}" is not a size; use bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. "512MiB")` };
  }
  const value = Math.round(Number(m[1]) * factor);
  if (value <= 0) return { ok: false, error: `"${input}" must be larger than zero` };
  return { ok: true, value };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d))+$/;

/**
 * Milliseconds from a duration like "90s", "5m", "1h30m", "500ms", or a number of milliseconds.
 *
 * @example parseDuration("1m30s") // { ok: true, value: 90000 }
 */
export function parseDuration(input: unknown): { ok: true; value: number } | { ok: false; error: string } {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input <= 0) return { ok: false, error: `${input} is not a positive whole number of milliseconds` };
    return { ok: true, value: input };
  }
  if (typeof input !== "string" || !DURATION_RE.test(input.trim())) {
    return { ok: false, error: `${JSON.stringify(input)} is not a duration; use e.g. "90s", "5m", "1h30m" or milliseconds as a number` };
  }
  let total = 0;
  for (const [, n, unit] of input.trim().matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(n) * (DURATION_UNITS[unit!] ?? 0);
  if (total <= 0) return { ok: false, error: `"${input}" must be longer than zero` };
  return { ok: true, value: total };
}

/** "1.5 GiB" style rendering for messages and the CLI. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
