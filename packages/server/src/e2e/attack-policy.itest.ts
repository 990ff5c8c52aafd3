/**
 * Standing attack suite, policy holes (issue 10, item 9; docs/network.md "Closed ranges",
 * docs/security.md): a tenant cannot reach cloud metadata, private, link-local, CGNAT,
 * documentation, NAT64 or reserved addresses — not by allowNet entries, unrestricted egress,
 * 0.0.0.0/0 or DNS answers pointing there — until an admin opens them; non-IP socket families
 * and uevents stay out of sandboxes; the newer mount syscalls are refused; downloads lose
 * setuid/setgid. Every probe is shown to work where the defence does not apply (after the admin
 * override, or on the host).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AtollError, Client, type Sandbox } from "atoll";
import { runCli } from "../testing/cli-runner.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type FakeInternet, startFakeInternet } from "../testing/fake-internet.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { NEW_SYSCALLS_PY, SOCKETS_PY, UEVENT_LISTENER_PY, run, startHostPython } from "./attack-probes.js";
import { tcpConnects } from "./network-helpers.js";

/** Closed destinations with a fake server behind each (in the fake internet's namespace). */
const TARGETS: { category: string; address: string }[] = [
  { category: "metadata", address: "169.254.169.254" },
  { category: "metadata", address: "fd00:ec2::254" },
  { category: "link-local", address: "169.254.7.7" },
  { category: "private", address: "10.99.0.7" },
  { category: "private", address: "192.168.77.7" },
  { category: "private", address: "fd00:77::7" },
  { category: "cgnat", address: "100.64.0.7" },
  { category: "documentation", address: "198.51.100.7" },
  { category: "documentation", address: "2001:db8::7" },
  { category: "nat64", address: "64:ff9b::cb00:710a" },
  { category: "reserved", address: "198.18.0.7" },
];
const TABLE: Record<string, string[]> = {
  "public.example.com": ["203.0.113.10"],
  // DNS rebinding: an allowed name whose answer points at a closed address.
  "meta.example.com": ["169.254.169.254"],
  "mixed.example.com": ["10.99.0.7", "203.0.113.10"],
};

let internet: FakeInternet;
let daemon: TestDaemon;
let admin: Client;
const rows: AttackRow[] = [];

before(async () => {
  internet = await startFakeInternet(
    TABLE,
    TARGETS.map((t) => t.address),
  );
  // The operator opens one /24 of the documentation ranges for everyone: the rest stays closed.
  daemon = await startTestDaemon({ net: { ...internet.daemonNet(), netOpen: "203.0.113.0/24" } });
  admin = new Client({ url: daemon.url, token: daemon.token });
});
after(async () => {
  reportAttacks("attacks: policy holes", rows);
  await daemon?.dispose();
  await internet?.dispose();
});

async function tenantClient(tenant: string): Promise<Client> {
  const { token } = await admin.admin.createToken({ tenant });
  return new Client({ url: daemon.url, token });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "created";
  } catch (err) {
    return err instanceof AtollError ? err.code : String(err);
  }
}

const connectWord = (ok: boolean) => (ok ? "connected" : "refused");

test("closed destinations: refused in allowNet, unreachable unrestricted or through 0.0.0.0/0, until an admin opens them", async () => {
  const tenant = await tenantClient("team-closed");
  await using open = await tenant.createSandbox();
  await using wide = await tenant.createSandbox({ allowNet: ["0.0.0.0/0", "::/0"] });
  assert.ok(await tcpConnects(open, "203.0.113.10", 80), "the public internet (the daemon opened 203.0.113.0/24) is reachable");
  assert.ok(await tcpConnects(wide, "203.0.113.10", 80), "0.0.0.0/0 reaches the public internet");

  const before: Record<string, string[]> = {};
  for (const t of TARGETS) {
    before[t.address] = [
      await codeOf(tenant.createSandbox({ timeout: "1m", allowNet: [t.address] })),
      connectWord(await tcpConnects(open, t.address, 80)),
      connectWord(await tcpConnects(wide, t.address, 80)),
    ];
  }
  // Non-admin tenants cannot open anything themselves.
  const selfOpen = await codeOf(tenant.admin.setNetAccess("team-closed", { open: ["metadata"] }));
  rows.push({
    area: "policy",
    attack: "tenant opens its own closed ranges (admin API)",
    as: "tenant",
    expected: "FORBIDDEN",
    observed: selfOpen,
    held: selfOpen === "FORBIDDEN",
  });

  // The admin override applies to the tenant's running sandboxes at once.
  const categories = [...new Set(TARGETS.map((t) => t.category))];
  const info = await admin.admin.setNetAccess("team-closed", { open: categories });
  assert.deepEqual(info.netOpen, categories);
  for (const t of TARGETS) {
    let listed = "not created";
    try {
      await using sb = await tenant.createSandbox({ allowNet: [t.address] });
      listed = connectWord(await tcpConnects(sb, t.address, 80));
    } catch (err) {
      listed = err instanceof AtollError ? err.code : String(err);
    }
    const opened = [connectWord(await tcpConnects(open, t.address, 80)), listed];
    const [code, unrestricted, zeroSlash] = before[t.address]!;
    const held = code === "FORBIDDEN" && unrestricted === "refused" && zeroSlash === "refused" && opened.every((o) => o === "connected");
    rows.push({
      area: "policy",
      attack: `reach ${t.address} (${t.category}): allowNet entry / unrestricted / 0.0.0.0/0+::/0`,
      as: "tenant",
      expected: "FORBIDDEN / refused / refused; after the admin opens it: connected, connected",
      observed: `${code} / ${unrestricted} / ${zeroSlash}; after: ${opened.join(", ")}`,
      held,
    });
  }
  // Closing again follows at once too.
  await admin.admin.setNetAccess("team-closed", { open: [] });
  assert.ok(!(await tcpConnects(open, "169.254.169.254", 80)), "closed again for the running sandbox");
  assert.deepEqual(broken(rows), []);
});

