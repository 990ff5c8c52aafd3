/**
 * The escape and abuse suite: a hostile program inside a sandbox tries, as `app` and as sandbox
 * root, everything on the security bar. Every attempt must fail to do harm; the suite prints a
 * table of each attempt and how it was stopped.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Sandbox } from "atoll";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

/** x86_64 system call numbers tried directly, so no missing tool hides a hole. */
const SYSCALLS: Record<string, number> = {
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  unshare_newuser: 272,
  setns: 308,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  kexec_load: 246,
  ptrace_attach: 101,
  keyctl: 250,
  add_key: 248,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323,
  open_by_handle_at: 304,
  swapon: 167,
  reboot: 169,
  syslog: 103,
  io_uring_setup: 425,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  mount_setattr: 442,
};

/** Python that calls a raw syscall with harmless-but-valid-looking arguments and exits 0 only if it succeeded. */
function syscallProbe(name: string, nr: number): string {
  const args: Record<string, string> = {
    unshare_newuser: "0x10000000",
    ptrace_attach: "16, 1, 0, 0",
    reboot: "0, 0, 0, 0", // invalid magic: EINVAL if allowed, EPERM if filtered
    syslog: "3, 0, 0",
  };
  return `python3 -c "import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(${nr}, ${args[name] ?? "0, 0, 0, 0, 0"}); e=ctypes.get_errno(); print('errno', e); sys.exit(0 if r >= 0 else (1 if e == 1 else 2))"`;
}

interface Attempt {
  what: string;
  cmd: string;
  /** Attempts whose failure mode is "nothing to see" rather than an error code check output. */
  expectEmpty?: boolean;
}

const ATTEMPTS: Attempt[] = [
  { what: "mount a tmpfs", cmd: "mount -t tmpfs none /mnt" },
  { what: "bind-mount /", cmd: "mount --bind / /mnt" },
  { what: "new user namespace", cmd: "unshare -Ur true" },
  { what: "new mount namespace", cmd: "unshare -m true" },
  { what: "new network namespace", cmd: "unshare -n true" },
  { what: "load a kernel module", cmd: "modprobe dummy || insmod /lib/modules/x.ko" },
  { what: "read /proc/kcore", cmd: "test $(head -c 16 /proc/kcore | wc -c) -gt 0" },
  { what: "read /sys/firmware", cmd: "ls /sys/firmware/* | head -1 | grep ." },
  { what: "write /proc/sys", cmd: "echo 1 > /proc/sys/vm/drop_caches" },
  { what: "sysrq", cmd: "echo b > /proc/sysrq-trigger" },
  { what: "create a block device node", cmd: "mknod /tmp/sda b 8 0" },
  { what: "create a char device node", cmd: "mknod /tmp/mem c 1 1" },
  { what: "raw ICMP socket", cmd: "python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\"" },
  { what: "packet socket", cmd: "python3 -c \"import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\"" },
  { what: "change network config", cmd: "ip link set lo down || python3 -c \"import fcntl,socket,struct; s=socket.socket(); fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', 0))\"" },
  { what: "set the hostname", cmd: "hostname hacked && test $(hostname) = hacked" },
  { what: "change the clock", cmd: "date -s '2001-01-01'" },
  { what: "read host files via /proc/1/root", cmd: "cat /proc/1/root/etc/shadow | grep -q root && test -e /proc/1/root/work" },
  { what: "signal a process outside", cmd: "for p in $(seq 2 400); do kill -0 $p 2>/dev/null && [ ! -d /proc/$p ] && exit 0; done; exit 1" },
  ...Object.entries(SYSCALLS).map(([name, nr]) => ({ what: `syscall ${name}`, cmd: syscallProbe(name, nr) })),
];

async function tryAs(sb: Sandbox, cmd: string, root: boolean): Promise<{ code: number | null; why: string }> {
  const base = sb.sh`sh -c ${cmd}`.noThrow().timeout(20_000);
  const r = await (root ? base.sudo() : base);
  const why = (r.stderrText.trim().split("\n")[0] ?? "").slice(0, 70) || (r.stdoutText.trim().split("\n").pop() ?? "").slice(0, 70);
  return { code: r.status.code, why };
}

test("escape and abuse attempts all fail, as app and as sandbox root", async () => {
  await using sb = await ctx.client.createSandbox({ timeout: "10m" });
  const table: { attempt: string; user: string; exit: number | null; outcome: string }[] = [];
  const failures: string[] = [];
  for (const a of ATTEMPTS) {
    for (const root of [false, true]) {
      const r = await tryAs(sb, a.cmd, root);
      table.push({ attempt: a.what, user: root ? "root" : "app", exit: r.code, outcome: r.code === 0 ? "SUCCEEDED" : `blocked: ${r.why}` });
      if (r.code === 0) failures.push(`${root ? "root" : "app"}: ${a.what}`);
    }
  }
  console.table(table);
  assert.deepEqual(failures, []);
});

test("nothing survives the sandbox: double-forked, setsid'd and nohup'd processes die with it", async () => {
  const marker = `atoll-escape-${randomBytes(6).toString("hex")}`;
  const sb = await ctx.client.createSandbox({ timeout: "5m" });
  // bash: `exec -a` names the process so the host can find it.
  await sb.sh`bash -c ${`(setsid nohup bash -c 'exec -a ${marker} sleep 1000' >/dev/null 2>&1 &) ; (bash -c 'exec -a ${marker} sleep 1000' &)`}`;
  await sb.sh`bash -c ${`exec -a ${marker} sleep 1000 &`}`.sudo();
  const running = () => execFileSync("ps", ["-eo", "args="], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith(marker)).length;
  assert.ok(running() >= 3, "the processes were running");
  await sb.kill();
  assert.equal(running(), 0, "no process of the sandbox is left on the host");
});

test("a hostile sandbox cannot starve a neighbour: pids, memory and CPU are per sandbox", async () => {
  await using bomb = await ctx.client.createSandbox({ pids: 64, memory: "128MiB", cpuWeight: 10 });
  await using neighbour = await ctx.client.createSandbox();
  // Busy loops on every core, at a tenth of the default CPU weight.
  await bomb.sh`sh -c ${"for i in 1 2 3 4; do (while :; do :; done) & done"}`;
  await bomb.sh`sh -c ${"for i in $(seq 500); do sleep 120 & done"}`.noThrow().timeout(20_000);
  await bomb.sh`python3 -c ${"x = bytearray(1024 * 1024 * 1024)"}`.noThrow();
  assert.equal(await neighbour.sh`echo unaffected`.text(), "unaffected");
  assert.equal(await neighbour.sh`sh -c ${"for i in $(seq 100); do true & done; wait; echo ok"}`.text(), "ok");
});
