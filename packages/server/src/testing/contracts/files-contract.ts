/**
 * The FilesDriver contract (core/drivers.ts), as one suite that runs against any driver: the
 * in-memory fake in the unit tier (testing/fakes/fake-files.test.ts) and the bubblewrap driver as
 * root (runtime/files-contract.itest.ts). Every operation goes through FsCall (files/fs-call.ts),
 * the daemon's own side of the atoll-fs record protocol, with the argv core/file-service.ts
 * builds, on a volume view (runOnVolume): results, streamed data and typed errors must agree.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { FilesDriver } from "../../core/drivers.js";
import { FsCall, type Json } from "../../files/fs-call.js";
import { tarOf } from "../ustar.js";

const MiB = 2 ** 20;

/** What kind of volume a test needs. */
export interface VolumeSpec {
  /** Mounted read-only: every write fails with EROFS. */
  readOnly?: boolean;
  /** Room on the volume's file system (ENOSPC past it); default: plenty. */
  capacityBytes?: number;
}

/** A driver under test and a way to make volumes for runOnVolume. */
export interface FilesSubject {
  driver: FilesDriver;
  /** A new empty volume directory owned by sandbox `app`: the `source` for runOnVolume. */
  newVolume(spec?: VolumeSpec): Promise<string>;
  /** Removes what the subject made (called once, after the suite). */
  dispose(): Promise<void>;
}

