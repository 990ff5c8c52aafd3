/**
 * Signal names and numbers as Linux has them (node:os constants), for requests that name a
 * signal ("SIGTERM", "TERM", 15) and for reporting how a process ended ("SIGKILL").
 *
 * @example signalNumberOf("TERM") // 15
 */
import { constants } from "node:os";

const names = new Map<number, string>(Object.entries(constants.signals).map(([name, num]) => [num, name]));

/** The number of a signal given by name ("SIGTERM"/"TERM", any case) or number (1–64); undefined when unknown. */
export function signalNumberOf(signal: string | number): number | undefined {
  if (typeof signal === "number") return Number.isInteger(signal) && signal >= 1 && signal <= 64 ? signal : undefined;
  const name = (signal.startsWith("SIG") ? signal : `SIG${signal}`).toUpperCase();
  return (constants.signals as Record<string, number | undefined>)[name];
}

/** Like signalNumberOf, but an unknown signal throws a RangeError. */
export function signalNumber(signal: string | number): number {
  const num = signalNumberOf(signal);
  if (num === undefined) throw new RangeError(`unknown signal ${signal}`);
  return num;
}

/** "SIGKILL" for 9; "SIG<n>" for numbers without a name. */
export function signalName(signal: number): string {
  return names.get(signal) ?? `SIG${signal}`;
}
