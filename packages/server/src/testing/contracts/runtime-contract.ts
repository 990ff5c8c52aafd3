/**
 * The RuntimeDriver contract (core/drivers.ts), as one suite that runs against any driver: the
 * in-memory fake in the unit tier (testing/fakes/fake-runtime.test.ts) and the bubblewrap
 * runtime as root (runtime/runtime-contract.itest.ts). Only commands every Linux image has
 * (echo, cat, sleep, id, pwd, printenv, true, false) are used, so the fake can run them too.
 */
import assert from "node:assert/strict";
import { constants } from "node:os";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LaunchSpec, MountSpec, ProcessExit, ProcessHandle, RuntimeDriver, RuntimeSandbox, SpawnRequest } from "../../core/drivers.js";

const MiB = 2 ** 20;
/** The output window of core/drivers.ts: what a runtime may deliver without acknowledgement. */
const WINDOW = MiB;
const PATH_ENV = "/usr/local/bin:/usr/bin:/bin";

export interface RuntimeSubject {
  driver: RuntimeDriver;
  /** A launch spec for `id` (the subject's image and limits) with `mounts`. */
  spec(id: string, mounts: MountSpec[]): LaunchSpec;
  /** A mount source (what StorageDriver.acquire would return) holding `files` (name → text) at its root. */
  makeSource(files: Record<string, string>): Promise<string>;
  dispose(): Promise<void>;
}

interface Ran {
  exit?: ProcessExit;
  spawnError?: { message: string; errno: number };
  pid?: number;
  out: string;
  err: string;
  stdinAcked: number;
  /** Most output bytes delivered and not acknowledged yet at any moment. */
  maxUnacked: number;
}

/**
 * Runs a command to completion. Output is acknowledged `ackDelayMs` after it arrives (0: at
 * once), so a runtime that ignores the window shows more than WINDOW unacknowledged.
 */
function run(
  sb: RuntimeSandbox,
  argv: string[],
  opts: Partial<SpawnRequest> & { input?: Buffer; ackDelayMs?: number; onStarted?: (h: ProcessHandle) => void } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const r: Omit<Ran, "out" | "err"> = { stdinAcked: 0, maxUnacked: 0 };
    let unacked = 0;
    const take = (stream: "stdout" | "stderr", into: Buffer[]) => (data: Uint8Array) => {
      into.push(Buffer.from(data));
      unacked += data.byteLength;
      r.maxUnacked = Math.max(r.maxUnacked, unacked);
      const ack = () => {
        unacked -= data.byteLength;
        handle.ack(stream, data.byteLength);
      };
      if (opts.ackDelayMs) setTimeout(ack, opts.ackDelayMs);
      else ack();
    };
    const done = () => resolve({ ...r, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() });
    const handle = sb.spawn(
      { argv, env: opts.env ?? { PATH: PATH_ENV }, cwd: opts.cwd ?? "/", user: opts.user ?? "app", stdin: opts.input !== undefined },
      {
        onStarted: (pid) => {
          r.pid = pid;
          opts.onStarted?.(handle);
        },
        onStdout: take("stdout", out),
        onStderr: take("stderr", err),
        onExit: (exit) => {
          r.exit = exit;
          done();
        },
        onSpawnError: (message, errno) => {
          r.spawnError = { message, errno };
          done();
        },
        onStdinAck: (bytes) => (r.stdinAcked += bytes),
      },
    );
    if (opts.input !== undefined) {
      handle.write(opts.input);
      handle.closeStdin();
    }
  });
}

