/**
 * Standing attack suite, netd (issue 10, item 7; docs/network.md "netd's limits"): one sandbox
 * cannot stall or crash the resolver and proxy every sandbox shares. Floods (zero-length TLS
 * records, DNS queries) run while another tenant's DNS is timed (latencies printed; the only
 * bound is a generous "answered within 5 s"); hostile input ends its own connection; the
 * request that used to crash netd gets a 502; a netd killed by its pid comes back by itself with
 * every sandbox's policy and secrets.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { Client, type Sandbox } from "atoll";
import { startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { DNS_FLOOD_PY, DNS_LATENCY_PY, ZERO_RECORD_FLOOD_PY, latencySummary, netdPid } from "./attack-probes.js";
import { curl, useNetworkDaemon } from "./network-helpers.js";
import { killOnDispose } from "./e2e-helpers.js";

const ctx = useNetworkDaemon();
const rows: AttackRow[] = [];
after(() => reportAttacks("attacks: netd", rows));

async function tenantClient(tenant: string): Promise<Client> {
  const { token } = await ctx.client.admin.createToken({ tenant });
  return new Client({ url: ctx.daemon.url, token });
}

async function dnsLatencies(sb: Sandbox, count: number, gapMs: number): Promise<(number | null)[]> {
  return JSON.parse((await sb.sh`python3 -c ${DNS_LATENCY_PY} ${String(count)} ${String(gapMs)}`.text()).trimEnd()) as (number | null)[];
}

const netdExits = () => ctx.daemon.logs.filter((l) => l.includes("netd exited")).length;

test("a zero-length TLS record flood and a DNS flood do not stall another tenant's DNS", async () => {
  const attacker = await (await tenantClient("flooder")).createSandbox({ timeout: "10m" });
  await using _a = attacker;
  await using neighbour = killOnDispose(await (await tenantClient("neighbour")).createSandbox({ timeout: "10m", allowNet: ["example.com"] }));
  const pid = netdPid(ctx.daemon.pid);
  const exitsBefore = netdExits();
  const baseline = latencySummary(await dnsLatencies(neighbour, 20, 100));

  for (const flood of [
    { name: "zero-length TLS records (32 connections, 15 s)", code: ZERO_RECORD_FLOOD_PY, args: ["15", "32"] },
    { name: "UDP DNS queries as fast as it can (15 s)", code: DNS_FLOOD_PY, args: ["15"] },
  ]) {
    // A sh command runs once it is awaited or then'd: start the flood now, in the background.
    const running = Promise.resolve(attacker.sh`python3 -c ${flood.code} ${flood.args}`.stdout("piped").stderr("piped").noThrow());
    await new Promise((r) => setTimeout(r, 2000)); // the flood is under way
    const during = latencySummary(await dnsLatencies(neighbour, 20, 300));
    const result = await running;
    const stats = result.stdoutText.trim() || result.stderrText.trim();
    console.log(`neighbour DNS: unloaded ${baseline.text}; during the ${flood.name}: ${during.text}; attacker: ${stats}`);
    const row: AttackRow = {
      area: "netd",
      attack: `flood: ${flood.name}`,
      as: "app",
      expected: "another tenant's DNS answered, each within 5 s; netd not restarted",
      observed: `unloaded ${baseline.text}; under attack ${during.text}; attacker ${stats}`,
      held: during.allAnswered && during.max < 5000 && pid !== undefined && netdPid(ctx.daemon.pid) === pid && netdExits() === exitsBefore,
    };
    rows.push(row);
    assert.deepEqual(broken([row]), []);
  }
});

test("hostile input ends its own connection: oversized DNS over TCP, request heads, ClientHellos", async () => {
  await using sb = killOnDispose(await (await tenantClient("hostile-input")).createSandbox({ timeout: "10m", allowNet: ["example.com"] }));
  const pid = netdPid(ctx.daemon.pid);
  const py = `
import socket, json
gw = open("/etc/resolv.conf").read().split("nameserver")[1].split()[0]
def exchange(port, data):
    s = socket.create_connection((gw, port), timeout=5)
    try:
        s.sendall(data)
        got = b""
        while True:
            b = s.recv(65536)
            if not b: return "closed after " + str(len(got)) + " bytes: " + got[:12].hex()
            got += b
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()
print(json.dumps({
  "dns-tcp length 65535": exchange(53, b"\\xff\\xff" + b"\\0" * 4000),
  "http head 64 KiB": exchange(15080, b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\nX: " + b"a" * 65536 + b"\\r\\n\\r\\n"),
  "ClientHello announcing 1 MiB": exchange(15443, bytes([22, 3, 1, 0, 4, 1, 0x10, 0, 0]) + b"\\0" * 4000),
}))`;
  const got = JSON.parse((await sb.sh`python3 -c ${py}`.text()).trimEnd()) as Record<string, string>;
  const expect: Record<string, RegExp> = {
    "dns-tcp length 65535": /^(closed after 0 bytes|reset)/,
    "http head 64 KiB": /^(closed after \d+ bytes: 485454502f312e3120343331|reset)/, // "HTTP/1.1 431"
    "ClientHello announcing 1 MiB": /^(closed after (0|7) bytes|reset)/,
  };
  const local = Object.entries(expect).map(([what, re]) => ({
    area: "netd",
    attack: what,
    as: "app",
    expected: "that connection closed (431 for the request head); netd keeps serving",
    observed: got[what]!,
    held: re.test(got[what]!) && pid !== undefined && netdPid(ctx.daemon.pid) === pid,
  }));
  rows.push(...local);
  assert.deepEqual(broken(local), []);
  assert.ok((await curl(sb, "http://example.com/")).ok, "the same sandbox is still served");
});

test("netd killed by its pid comes back by itself with every sandbox's allowNet and secrets; creates keep working", async () => {
  const VALUE = "netd-restart-secret-7c1e";
  const client = await tenantClient("survivor");
  await using sb = killOnDispose(
    await client.createSandbox({
      timeout: "10m",
      allowNet: ["example.com", "api.example.com"],
      secrets: { API_KEY: { hosts: ["api.example.com"], value: VALUE } },
    }),
  );
  assert.ok((await curl(sb, "http://example.com/")).ok);
  const old = netdPid(ctx.daemon.pid);
  assert.ok(old, "netd runs as a child of the daemon");
  process.kill(old, "SIGKILL");
  let fresh: number | undefined;
  for (let i = 0; i < 300 && (!fresh || fresh === old); i++) {
    await new Promise((r) => setTimeout(r, 100));
    fresh = netdPid(ctx.daemon.pid);
  }
  // Existing sandbox: its names resolve again, others still do not, its secret is still put in.
  let allowed = await curl(sb, "http://example.com/");
  for (let i = 0; i < 20 && !allowed.ok; i++) {
    await new Promise((r) => setTimeout(r, 500));
    allowed = await curl(sb, "http://example.com/");
  }
  const other = await curl(sb, "http://example.org/");
  const placeholder = (await sb.sh`printenv API_KEY`.text()).trimEnd();
  const before = ctx.internet.requests.length;
  await curl(sb, "-H", `Authorization: Bearer ${placeholder}`, "https://api.example.com/after-restart");
  const seen = ctx.internet.requests.slice(before).find((q) => q.url === "/after-restart");
  // A new sandbox gets a policy and DNS.
  let created = "failed";
  try {
    await using fresh2 = killOnDispose(await client.createSandbox({ timeout: "5m", allowNet: ["example.org"] }));
    const [ok, refused] = [await curl(fresh2, "http://example.org/"), await curl(fresh2, "http://example.com/")];
    created = ok.ok && !refused.ok ? "created, example.org only" : `created, example.org ${ok.ok} example.com ${refused.ok}`;
  } catch (err) {
    created = `create failed: ${(err as Error).message}`;
  }
  const restored = ctx.daemon.logs.some((l) => l.includes("running sandboxes' policies restored"));
  const row: AttackRow = {
    area: "netd",
    attack: "netd killed (SIGKILL to its pid)",
    as: "host",
    expected: "restarted with a new pid; allowNet and secrets of running sandboxes restored; new creates work",
    observed: `pid ${old} → ${fresh}; example.com ${allowed.ok ? "ok" : "failed"}, example.org ${other.ok ? "reached" : "refused"}, secret ${seen?.headers.authorization === `Bearer ${VALUE}` ? "substituted" : "missing"}; new sandbox ${created}; restore logged ${restored}`,
    held:
      !!fresh &&
      fresh !== old &&
      allowed.ok &&
      !other.ok &&
      seen?.headers.authorization === `Bearer ${VALUE}` &&
      created === "created, example.org only" &&
      restored,
  };
  rows.push(row);
  assert.deepEqual(broken([row]), []);
});

test("with --uplink none, a request through the proxy gets a 502 and netd keeps running", async () => {
  const dir = mkdtempSync("/var/tmp/atoll-netd-none-");
  const table = join(dir, "dns.json");
  writeFileSync(table, JSON.stringify({ "example.com": ["203.0.113.10"], "v6.example.com": ["2001:db8::10"] }));
  const daemon = await startTestDaemon({ net: { uplink: "none", dns: `static:${table}`, netOpen: "documentation" } });
  try {
    const client = new Client({ url: daemon.url, token: daemon.token });
    const pid = netdPid(daemon.pid);
    const codes: string[] = [];
    {
      await using sb = killOnDispose(await client.createSandbox({ timeout: "5m", allowNet: ["example.com", "v6.example.com"] }));
      for (const url of ["http://example.com/", "http://v6.example.com/"]) {
        const r = await sb.sh`curl -s -o /dev/null -w %{http_code} --max-time 5 ${url}`.stdout("piped").noThrow();
        codes.push(r.stdoutText);
      }
    }
    // The daemon (and netd) still serve: a new sandbox resolves its names.
    let later = "failed";
    try {
      await using sb2 = killOnDispose(await client.createSandbox({ timeout: "5m", allowNet: ["example.com"] }));
      later = (await sb2.sh`getent hosts example.com`.stdout("piped").noThrow()).stdoutText.includes("203.0.113.10") ? "resolves" : "no answer";
    } catch (err) {
      later = `create failed: ${(err as Error).message}`;
    }
    const exited = daemon.logs.filter((l) => l.includes("netd exited")).length;
    // netd's last-resort handler would keep it alive: the bug shows as an uncaught exception logged.
    const uncaught = daemon.logs.filter((l) => l.includes("uncaught exception")).length;
    const row: AttackRow = {
      area: "netd",
      attack: "HTTP through the proxy with no route upstream (--uplink none), IPv4 and IPv6",
      as: "app",
      expected: "502 from the proxy; no uncaught exception in netd, not restarted; a later create resolves names",
      observed: `HTTP ${codes.join(", ")}; netd pid ${pid} → ${netdPid(daemon.pid)}, ${uncaught} uncaught, ${exited} exits; later sandbox ${later}`,
      held: codes.every((c) => c === "502") && pid !== undefined && netdPid(daemon.pid) === pid && uncaught === 0 && exited === 0 && later === "resolves",
    };
    rows.push(row);
    assert.deepEqual(broken([row]), []);
  } finally {
    await daemon.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
