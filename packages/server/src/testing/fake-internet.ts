/**
 * A fake internet for egress tests: a network namespace `atoll-fi<random>` whose loopback holds
 * the addresses the test assigns (documentation ranges 203.0.113.0/24, 198.51.100.0/24,
 * 2001:db8::/32), with HTTP/HTTPS/TCP-echo/UDP-DNS servers (fake-internet-server.ts) on all of
 * them, certificates from a test CA, and a static DNS table file for the daemon. A test daemon
 * started with `net: internet.daemonNet()` routes its uplink into this namespace: no packet ever
 * leaves the machine.
 *
 * @example
 *   const internet = await startFakeInternet({ "example.com": ["203.0.113.10", "2001:db8::10"] });
 *   const daemon = await startTestDaemon({ net: internet.daemonNet() });
 *   … await internet.dispose();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createSandboxCa } from "../net/cert-authority.js";
import { addNetns, deleteNetns, ipBatch, netnsPath } from "../net/netns-ops.js";
import type { TestNetworkOptions } from "./daemon-harness.js";
import { execFileRunner as runner } from "../host/run-command.js";

const SERVER = fileURLToPath(new URL("./fake-internet-server.js", import.meta.url));

/** What a fake server received. */
export interface FakeRequest {
  scheme: "http" | "https";
  method: string;
  url: string;
  host: string | null;
  /** The address of the fake internet the request reached. */
  local: string;
  /** The address it came from (after any NAT on the way). */
  remote: string;
  headers: Record<string, string | string[]>;
  bodyBytes: number;
  body: string;
}

export interface FakeInternet {
  netns: string;
  /** PEM file of the CA that signed the fake servers' certificates. */
  caFile: string;
  caPem: string;
  /** The CA's key (to start more fake servers with the same CA). */
  caKeyPem: string;
  /** The names the fake DNS servers answer, with their addresses. */
  table: Record<string, string[]>;
  /** Every HTTP(S) request the fake servers received so far. */
  requests: FakeRequest[];
  /** Sources of queries that reached the fake "outside" DNS servers. */
  dnsQueries: string[];
  /** Options for startTestDaemon({ net }). */
  daemonNet(): TestNetworkOptions;
  dispose(): Promise<void>;
}

interface ServerMessage {
  fake: string;
  record?: FakeRequest;
  from?: string;
  error?: string;
}

/** SIGKILLs `child` (if it still runs) and waits until it has exited. */
export async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/**
 * Starts fake-internet-server.ts inside namespace `netns` (config: see that file) and resolves
 * once it listens; `onMessage` gets what it reports. The caller kills the process.
 */
export async function startFakeServers(
  netns: string,
  config: { caCertPem: string; caKeyPem: string; table: Record<string, string[]>; dnsOnly?: boolean },
  onMessage: (m: ServerMessage) => void = () => undefined,
): Promise<ChildProcess> {
  const proc = spawn("nsenter", [`--net=${netnsPath(netns)}`, "--", process.execPath, SERVER], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ATOLL_FAKE_INTERNET: JSON.stringify(config) },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      proc.on("message", (m: ServerMessage) => {
        if (m.fake === "ready") resolve();
        else if (m.fake === "failed") reject(new Error(`fake internet failed: ${m.error}`));
        else onMessage(m);
      });
      proc.once("exit", (code) => reject(new Error(`fake internet server exited with ${code}`)));
    });
  } catch (err) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    throw err;
  }
  return proc;
}

/** `table`: host name → addresses. Extra bare addresses (no name) go in `extraAddresses`. */
export async function startFakeInternet(table: Record<string, string[]>, extraAddresses: string[] = []): Promise<FakeInternet> {
  const netns = `atoll-fi${randomBytes(4).toString("hex")}`;
  const dir = mkdtempSync("/var/tmp/atoll-fake-internet-");
  const ca = await createSandboxCa("fake-internet");
  const caFile = path.join(dir, "ca.pem");
  writeFileSync(caFile, ca.certPem);
  const dnsFile = path.join(dir, "dns.json");
  writeFileSync(dnsFile, JSON.stringify(table));
  const addresses = [...new Set([...Object.values(table).flat(), ...extraAddresses])];
  let child: ChildProcess | undefined;
  const cleanup = async () => {
    await killAndWait(child);
    await deleteNetns(runner, netns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await addNetns(runner, netns);
    await ipBatch(runner, netns, [
      "link set lo up",
      ...addresses.map((a) => `addr add ${a}/${a.includes(":") ? 128 : 32} dev lo${a.includes(":") ? " nodad" : ""}`),
    ]);
    const requests: FakeRequest[] = [];
    const dnsQueries: string[] = [];
    child = await startFakeServers(netns, { caCertPem: ca.certPem, caKeyPem: ca.keyPem, table }, (m) => {
      if (m.fake === "request" && m.record) requests.push(m.record);
      else if (m.fake === "dns" && m.from) dnsQueries.push(m.from);
    });
    return {
      netns,
      caFile,
      caPem: ca.certPem,
      requests,
      dnsQueries,
      caKeyPem: ca.keyPem,
      table,
      // Its servers sit in documentation ranges, closed to sandboxes unless the daemon opens them.
      daemonNet: () => ({ uplink: `netns:${netns}`, dns: `static:${dnsFile}`, upstreamCa: caFile, netOpen: "documentation" }),
      dispose: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}
