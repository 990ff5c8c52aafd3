/**
 * Forwards raw DNS queries to the host's resolvers (nameserver lines of /etc/resolv.conf) over
 * UDP from the daemon's own namespace, so a host resolver on 127.0.0.53 works too. Used only with
 * `--dns host` (the default; tests of the default configuration answer from a fake host).
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { DaemonError } from "../daemon-error.js";

/** Nameserver addresses in resolv.conf text (link-local scope suffixes dropped). */
export function nameserversIn(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const addr = m?.[1]?.replace(/%.*$/, "");
    if (addr && isIP(addr)) out.push(addr);
  }
  return out;
}

export class DnsForwarder {
  constructor(
    private readonly servers: string[] = nameserversIn(readFileSync("/etc/resolv.conf", "utf8")),
    private readonly timeoutMs = 2500,
  ) {}

  async forward(packet: Buffer): Promise<Buffer> {
    let lastError: Error = new DaemonError("NETWORK_FAILED", "the host has no nameserver in /etc/resolv.conf");
    for (const server of this.servers) {
      try {
        return await this.ask(server, packet);
      } catch (err) {
        lastError = err as Error;
      }
    }
    throw lastError;
  }

  private ask(server: string, packet: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(server.includes(":") ? "udp6" : "udp4");
      const timer = setTimeout(() => {
        sock.close();
        reject(new DaemonError("NETWORK_FAILED", `no answer from ${server} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      sock.on("message", (msg) => {
        // Same transaction id as the query, or it is not our answer.
        if (msg.length < 2 || msg.readUInt16BE(0) !== packet.readUInt16BE(0)) return;
        clearTimeout(timer);
        sock.close();
        resolve(msg);
      });
      sock.on("error", (err) => {
        clearTimeout(timer);
        sock.close();
        reject(err);
      });
      sock.send(packet, 53, server);
    });
  }
}
