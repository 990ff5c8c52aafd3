/**
 * Standing attacks on shared budgets (issue 10, items 5 and 8): kernel per-user budgets
 * (inotify, POSIX message queues) and quotas raced by concurrent creates. Socket buffer memory
 * (item 6) is in attack-socket-memory.itest.ts, the disk (item 4) in disk-full.itest.ts.
 *
 * Every probe is first shown to work outside the defence (a budget shared by one host uid is
 * exhausted for everyone holding it).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type AtollError, Client } from "atoll";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon } from "./e2e-helpers.js";
import { startHolding } from "./holding-probe.js";

const ctx = useDaemon();
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
  reportAttacks("Shared budgets: kernel ucounts, quotas", rows);
  assert.deepEqual(broken(rows), []);
});
