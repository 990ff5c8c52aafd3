/**
 * The standing attack suite for the channels between a sandbox and the daemon (issue 10, items 1
 * and 3): pid 1's control channel and the atoll-fs helpers' output are out of reach of sandbox
 * code (memory, file descriptors, ptrace, signals); with that defence switched off (a test build
 * of the helpers), every kind of hostile frame or record ends only the sandbox or operation that
 * sent it, with a reason, while the daemon keeps serving a neighbour whose output loses nothing.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { Client, type Sandbox } from "atoll";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { ACCESS_PROBES, FRAME_CASES, HOSTILE_FRAMES, HOSTILE_RECORDS, PROBE, RECORD_CASES, SIGNALS, probe, sleeper } from "./channel-probes.js";
import { useDaemon } from "./e2e-helpers.js";
import { READER, RawSession, WRITER, drain, rssBytes, waitUntilBlocked, writerDone } from "./flow-helpers.js";
import { unsafeNativeDir } from "./unsafe-native-dir.js";

const ctx = useDaemon();
const MIB = 1024 * 1024;
/** "+3 MiB", "-11 MiB" */
const delta = (bytes: number) => `${bytes < 0 ? "-" : "+"}${Math.round(Math.abs(bytes) / MIB)} MiB`;

/** The verdict of the same probe on the host (root, against a child of ours): shows it can succeed. */
function hostProbe(what: string): string {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  try {
    return execFileSync("python3", ["-c", PROBE, what, String(child.pid)], { encoding: "utf8" }).trim();
  } finally {
    child.kill("SIGKILL");
  }
}

function row(attack: string, as: string, expected: string, observed: string, held: boolean): AttackRow {
  return { area: "channel", attack, as, expected, observed, held };
}

function report(title: string, rows: AttackRow[]): void {
  reportAttacks(title, rows);
  assert.deepEqual(broken(rows), []);
}

test("sandbox root cannot reach pid 1's control channel: memory, descriptors, ptrace, signals", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  const rows: AttackRow[] = [];
  const control = await sleeper(sb, "root");
  for (const p of ACCESS_PROBES) {
    const observed = await probe(sb, "root", p.what, 1);
    // The same call on a dumpable process of the same user (filtered calls: on the host).
    const proof = p.filtered ? hostProbe(p.what) : await probe(sb, "root", p.what, control);
    const where = p.filtered ? "on the host" : "on a sleep";
    rows.push(
      row(
        `${p.attack} of pid 1`,
        "root",
        `${p.expected} (same call ${where}: ok)`,
        `${observed} (${where}: ${proof})`,
        observed === p.expected && proof === "ok",
      ),
    );
  }
  for (const sig of SIGNALS) {
    const observed = await probe(sb, "root", `kill-${sig}`, 1);
    const proof = await probe(sb, "root", `kill-${sig}`, await sleeper(sb, "root"));
    rows.push(row(`${sig} to pid 1`, "root", "init alive (a sleep: hit)", `init ${observed} (a sleep: ${proof})`, observed === "alive" && proof !== "alive"));
  }
  const after = (await sb.sh`echo still-serving`.text()).trimEnd();
  rows.push(row("all of the above, then run a command", "root", "the sandbox works", after, after === "still-serving"));
  await sb.kill();
  report("pid 1's control channel", rows);
});

/** Starts a download of `path` and leaves its body unread, so its atoll-fs helper waits for credit. */
async function stalledDownload(daemon: TestDaemon, sandboxId: string, path: string, asRoot = false): Promise<Response> {
  const res = await fetch(`${daemon.url}/v1/sandboxes/${sandboxId}/fs/file?path=${encodeURIComponent(path)}${asRoot ? "&user=root" : ""}`, {
    headers: { authorization: `Bearer ${daemon.token}` },
  });
  assert.equal(res.status, 200);
  return res;
}

const HELPER_PID = `import os; print([d for d in os.listdir("/proc") if d.isdigit() and open(f"/proc/{d}/cmdline", "rb").read().startswith(b"/.atoll/fs\\0read\\0")][0])`;

