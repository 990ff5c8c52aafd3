import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_RECORD_IN, Rec, RecordDecoder, RecordProtocolError, creditRecord, encodeRecord } from "./fs-records.js";

test("records survive any chunking", () => {
  const stream = Buffer.concat([
    encodeRecord(Rec.OPENED, Buffer.from("{}")),
    encodeRecord(Rec.DATA, Buffer.alloc(70_000, 3)),
    encodeRecord(Rec.RESULT, Buffer.from('{"bytes":70000}')),
  ]);
  for (const size of [1, 5, 7, 4096, stream.length]) {
    const d = new RecordDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...d.push(stream.subarray(i, i + size)));
    assert.deepEqual(
      got.map((r) => [String.fromCharCode(r.type), r.payload.length]),
      [
        ["O", 2],
        ["D", 70_000],
        ["R", 15],
      ],
    );
  }
});

test("a record larger than the limit is a protocol error, not an allocation", () => {
  const head = Buffer.alloc(5);
  head.writeUInt8(Rec.DATA, 0);
  head.writeUInt32BE(MAX_RECORD_IN + 1, 1);
  assert.throws(() => new RecordDecoder().push(head), RecordProtocolError);
});

test("credit records carry a u32", () => {
  const c = creditRecord(4 * 1024 * 1024);
  assert.equal(c.readUInt8(0), Rec.CREDIT);
  assert.equal(c.readUInt32BE(1), 4);
  assert.equal(c.readUInt32BE(5), 4 * 1024 * 1024);
});
