/**
 * Fuzzes the parsers netd runs on a sandbox's bytes (docs/security.md, "Fuzzing"): the
 * ClientHello/SNI reader of the TLS proxy, the Host header of the HTTP proxy, the DNS-over-TCP
 * framer and the resolver's whole answer path. Inputs: arbitrary bytes, and mutations of valid
 * inputs (packages/server/fuzz/corpus/sni, dns-query). Checked: nothing throws but the parser's
 * own rejection, the answer is the same however the bytes are split into chunks, and a decision
 * comes within a fixed number of bytes (so the work and the memory per connection are bounded).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { fuzzBudget, fuzzCorpus } from "../../testing/fuzz-budget.js";
import { SandboxBudgets } from "./budgets.js";
import { DnsTcpFramer, MAX_QUERY_BYTES } from "./dns-guard.js";
import { answer, type DnsServerDeps } from "./dns-server.js";
import { type SandboxPolicy, normalizeName } from "./policy-match.js";
import { parseHostHeader } from "./proxies.js";
import { ClientHelloReader, MAX_HELLO_BYTES, MAX_HELLO_RECORDS, type SniResult } from "./sni.js";
import { StaticUpstream } from "./upstream-dns.js";

/** A seed as it is, or with edits: byte changes, 16-bit length overwrites, inserts, deletes, a cut. */
function mutationsOf(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("u16" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 6 })).map(([seed, edits]) => {
    let b = Buffer.from(seed);
    for (const e of edits) {
      const at = b.length === 0 ? 0 : e.at % b.length;
      if (e.kind === "set" && b.length > 0) b[at] = e.value;
      else if (e.kind === "u16" && at + 2 <= b.length) b.writeUInt16BE(e.value, at);
      else if (e.kind === "insert") b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
      else if (e.kind === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
      else if (e.kind === "cut") b = b.subarray(0, at);
    }
    return b;
  });
}

/** Cut positions to try: every one for short inputs, a spread of them for long ones. */
function cuts(length: number): number[] {
  if (length <= 512) return Array.from({ length: length + 1 }, (_, i) => i);
  return Array.from({ length: 65 }, (_, i) => Math.floor((length * i) / 64));
}

// ---- ClientHello / SNI -----------------------------------------------------------------------

const helloSeeds = fuzzCorpus("sni");
/** Bytes after which a ClientHelloReader has decided: every payload byte before the decision
    belongs to the hello (at most MAX_HELLO_BYTES), every record costs a 5-byte header. */
const SNI_DECISION_BOUND = MAX_HELLO_BYTES + 5 * (MAX_HELLO_RECORDS + 1);

function readHello(chunks: Buffer[]): { result: SniResult; raw: Buffer } {
  const reader = new ClientHelloReader();
  let result: SniResult = { status: "more" };
  for (const c of chunks) result = reader.push(c);
  return { result, raw: reader.raw() };
}

function checkHello(input: Buffer): void {
  const whole = readHello([input]);
  const r = whole.result;
  assert.ok(r.status === "more" || r.status === "not-tls" || r.status === "ok");
  if (r.status === "ok") {
    assert.ok(r.helloBytes > 0 && r.helloBytes <= input.length && r.helloBytes <= SNI_DECISION_BOUND);
    if (r.serverName !== null) assert.match(r.serverName, /^[a-z0-9.-]{1,253}$/);
  }
  if (r.status === "not-tls") assert.equal(typeof r.reason, "string");
  assert.deepEqual(whole.raw, input, "every byte is kept for the upstream");
  for (const at of cuts(input.length)) {
    assert.deepEqual(readHello([input.subarray(0, at), input.subarray(at)]).result, r, `split at ${at}`);
  }
  if (input.length <= 2048) assert.deepEqual(readHello([...input].map((b) => Buffer.from([b]))).result, r, "one byte at a time");
}

test("SNI: arbitrary bytes, and bytes that start like a TLS handshake", () => {
  const tlsStart = fc
    .tuple(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffff }))
    .map(([rest, recLen, helloLen]) =>
      Buffer.concat([Buffer.from([22, 3, 1, recLen >> 8, recLen & 255, 1, helloLen >> 16, (helloLen >> 8) & 255, helloLen & 255]), rest]),
    );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
        tlsStart,
      ),
      checkHello,
    ),
    fuzzBudget(300),
  );
});

test("SNI: mutated ClientHellos of real clients", () => {
  for (const seed of helloSeeds) checkHello(seed);
  fc.assert(fc.property(mutationsOf(helloSeeds), checkHello), fuzzBudget(300));
});

test("SNI: a real ClientHello re-split into any valid records keeps its server name", () => {
  const resplit = fc.tuple(fc.constantFrom(...helloSeeds), fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: MAX_HELLO_RECORDS - 1 }));
  fc.assert(
    fc.property(resplit, ([hello, sizes]) => {
      const expected = readHello([hello]).result;
      const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
      const records: Buffer[] = [];
      let p = 0;
      for (const size of [...sizes, body.length]) {
        if (p >= body.length) break;
        const piece = body.subarray(p, p + size);
        records.push(Buffer.from([22, 3, 1, piece.length >> 8, piece.length & 255]), piece);
        p += piece.length;
      }
      const got = readHello([Buffer.concat(records)]).result;
      assert.equal(got.status, "ok");
      assert.equal(got.status === "ok" && got.serverName, expected.status === "ok" && expected.serverName);
    }),
    fuzzBudget(200),
  );
});