test("sandbox code cannot reach an atoll-fs helper's output or memory", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  await sb.sh`head -c ${String(64 * MIB)} /dev/urandom > /home/app/big`;
  const rows: AttackRow[] = [];
  const res = await stalledDownload(ctx.daemon, sb.id, "/home/app/big");
  const helper = Number((await sb.sh`python3 -c ${HELPER_PID}`.text()).trimEnd());
  for (const user of ["app", "root"] as const) {
    const control = await sleeper(sb, user);
    for (const p of ACCESS_PROBES) {
      const observed = await probe(sb, user, p.what, helper);
      const proof = p.filtered ? hostProbe(p.what) : await probe(sb, user, p.what, control);
      const where = p.filtered ? "on the host" : `on a sleep of ${user}`;
      rows.push(
        row(
          `${p.attack} of the atoll-fs helper (runs as app)`,
          user,
          `${p.expected} (same call ${where}: ok)`,
          `${observed} (${where}: ${proof})`,
          observed === p.expected && proof === "ok",
        ),
      );
    }
  }
  const bytes = await drain(res.body!);
  rows.push(row("then read the download", "tenant", `${64 * MIB} bytes`, `${bytes} bytes`, bytes === 64 * MIB));
  await sb.kill();
  report("atoll-fs helpers", rows);
});

/** With the defence off: the daemon, its neighbour and its API survive every hostile frame. */
test("with the defence off, hostile frames and records end only their sandbox or operation", async (t) => {
  const native = unsafeNativeDir();
  t.after(native.remove);
  const saved = process.env.ATOLL_NATIVE_DIR;
  process.env.ATOLL_NATIVE_DIR = native.dir;
  let daemon: TestDaemon;
  try {
    daemon = await startTestDaemon();
  } finally {
    if (saved === undefined) delete process.env.ATOLL_NATIVE_DIR;
    else process.env.ATOLL_NATIVE_DIR = saved;
  }
  t.after(() => daemon.dispose());
  const client = new Client({ url: daemon.url, token: daemon.token });
  const rows: AttackRow[] = [];

  // A neighbour streams 128 MiB through the same daemon during every attack.
  const neighbour = await client.createSandbox({ timeout: "10m" });
  const stream = await neighbour.spawn("python3", { args: ["-c", WRITER, "n", String(128 * MIB)], stdout: "piped" });
  const hash = createHash("sha256");
  let neighbourBytes = 0;
  // A slowish reader: the stream lasts through the attacks.
  const reading = drain(stream.stdout!, (chunk) => {
    hash.update(chunk);
    neighbourBytes += chunk.byteLength;
    return new Promise((r) => setTimeout(r, 2));
  });

  const proofBox = await client.createSandbox({ timeout: "10m" });
  const proof = await probe(proofBox, "root", "pidfd_getfd", 1);
  rows.push(row("pidfd_getfd(pidfd_open(1), 1) with the defence off", "root", "ok (the probe works)", proof, proof === "ok"));
  await proofBox.kill();

  for (const c of FRAME_CASES) {
    const sb = await client.createSandbox({ timeout: "10m" });
    // procId 1, whose stdout nobody reads: the frames below are about it.
    await sb.spawn("sleep", { args: ["600"], stdout: "piped" });
    await sb.sh`python3 -c ${HOSTILE_FRAMES} ${c}`
      .sudo()
      .noThrow()
      .catch(() => undefined);
    const info = await waitStopped(sb);
    const health = await fetch(`${daemon.url}/healthz`)
      .then((r) => r.status)
      .catch(() => 0);
    rows.push(
      row(
        `write ${c} into pid 1's channel`,
        "root",
        "stopped: protocol-error…, daemon 200",
        `${info.state}: ${info.stopReason}, daemon ${health}`,
        info.stopReason?.startsWith("protocol-error: ") === true && health === 200,
      ),
    );
  }

  const files = await client.createSandbox({ timeout: "10m" });
  await files.sh`head -c ${String(16 * MIB)} /dev/urandom > /home/app/big; echo hello > /home/app/small`;
  for (const c of RECORD_CASES) {
    const res = await stalledDownload(daemon, files.id, "/home/app/big");
    const sent = (await files.sh`python3 -c ${HOSTILE_RECORDS} ${c}`.noThrow().text()).trimEnd();
    let bytes = 0;
    const outcome = await drain(res.body!, (c) => (bytes += c.byteLength)).then(
      () => `complete (${bytes} bytes)`,
      () => `cut off after ${bytes} bytes`,
    );
    const small = await files.fs.readTextFile("/home/app/small").catch((e: Error) => e.message);
    rows.push(
      row(
        `write ${c} into an atoll-fs helper's output`,
        "app",
        "download cut off, sandbox and files still work",
        `${sent}; download ${outcome}; next read: ${small.trim()}`,
        sent === "sent" && outcome.startsWith("cut off") && small === "hello\n",
      ),
    );
  }
  await files.kill();

  await reading;
  const status = await stream.status;
  const done = await writerDone(neighbour, "n");
  const intact = status.success && neighbourBytes === done.bytes && hash.digest("hex") === done.sha256;
  rows.push(
    row(
      "neighbour streaming 128 MiB meanwhile",
      "tenant",
      "every byte, same checksum",
      `${neighbourBytes} bytes, ${intact ? "same checksum" : "DIFFERENT"}`,
      intact && neighbourBytes === 128 * MIB,
    ),
  );
  const fresh = await client.createSandbox({ timeout: "10m" });
  const echo = (await fresh.sh`echo fresh`.text()).trimEnd();
  const uncaught = daemon.logs.filter((l) => /uncaught|unhandled/.test(l));
  rows.push(
    row(
      "afterwards: a new sandbox, the daemon's log",
      "tenant",
      "runs; no uncaught exception",
      `${echo}; ${uncaught.length} uncaught`,
      echo === "fresh" && uncaught.length === 0,
    ),
  );
  await Promise.all([fresh.kill(), neighbour.kill()]);
  report("hostile frames and records (defence off)", rows);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a session client that stops reading stops only its own writer; the daemon holds a bounded buffer", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  const total = 512 * MIB;
  const rows: AttackRow[] = [];
  const flow = (attack: string, expected: string, observed: string, held: boolean) =>
    rows.push({ area: "backpressure", attack, as: "tenant", expected, observed, held });
  const raw = await RawSession.open(ctx.daemon.url, ctx.daemon.token, sb.id);
  try {
    for (const mode of ["stops reading its socket", "stops reading, acknowledges 64 MiB at a time anyway"] as const) {
      const name = mode.startsWith("stops reading its") ? "tcp" : "lying";
      const window = name === "lying" ? 64 * 1024 : undefined;
      const rss0 = rssBytes(ctx.daemon.pid);
      const p = raw.spawn(name === "tcp" ? 1 : 2, "python3", ["-c", WRITER, name, String(total)], window);
      while (p.bytes === 0) await sleep(20);
      raw.pause();
      if (window) for (let i = 0; i < 20; i++) raw.ack(2, 64 * MIB);
      const blockedAt = await waitUntilBlocked(sb, name);
      const grown = rssBytes(ctx.daemon.pid) - rss0;
      flow(
        `${mode}; writer offers ${total / MIB} MiB`,
        "writer blocked, daemon RSS +< 64 MiB",
        `writer blocked at ${Math.round(blockedAt / MIB)} MiB, daemon RSS ${delta(grown)}`,
        blockedAt < total && grown < 64 * MIB,
      );
      raw.resume();
      const exit = await p.exited;
      const done = await writerDone(sb, name);
      const same = p.hash.digest("hex") === done.sha256;
      flow(
        `${mode}, then resumes`,
        `all ${total} bytes, same checksum`,
        `${p.bytes} bytes, ${same ? "same checksum" : "DIFFERENT"}, exit ${exit.code}`,
        p.bytes === total && done.bytes === total && same && exit.code === 0,
      );
    }
  } finally {
    raw.close();
    await sb.kill();
  }
  report("slow session clients (daemon side)", rows);
});

