/**
 * Standing attacks on shared budgets (issue 10, items 5, 6, 8): kernel per-user budgets
 * (inotify, POSIX message queues), socket buffer memory, and quotas raced by concurrent creates.
 * The disk (item 4) has its own file with a small filesystem: disk-full.itest.ts.
 *
 * Every probe is first shown to work outside the defence (a budget shared by one host uid is
 * exhausted for everyone holding it; a cgroup without the socket cap pins more than the limit).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { type AtollError, Client, type Sandbox } from "atoll";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const MIB = 2 ** 20;
const rows: AttackRow[] = [];
const row = (r: AttackRow) => {
  rows.push(r);
  return r.held;
};

/** Exhausts inotify instances and POSIX message-queue bytes, prints "<inotify> <errno> <queues> <errno>", then holds them. */
const EXHAUST = String.raw`
import ctypes, errno, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while len(fds) < 100000:
    fd = libc.inotify_init1(0)
    if fd < 0: break
    fds.append(fd)
ino_err = errno.errorcode.get(ctypes.get_errno(), "?")
class Attr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long), ("curmsgs", ctypes.c_long), ("pad", ctypes.c_long * 4)]
libc.mq_open.restype = ctypes.c_int
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(Attr)]
queues = []
while len(queues) < 1000:
    name = ("/atoll-probe-%d-%d" % (os.getpid(), len(queues))).encode()
    q = libc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, ctypes.byref(Attr(0, 10, 8192, 0)))
    if q < 0: break
    queues.append(name)
mq_err = errno.errorcode.get(ctypes.get_errno(), "?")
def cleanup(*_):
    for n in queues: libc.mq_unlink(n)
    os._exit(0)
signal.signal(signal.SIGTERM, cleanup)
print(len(fds), ino_err, len(queues), mq_err, flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "hold": time.sleep(600)
cleanup()
`;

/** Opens N loopback TCP pairs and fills every buffer nobody reads; prints "<pairs> <bytes queued>", then holds them. */
const SOCKPIN = String.raw`
import socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1024)
pairs = []; total = 0; chunk = b"x" * 65536
try:
    for i in range(int(sys.argv[1])):
        c = socket.socket(); c.connect(srv.getsockname()); s, _ = srv.accept()
        for sock in (c, s):
            sock.setblocking(False)
            while True:
                try: total += sock.send(chunk)
                except BlockingIOError: break
        pairs.append((c, s))
except OSError as e:
    pass
print(len(pairs), total, flush=True)
time.sleep(float(sys.argv[2]))
`;

/** Moves 8 MiB through a loopback TCP connection; prints the byte count. */
const TCP_WORKS = String.raw`
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def send():
    c = socket.create_connection(srv.getsockname()); c.sendall(b"y" * (8 << 20)); c.close()
threading.Thread(target=send).start()
s, _ = srv.accept(); n = 0
while True:
    b = s.recv(1 << 16)
    if not b: break
    n += len(b)
print(n)
`;

/** First line a held-open probe prints (it keeps running, holding what it took). */
async function startHolding(sb: Sandbox, script: string, args: string[]): Promise<{ line: string; stop: () => void }> {
  const child = await sb.spawn("python3", { args: ["-c", script, ...args], stdout: "piped" });
  const reader = child.stdout!.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return { line: text.trim(), stop: () => child.kill("SIGKILL") };
}

/** Runs the probe on the host as `uid` (no user namespace): the budget of one host user. */
function hostProbe(script: string, uid: number, args: string[] = []): Promise<{ line: string; stop: () => unknown }> {
  const child = spawn("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "/usr/bin/python3", "-c", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      // SIGTERM: the probe unlinks its message queues (they live in the host's IPC namespace).
      if (text.includes("\n")) resolve({ line: text.trim(), stop: () => child.kill("SIGTERM") && exited });
    });
    child.once("exit", (code) => reject(new Error(`host probe exited with ${code} before printing`)));
  });
}

const parse = (line: string) => {
  const [ino, inoErr, mq, mqErr] = line.split(" ");
  return { inotify: Number(ino), inotifyErr: inoErr, queues: Number(mq), queuesErr: mqErr };
};

