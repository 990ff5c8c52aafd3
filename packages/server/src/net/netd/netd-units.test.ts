import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { parseNetRule, type NetRule } from "atoll/contract";
import dnsPacket from "dns-packet";
import { hostPortAllowed, nameDecision, secretsFor, type SandboxPolicy } from "./policy-match.js";
import { parseHostHeader } from "./proxies.js";
import { ReplaceStream, substitute } from "./secret-substitution.js";
import { sandboxResponseRules, upstreamHeaders } from "./http-forward.js";
import { checkResponseHead } from "../../http/forward-headers.js";
import { SandboxBudgets } from "./budgets.js";
import { DnsTcpFramer, MAX_QUERY_BYTES, queryProblem } from "./dns-guard.js";
import { ClientHelloReader, type SniResult, parseClientHello } from "./sni.js";
import { StaticUpstream, addressesIn } from "./upstream-dns.js";

const rules = (...entries: string[]): NetRule[] => entries.map((e) => (parseNetRule(e) as { value: NetRule }).value);
const policy = (r: NetRule[] | null, secrets: SandboxPolicy["secrets"] = []): SandboxPolicy => ({
  id: "sbx",
  ipv4: "10.73.0.2",
  ipv6: "fd00::2",
  rules: r,
  secrets,
  closed: [],
});
const secret = { name: "K", placeholder: "ATOLL_SECRET_abc", value: "real-value", hosts: rules("api.example.com") as never };

test("the resolver's decision: allowed names and the ports their addresses are admitted for", () => {
  assert.deepEqual(nameDecision(policy(rules("example.com")), "Example.com."), {
    allowed: true,
    ports: [
      [1, 79],
      [81, 442],
      [444, 65535],
    ],
    intercept: false,
  });
  assert.deepEqual(nameDecision(policy(rules("example.com:443")), "example.com").ports, [], "443 only: through the proxy, nothing direct");
  assert.deepEqual(nameDecision(policy(rules("example.com:5432", "*.example.com:22")), "db.example.com").ports, [[22, 22]]);
  assert.equal(nameDecision(policy(rules("example.com")), "example.org").allowed, false);
  assert.equal(nameDecision(policy([]), "example.com").allowed, false);
  assert.deepEqual(nameDecision(policy(null, [secret]), "api.example.com"), { allowed: true, ports: [], intercept: true });
  assert.equal(nameDecision(policy(null, [secret]), "example.com").intercept, false);
});

test("the proxy's checks: host and port, IP literals against IP rules, secrets by host", () => {
  const p = policy(rules("example.com:443", "*.example.org", "203.0.113.0/24:80", "[2001:db8::1]"));
  assert.ok(hostPortAllowed(p, "example.com", 443));
  assert.ok(!hostPortAllowed(p, "example.com", 80));
  assert.ok(hostPortAllowed(p, "a.example.org", 80));
  assert.ok(!hostPortAllowed(p, "example.org", 80));
  assert.ok(hostPortAllowed(p, "203.0.113.9", 80));
  assert.ok(!hostPortAllowed(p, "203.0.113.9", 443));
  assert.ok(hostPortAllowed(p, "[2001:db8::1]", 443));
  assert.ok(hostPortAllowed(policy(null), "anything.test", 443));
  assert.deepEqual(
    secretsFor(policy(null, [secret]), "API.example.com").map((s) => s.name),
    ["K"],
  );
  assert.deepEqual(secretsFor(policy(null, [secret]), "example.com"), []);
  assert.deepEqual(parseHostHeader("[2001:db8::1]:8080"), { name: "2001:db8::1", port: 8080 });
  assert.deepEqual(parseHostHeader("Example.com"), { name: "example.com", port: null });
  assert.equal(parseHostHeader("bad host"), null);
});

