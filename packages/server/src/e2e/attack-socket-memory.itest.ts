/**
 * Standing attack on socket buffer memory (issue 10, item 6): connection pairs nobody reads
 * stay within the sandbox's memory limit and its share of the host's TCP memory, and the
 * neighbour still works. The probe is first shown to work outside the defence (a cgroup without
 * the socket cap pins more than the limit).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon } from "./e2e-helpers.js";
import { startHolding } from "./holding-probe.js";

const ctx = useDaemon();
const MIB = 2 ** 20;
const rows: AttackRow[] = [];
const row = (r: AttackRow) => {
  rows.push(r);
  return r.held;
};

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

test("attack table", () => {
  reportAttacks("Shared budgets: socket memory", rows);
  assert.deepEqual(broken(rows), []);
});