test("kernel per-user budgets: one sandbox exhausting inotify and message queues leaves its neighbour and the host theirs", async () => {
  const client = ctx.client;
  const hostInotifyMax = Number(readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"));

  // The probe works: two processes of one host uid share one budget (what every sandbox shared
  // with host root before each sandbox's user namespace got an owner of its own).
  const sharedUid = 4_000_000_000 - process.pid;
  const first = await hostProbe(EXHAUST, sharedUid, ["hold"]);
  const second = await hostProbe(EXHAUST, sharedUid);
  await first.stop();
  const f = parse(first.line);
  const s = parse(second.line);
  const probeWorks = f.inotify === hostInotifyMax && f.inotifyErr === "EMFILE" && f.queues > 0 && f.queuesErr === "EMFILE" && s.inotify === 0 && s.queues === 0;
  row({
    area: "ucounts",
    attack: "control: two processes of one host uid exhaust inotify + mqueue",
    as: "host user",
    expected: `first ${hostInotifyMax} instances, second 0`,
    observed: `first ${f.inotify} ${f.inotifyErr} / ${f.queues} queues, second ${s.inotify} / ${s.queues}`,
    held: probeWorks,
  });

  const a = await client.createSandbox({ timeout: "5m" });
  const b = await client.createSandbox({ timeout: "5m" });
  const attack = await startHolding(a, EXHAUST, ["hold"]);
  try {
    const got = parse(attack.line);
    row({
      area: "ucounts",
      attack: "exhaust inotify instances",
      as: "app",
      expected: `stops at the host's per-user limit (${hostInotifyMax}) with EMFILE`,
      observed: `${got.inotify} then ${got.inotifyErr}`,
      held: got.inotify === hostInotifyMax && got.inotifyErr === "EMFILE",
    });
    row({
      area: "ucounts",
      attack: "exhaust POSIX mqueue bytes",
      as: "app",
      expected: "stops with EMFILE",
      observed: `${got.queues} queues then ${got.queuesErr}`,
      held: got.queues > 0 && got.queuesErr === "EMFILE",
    });
    const neighbour = parse((await b.sh`python3 -c ${EXHAUST}`.text()).trimEnd());
    row({
      area: "ucounts",
      attack: "neighbour sandbox creates inotify + mqueue while A holds all of its own",
      as: "app (B)",
      expected: `B gets its own ${hostInotifyMax} instances and queues`,
      observed: `${neighbour.inotify} instances, ${neighbour.queues} queues`,
      held: neighbour.inotify === hostInotifyMax && neighbour.queues === got.queues,
    });
    const host = spawnSync("/usr/bin/python3", ["-c", "import ctypes; l = ctypes.CDLL(None); fd = l.inotify_init1(0); print(fd >= 0)"], { encoding: "utf8" });
    const hostMq = spawnSync(
      "/usr/bin/python3",
      ["-c", EXHAUST.replace("while len(fds) < 100000", "while len(fds) < 1").replace("while len(queues) < 1000", "while len(queues) < 1")],
      { encoding: "utf8" },
    );
    row({
      area: "ucounts",
      attack: "host root creates inotify + mqueue while A holds all of its own",
      as: "host root",
      expected: "both succeed",
      observed: `inotify ${host.stdout.trim()}, mqueue ${hostMq.stdout.trim().split(" ")[2] === "1" ? "ok" : hostMq.stdout.trim()}`,
      held: host.stdout.trim() === "True" && hostMq.stdout.trim().split(" ")[2] === "1",
    });
  } finally {
    attack.stop();
    await a.kill();
    await b.kill();
  }
  assert.deepEqual(broken(rows.filter((r) => r.area === "ucounts")), []);
});

/** The sandbox's memory cgroup directory, v1 or v2 (test daemons use parent "atoll-<hash of state dir>"). */
function memoryCgroup(stateDir: string, id: string, v1: boolean): string {
  return `/sys/fs/cgroup${v1 ? "/memory" : ""}/atoll-${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}/${id}`;
}
const tcpMemPages = () => Number(/TCP: .* mem (\d+)/.exec(readFileSync("/proc/net/sockstat", "utf8"))?.[1]);

test("socket memory: connection pairs nobody reads stay within the sandbox's limit and its share of the host's TCP memory; the neighbour still works", async () => {
  const v1 = spawnSync("test", ["-e", "/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes"]).status === 0;
  if (v1) await socketMemoryV1();
  else await socketMemoryV2();
  assert.deepEqual(broken(rows.filter((r) => r.area === "socket-memory")), []);
});

/** Runs the socket-pinning probe on the host, in its own netns, inside cgroup `dir`: [pairs, bytes queued]. */
function sockpinIn(dir: string, pairs: number): number[] {
  const out = execFileSync(
    "unshare",
    ["-n", "sh", "-c", `echo $$ > ${dir}/cgroup.procs; ip link set lo up; exec /usr/bin/python3 -c '${SOCKPIN}' ${pairs} 0`],
    { encoding: "utf8" },
  );
  return out.trim().split(" ").map(Number);
}

/** cgroup v1: the socket cap (memory.kmem.tcp.limit_in_bytes) keeps one sandbox below the host's TCP pressure. */
async function socketMemoryV1(): Promise<void> {
  const [, pressurePages] = readFileSync("/proc/sys/net/ipv4/tcp_mem", "utf8").trim().split(/\s+/).map(Number);

  // Control: the same probe in a 256 MiB memory cgroup without a socket cap pins far more.
  const control = `/sys/fs/cgroup/memory/atoll-test-sockpin-${process.pid}`;
  mkdirSync(control);
  try {
    writeFileSync(`${control}/memory.limit_in_bytes`, String(256 * MIB));
    const before = tcpMemPages();
    const [pairs, bytes] = sockpinIn(control, 60);
    row({
      area: "socket-memory",
      attack: "control: 60 TCP pairs in a 256 MiB cgroup without the socket cap",
      as: "host root",
      expected: "more than 256 MiB queued",
      observed: `${pairs} pairs, ${Math.round(bytes! / MIB)} MiB queued (host TCP mem was ${Math.round((before * 4096) / MIB)} MiB)`,
      held: bytes! > 256 * MIB,
    });
  } finally {
    rmdirSync(control);
  }

  const attacker = await ctx.client.createSandbox({ timeout: "5m", memory: "256MiB" });
  const neighbour = await ctx.client.createSandbox({ timeout: "5m", memory: "256MiB" });
  const cg = memoryCgroup(ctx.daemon.stateDir, attacker.id, true);
  const limit = Number(readFileSync(`${cg}/memory.kmem.tcp.limit_in_bytes`, "utf8"));
  const before = tcpMemPages();
  const attack = await startHolding(attacker, SOCKPIN, ["200", "600"]);
  try {
    const [pairs, bytes] = attack.line.split(" ").map(Number);
    const peak = Number(readFileSync(`${cg}/memory.kmem.tcp.max_usage_in_bytes`, "utf8"));
    const hostPages = tcpMemPages();
    // The kernel lets every socket queue one packet whatever its cgroup's cap (so a connection can
    // always make progress): at most one 64 KiB loopback packet plus tcp_wmem[0] per socket.
    const slack = 2 * pairs! * (64 + 4 + 4) * 1024;
    row({
      area: "socket-memory",
      attack: "200 TCP pairs with full buffers in a 256 MiB sandbox",
      as: "app",
      expected: `socket buffers ≤ ${limit / MIB} MiB (a quarter of memory) + one packet per socket (${Math.round(slack / MIB)} MiB)`,
      observed: `${pairs} pairs, ${Math.round(bytes! / MIB)} MiB queued, cgroup peak ${Math.round(peak / MIB)} MiB`,
      held: limit <= 64 * MIB && peak <= limit + slack && bytes! <= peak,
    });
    row({
      area: "socket-memory",
      attack: "push host TCP memory past tcp_mem",
      as: "app",
      expected: `host TCP mem below pressure (${Math.round((pressurePages! * 4096) / MIB)} MiB), grown by the sandbox's share only`,
      observed: `${Math.round((hostPages * 4096) / MIB)} MiB (was ${Math.round((before * 4096) / MIB)} MiB)`,
      held: hostPages < pressurePages! && (hostPages - before) * 4096 <= peak + 32 * MIB,
    });
    const moved = (await neighbour.sh`python3 -c ${TCP_WORKS}`.text()).trimEnd();
    row({
      area: "socket-memory",
      attack: "neighbour moves 8 MiB over TCP during the attack",
      as: "app (B)",
      expected: String(8 * MIB),
      observed: moved,
      held: moved === String(8 * MIB),
    });
  } finally {
    attack.stop();
    await attacker.kill();
    await neighbour.kill();
  }
}

/**
 * cgroup v2 charges socket buffers to memory.max (there is no separate socket cap): one sandbox
 * pins at most its memory limit, then its sends stop or its probe is OOM-killed. The host's TCP
 * memory grows by that much at most; whether that reaches the host's pressure threshold depends
 * on the limit (docs/security.md).
 */
async function socketMemoryV2(): Promise<void> {
  // Control: the same probe in a cgroup without a memory limit queues more than 256 MiB.
  const control = `/sys/fs/cgroup/atoll-test-sockpin-${process.pid}`;
  mkdirSync(control);
  try {
    const [pairs, bytes] = sockpinIn(control, 200);
    row({
      area: "socket-memory",
      attack: "control: 200 TCP pairs in a cgroup without a memory limit",
      as: "host root",
      expected: "more than 256 MiB queued",
      observed: `${pairs} pairs, ${Math.round(bytes! / MIB)} MiB queued`,
      held: bytes! > 256 * MIB,
    });
  } finally {
    rmdirSync(control);
  }

  const limit = 256 * MIB;
  const attacker = await ctx.client.createSandbox({ timeout: "5m", memory: "256MiB" });
  const neighbour = await ctx.client.createSandbox({ timeout: "5m", memory: "256MiB" });
  const cg = memoryCgroup(ctx.daemon.stateDir, attacker.id, false);
  const before = tcpMemPages();
  let hostPeak = before;
  const sampler = setInterval(() => (hostPeak = Math.max(hostPeak, tcpMemPages())), 20);
  const attack = await startHolding(attacker, SOCKPIN, ["200", "600"]);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    const peak = Number(readFileSync(`${cg}/memory.peak`, "utf8"));
    const oomKills = Number(/oom_kill (\d+)/.exec(readFileSync(`${cg}/memory.events`, "utf8"))?.[1]);
    const [pairs, bytes] = attack.line.split(" ").map(Number);
    // Packets arriving in softirq are charged even past memory.max (the kernel cannot wait for
    // reclaim there); as on v1, allow one 64 KiB loopback packet plus tcp_wmem[0] per socket.
    const slack = 2 * 200 * (64 + 4 + 4) * 1024;
    row({
      area: "socket-memory",
      attack: "200 TCP pairs with full buffers in a 256 MiB sandbox",
      as: "app",
      expected: `socket buffers charged to memory.max: the sandbox stays within 256 MiB + one packet per socket (${Math.round(slack / MIB)} MiB); its sends stop, or the probe is OOM-killed`,
      observed: `${attack.line ? `${pairs} pairs, ${Math.round(bytes! / MIB)} MiB queued` : "the probe ended before printing"}, ${oomKills} OOM kills, cgroup peak ${(peak / MIB).toFixed(1)} MiB`,
      held: peak <= limit + slack && (attack.line ? bytes! <= limit + slack : oomKills > 0),
    });
    row({
      area: "socket-memory",
      attack: "push host TCP memory up",
      as: "app",
      expected: "host TCP memory grows by the sandbox's 256 MiB at most",
      observed: `peak ${Math.round((hostPeak * 4096) / MIB)} MiB (was ${Math.round((before * 4096) / MIB)} MiB)`,
      held: (hostPeak - before) * 4096 <= limit + 32 * MIB,
    });
    const moved = (await neighbour.sh`python3 -c ${TCP_WORKS}`.text()).trimEnd();
    row({
      area: "socket-memory",
      attack: "neighbour moves 8 MiB over TCP during the attack",
      as: "app (B)",
      expected: String(8 * MIB),
      observed: moved,
      held: moved === String(8 * MIB),
    });
  } finally {
    clearInterval(sampler);
    attack.stop();
    await attacker.kill();
    await neighbour.kill();
  }
}