test("an SDK program that never reads a piped stdout holds only the window; everything else keeps flowing", async () => {
  const [a, b] = await Promise.all([ctx.client.createSandbox({ timeout: "10m" }), ctx.client.createSandbox({ timeout: "10m" })]);
  const total = 512 * MIB;
  const rows: AttackRow[] = [];
  const flow = (attack: string, expected: string, observed: string, held: boolean) =>
    rows.push({ area: "backpressure", attack, as: "tenant", expected, observed, held });
  const mem0 = process.memoryUsage().arrayBuffers;
  const child = await a.spawn("python3", { args: ["-c", WRITER, "unread", String(total)], stdout: "piped" });
  const blockedAt = await waitUntilBlocked(a, "unread");
  const grown = process.memoryUsage().arrayBuffers - mem0;
  flow(
    `SDK: piped stdout nobody reads, ${total / MIB} MiB offered`,
    "writer blocked, client buffers +< 32 MiB",
    `writer blocked at ${Math.round(blockedAt / MIB)} MiB, client ${delta(grown)}`,
    blockedAt < total && grown < 32 * MIB,
  );
  for (const [where, sandbox] of [
    ["the same sandbox and session", a],
    ["another sandbox", b],
  ] as const) {
    const other = await sandbox.spawn("python3", { args: ["-c", WRITER, "other", String(32 * MIB)], stdout: "piped" });
    const got = await drain(other.stdout!);
    const ok = (await other.status).success && got === 32 * MIB;
    flow(`meanwhile, 32 MiB from a process in ${where}`, "all of it", `${got} bytes`, ok);
  }
  const hash = createHash("sha256");
  const got = await drain(child.stdout!, (c) => void hash.update(c));
  const done = await writerDone(a, "unread");
  const same = hash.digest("hex") === done.sha256;
  flow(
    "then the program reads the stream",
    `all ${total} bytes, same checksum`,
    `${got} bytes, ${same ? "same checksum" : "DIFFERENT"}`,
    got === total && same && (await child.status).success,
  );
  await Promise.all([a.kill(), b.kill()]);
  report("slow readers in the SDK", rows);
});

