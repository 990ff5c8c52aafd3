/**
 * atoll-shim's record relay (native/atoll-shim.c, docs/architecture.md "Live restore") with a
 * stand-in launcher: `sh` that sends READY and then echoes every byte it gets (`cat`), so each
 * record sent down comes back up. Checks that only whole records pass, that a daemon's partial
 * record is dropped when it goes away, that a new daemon takes over through the socket after
 * READY (and a pooled launcher before READY does not survive), and that a hostile length from
 * init ends the sandbox with the length passed on.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { type Socket, createConnection } from "node:net";
import path from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { FrameDecoder, FrameType, encodeFrame } from "./agent-protocol.js";
import { pidAlive } from "./launcher-watch.js";

const SHIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build/atoll-shim");
const dir = mkdtempSync("/tmp/atoll-shim-test-");
after(() => rmSync(dir, { recursive: true, force: true }));

const READY = "printf '\\000\\000\\000\\005@\\000\\000\\000\\000'";

function shim(script: string): ChildProcessWithoutNullStreams {
  return spawn(SHIM, ["--sock-dir", dir, "--", "/bin/sh", "-c", script], { stdio: ["pipe", "pipe", "pipe"] });
}

/** Collects the frames arriving on `stream`. */
function frames(stream: NodeJS.ReadableStream) {
  const decoder = new FrameDecoder();
  const got: { type: number; procId: number; payload: string }[] = [];
  stream.on("data", (c: Buffer) => {
    for (const f of decoder.push(c)) got.push({ type: f.type, procId: f.procId, payload: f.payload.toString() });
  });
  return got;
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(10);
  }
}

const exited = (p: ChildProcessWithoutNullStreams) =>
  new Promise<{ code: number | null; signal: string | null }>((r) => {
    if (p.exitCode !== null || p.signalCode !== null) r({ code: p.exitCode, signal: p.signalCode });
    else p.once("exit", (code, signal) => r({ code, signal }));
  });

function connect(pid: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path.join(dir, `${pid}.sock`));
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

test("relays whole records both ways, and outlives its daemon after READY: a new one connects and takes over", async () => {
  const p = shim(`${READY}; exec cat`);
  const got = frames(p.stdout);
  await waitFor("READY", () => got.length === 1);
  assert.equal(got[0]!.type, FrameType.READY);
  const sock = path.join(dir, `${p.pid}.sock`);
  assert.equal(statSync(sock).mode & 0o777, 0o600, "the socket is root's only");
  // A record split over two writes arrives whole.
  const rec = encodeFrame(FrameType.STDOUT, 1, Buffer.from("one"));
  p.stdin.write(rec.subarray(0, 6));
  await sleep(50);
  p.stdin.write(rec.subarray(6));
  await waitFor("the echo", () => got.length === 2);
  assert.deepEqual(got[1], { type: FrameType.STDOUT, procId: 1, payload: "one" });
  // The daemon goes away in the middle of a record: the partial record is dropped.
  p.stdin.write(encodeFrame(FrameType.STDOUT, 2, Buffer.from("partial")).subarray(0, 8));
  p.stdin.end();
  p.stdout.destroy();
  await sleep(200);
  assert.ok(pidAlive(p.pid!), "the shim keeps running without a daemon");
  const next = await connect(p.pid!);
  const again = frames(next);
  next.write(encodeFrame(FrameType.STDOUT, 3, Buffer.from("three")));
  await waitFor("the echo to the new daemon", () => again.length === 1);
  assert.deepEqual(again, [{ type: FrameType.STDOUT, procId: 3, payload: "three" }], "aligned: the old partial record never reached init");
  // A newer connection replaces the older one.
  const newer = await connect(p.pid!);
  const third = frames(newer);
  newer.write(encodeFrame(FrameType.STDOUT, 4, Buffer.from("four")));
  await waitFor("the echo to the newest daemon", () => third.length === 1);
  assert.equal(third[0]!.procId, 4);
  // A killed shim closes init's channel (here: cat sees EOF and exits).
  process.kill(p.pid!, "SIGKILL");
  await exited(p);
  newer.destroy();
  next.destroy();
});

test("before READY a daemon's EOF ends the shim and its launcher (a pooled entry does not survive)", async () => {
  const p = shim("echo $$ >&2; exec sleep 300");
  let stderr = "";
  p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  await waitFor("the launcher's pid", () => /\d+\n/.test(stderr));
  const launcher = Number(stderr.trim());
  p.stdin.end();
  const e = await exited(p);
  assert.notEqual(e.code, 0);
  await waitFor("the launcher to end", () => !pidAlive(launcher));
});

test("a length beyond 256 KiB from init is passed on and ends the launcher", async () => {
  const p = shim(`${READY}; printf '\\001\\000\\000\\000'; exec sleep 300`);
  const raw: Buffer[] = [];
  p.stdout.on("data", (c: Buffer) => raw.push(c));
  const e = await exited(p);
  assert.equal(e.code, 1);
  const all = Buffer.concat(raw);
  assert.equal(all.length, 9 + 4, "READY, then the hostile length field only");
  assert.equal(all.readUInt32BE(9), 0x01000000);
});

test("when init exits, the shim exits with its status", async () => {
  const p = shim(`${READY}; exit 7`);
  frames(p.stdout);
  assert.deepEqual(await exited(p), { code: 7, signal: null });
});