test("quotas cannot be raced: concurrent creates over HTTP, exactly what fits succeeds", async () => {
  const created = await ctx.client.admin.createToken({ tenant: "racer" });
  const racer = new Client({ url: ctx.daemon.url, token: created.token });
  await ctx.client.admin.setQuota("racer", { maxSandboxes: 3, maxVolumeGb: 0.5 });

  const volumes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => racer.createVolume({ name: `race-${i}`, sizeGb: 0.25 })));
  const madeVolumes = volumes.filter((r) => r.status === "fulfilled").length;
  const volumeErrors = new Set(volumes.filter((r) => r.status === "rejected").map((r) => ((r as PromiseRejectedResult).reason as AtollError).code));
  row({
    area: "quota",
    attack: "12 concurrent 0.25 GiB volume creates against a 0.5 GiB quota",
    as: "tenant",
    expected: "2 created, 10 QUOTA_EXCEEDED",
    observed: `${madeVolumes} created, errors ${[...volumeErrors].join(",")}`,
    held: madeVolumes === 2 && [...volumeErrors].join() === "QUOTA_EXCEEDED",
  });

  const sandboxes = await Promise.allSettled(Array.from({ length: 10 }, () => racer.createSandbox({ timeout: "5m" })));
  const madeSandboxes = sandboxes.filter((r) => r.status === "fulfilled").length;
  row({
    area: "quota",
    attack: "10 concurrent sandbox creates against a quota of 3",
    as: "tenant",
    expected: "3 created",
    observed: `${madeSandboxes} created`,
    held: madeSandboxes === 3,
  });

  // A refused create released nothing it did not hold; a failed one gives its reservation back.
  const listed = (await racer.listVolumes()).length;
  for (const r of sandboxes) if (r.status === "fulfilled") await r.value.kill();
  for (const v of await racer.listVolumes()) await racer.deleteVolume(v.id);
  await ctx.client.admin.setQuota("racer", { maxSandboxes: null, maxVolumeGb: null });
  assert.equal(listed, 2);
  assert.deepEqual(broken(rows.filter((r) => r.area === "quota")), []);
});

test("attack table", () => {
  reportAttacks("Shared budgets: kernel ucounts, socket memory, quotas", rows);
  assert.deepEqual(broken(rows), []);
});