test("many processes whose output nobody reads share one budget per sandbox", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  const n = 64;
  const rss0 = rssBytes(ctx.daemon.pid);
  const children = await Promise.all(Array.from({ length: n }, () => sb.spawn("head", { args: ["-c", String(64 * MIB), "/dev/zero"], stdout: "piped" })));
  // What all `head`s wrote so far (the kernel's count), until it stops growing.
  const writtenByAll = async () =>
    Number(
      (
        await sb.sh`for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = head ] && sed -n 's/^wchar: //p' $d/io; done | awk '{s+=$1} END {print s+0}'`.text()
      ).trimEnd(),
    );
  let total = -1;
  for (let last = -2; total !== last; await sleep(1500)) [last, total] = [total, await writtenByAll()];
  const grown = rssBytes(ctx.daemon.pid) - rss0;
  const echo = (await sb.sh`echo still-flowing`.text()).trimEnd();
  const rows = [
    {
      area: "backpressure",
      attack: `${n} processes write 64 MiB each into piped stdouts nobody reads`,
      as: "tenant",
      // The SDK holds its 1 MiB window per stream, the pipes 64 KiB; the daemon at most the sandbox's
      // 16 MiB budget and a 16 KiB floor per stream (a window per stream would be 128 MiB more).
      expected: `writers blocked after < ${n} × 1.1 MiB + 20 MiB in all; other commands run`,
      observed: `blocked after ${Math.round(total / MIB)} MiB in all (daemon RSS ${delta(grown)}); ${echo}`,
      held: total < n * 1.1 * MIB + 20 * MIB && echo === "still-flowing",
    },
  ];
  await sb.kill();
  await Promise.all(children.map((c) => c.status.catch(() => undefined)));
  report("one budget per sandbox", rows);
});

test("stdin: a process that does not read its stdin holds the writer back, not the daemon", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "10m" });
  const total = 64 * MIB;
  const rows: AttackRow[] = [];
  const flow = (attack: string, as: string, expected: string, observed: string, held: boolean) =>
    rows.push({ area: "backpressure", attack, as, expected, observed, held });
  const readerDone = async (name: string) => (await sb.sh`cat /tmp/${name}.done`.text()).trimEnd().split(" ");

  // The SDK: writes wait for the process.
  const rss0 = rssBytes(ctx.daemon.pid);
  const mem0 = process.memoryUsage().arrayBuffers;
  const child = await sb.spawn("python3", { args: ["-c", READER, "sdk"], stdin: "piped", stdout: "null" });
  const writer = child.stdin!.getWriter();
  const hash = createHash("sha256");
  let accepted = 0;
  const writing = (async () => {
    for (let off = 0; off < total; off += 64 * 1024) {
      const chunk = randomBytes(64 * 1024);
      hash.update(chunk);
      await writer.write(chunk);
      accepted += chunk.byteLength;
    }
    await writer.close();
  })();
  for (let last = -1; accepted !== last; ) {
    last = accepted;
    await sleep(1500);
  }
  const daemonGrew = rssBytes(ctx.daemon.pid) - rss0;
  const clientGrew = process.memoryUsage().arrayBuffers - mem0;
  flow(
    `SDK writes ${total / MIB} MiB to a process that reads nothing`,
    "tenant",
    "writes wait; daemon +< 64 MiB, client +< 32 MiB",
    `${Math.round(accepted / MIB)} MiB accepted; daemon ${delta(daemonGrew)}, client ${delta(clientGrew)}`,
    accepted < total && daemonGrew < 64 * MIB && clientGrew < 32 * MIB,
  );
  await sb.sh`touch /tmp/sdk.go`;
  await writing;
  await child.status;
  const [bytes, sum] = await readerDone("sdk");
  const sdkSame = sum === hash.digest("hex");
  flow(
    "then the process reads",
    "tenant",
    `all ${total} bytes, same checksum`,
    `${bytes} bytes, ${sdkSame ? "same checksum" : "DIFFERENT"}`,
    Number(bytes) === total && sdkSame,
  );

  // A client without flow control: the daemon stops reading its socket.
  const raw = await RawSession.open(ctx.daemon.url, ctx.daemon.token, sb.id);
  const rawHash = createHash("sha256");
  const p = raw.spawn(1, "python3", ["-c", READER, "raw"], undefined, true);
  const rss1 = rssBytes(ctx.daemon.pid);
  for (let off = 0; off < total; off += 256 * 1024) {
    const chunk = randomBytes(256 * 1024);
    rawHash.update(chunk);
    raw.write(1, chunk);
  }
  raw.stdinClose(1);
  await sleep(3000);
  const rawGrew = rssBytes(ctx.daemon.pid) - rss1;
  const held = raw.ws.bufferedAmount;
  flow(
    `raw client (no window) sends ${total / MIB} MiB of stdin at once`,
    "tenant",
    "daemon stops reading it: +< 64 MiB",
    `daemon ${delta(rawGrew)}; ${Math.round(held / MIB)} MiB still in the client`,
    rawGrew < 64 * MIB && held > total / 2,
  );
  await sb.sh`touch /tmp/raw.go`;
  await p.exited;
  const [rawBytes, rawSum] = await readerDone("raw");
  const rawSame = rawSum === rawHash.digest("hex");
  flow(
    "then the process reads",
    "tenant",
    `all ${total} bytes, same checksum`,
    `${rawBytes} bytes, ${rawSame ? "same checksum" : "DIFFERENT"}`,
    Number(rawBytes) === total && rawSame,
  );
  raw.close();

  // A client that asked for flow control and ignores it is disconnected.
  const bad = await RawSession.open(ctx.daemon.url, ctx.daemon.token, sb.id);
  bad.spawn(1, "python3", ["-c", READER, "bad"], 64 * 1024, true);
  for (let i = 0; i < 40; i++) bad.write(1, randomBytes(64 * 1024));
  const code = await bad.closed();
  const still = (await sb.sh`echo still-running`.text()).trimEnd();
  flow(
    "raw client with a window sends 2.5 MiB of stdin without stdin_acks",
    "tenant",
    "its session closed (1008), sandbox fine",
    `closed ${code}; ${still}`,
    code === 1008 && still === "still-running",
  );
  await sb.kill();
  report("stdin flow control", rows);
});