/** Registers the contract tests of one files driver under `describe(name)`. */
export function filesContract(name: string, makeSubject: () => Promise<FilesSubject>): void {
  describe(`FilesDriver contract: ${name}`, () => {
    let s: FilesSubject;
    before(async () => {
      s = await makeSubject();
    });
    after(async () => {
      s.driver.close();
      await s.dispose();
    });

    const call = (source: string, argv: string[], stdin: boolean, streams: boolean, inbandErrors = false) =>
      new FsCall((a, i, sink) => s.driver.runOnVolume(source, a, i, sink), argv, { stdin, streams, who: "app", inbandErrors });
    const op = (source: string, ...argv: string[]): Promise<Json> => call(source, argv, false, false).result;
    const write = async (source: string, path: string, data: Uint8Array, flags = "c"): Promise<Json> => {
      const c = call(source, ["write", path, "-", flags], true, false);
      await c.opened;
      await c.sendInput(chunks(data));
      return c.result;
    };
    const read = async (source: string, path: string, argv = ["read", path]): Promise<Buffer> => {
      const c = call(source, argv, true, true, argv[0] === "tar-out");
      const chunks: Buffer[] = [];
      for await (const d of c.data) chunks.push(d as Buffer);
      await c.result;
      return Buffer.concat(chunks);
    };
    const list = async (source: string, path: string): Promise<string[]> => {
      const c = call(source, ["readdir", path], true, true);
      const out: string[] = [];
      for await (const e of c.entries) out.push(`${(e as Json).name}:${(e as Json).type}`);
      await c.result;
      return out.filter((n) => !n.startsWith("lost+found:")).sort();
    };
    const tarIn = async (source: string, dir: string, tar: Uint8Array): Promise<Json> => {
      const c = call(source, ["tar-in", dir], true, false);
      await c.opened;
      await c.sendInput(chunks(tar));
      return c.result;
    };

    it("write, read and stat a file; a second write replaces it, append adds", async () => {
      const v = await s.newVolume();
      const data = randomBytes(3 * MiB + 17); // more than one window and several records
      assert.deepEqual(await write(v, "/big.bin", data), { bytes: data.length });
      assert.ok((await read(v, "/big.bin")).equals(data));
      const st = await op(v, "stat", "/big.bin");
      assert.equal(st.type, "file");
      assert.equal(st.size, data.length);
      assert.equal(st.uid, 1000, "files belong to the volume user app");
      await write(v, "/big.bin", Buffer.from("short"));
      await write(v, "/big.bin", Buffer.from("+more"), "a");
      assert.equal((await read(v, "/big.bin")).toString(), "short+more");
      assert.equal((await op(v, "stat", "/")).type, "dir");
    });

    it("mkdir, list and remove a tree", async () => {
      const v = await s.newVolume();
      assert.deepEqual(await op(v, "mkdir", "/a/b/c", "-", "1"), {});
      await op(v, "mkdir", "/a/b/c", "-", "1"); // recursive: an existing directory is fine
      await write(v, "/a/f.txt", Buffer.from("f"));
      assert.deepEqual(await list(v, "/a"), ["b:dir", "f.txt:file"]);
      await assert.rejects(op(v, "remove", "/a", "0"), { code: "DIRECTORY_NOT_EMPTY" });
      assert.deepEqual(await op(v, "remove", "/a", "1"), {});
      await assert.rejects(op(v, "stat", "/a"), { code: "NOT_FOUND" });
      assert.deepEqual(await list(v, "/"), []);
    });

    it("typed errors: missing, existing, wrong type; a failed write changes nothing", async () => {
      const v = await s.newVolume();
      await assert.rejects(read(v, "/nope"), { code: "NOT_FOUND" });
      await assert.rejects(op(v, "stat", "/nope/deeper"), { code: "NOT_FOUND" });
      await assert.rejects(list(v, "/nope"), { code: "NOT_FOUND" });
      await assert.rejects(op(v, "remove", "/nope", "1"), { code: "NOT_FOUND" });
      await assert.rejects(write(v, "/nope", Buffer.from("x"), "-"), { code: "NOT_FOUND" });
      await op(v, "mkdir", "/d", "-", "0");
      await assert.rejects(op(v, "mkdir", "/d", "-", "0"), { code: "ALREADY_EXISTS" });
      await assert.rejects(read(v, "/d"), { code: "IS_A_DIRECTORY" });
      await assert.rejects(write(v, "/d", Buffer.from("x")), { code: "IS_A_DIRECTORY" });
      await write(v, "/f", Buffer.from("kept"));
      await assert.rejects(write(v, "/f", Buffer.from("new"), "n"), { code: "ALREADY_EXISTS" });
      await assert.rejects(op(v, "stat", "/f/x"), { code: "NOT_A_DIRECTORY" });
      await assert.rejects(list(v, "/f"), { code: "NOT_A_DIRECTORY" });
      assert.equal((await read(v, "/f")).toString(), "kept");
      assert.deepEqual(await list(v, "/"), ["d:dir", "f:file"]);
    });

    it("a full volume refuses with NO_SPACE and keeps no partial file", async () => {
      const v = await s.newVolume({ capacityBytes: 2 * MiB });
      await write(v, "/small", Buffer.from("small"));
      await assert.rejects(write(v, "/huge", randomBytes(4 * MiB)), { code: "NO_SPACE" });
      await assert.rejects(write(v, "/small", randomBytes(4 * MiB)), { code: "NO_SPACE" });
      assert.equal((await read(v, "/small")).toString(), "small", "the old contents stay");
      assert.deepEqual(await list(v, "/"), ["small:file"]);
    });

    it("a read-only volume refuses every write with READ_ONLY and still reads", async () => {
      const v = await s.newVolume({ readOnly: true });
      await assert.rejects(write(v, "/f", Buffer.from("x")), { code: "READ_ONLY" });
      await assert.rejects(op(v, "mkdir", "/d", "-", "0"), { code: "READ_ONLY" });
      await assert.rejects(tarIn(v, "/", tarOf([["a.txt", "0", "a"]])), { code: "READ_ONLY" });
      assert.equal((await op(v, "stat", "/")).type, "dir");
      assert.deepEqual(await list(v, "/"), []);
    });

    it("paths cannot leave the volume: `..` stops at its root, absolute links point into it", async () => {
      const v = await s.newVolume();
      await write(v, "/passwd", Buffer.from("the volume's own"));
      assert.equal((await read(v, "/../../../../passwd")).toString(), "the volume's own");
      await assert.rejects(read(v, "/../../../../etc/passwd"), { code: "NOT_FOUND" });
      await op(v, "symlink", "/etc", "/etc-link");
      await assert.rejects(read(v, "/etc-link/passwd"), { code: "NOT_FOUND" });
      await op(v, "symlink", "../../../passwd", "/up");
      assert.equal((await read(v, "/up")).toString(), "the volume's own");
      await assert.rejects(tarIn(v, "/x", tarOf([["../escape.txt", "0", "out"]])), { code: "INVALID_ARGUMENT" });
    });

    it("tar out a tree and tar it into another directory: the same files come back", async () => {
      const v = await s.newVolume();
      await op(v, "mkdir", "/src/sub", "-", "1");
      await write(v, "/src/a.txt", Buffer.from("alpha"));
      await write(v, "/src/sub/b.bin", randomBytes(70_000));
      const tar = await read(v, "/src", ["tar-out", "/src"]);
      const res = await tarIn(v, "/copy", tar);
      assert.equal(res.files, 2);
      assert.equal(res.bytes, 70_005);
      assert.deepEqual(await list(v, "/copy"), ["a.txt:file", "sub:dir"]);
      assert.ok((await read(v, "/copy/sub/b.bin")).equals(await read(v, "/src/sub/b.bin")));
      assert.deepEqual(
        await tarIn(
          v,
          "/hand",
          tarOf([
            ["d/", "5", ""],
            ["d/x.txt", "0", "xyz"],
          ]),
        ),
        { files: 1, dirs: 1, links: 0, bytes: 3 },
      );
      assert.equal((await read(v, "/hand/d/x.txt")).toString(), "xyz");
      await assert.rejects(read(v, "/nope", ["tar-out", "/nope"]), { code: "NOT_FOUND" });
    });
  });
}

/** `data` as an upload source in 64 KiB pieces. */
async function* chunks(data: Uint8Array): AsyncIterable<Uint8Array> {
  for (let off = 0; off < data.byteLength; off += 64 * 1024) yield data.subarray(off, off + 64 * 1024);
}