test("SNI: a decision always comes within a fixed number of bytes", () => {
  // A stream of handshake records of random sizes announcing a random ClientHello length: at
  // most SNI_DECISION_BOUND bytes are read (and held) before the connection is routed or refused.
  const stream = fc
    .tuple(
      fc.integer({ min: 0, max: 0xffffff }),
      fc.array(fc.integer({ min: 1, max: 16 * 1024 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: 255 }),
    )
    .map(([helloLen, recordSizes, fill]) => {
      const payload = Buffer.alloc(
        recordSizes.reduce((a, b) => a + b, 0),
        fill,
      );
      payload.set([1, helloLen >> 16, (helloLen >> 8) & 255, helloLen & 255].slice(0, payload.length));
      const parts: Buffer[] = [];
      let p = 0;
      for (const size of recordSizes) {
        parts.push(Buffer.from([22, 3, 3, size >> 8, size & 255]), payload.subarray(p, p + size));
        p += size;
      }
      return Buffer.concat(parts);
    });
  fc.assert(
    fc.property(stream, (input) => {
      if (input.length < SNI_DECISION_BOUND) return;
      assert.notEqual(readHello([input.subarray(0, SNI_DECISION_BOUND)]).result.status, "more");
    }),
    fuzzBudget(100),
  );
});

// ---- Host header -----------------------------------------------------------------------------

test("Host header: arbitrary strings parse to null or a clean name and port", () => {
  const hostish = fc.oneof(
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.tuple(fc.constantFrom("", "[", "]", ":", "@", "/", " ", "\t", "::1", ".."), fc.domain(), fc.string({ maxLength: 8 })).map(([a, d, b]) => a + d + b),
  );
  fc.assert(
    fc.property(hostish, (value) => {
      const h = parseHostHeader(value);
      if (h === null) return;
      assert.ok(h.name.length > 0);
      assert.doesNotMatch(h.name, /[\s/@[\]]/);
      assert.equal(h.name, h.name.toLowerCase(), "normalised");
      assert.ok(h.port === null || (Number.isInteger(h.port) && h.port >= 0 && h.port <= 99_999));
    }),
    fuzzBudget(1000),
  );
});

test("Host header: names and IPv6 literals with ports round-trip", () => {
  fc.assert(
    fc.property(fc.oneof(fc.domain(), fc.ipV4()), fc.option(fc.integer({ min: 0, max: 65_535 })), (name, port) => {
      assert.deepEqual(parseHostHeader(port === null ? name : `${name}:${port}`), { name: normalizeName(name), port });
    }),
    fuzzBudget(500),
  );
  fc.assert(
    fc.property(fc.ipV6(), fc.integer({ min: 0, max: 65_535 }), (ip, port) => {
      assert.deepEqual(parseHostHeader(`[${ip}]:${port}`), { name: ip.toLowerCase(), port });
    }),
    fuzzBudget(500),
  );
});

// ---- DNS ---------------------------------------------------------------------------------------

const querySeeds = fuzzCorpus("dns-query");

test("DNS over TCP: the framer gives the same messages however the stream is split", () => {
  const framed = fc.array(
    fc.oneof(
      fc.constantFrom(...querySeeds),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    ),
    { maxLength: 4 },
  );
  const stream = fc.oneof(
    framed.map((msgs) => Buffer.concat(msgs.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 255]), m]))),
    fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
  );
  const frame = (chunks: Buffer[]) => {
    const framer = new DnsTcpFramer();
    const out: Buffer[] = [];
    try {
      for (const c of chunks) {
        out.push(...framer.push(c));
        assert.ok(framer.pending <= MAX_QUERY_BYTES + 2, "holds at most one message");
      }
    } catch (err) {
      assert.match((err as Error).message, /^DNS message of \d+ bytes over TCP/, "only the framer's own refusal");
      return { out, refused: true };
    }
    return { out, refused: false };
  };
  fc.assert(
    fc.property(stream, (input) => {
      // A refused stream ends its connection: only the refusal must not depend on the split.
      const whole = frame([input]);
      for (const at of cuts(input.length)) {
        const split = frame([input.subarray(0, at), input.subarray(at)]);
        assert.equal(split.refused, whole.refused, `split at ${at}`);
        if (!whole.refused) assert.deepEqual(split.out, whole.out, `split at ${at}`);
      }
    }),
    fuzzBudget(300),
  );
});

test("DNS: the resolver's answer path never fails on a sandbox's query", async () => {
  const policy: SandboxPolicy = { id: "sbx", ipv4: "10.73.0.2", ipv6: "fd00::2", rules: null, secrets: [], closed: [] };
  const deps: DnsServerDeps = {
    upstream: new StaticUpstream({ "example.com": ["203.0.113.10", "2001:db8::10"], "api.example.com": ["203.0.113.11"] }),
    policyOf: () => policy,
    admit: async () => undefined,
    closedFor: () => false,
    budgets: new SandboxBudgets({ proxyConnections: 1, dnsConnections: 1, dnsInFlight: 1e9, dnsPerSecond: 1e9, dnsBurst: 1e9, bufferedBytes: 1 }),
    log: () => undefined,
  };
  const check = async (packet: Buffer) => {
    const out = await answer(deps, policy.ipv4, packet); // a rejection fails the test
    if (out === undefined) return;
    const decoded = dnsPacket.decode(out);
    assert.equal(decoded.type, "response");
    assert.equal(decoded.id, packet.readUInt16BE(0));
    assert.deepEqual(
      decoded.questions?.map((q) => q.name),
      dnsPacket.decode(packet).questions?.map((q) => q.name),
      "the question comes back as asked",
    );
  };
  for (const seed of querySeeds) await check(seed);
  const packets = fc.oneof(
    mutationsOf(querySeeds),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  );
  await fc.assert(fc.asyncProperty(packets, check), fuzzBudget(500));
});
