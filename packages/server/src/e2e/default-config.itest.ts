/**
 * The default configuration, as `npm start` runs it: `atoll serve` with no network flags (uplink
 * `host`, DNS `host`), inside a fake host (testing/fake-host.ts) whose default route leads to a
 * fake internet and whose /etc/resolv.conf nameservers answer there. Sandboxes with and without
 * allowNet reach fake servers by name through the host uplink; the host itself stays closed to
 * them; stopping the daemon leaves its sandboxes to the next one, and with none left, nothing.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Client } from "atoll";
import { execFileRunner as runner } from "../host/run-command.js";
import { ipBatch, netnsPath, nsRun } from "../net/netns-ops.js";
import { nsConnect } from "../net/ns-connect.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { type FakeHost, startFakeHost } from "../testing/fake-host.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { TABLE, curl, served, tcpConnects } from "./network-helpers.js";

const NSCONNECT = fileURLToPath(new URL("../../native/build/atoll-nsconnect", import.meta.url));
/** The fake host's own address on its link to the fake internet (fake-host.ts). */
const HOST_ADDRESS = "172.31.255.254";
/** A service of the fake host listening on every address (what sandboxes must never reach). */
const HOST_SERVICE_PORT = 7001;

/** The host's end of the daemon's uplink veth (`atl<hash>u`, the transit /30's peer address). */
async function uplinkHostAddress(): Promise<string> {
  const { stdout } = await runner.run("ip", ["-n", ctx.host.netns, "-j", "-4", "addr", "show"]);
  const links = JSON.parse(stdout) as { ifname: string; addr_info: { local: string }[] }[];
  const uplink = links.find((l) => /^atl[0-9a-f]{8}u$/.test(l.ifname));
  assert.ok(uplink?.addr_info[0], "the daemon's uplink veth ends in the host");
  return uplink.addr_info[0].local;
}

const ctx = {} as { host: FakeHost; daemon: TestDaemon; client: Client; service: ChildProcess };

before(async () => {
  ctx.host = await startFakeHost(TABLE);
  ctx.daemon = await startTestDaemon({ host: ctx.host });
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  ctx.service = spawn(
    "nsenter",
    [
      `--net=${netnsPath(ctx.host.netns)}`,
      "--",
      process.execPath,
      "-e",
      `require("net").createServer((s) => s.end("host service\\n")).listen(${HOST_SERVICE_PORT}, "::")`,
    ],
    { stdio: "ignore" },
  );
});

after(async () => {
  ctx.service?.kill("SIGKILL");
  await ctx.daemon?.dispose();
  await ctx.host?.dispose();
});

test("sandboxes without allowNet reach fake servers by name through the host uplink, resolved by the host's nameserver", async () => {
  await using sb = await ctx.client.createSandbox();
  const queriesBefore = ctx.host.internet.dnsQueries.length;
  const r = served(await curl(sb, "http://example.com/hello"));
  assert.equal(r.local, "203.0.113.10");
  assert.equal(r.url, "/hello");
  const seen = ctx.host.internet.requests.find((q) => q.url === "/hello");
  assert.equal(seen?.remote, HOST_ADDRESS, "the request left through the host's own address (its NAT), not the router's");
  const asked = ctx.host.internet.dnsQueries.slice(queriesBefore);
  assert.ok(asked.includes(HOST_ADDRESS), `the daemon asked the host's nameserver (${ctx.host.nameservers.join(", ")}) from the host: ${asked.join(", ")}`);
  assert.equal(served(await curl(sb, "-k", "https://example.org/")).host, "example.org");
});

test("sandboxes with allowNet reach only the listed names through the host uplink", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com:80", "api.example.com"] });
  assert.equal(served(await curl(sb, "http://example.com/")).local, "203.0.113.10");
  assert.equal(served(await curl(sb, "-k", "https://api.example.com/")).local, "203.0.113.12");
  assert.match((await curl(sb, "http://example.org/")).err, /Could not resolve host/);
  assert.ok(!(await tcpConnects(sb, "203.0.113.20", 7000)), "an unlisted address");
  await using none = await ctx.client.createSandbox({ allowNet: [] });
  assert.match((await curl(none, "http://example.com/")).err, /Could not resolve host/);
});

test("the host uplink changes the host while the daemon runs (what the leftover check must find)", async () => {
  const found = await ctx.host.leftovers();
  assert.ok(
    found.some((f) => /^nft table inet atoll-[0-9a-f]{8}$/.test(f)),
    found.join("\n"),
  );
  assert.ok(
    found.some((f) => /^link atl[0-9a-f]{8}u$/.test(f)),
    found.join("\n"),
  );
  assert.ok(
    found.some((f) => f.startsWith("net.ipv4.ip_forward 1")),
    found.join("\n"),
  );
  assert.ok(
    found.some((f) => f.startsWith("process ")),
    "the daemon runs inside the fake host",
  );
  assert.ok(
    machineLeftovers(ctx.daemon.stateDir).some((f) => f.startsWith("netns ")),
    "its router namespace exists",
  );
});

