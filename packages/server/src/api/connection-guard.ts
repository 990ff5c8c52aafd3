/**
 * Per-client caps of a listener (docs/api.md "Limits"): at most `perAddress` open connections
 * from one remote address (IPv6 counted per /64, which one client usually holds whole); more are
 * closed at once, before a byte is read. Counts live in memory and drop as connections close.
 */
import type { Server } from "node:http";
import { isIPv6, type Socket } from "node:net";

/** The key a remote address is counted under: IPv4 as is, IPv6 by its first 64 bits. */
export function clientKey(address: string | undefined): string {
  if (!address) return "?";
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped) return v4mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("%")[0]!.split("::", 2) as [string, string?];
  const left = head === "" ? [] : head.split(":");
  const right = address.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = address.includes("::") ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * Caps open connections per client on `server`; returns how many each client has (for tests
 * and /metrics). `onRefused` hears about refused connections (log at debug: a flood must not
 * flood the log).
 *
 * @example guardConnections(server, 256, (key) => logger.debug({ key }, "connection refused"));
 */
export function guardConnections(server: Server, perAddress: number, onRefused?: (key: string) => void): Map<string, number> {
  const open = new Map<string, number>();
  // Prepended: runs before the HTTP parser is attached to the socket.
  server.prependListener("connection", (socket: Socket) => {
    const key = clientKey(socket.remoteAddress);
    const n = (open.get(key) ?? 0) + 1;
    if (n > perAddress) {
      socket.destroy();
      onRefused?.(key);
      return;
    }
    open.set(key, n);
    socket.once("close", () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
  return open;
}