/** What the sandbox's resolver answers for `name` (addresses, space-separated; "" for none). */
async function resolved(sb: Sandbox, name: string): Promise<string> {
  const r = await sb.sh`getent ahosts ${name} | awk '{print $1}' | sort -u | tr '\n' ' '`.stdout("piped").noThrow();
  return r.stdoutText.trim();
}

test("DNS rebinding: allowed names whose answers point at closed addresses do not open them", async () => {
  const tenant = await tenantClient("team-rebind");
  await using sb = await tenant.createSandbox({ allowNet: ["meta.example.com", "mixed.example.com"] });
  const meta = await resolved(sb, "meta.example.com");
  const mixed = await resolved(sb, "mixed.example.com");
  const curl = async (url: string) => (await sb.sh`curl -s -o /dev/null -w %{http_code} --max-time 5 ${url}`.stdout("piped").noThrow()).stdoutText;
  const viaName = await curl("http://meta.example.com/latest/meta-data/");
  await admin.admin.setNetAccess("team-rebind", { open: ["metadata"] });
  const metaAfter = await resolved(sb, "meta.example.com");
  const viaNameAfter = await curl("http://meta.example.com/latest/meta-data/");
  const held = meta === "" && mixed === "203.0.113.10" && viaName !== "200" && metaAfter === "169.254.169.254" && viaNameAfter === "200";
  const row: AttackRow = {
    area: "policy",
    attack: "allowed names resolving to 169.254.169.254 / 10.99.0.7 (DNS rebinding)",
    as: "tenant",
    expected: "closed addresses stripped from answers, HTTP refused; after the admin opens metadata: resolves, 200",
    observed: `meta → "${meta}", mixed → "${mixed}", HTTP ${viaName}; after: "${metaAfter}", HTTP ${viaNameAfter}`,
    held,
  };
  rows.push(row);
  assert.deepEqual(broken([row]), []);
});

