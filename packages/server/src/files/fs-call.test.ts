/**
 * FsCall driving the real atoll-fs binary on a temp directory of this host (no sandbox: the
 * protocol, flow control and atomic writes are what is tested here; the sandbox and jail paths
 * are covered by the e2e files-*.itest.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ProcessSink } from "../core/drivers.js";
import { FsCall, type FsSpawner, WINDOW } from "./fs-call.js";

const HELPER = fileURLToPath(new URL("../../native/build/atoll-fs", import.meta.url));
const dir = mkdtempSync("/var/tmp/atoll-fscall-");
after(() => rmSync(dir, { recursive: true, force: true }));

const local: FsSpawner = (argv: string[], stdin: boolean, sink: ProcessSink) => {
  const child = spawn(HELPER, argv, { stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"] });
  child.stdin?.on("error", () => undefined);
  child.stdout!.on("data", (d: Buffer) => sink.onStdout(d));
  child.stderr!.on("data", (d: Buffer) => sink.onStderr(d));
  child.on("close", (code, signal) => sink.onExit({ code, signal, oom: false }));
  return {
    write: (d) => void child.stdin?.write(d),
    closeStdin: () => void child.stdin?.end(),
    signal: (s) => void child.kill(s as NodeJS.Signals),
    ack: () => undefined,
  };
};

const call = (argv: string[], streams = false, stdin = streams) => new FsCall(local, argv, { stdin, streams, who: "test" });

test("metadata results and typed errors", async () => {
  writeFileSync(join(dir, "f"), "12345");
  const st = await call(["stat", join(dir, "f")]).result;
  assert.equal(st.size, 5);
  assert.equal(st.type, "file");
  await assert.rejects(call(["stat", join(dir, "missing")]).result, { code: "NOT_FOUND" });
  await assert.rejects(call(["bogus-op"]).result, { code: "INVALID_ARGUMENT" });
});

test("a large write streams within the window and replaces the file atomically", async () => {
  const target = join(dir, "big.bin");
  writeFileSync(target, "old");
  const c = call(["write", target, "-", "c"], false, true);
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let seenOld = false;
  async function* body() {
    for (let i = 0; i < 32; i++) {
      if (readFileSync(target, "utf8") === "old") seenOld = true;
      yield chunk;
    }
  }
  await c.sendInput(body());
  assert.deepEqual(await c.result, { bytes: 32 * 1024 * 1024 });
  assert.ok(seenOld, "the old contents stayed in place while the new ones were written");
  assert.equal(readFileSync(target).length, 32 * 1024 * 1024);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith(".atoll-tmp")),
    [],
  );
});

test("an upload whose source fails leaves the old file and no temp file", async () => {
  const target = join(dir, "keep.txt");
  writeFileSync(target, "keep me");
  const c = call(["write", target, "-", "c"], false, true);
  async function* failing() {
    yield Buffer.from("partial data");
    throw new Error("client went away");
  }
  await assert.rejects(c.sendInput(failing()), /client went away/);
  await assert.rejects(c.result, { code: "INVALID_ARGUMENT" });
  assert.equal(readFileSync(target, "utf8"), "keep me");
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith(".atoll-tmp")),
    [],
  );
});

test("reads are paced by credit: the helper never runs more than a window ahead", async () => {
  const target = join(dir, "read.bin");
  writeFileSync(target, Buffer.alloc(24 * 1024 * 1024, 1));
  const c = call(["read", target], true);
  await c.opened;
  // Nobody reads for a while: what arrived is bounded by the window (plus one record).
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(c.data.readableLength <= WINDOW + 64 * 1024, `buffered ${c.data.readableLength}`);
  let total = 0;
  for await (const chunk of c.data) total += (chunk as Buffer).length;
  assert.equal(total, 24 * 1024 * 1024);
  assert.deepEqual(await c.result, { bytes: 24 * 1024 * 1024 });
});

test("tar out and back in reproduces a tree; a stopped reader stops the helper", async () => {
  const src = join(dir, "tree");
  await call(["mkdir", join(src, "a/b"), "-", "1"]).result;
  writeFileSync(join(src, "a/b/c.txt"), "c");
  writeFileSync(join(src, "top.txt"), "top");
  const out = call(["tar-out", src], true);
  await out.opened;
  const tarIn = call(["tar-in", join(dir, "copy")], false, true);
  await tarIn.sendInput(out.data as AsyncIterable<Uint8Array>);
  assert.deepEqual(await tarIn.result, { files: 2, dirs: 2, links: 0, bytes: 4 });
  assert.equal(readFileSync(join(dir, "copy/a/b/c.txt"), "utf8"), "c");
  const reader = call(["read", join(dir, "read.bin")], true);
  await reader.opened;
  reader.data.destroy();
  await assert.rejects(reader.result);
  await reader.exited;
  assert.ok(existsSync(join(dir, "read.bin")));
});
