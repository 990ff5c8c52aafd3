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

const SERVER = fileURLToPath(new URL("./fake-internet-server.js", import.meta.url));

/** What a fake server received. */
export interface FakeRequest {
  scheme: "http" | "https";
  method: string;
  url: string;
  host: string | null;
  /** The address of the fake internet the request reached. */
  local: string;
  headers: Record<string, string | string[]>;
  bodyBytes: number;
  body: string;
}

export interface FakeInternet {
  netns: string;
  /** PEM file of the CA that signed the fake servers' certificates. */
  caFile: string;
  caPem: string;
  /** Every HTTP(S) request the fake servers received so far. */
  requests: FakeRequest[];
  /** Sources of queries that reached the fake "outside" DNS servers. */
  dnsQueries: string[];
  /** Options for startTestDaemon({ net }). */
  daemonNet(): TestNetworkOptions;
  dispose(): Promise<void>;
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
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    await deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await addNetns(netns);
    await ipBatch(netns, ["link set lo up", ...addresses.map((a) => `addr add ${a}/${a.includes(":") ? 128 : 32} dev lo${a.includes(":") ? " nodad" : ""}`)]);
    const requests: FakeRequest[] = [];
    const dnsQueries: string[] = [];
    const proc = spawn("nsenter", [`--net=${netnsPath(netns)}`, "--", process.execPath, SERVER], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ATOLL_FAKE_INTERNET: JSON.stringify({ caCertPem: ca.certPem, caKeyPem: ca.keyPem }) },
    });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.on("message", (m: { fake: string; record?: FakeRequest; from?: string; error?: string }) => {
        if (m.fake === "ready") resolve();
        else if (m.fake === "failed") reject(new Error(`fake internet failed: ${m.error}`));
        else if (m.fake === "request" && m.record) requests.push(m.record);
        else if (m.fake === "dns" && m.from) dnsQueries.push(m.from);
      });
      proc.once("exit", (code) => reject(new Error(`fake internet server exited with ${code}`)));
    });
    return {
      netns,
      caFile,
      caPem: ca.certPem,
      requests,
      dnsQueries,
      // Its servers sit in documentation ranges, closed to sandboxes unless the daemon opens them.
      daemonNet: () => ({ uplink: `netns:${netns}`, dns: `static:${dnsFile}`, upstreamCa: caFile, netOpen: "documentation" }),
      dispose: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}