test("atoll tenant net opens and closes ranges; bad entries change nothing", async () => {
  const ok = await runCli(daemon, ["tenant", "net", "team-cli", "--open", "metadata", "--open", "10.1.0.0/16"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /team-cli: may also reach metadata, 10\.1\.0\.0\/16/);
  const bad = await runCli(daemon, ["tenant", "net", "team-cli", "--open", "intranet"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /INVALID_ARGUMENT.*neither a range category/);
  assert.deepEqual((await admin.admin.listTenants()).find((t) => t.name === "team-cli")?.netOpen, ["metadata", "10.1.0.0/16"]);
  const ls = await runCli(daemon, ["tenant", "ls"]);
  assert.match(ls.stdout, /team-cli .*metadata,10\.1\.0\.0\/16/);
  const closed = await runCli(daemon, ["tenant", "net", "team-cli", "--close-all"]);
  assert.equal(closed.code, 0, closed.stderr);
  assert.deepEqual((await admin.admin.listTenants()).find((t) => t.name === "team-cli")?.netOpen, []);
});

test("non-IP socket families and netlink protocols other than route/diag are refused inside, and work on the host", async () => {
  await using sb = await admin.createSandbox();
  const port = String(47000 + Math.floor(Math.random() * 1000));
  const inside = JSON.parse((await sb.sh`python3 -c ${SOCKETS_PY} ${port}`.sudo().text()).trimEnd()) as Record<string, string>;
  const host = JSON.parse((await run("python3", ["-c", SOCKETS_PY, port])).stdout) as Record<string, string>;
  const expected: Record<string, string> = {
    "AF_VSOCK bind": "EAFNOSUPPORT",
    AF_XDP: "EAFNOSUPPORT",
    NETLINK_KOBJECT_UEVENT: "EPROTONOSUPPORT",
    NETLINK_ROUTE: "ok",
    AF_INET6: "ok",
  };
  const local: AttackRow[] = Object.entries(expected).map(([what, want]) => ({
    area: "policy",
    attack: `socket ${what}`,
    as: "root",
    expected: `${want} inside (host: ok)`,
    observed: `${inside[what]} inside, ${host[what]} on the host`,
    held: inside[what] === want && host[what] === "ok",
  }));
  rows.push(...local);
  assert.deepEqual(broken(local), []);
  assert.equal(host["AF_VSOCK bind"], "ok", "the host can bind the vsock port the sandbox could not");
});

test("uevents do not reach sandboxes: the host sees a new loop device, a sandbox listener sees nothing", async () => {
  await using sb = await admin.createSandbox();
  const hostListener = startHostPython(UEVENT_LISTENER_PY, ["8"]);
  await hostListener.ready;
  // Started now (a sh command runs once it is then'd), listening while the host attaches the device.
  const inside = Promise.resolve(sb.sh`python3 -c ${UEVENT_LISTENER_PY} 6`.sudo().stdout("piped").noThrow());
  const dir = mkdtempSync("/var/tmp/atoll-uevent-");
  let loop = "";
  try {
    writeFileSync(join(dir, "img"), Buffer.alloc(1 << 20));
    await new Promise((r) => setTimeout(r, 1000)); // the sandbox's listener is up (or failed)
    loop = (await run("losetup", ["--find", "--show", join(dir, "img")])).stdout.trim();
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    if (loop) await run("losetup", ["--detach", loop]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  const insideOut = (await inside).stdoutText;
  await new Promise<void>((r) => (hostListener.child.exitCode !== null ? r() : hostListener.child.once("exit", () => r())));
  const name = loop.replace("/dev/", "");
  const hostSaw = hostListener
    .output()
    .split("\n")
    .filter((l) => l.startsWith("uevent") && l.endsWith(`/${name}`));
  const insideSaw = insideOut.split("\n").filter((l) => l.startsWith("uevent"));
  const row: AttackRow = {
    area: "policy",
    attack: `listen for uevents while the host attaches ${loop}`,
    as: "root",
    expected: "no uevent inside (host: sees it)",
    observed: `inside: ${insideOut.trim().split("\n")[0]}, ${insideSaw.length} uevents; host: ${hostSaw.length} uevents for ${name}`,
    held: insideSaw.length === 0 && hostSaw.length > 0,
  };
  rows.push(row);
  assert.deepEqual(broken([row]), []);
});

test("statmount, listmount, open_tree_attr, listns fail with EPERM inside; the same calls work on the host", async () => {
  await using sb = await admin.createSandbox();
  const inside = JSON.parse((await sb.sh`python3 -c ${NEW_SYSCALLS_PY}`.sudo().text()).trimEnd()) as Record<string, string>;
  const host = JSON.parse((await run("python3", ["-c", NEW_SYSCALLS_PY])).stdout) as Record<string, string>;
  const local: AttackRow[] = Object.keys(inside).map((call) => ({
    area: "policy",
    attack: `${call} with valid arguments`,
    as: "root",
    expected: "EPERM inside (host: ok, or ENOSYS on kernels without it)",
    observed: `${inside[call]} inside, ${host[call]} on the host`,
    held: inside[call] === "EPERM" && host[call] !== "EPERM",
  }));
  rows.push(...local);
  assert.deepEqual(broken(local), []);
  for (const call of ["statmount", "listmount", "open_tree_attr"]) assert.equal(host[call], "ok", `${call} works on this host's kernel`);
});

test("downloads drop setuid/setgid/sticky bits: files, trees, the raw tar", async () => {
  await using sb = await admin.createSandbox();
  await sb.sh`mkdir -p /tmp/out/sub && cp /bin/true /tmp/out/sub/suid && cp /bin/true /tmp/suid && touch /tmp/out/sticky`.sudo();
  await sb.sh`chmod 6755 /tmp/out/sub/suid /tmp/suid && chmod 2775 /tmp/out/sub && chmod 1644 /tmp/out/sticky`.sudo();
  const insideMode = (await sb.sh`stat -c %a /tmp/suid /tmp/out/sub /tmp/out/sticky`.text()).trimEnd().split("\n").join(" ");
  const dir = mkdtempSync("/var/tmp/atoll-download-");
  try {
    const asRoot = sb.fs.asRoot();
    await asRoot.download("/tmp/suid", join(dir, "suid"));
    await asRoot.download("/tmp/out", join(dir, "out"));
    const modes = ["suid", "out/sub/suid", "out/sub", "out/sticky"].map((p) => (statSync(join(dir, p)).mode & 0o7777).toString(8));
    // The daemon's tar already carries the stripped modes (the SDK is not the only layer).
    const tar = Buffer.from(await new Response(await asRoot.exportTar("/tmp/out/sub/suid")).arrayBuffer());
    const tarMode = tar.subarray(100, 107).toString("latin1");
    const row: AttackRow = {
      area: "policy",
      attack: "download a root-owned 6755 file (and 2775 dir, 1644 file) made by sandbox root",
      as: "root",
      expected: "no setuid/setgid/sticky on the client; tar header 0000755",
      observed: `inside ${insideMode}; downloaded ${modes.join(" ")}; tar ${tarMode}`,
      held: insideMode === "6755 2775 1644" && modes.every((m) => (parseInt(m, 8) & 0o7000) === 0) && tarMode === "0000755",
    };
    rows.push(row);
    assert.deepEqual(broken([row]), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