test("secret substitution: URL and headers toward the host, values back to placeholders in responses", async () => {
  assert.equal(substitute("/x?k=ATOLL_SECRET_abc", [secret], "to-host"), "/x?k=real-value");
  const h = upstreamHeaders(
    ["authorization", "Bearer ATOLL_SECRET_abc", "connection", "keep-alive, x-hop", "x-hop", "1", "Host", "api.example.com", "Accept-Encoding", "gzip"],
    [secret],
  );
  assert.deepEqual(h, ["authorization", "Bearer real-value", "Host", "api.example.com", "accept-encoding", "identity"]);
  const back = checkResponseHead(
    { statusCode: 200, statusMessage: "OK", rawHeaders: ["X-Echo", "real-value", "Content-Length", "10", "Connection", "close"] },
    sandboxResponseRules([secret]),
  );
  assert.deepEqual(back, { status: 200, message: "OK", headers: ["X-Echo", "ATOLL_SECRET_abc"] });
  // Split across chunk boundaries at every position.
  const text = "aa real-value bb real-value";
  for (let cut = 0; cut <= text.length; cut++) {
    const chunks: Buffer[] = [];
    const out = Readable.from([Buffer.from(text.slice(0, cut)), Buffer.from(text.slice(cut))]).pipe(new ReplaceStream([secret], "to-sandbox"));
    for await (const c of out) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "aa ATOLL_SECRET_abc bb ATOLL_SECRET_abc", `cut at ${cut}`);
  }
});

test("SNI is read from a ClientHello, whole or in pieces; non-TLS is recognised", async () => {
  const tls = await import("node:tls");
  const net = await import("node:net");
  // Capture a real ClientHello from Node's TLS client.
  const hello = await new Promise<Buffer>((resolve) => {
    const server = net.createServer((s) =>
      s.once("data", (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      }),
    );
    server.listen(0, "127.0.0.1", () => {
      const c = tls.connect({ host: "127.0.0.1", port: (server.address() as { port: number }).port, servername: "api.example.com" });
      c.on("error", () => undefined);
    });
  });
  const r = parseClientHello(hello);
  assert.equal(r.status, "ok");
  assert.equal(r.status === "ok" && r.serverName, "api.example.com");
  assert.deepEqual(parseClientHello(hello.subarray(0, 20)), { status: "more" });
  assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")).status, "not-tls");
  // Fed one byte at a time, and split into one record per byte of the handshake message.
  const reader = new ClientHelloReader();
  let r1: SniResult = { status: "more" };
  for (const byte of hello) r1 = reader.push(Buffer.from([byte]));
  assert.equal(r1.status === "ok" && r1.serverName, "api.example.com");
  assert.deepEqual(reader.raw(), hello, "every byte is kept for the upstream");
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const pieces: Buffer[] = [...body.subarray(0, 20)].map((b) => Buffer.from([22, 3, 1, 0, 1, b]));
  pieces.push(Buffer.from([22, 3, 1, (body.length - 20) >> 8, (body.length - 20) & 255]), body.subarray(20));
  const fragmented = Buffer.concat(pieces);
  const r2 = parseClientHello(fragmented);
  assert.equal(r2.status === "ok" && r2.serverName, "api.example.com");
});

test("ClientHello limits: zero-length records, too many records, too large a hello end the connection", () => {
  // The stall of issue 10: thousands of zero-length handshake records. Refused at the first one.
  const zero = Buffer.concat(Array.from({ length: 10_000 }, () => Buffer.from([22, 3, 1, 0, 0])));
  const z = parseClientHello(zero);
  assert.equal(z.status, "not-tls");
  assert.match(z.status === "not-tls" ? z.reason : "", /zero-length/);
  // 33 one-byte records.
  const bytes = [1, 0, 1, 0, ...Array<number>(36).fill(0)]; // a 256-byte ClientHello, one byte per record
  const many = Buffer.concat(bytes.map((b) => Buffer.from([22, 3, 1, 0, 1, b])));
  assert.match((parseClientHello(many) as { reason: string }).reason, /more than 32 records/);
  // A ClientHello announcing 1 MiB.
  const huge = Buffer.from([22, 3, 1, 0, 4, 1, 0x10, 0, 0]);
  assert.match((parseClientHello(huge) as { reason: string }).reason, /larger than/);
  // Not a handshake, or a handshake that is not a ClientHello.
  assert.equal(parseClientHello(Buffer.from([23, 3, 3, 0, 1, 0])).status, "not-tls");
  assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).status, "not-tls");
});

