import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  ProtocolError,
  decodeExit,
  decodeSpawnFailed,
  decodeStarted,
  encodeFrame,
  encodeSignal,
  encodeSpawn,
  encodeStdin,
} from "./agent-protocol.js";

describe("encodeFrame", () => {
  it("writes length, type, procId and payload big endian", () => {
    const f = encodeFrame(FrameType.STDIN, 0x01020304, Buffer.from("hi"));
    assert.deepEqual([...f], [0, 0, 0, 7, 2, 1, 2, 3, 4, 0x68, 0x69]);
  });

  it("encodes an empty payload", () => {
    const f = encodeFrame(FrameType.KILL_ALL, 0);
    assert.equal(f.byteLength, HEADER_BYTES);
    assert.equal(f.readUInt32BE(0), 5);
  });
});

describe("encodeSpawn", () => {
  it("lays out uid, gid, cwd, argc, argv, envc, env, flags as NUL-terminated strings", () => {
    const f = encodeSpawn(7, { uid: 1000, gid: 1000, cwd: "/home/app", argv: ["sh", "-c", "echo hi"], env: { A: "1", PATH: "/bin" }, stdinPipe: true });
    assert.equal(f.readUInt8(4), FrameType.SPAWN);
    assert.equal(f.readUInt32BE(5), 7);
    const strings = f.subarray(HEADER_BYTES).toString("utf8").split("\0");
    assert.deepEqual(strings, ["1000", "1000", "/home/app", "3", "sh", "-c", "echo hi", "2", "A=1", "PATH=/bin", "1", ""]);
  });

  it("accepts env as K=V strings and stdin /dev/null", () => {
    const f = encodeSpawn(1, { uid: 0, gid: 0, cwd: "/", argv: ["true"], env: ["X=y=z"], stdinPipe: false });
    assert.deepEqual(f.subarray(HEADER_BYTES).toString("utf8").split("\0"), ["0", "0", "/", "1", "true", "1", "X=y=z", "0", ""]);
  });

  it("rejects NUL in strings, empty argv and bad env names", () => {
    const base = { uid: 0, gid: 0, cwd: "/", env: {}, stdinPipe: false };
    assert.throws(() => encodeSpawn(1, { ...base, argv: ["a\0b"] }), TypeError);
    assert.throws(() => encodeSpawn(1, { ...base, argv: [] }), TypeError);
    assert.throws(() => encodeSpawn(1, { ...base, argv: ["x"], env: { "A=B": "1" } }), TypeError);
  });
});

describe("encodeStdin / encodeSignal", () => {
  it("splits large stdin writes", () => {
    const frames = encodeStdin(3, new Uint8Array(16 * 1024 * 1024 + 10));
    assert.equal(frames.length, 2);
    assert.equal(frames[1]!.readUInt32BE(0), 5 + 10);
  });

  it("encodes the signal number", () => {
    const f = encodeSignal(9, 15);
    assert.equal(f.readUInt8(4), FrameType.SIGNAL);
    assert.equal(f.readUInt32BE(HEADER_BYTES), 15);
  });
});

describe("FrameDecoder", () => {
  const frames = [
    encodeFrame(FrameType.READY, 0),
    encodeFrame(FrameType.STARTED, 1, Buffer.from([0, 0, 0, 42])),
    encodeFrame(FrameType.STDOUT, 1, Buffer.from("hello world")),
    encodeFrame(FrameType.EXIT, 1, Buffer.from([0, 0, 0, 3, 0, 0, 0, 0])),
  ];
  const stream = Buffer.concat(frames);

  it("decodes frames split at every possible byte boundary", () => {
    for (let cut = 0; cut <= stream.byteLength; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.equal(out.length, 4, `cut at ${cut}`);
      assert.equal(d.pending, 0);
      assert.equal(out[2]!.payload.toString(), "hello world");
    }
  });

  it("decodes a stream fed one byte at a time", () => {
    const d = new FrameDecoder();
    const out = [];
    for (const byte of stream) out.push(...d.push(Buffer.from([byte])));
    assert.deepEqual(
      out.map((f) => [f.type, f.procId]),
      [
        [FrameType.READY, 0],
        [FrameType.STARTED, 1],
        [FrameType.STDOUT, 1],
        [FrameType.EXIT, 1],
      ],
    );
    assert.equal(decodeStarted(out[1]!.payload), 42);
    assert.deepEqual(decodeExit(out[3]!.payload), { code: 3, signal: 0 });
  });

  it("keeps payloads of earlier frames intact when more data arrives", () => {
    const d = new FrameDecoder();
    const [a] = d.push(encodeFrame(FrameType.STDOUT, 1, Buffer.from("first")));
    d.push(encodeFrame(FrameType.STDOUT, 1, Buffer.from("second")));
    assert.equal(a!.payload.toString(), "first");
  });

  it("rejects impossible lengths", () => {
    assert.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 2, 0, 0])), ProtocolError);
    assert.throws(() => new FrameDecoder(10).push(Buffer.from([0, 0, 1, 0])), ProtocolError);
  });
});

describe("payload decoders", () => {
  it("decodes SPAWN_FAILED and a signalled EXIT", () => {
    const failed = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from("cannot execute 'x'")]);
    assert.deepEqual(decodeSpawnFailed(failed), { errno: 2, message: "cannot execute 'x'" });
    assert.deepEqual(decodeExit(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9])), { code: -1, signal: 9 });
  });

  it("rejects short payloads", () => {
    assert.throws(() => decodeExit(Buffer.alloc(4)), ProtocolError);
    assert.throws(() => decodeStarted(Buffer.alloc(2)), ProtocolError);
  });
});
