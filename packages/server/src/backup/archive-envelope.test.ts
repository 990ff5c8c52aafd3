import assert from "node:assert/strict";
import { test } from "node:test";
import { ArchiveInvalidError, type VolumeArchiveHeader } from "atoll/contract";
import { ArchiveReader, archiveChunks, TRAILER_LENGTH } from "./archive-envelope.js";

const header: VolumeArchiveHeader = {
  version: 1,
  payload: "tar+zstd",
  volume: { name: "data", sizeGb: 1, capacityBytes: 2 ** 30, usedBytes: 123, usedInodes: 12 },
  exportedAt: "2026-12-03T00:00:00.000Z",
};

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function archive(payload: Buffer): Promise<Buffer> {
  return collect(archiveChunks(header, pieces(payload, 1000)));
}

async function read(data: Buffer, chunk = 7): Promise<{ header: VolumeArchiveHeader; payload: Buffer }> {
  const reader = new ArchiveReader(pieces(data, chunk));
  const h = await reader.header();
  return { header: h, payload: await collect(reader.payload()) };
}

async function reason(p: Promise<unknown>): Promise<unknown> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ArchiveInvalidError, `expected ArchiveInvalidError, got ${String(err)}`);
  return err.details?.reason;
}

const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) % 251));

test("an archive reads back to its header and payload, whatever the chunk sizes", async () => {
  const data = await archive(payload);
  for (const size of [1, 7, TRAILER_LENGTH - 1, TRAILER_LENGTH, TRAILER_LENGTH + 1, 4096, data.length]) {
    const got = await read(data, size);
    assert.deepEqual(got.header, header);
    assert.ok(got.payload.equals(payload), `chunk size ${size}`);
  }
  const empty = await read(await archive(Buffer.alloc(0)));
  assert.equal(empty.payload.length, 0);
});

test("a truncated archive is refused as truncated, at any cut", async () => {
  const data = await archive(payload);
  for (const cut of [data.length - 1, data.length - TRAILER_LENGTH, data.length - 5000, 2000]) {
    assert.equal(await reason(read(data.subarray(0, cut))), "truncated", `cut at ${cut}`);
  }
  assert.equal(await reason(read(data.subarray(0, 20))), "truncated"); // inside the header
});

test("one changed byte anywhere, or bytes added at the end, fail the checksum", async () => {
  const data = await archive(payload);
  for (const at of [30, 5000, data.length - TRAILER_LENGTH - 1, data.length - 1]) {
    const bad = Buffer.from(data);
    bad[at] = (bad[at] ?? 0) ^ 1;
    const r = await reason(read(bad));
    assert.ok(r === "checksum" || r === "format", `byte ${at}: ${String(r)}`);
  }
  const inHeaderValue = Buffer.from(data.toString("latin1").replace('"data"', '"date"'), "latin1");
  assert.equal(await reason(read(inHeaderValue)), "checksum");
  assert.equal(await reason(read(Buffer.concat([data, Buffer.from("more")]))), "truncated");
  assert.equal(await reason(read(Buffer.concat([data, data]))), "checksum");
});

test("something else, a huge header or an unknown version is refused as format", async () => {
  assert.equal(await reason(read(Buffer.from("PK\u0003\u0004 this is a zip file, not ours"))), "format");
  const huge = Buffer.concat([Buffer.from("ATOLLVOL"), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
  assert.equal(await reason(read(huge)), "format");
  const v2 = await collect(archiveChunks({ ...header, version: 2 as 1 }, pieces(payload, 1000)));
  assert.equal(await reason(read(v2)), "format");
});