/** Registers the contract tests of one runtime driver under `describe(name)`. */
export function runtimeContract(name: string, makeSubject: () => Promise<RuntimeSubject>): void {
  describe(`RuntimeDriver contract: ${name}`, () => {
    let s: RuntimeSubject;
    let sb: RuntimeSandbox;
    let n = 0;
    before(async () => {
      s = await makeSubject();
      const data = await s.makeSource({ "hello.txt": "from the volume\n" });
      sb = await s.driver.launch(s.spec(`contract-${process.pid}-main`, [{ source: data, target: "/data", readOnly: true }]));
    });
    after(async () => {
      await sb?.kill();
      await s.dispose();
    });

    it("runs a command: started with a pid, its output, then its exit", async () => {
      const r = await run(sb, ["echo", "hello", "world"]);
      assert.deepEqual(r.exit, { code: 0, signal: null, oom: false });
      assert.equal(r.out, "hello world\n");
      assert.ok(r.pid !== undefined && r.pid > 1, `pid ${r.pid}`);
      assert.equal((await run(sb, ["false"])).exit?.code, 1);
    });

    it("gives the process its env, cwd and user", async () => {
      assert.equal((await run(sb, ["printenv", "GREETING"], { env: { PATH: PATH_ENV, GREETING: "hi" } })).out, "hi\n");
      assert.equal((await run(sb, ["printenv", "GREETING"])).exit?.code, 1, "nothing but the env given");
      assert.equal((await run(sb, ["pwd"], { cwd: "/tmp" })).out, "/tmp\n");
      assert.equal((await run(sb, ["id", "-u"], { user: "app" })).out, "1000\n");
      assert.equal((await run(sb, ["id", "-u"], { user: "root" })).out, "0\n");
    });

    it("a missing command fails to start with ENOENT and no exit", async () => {
      const r = await run(sb, ["no-such-command-here"]);
      assert.equal(r.exit, undefined);
      assert.equal(r.spawnError?.errno, constants.errno.ENOENT, JSON.stringify(r.spawnError));
    });

    it("feeds stdin and acknowledges what the process consumed", async () => {
      const r = await run(sb, ["cat"], { input: Buffer.from("piped in") });
      assert.equal(r.out, "piped in");
      assert.equal(r.exit?.code, 0);
      assert.equal(r.stdinAcked, 8);
    });

    it("delivers at most the window of output without acknowledgement, and all of it with", async () => {
      const input = Buffer.alloc(3 * MiB, 0x61);
      const r = await run(sb, ["cat"], { input, ackDelayMs: 20 });
      assert.equal(r.exit?.code, 0);
      assert.equal(r.out.length, input.length);
      assert.ok(r.maxUnacked <= WINDOW, `${r.maxUnacked} bytes delivered without acknowledgement`);
    });

    it("a signal ends the process, reported by the signal's name", async () => {
      const r = await run(sb, ["sleep", "1000"], { onStarted: (h) => h.signal("SIGTERM") });
      assert.deepEqual(r.exit, { code: null, signal: "SIGTERM", oom: false });
    });

    it("shows launch mounts; hot attach and detach; a process in a mount keeps it busy", async () => {
      assert.equal((await run(sb, ["cat", "/data/hello.txt"])).out, "from the volume\n");
      const hot = await s.makeSource({ "hello.txt": "hot\n" });
      await sb.attachMount({ source: hot, target: "/hot", readOnly: false });
      assert.equal((await run(sb, ["cat", "/hot/hello.txt"])).out, "hot\n");
      let holder!: (h: ProcessHandle) => void;
      const up = new Promise<ProcessHandle>((resolve) => (holder = resolve));
      const held = run(sb, ["sleep", "1000"], { cwd: "/hot", onStarted: (h) => holder(h) });
      const handle = await up;
      let busy = await sb.busyProcesses("/hot");
      for (let i = 0; i < 250 && !busy.some((b) => b.command === "sleep"); i++) {
        await sleep(20); // until the process is sleep (between fork and exec it is the runtime's)
        busy = await sb.busyProcesses("/hot");
      }
      assert.ok(
        busy.some((b) => b.command === "sleep" && b.path === "/hot" && b.pid > 1),
        JSON.stringify(busy),
      );
      assert.deepEqual(await sb.busyProcesses("/data"), []);
      const stats = await sb.stats();
      assert.ok(stats.memoryBytes > 0 && stats.pids >= 2 && stats.cpuUsageNs >= 0, JSON.stringify(stats));
      handle.signal("SIGKILL");
      assert.equal((await held).exit?.signal, "SIGKILL");
      await sb.detachMount("/hot");
      const gone = await run(sb, ["cat", "/hot/hello.txt"]);
      assert.equal(gone.exit?.code, 1);
      assert.equal(gone.out, "");
      await assert.rejects(sb.detachMount("/hot"), "a second detach of the same target fails");
    });

    it("kill: running processes end with SIGKILL, stopped says killed, idempotent, nothing starts after", async () => {
      const other = await s.driver.launch(s.spec(`contract-${process.pid}-${++n}`, []));
      let started!: () => void;
      const up = new Promise<void>((resolve) => (started = resolve));
      const sleeping = run(other, ["sleep", "1000"], { onStarted: () => started() });
      await up;
      await other.kill();
      assert.deepEqual((await sleeping).exit, { code: null, signal: "SIGKILL", oom: false });
      assert.deepEqual(await other.stopped, { reason: "killed" });
      await other.kill();
      const late = await run(other, ["true"]);
      assert.equal(late.spawnError?.errno, constants.errno.ESRCH, JSON.stringify(late));
      await assert.rejects(other.attachMount({ source: await s.makeSource({}), target: "/late", readOnly: true }));
      // The first sandbox never noticed.
      assert.equal((await run(sb, ["echo", "still here"])).out, "still here\n");
    });
  });
}
