/**
 * Shared setup of the network tests: one fake internet (testing/fake-internet.ts) and one daemon
 * whose uplink goes into it, per test file. Nothing leaves the machine.
 */
import { after, before } from "node:test";
import { Client, type Sandbox } from "atoll";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type FakeInternet, startFakeInternet } from "../testing/fake-internet.js";

/** The fake internet's names and addresses. cdn.example.net shares example.com's IPv4 address. */
export const TABLE: Record<string, string[]> = {
  "example.com": ["203.0.113.10", "2001:db8::10"],
  "www.example.com": ["203.0.113.11"],
  "api.example.com": ["203.0.113.12"],
  "deep.sub.example.com": ["203.0.113.13"],
  "example.org": ["203.0.113.20", "2001:db8::20"],
  "other.test": ["198.51.100.30"],
  "cdn.example.net": ["203.0.113.10"],
};
/** Addresses with servers but no name; 198.51.100.53 is an "outside" DNS server. */
export const UNNAMED = ["203.0.113.99", "198.51.100.53", "2001:db8::99"];

export interface NetCtx {
  internet: FakeInternet;
  daemon: TestDaemon;
  client: Client;
}

export function useNetworkDaemon(): NetCtx {
  const ctx = {} as NetCtx;
  before(async () => {
    ctx.internet = await startFakeInternet(TABLE, UNNAMED);
    ctx.daemon = await startTestDaemon({ net: ctx.internet.daemonNet() });
    ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  });
  after(async () => {
    await ctx.daemon?.dispose();
    await ctx.internet?.dispose();
  });
  return ctx;
}

export interface CurlResult {
  ok: boolean;
  code: number | null;
  out: string;
  err: string;
}

/** Runs curl in the sandbox (`-sS --max-time 5` plus `args`); never throws. */
export async function curl(sb: Sandbox, ...args: string[]): Promise<CurlResult> {
  const r = await sb.sh`curl -sS --max-time 5 ${args}`.stdout("piped").stderr("piped").noThrow();
  return { ok: r.status.code === 0, code: r.status.code, out: r.stdoutText, err: r.stderrText };
}

/** The JSON a fake server answers with (which address and Host it reached). */
export function served(r: CurlResult): { local: string; host: string; url: string; headers: Record<string, string> } {
  if (!r.ok) throw new Error(`curl failed (${r.code}): ${r.err}`);
  return JSON.parse(r.out) as { local: string; host: string; url: string; headers: Record<string, string> };
}

/** A TCP connection attempt from the sandbox (python, 3 s); true when it connected. */
export async function tcpConnects(sb: Sandbox, host: string, port: number): Promise<boolean> {
  const code = `import socket\nsocket.create_connection((${JSON.stringify(host)}, ${port}), timeout=3).close()`;
  return (await sb.sh`python3 -c ${code}`.stdout("null").stderr("null").noThrow()).status.code === 0;
}
