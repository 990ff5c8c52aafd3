/**
 * Fuzzes FsCall, the daemon's decoder of atoll-fs output, with what a hostile helper could print:
 * random bytes in random chunks and random record sequences. Whatever it prints, nothing throws
 * out of FsCall, the call ends with a result or a typed error, a protocol violation kills the
 * helper, and what the daemon buffers stays within the window it granted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AtollError } from "atoll/contract";
import fc from "fast-check";
import type { ProcessSink } from "../core/drivers.js";
import { FsCall, WINDOW } from "./fs-call.js";
import { MAX_RECORD_IN, Rec, encodeRecord } from "./fs-records.js";

const tick = () => new Promise((r) => setImmediate(r));

/** An FsCall whose helper is the test: returns the call, the helper's sink and what it was sent. */
function hostileHelper(streams: boolean) {
  let sink!: ProcessSink;
  const signals: (string | number)[] = [];
  let acked = 0;
  const call = new FsCall(
    (_argv, _stdin, s) => {
      sink = s;
      const ack = (_stream: unknown, n: number) => {
        acked += n;
      };
      return { write: () => undefined, closeStdin: () => undefined, signal: (sig) => void signals.push(sig), ack };
    },
    ["read", "/x"],
    { stdin: true, streams, who: "test" },
  );
  return { call, sink, signals, acked: () => acked };
}

async function feed(chunks: Uint8Array[], streams: boolean) {
  const h = hostileHelper(streams);
  let delivered = 0;
  for (const c of chunks) {
    h.sink.onStdout(c);
    delivered += c.byteLength;
    await tick();
  }
  h.sink.onExit({ code: 0, signal: null, oom: false });
  const outcome = await h.call.result.then(
    () => "result",
    (e: unknown) => {
      assert.ok(e instanceof AtollError, `a typed error, got ${String(e)}`);
      return "error";
    },
  );
  // Nobody read the data: it stayed within the credit the call granted (one record of slack for J).
  assert.ok(h.call.data.readableLength <= WINDOW, `buffered ${h.call.data.readableLength}`);
  assert.ok(h.acked() <= delivered);
  return outcome;
}

test("random bytes never escape FsCall", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 20 }), fc.boolean(), (chunks, streams) =>
      feed(chunks, streams).then(() => undefined),
    ),
    { numRuns: 300 },
  );
});

const recordArb = fc.record({
  type: fc.constantFrom(Rec.DATA, Rec.END, Rec.CREDIT, Rec.ACK, Rec.JSON, Rec.OPENED, Rec.RESULT, Rec.ERROR, 0, 0xff),
  payload: fc.oneof(
    fc.constantFrom("{}", '{"errno":2,"syscall":"open","path":"/x"}', "[1,2]", "null", '{"size":5}').map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 16 }),
    fc.integer({ min: 0, max: WINDOW + 1 }).map((n) => new Uint8Array(n)),
  ),
});

test("random record sequences end in a result or a typed error", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(recordArb, { maxLength: 20 }), fc.boolean(), (records, streams) =>
      feed(
        records.map((r) => encodeRecord(r.type, r.payload)),
        streams,
      ).then(() => undefined),
    ),
    { numRuns: 300 },
  );
});

test("protocol violations fail the call and kill the helper", async () => {
  const cases: [string, Buffer[]][] = [
    [
      "output beyond the credit",
      [
        encodeRecord(Rec.OPENED, Buffer.from("{}")),
        encodeRecord(Rec.DATA, Buffer.alloc(60_000)),
        ...Array.from({ length: 20 }, () => encodeRecord(Rec.DATA, Buffer.alloc(60_000))),
      ],
    ],
    ["an empty data record", [encodeRecord(Rec.DATA)]],
    ["an acknowledgement of bytes never sent", [encodeRecord(Rec.ACK, Buffer.from([0, 0, 0, 0, 0, 0, 0, 9]))]],
    ["an unknown record", [encodeRecord(0x5a, Buffer.from("z"))]],
    ["a second O record", [encodeRecord(Rec.OPENED, Buffer.from("{}")), encodeRecord(Rec.OPENED, Buffer.from("{}"))]],
    ["a record longer than the limit", [Buffer.from([Rec.DATA, ...[0, 0, 0, 0].map((_, i) => ((MAX_RECORD_IN + 1) >>> (24 - 8 * i)) & 0xff)])]],
  ];
  for (const [what, records] of cases) {
    const h = hostileHelper(true);
    for (const r of records) h.sink.onStdout(r);
    await tick();
    assert.deepEqual(h.signals, ["SIGKILL"], what);
    h.sink.onExit({ code: null, signal: "SIGKILL", oom: false });
    await assert.rejects(h.call.result, (e: AtollError) => e.code === "HOST_ERROR" && /protocol/.test(e.message), what);
  }
});

test("after the result, the helper's output is still drained (so its exit can come) and ignored", async () => {
  const h = hostileHelper(false);
  h.sink.onStdout(encodeRecord(Rec.RESULT, Buffer.from("{}")));
  const before = h.acked();
  h.sink.onStdout(encodeRecord(0x5a, Buffer.alloc(1000, 1)));
  assert.equal(h.acked(), before + 1005);
  assert.deepEqual(h.signals, []);
  h.sink.onExit({ code: 0, signal: null, oom: false });
  assert.deepEqual(await h.call.result, {});
});