/** Python: raises its descriptor limit and holds up to 200,000 descriptors of /dev/null. */
const HOLD_FDS = `import os, resource, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
n = min(hard, 200000)
resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(n - 16)]
open("/tmp/held", "w").write(str(len(fds)))
time.sleep(600)`;

test("the daemon's /proc scan of a sandbox (busy volume) stays bounded whatever the sandbox holds", async () => {
  const volume = await ctx.client.createVolume({ name: `busy-scan-${Date.now()}`, sizeGb: 1 });
  const sb = await ctx.client.createSandbox({ timeout: "10m", volumes: [{ id: volume.id, mountPath: "/data" }] });
  await sb.sh`echo x > /data/f; for i in $(seq 300); do sleep 600 < /data/f > /dev/null 2>&1 & done`;
  await sb.sh`python3 -c ${HOLD_FDS} > /dev/null 2>&1 &`;
  while ((await sb.sh`cat /tmp/held 2>/dev/null || true`.text()).trimEnd() === "") await sleep(200);
  const held = Number((await sb.sh`cat /tmp/held`.text()).trimEnd());
  const detaching = sb.detachVolume(volume.id).then(
    () => "detached",
    (e: { code?: string; details?: { processes?: unknown[] } }) => `${e.code} listing ${e.details?.processes?.length} processes`,
  );
  const health = await fetch(`${ctx.daemon.url}/healthz`).then((r) => r.status);
  const outcome = await detaching;
  const rows = [
    row(
      `detach while 300 processes hold a file and one holds ${held} descriptors`,
      "tenant",
      "VOLUME_BUSY listing ≤ 100 processes; /healthz 200 meanwhile",
      `${outcome}; /healthz ${health}`,
      /^VOLUME_BUSY listing (\d|\d\d|100) processes$/.test(outcome) && health === 200,
    ),
  ];
  await sb.kill();
  await ctx.client.deleteVolume(volume.id);
  report("the daemon's scan of a sandbox's /proc", rows);
});

/** The sandbox's info once it stopped (or after 30 s). */
async function waitStopped(sb: Sandbox): Promise<{ state: string; stopReason: string | null }> {
  for (let i = 0; i < 300; i++) {
    const info = await sb.info();
    if (info.state === "stopped") return info;
    await new Promise((r) => setTimeout(r, 100));
  }
  return sb.info();
}