test("attack: sandboxes cannot reach the host's own services through the host uplink", async () => {
  // The probe works: from the fake internet (not through the uplink) the service answers.
  const direct = await nsConnect(NSCONNECT, netnsPath(ctx.host.internet.netns), [HOST_ADDRESS], HOST_SERVICE_PORT);
  const greeting = await new Promise<string>((resolve) => {
    let text = "";
    direct.on("data", (d: Buffer) => (text += d.toString()));
    direct.on("end", () => resolve(text));
  });
  assert.equal(greeting, "host service\n");
  const transitHost = await uplinkHostAddress();
  const rows: AttackRow[] = [];
  // A rule the daemon refuses (FORBIDDEN: a closed destination, or the daemon's own range, which
  // can never be opened) holds as well as a connection that fails.
  const probe = async (attack: string, allowNet: string[] | undefined, address: string) => {
    const sb = await ctx.client.createSandbox({ timeout: "5m", ...(allowNet ? { allowNet } : {}) }).catch((err: { code?: string }) => {
      if (err.code !== "FORBIDDEN") throw err;
      return undefined;
    });
    if (!sb) {
      rows.push({ area: "host uplink", attack, as: "tenant", expected: "no connection", observed: "rule refused (FORBIDDEN)", held: true });
      return;
    }
    await using _ = sb;
    const connected = await tcpConnects(sb, address, HOST_SERVICE_PORT);
    rows.push({
      area: "host uplink",
      attack,
      as: "app",
      expected: "no connection",
      observed: connected ? "connected to the host" : "no connection",
      held: !connected,
    });
  };
  await probe("unrestricted egress to the host's address", undefined, HOST_ADDRESS);
  // First layer: private ranges are closed destinations, so an explicit rule is refused outright.
  const refused = await ctx.client.createSandbox({ timeout: "5m", allowNet: [HOST_ADDRESS] }).then(
    async (sb) => {
      await sb.kill();
      return "created";
    },
    (err: { code?: string }) => String(err.code),
  );
  rows.push({
    area: "host uplink",
    attack: "allowNet naming the host's address (private closed)",
    as: "tenant",
    expected: "FORBIDDEN",
    observed: refused,
    held: refused === "FORBIDDEN",
  });
  // Second layer: even with private ranges opened by the admin, the host table drops what comes
  // from the uplink.
  await ctx.client.admin.setNetAccess("default", { open: ["private"] });
  try {
    await probe("explicit IP rule for the host's address (private opened)", [HOST_ADDRESS], HOST_ADDRESS);
    await probe("explicit IP rule for the host end of the uplink (private opened)", [transitHost], transitHost);
    await probe("explicit CIDR rule for the whole private range (private opened)", ["172.16.0.0/12", "10.0.0.0/8"], HOST_ADDRESS);
  } finally {
    await ctx.client.admin.setNetAccess("default", { open: [] });
  }
  reportAttacks("default configuration: the host behind the uplink", rows);
  assert.deepEqual(broken(rows), []);
  // What stops them is the host table's input rule: with an accept in front of it (and private
  // opened), the same probe connects.
  const table = /table inet (atoll-[0-9a-f]{8})/.exec((await nsRun(runner, ctx.host.netns, "nft", ["list", "tables"])).stdout)?.[1];
  assert.ok(table, "the daemon's host table");
  const added = await nsRun(runner, ctx.host.netns, "nft", [
    "--echo",
    "--handle",
    "insert",
    "rule",
    "inet",
    table,
    "input",
    "tcp",
    "dport",
    String(HOST_SERVICE_PORT),
    "accept",
  ]);
  const handle = /# handle (\d+)/.exec(added.stdout)?.[1];
  assert.ok(handle, added.stdout);
  await ctx.client.admin.setNetAccess("default", { open: ["private"] });
  try {
    await using sb = await ctx.client.createSandbox({ allowNet: [HOST_ADDRESS] });
    assert.ok(await tcpConnects(sb, HOST_ADDRESS, HOST_SERVICE_PORT), "without the drop the probe reaches the host");
  } finally {
    await ctx.client.admin.setNetAccess("default", { open: [] });
    await nsRun(runner, ctx.host.netns, "nft", ["delete", "rule", "inet", table, "input", "handle", handle]);
  }
});

test("stopping the daemon leaves a sandbox running for the next daemon, which adopts it with its policy; with none left, it leaves nothing", async () => {
  ctx.service.kill("SIGKILL");
  const sb = await ctx.client.createSandbox({ timeout: "5m", allowNet: ["example.com"] });
  assert.ok((await curl(sb, "http://example.com/")).ok);
  assert.equal(await ctx.daemon.stop(), 0);
  // Live restore (docs/architecture.md): the next `atoll serve` in the same host adopts it.
  ctx.daemon = await ctx.daemon.restart();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  const adopted = await ctx.client.connectSandbox(sb.id);
  assert.equal(served(await curl(adopted, "http://example.com/")).local, "203.0.113.10", "allowed as before");
  assert.equal((await curl(adopted, "http://example.org/")).ok, false, "and nothing else");
  // No sandbox left (earlier tests' ones with a fixed timeout were adopted too): stopping releases everything it holds.
  for (const s of await ctx.client.listSandboxes({ state: "running" })) await ctx.client.killSandbox(s.id);
  assert.equal(await ctx.daemon.stop(), 0);
  assert.deepEqual(await ctx.host.leftovers(), []);
  assert.deepEqual(machineLeftovers(ctx.daemon.stateDir), []);
});

test("the harness refuses a fake host with a link that could lead off the machine", async () => {
  const host = await startFakeHost({});
  try {
    // A veth whose other end is not the fake internet (here: in the fake host itself).
    await ipBatch(runner, host.netns, ["link add stray0 type veth peer name stray1"]);
    await assert.rejects(startTestDaemon({ host }), /refusing to use fake host .*stray/);
    assert.deepEqual(host.processesInside(), [], "no daemon was started");
  } finally {
    await host.dispose();
  }
});