test("DNS guard: one plain question, bounded size; TCP framing in one pass with a length limit", () => {
  const q = dnsPacket.encode({ type: "query", id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: "example.com", class: "IN" }] });
  assert.equal(queryProblem(q), null);
  assert.match(queryProblem(Buffer.alloc(5)) ?? "", /shorter/);
  assert.match(queryProblem(Buffer.concat([q, Buffer.alloc(MAX_QUERY_BYTES)])) ?? "", /longer/);
  const two = Buffer.from(q);
  two.writeUInt16BE(2, 4);
  assert.match(queryProblem(two) ?? "", /one question/);
  const resp = Buffer.from(q);
  resp[2]! |= 0x80;
  assert.match(queryProblem(resp) ?? "", /response/);
  const framer = new DnsTcpFramer();
  const framed = Buffer.concat([Buffer.from([0, q.length]), q, Buffer.from([0, q.length]), q]);
  const got: Buffer[] = [];
  for (const byte of framed) got.push(...framer.push(Buffer.from([byte])));
  assert.deepEqual(got, [q, q]);
  assert.equal(framer.pending, 0);
  assert.throws(() => new DnsTcpFramer().push(Buffer.from([0xff, 0xff])), /at most/);
});

test("budgets: per sandbox, released on close, DNS rate as a token bucket", () => {
  let now = 0;
  const refused: string[] = [];
  const b = new SandboxBudgets(
    { proxyConnections: 2, dnsConnections: 1, dnsInFlight: 2, dnsPerSecond: 10, dnsBurst: 3, bufferedBytes: 100 },
    (id, what) => refused.push(`${id}:${what}`),
    () => now,
  );
  const r1 = b.take("a", "proxyConnections");
  const r2 = b.take("a", "proxyConnections");
  assert.ok(r1 && r2);
  assert.equal(b.take("a", "proxyConnections"), undefined, "a is at its limit");
  assert.ok(b.take("b", "proxyConnections"), "b has its own budget");
  r1!();
  r1!(); // releasing twice is harmless
  assert.ok(b.take("a", "proxyConnections"));
  const q = [b.takeQuery("c"), b.takeQuery("c")];
  assert.equal(b.takeQuery("c"), undefined, "two in flight");
  for (const r of q) r!();
  const third = b.takeQuery("c");
  assert.ok(third, "bucket had 3");
  third();
  assert.equal(b.takeQuery("c"), undefined, "bucket empty");
  now += 1000;
  assert.ok(b.takeQuery("c"), "refilled after a second");
  // One query at a time, each answered before the next: the bucket still runs out.
  let answered = 0;
  for (let i = 0; i < 100; i++) {
    const r = b.takeQuery("e");
    if (r) {
      answered += 1;
      r();
    }
  }
  assert.equal(answered, 3, "sequential queries share one bucket");
  assert.ok(b.reserveBytes("d", 60));
  assert.ok(!b.reserveBytes("d", 60));
  b.releaseBytes("d", 60);
  assert.ok(b.reserveBytes("d", 100));
  assert.ok(refused.includes("a:proxyConnections") && refused.includes("c:dnsInFlight"));
});

test("the static resolver answers from its table only", async () => {
  const up = new StaticUpstream({ "Example.com": ["203.0.113.10", "2001:db8::10"] });
  const q = (name: string, type: "A" | "AAAA") =>
    dnsPacket.encode({ type: "query", id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: "IN" }] });
  assert.deepEqual(addressesIn(await up.query(q("example.com", "A"))), ["203.0.113.10"]);
  assert.deepEqual(addressesIn(await up.query(q("example.com", "AAAA"))), ["2001:db8::10"]);
  assert.equal((dnsPacket.decode(await up.query(q("example.org", "A"))) as { rcode?: string }).rcode, "NXDOMAIN");
  assert.deepEqual(await up.lookup("example.com."), ["203.0.113.10", "2001:db8::10"]);
});

test("DNS: a question name that does not decode to itself is dropped, a plain one is answered", async () => {
  const { questionNameProblem } = await import("./dns-guard.js");
  const wire = (labels: Buffer[]) =>
    Buffer.concat([Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0, 0, 1, 0, 1])]);
  const check = (labels: Buffer[]) => questionNameProblem(wire(labels), dnsPacket.decode(wire(labels)).questions![0]!.name);
  assert.equal(check([Buffer.from("_dmarc"), Buffer.from("Example-1"), Buffer.from("com")]), null);
  assert.equal(questionNameProblem(Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]), "."), null, "the root");
  // One label "example.com" decodes as the two-label name example.com.
  assert.match(check([Buffer.from("example.com")]) ?? "", /not printable ASCII labels/);
  assert.match(check([Buffer.from("a\n"), Buffer.from("example"), Buffer.from("com")]) ?? "", /not printable ASCII labels/);
  assert.match(check([Buffer.from([0x80, 0x61]), Buffer.from("com")]) ?? "", /not printable ASCII labels/);
});
