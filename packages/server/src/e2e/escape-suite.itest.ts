/**
 * The escape and abuse suite: a hostile program inside a sandbox tries, as `app` and as sandbox
 * root, everything on the security bar. Every row can fail: a system call must fail with the
 * seccomp filter's own errno (EPERM; EFAULT or EBADF from a bad argument would prove nothing),
 * a command counts as blocked only if it did not do what it tried, and each probe is also run
 * outside the sandbox (outside-probes.ts), where it must work (or fail with another errno):
 * proof that the probe can see the attack succeed. Rows go to the attack table.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Sandbox } from "atoll";
import { readUidRecord } from "../host/uid-range.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon } from "./e2e-helpers.js";
import { type Outside, probeOutside, runOutside } from "./outside-probes.js";
import { PROBE_PROGRAM, SYSCALL_PROBES } from "./syscall-probes.js";

const ctx = useDaemon();
const USERS = [
  { as: "app", root: false },
  { as: "root", root: true },
] as const;

async function probeInside(sb: Sandbox, names: readonly string[], root: boolean): Promise<Record<string, string>> {
  const cmd = sb.sh`python3 -c ${PROBE_PROGRAM} ${[...names]}`.timeout(120_000);
  return (await (root ? cmd.sudo() : cmd).json()) as Record<string, string>;
}

test("every system call of the seccomp profile fails with the filter's errno inside, as app and as root, and works outside it", async () => {
  await using sb = await ctx.client.createSandbox();
  const names = SYSCALL_PROBES.map((p) => p.name);
  const inside = { app: await probeInside(sb, names, false), root: await probeInside(sb, names, true) };
  const outside = {
    userns: probeOutside(
      "userns",
      SYSCALL_PROBES.filter((p) => p.outside === "userns").map((p) => p.name),
    ),
    host: probeOutside(
      "host",
      SYSCALL_PROBES.filter((p) => p.outside === "host").map((p) => p.name),
    ),
  };
  const rows: AttackRow[] = [];
  for (const p of SYSCALL_PROBES) {
    const expected = p.filterErrno ?? "EPERM";
    const proof = outside[p.outside][p.name];
    for (const u of USERS) {
      const seen = inside[u.as][p.name];
      rows.push({
        area: "seccomp",
        attack: `syscall ${p.name}`,
        as: u.as,
        expected: `${expected}; outside (${p.outside}) not ${expected}`,
        observed: `${seen}; outside ${proof}`,
        held: seen === expected && proof !== undefined && proof !== expected,
      });
    }
  }
  reportAttacks("seccomp: blocked system calls (inside the sandbox; outside = the same probe without the filter)", rows);
  assert.deepEqual(broken(rows), []);
});

interface CommandAttack {
  what: string;
  /** Shell command that exits 0 only if the attack did what it tried. */
  cmd: string;
  outside: Outside;
  /** Host files the attack needs; a host without them cannot be attacked this way. */
  needs?: string;
}

test("escape commands do nothing inside, as app and as root, and work outside", async () => {
  await using sb = await ctx.client.createSandbox();
  // A world-readable host file: only the sandbox's own view of the filesystem keeps it out.
  const dir = mkdtempSync("/var/tmp/atoll-escape-");
  const secret = randomBytes(8).toString("hex");
  writeFileSync(join(dir, "marker"), `${secret}\n`, { mode: 0o644 });
  execFileSync("chmod", ["0755", dir]);
  const py = (name: string) => `python3 -c '${PROBE_PROGRAM.replaceAll("'", "'\\''")}' '${name}' | grep -q '"ok"'`;
  const attacks: CommandAttack[] = [
    { what: "mount a tmpfs", cmd: "mount -t tmpfs none /mnt && grep -q ' /mnt tmpfs ' /proc/self/mounts", outside: "userns" },
    { what: "bind-mount / elsewhere", cmd: "mount --rbind / /mnt && test -e /mnt/etc/passwd", outside: "userns" },
    { what: "new user namespace", cmd: "unshare -Ur true", outside: "userns" },
    { what: "new mount namespace", cmd: "unshare -m true", outside: "userns" },
    { what: "new network namespace", cmd: "unshare -n true", outside: "userns" },
    { what: "set the hostname", cmd: `hostname hacked-${secret} && test "$(hostname)" = hacked-${secret}`, outside: "userns" },
    { what: "change a network interface (SIOCSIFFLAGS on lo)", cmd: py("lo flags"), outside: "userns" },
    { what: "write a global sysctl", cmd: 'v=$(cat /proc/sys/vm/overcommit_ratio) && echo "$v" > /proc/sys/vm/overcommit_ratio', outside: "host" },
    { what: "list /sys/firmware", cmd: "ls /sys/firmware | grep -q .", outside: "host", needs: "/sys/firmware" },
    { what: "read /proc/kcore", cmd: "test $(head -c 16 /proc/kcore | wc -c) -eq 16", outside: "host", needs: "/proc/kcore" },
    {
      what: "open /proc/sysrq-trigger for writing",
      cmd: `python3 -c 'import os, stat; fd = os.open("/proc/sysrq-trigger", os.O_WRONLY); assert stat.S_ISREG(os.fstat(fd).st_mode)'`,
      outside: "host",
      needs: "/proc/sysrq-trigger",
    },
    {
      what: "read a host file through /proc/*/root",
      cmd: `for r in /proc/*/root; do cat "$r${dir}/marker"; done 2>/dev/null | grep -q ${secret}`,
      outside: "host",
    },
  ];
  const rows: AttackRow[] = [];
  try {
    for (const a of attacks) {
      if (a.needs && !existsSync(a.needs)) {
        console.log(`not applicable on this host (no ${a.needs}): ${a.what}`);
        continue;
      }
      // The outside check uses the host's tools; for python, the host's own interpreter.
      const proof = runOutside(a.outside, ["sh", "-c", a.cmd.replaceAll("python3 -c", "/usr/bin/python3 -c")]);
      for (const u of USERS) {
        const base = sb.sh`sh -c ${a.cmd}`.stdout("piped").stderr("piped").noThrow().timeout(60_000);
        const r = await (u.root ? base.sudo() : base);
        rows.push({
          area: "escape",
          attack: a.what,
          as: u.as,
          expected: `fails; outside (${a.outside}) works`,
          observed: `${r.status.code === 0 ? "WORKED" : `exit ${r.status.code}`}; outside exit ${proof.code}`,
          held: r.status.code !== 0 && proof.code === 0,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  reportAttacks("escape: commands (inside the sandbox; outside = the same command in throwaway namespaces)", rows);
  assert.deepEqual(broken(rows), []);
});

test("a sandbox cannot signal a host process, not even one running as its own host uid", async () => {
  await using sb = await ctx.client.createSandbox();
  const base = readUidRecord(ctx.daemon.stateDir)!.base;
  // Host processes with sandbox root's host uid: if the sandbox could name them, it could kill them.
  const asSandboxRoot = (argv: string[]) =>
    spawn("setpriv", ["--reuid", String(base), "--regid", String(base), "--clear-groups", "--", ...argv], { stdio: "ignore" });
  const target = asSandboxRoot(["sleep", "600"]);
  const control = asSandboxRoot(["sleep", "600"]);
  const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
  try {
    await new Promise((r) => setTimeout(r, 200));
    const rows: AttackRow[] = [];
    execFileSync("setpriv", ["--reuid", String(base), "--regid", String(base), "--clear-groups", "--", "kill", "-TERM", String(control.pid)]);
    await new Promise((r) => setTimeout(r, 200));
    const proof = alive(control) ? "still running" : "killed";
    for (const u of USERS) {
      const cmd = sb.sh`kill -TERM ${String(target.pid)}`.stderr("piped").noThrow();
      const r = await (u.root ? cmd.sudo() : cmd);
      await new Promise((res) => setTimeout(res, 200));
      rows.push({
        area: "escape",
        attack: `kill -TERM a host process of uid ${base}`,
        as: u.as,
        expected: "still running; outside (same uid on the host) killed",
        observed: `${alive(target) ? "still running" : "KILLED"} (kill exit ${r.status.code}); outside ${proof}`,
        held: alive(target) && proof === "killed",
      });
    }
    reportAttacks("escape: signals", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    target.kill("SIGKILL");
    control.kill("SIGKILL");
  }
});

test("nothing survives the sandbox: double-forked, setsid'd and nohup'd processes die with it", async () => {
  const marker = `atoll-escape-${randomBytes(6).toString("hex")}`;
  const sb = await ctx.client.createSandbox({ timeout: "5m" });
  // bash: `exec -a` names the process so the host can find it.
  await sb.sh`bash -c ${`(setsid nohup bash -c 'exec -a ${marker} sleep 1000' >/dev/null 2>&1 &) ; (bash -c 'exec -a ${marker} sleep 1000' &)`}`;
  await sb.sh`bash -c ${`exec -a ${marker} sleep 1000 &`}`.sudo();
  const running = () =>
    execFileSync("ps", ["-eo", "args="], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.startsWith(marker)).length;
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
  assert.equal((await neighbour.sh`echo unaffected`.text()).trimEnd(), "unaffected");
  assert.equal((await neighbour.sh`sh -c ${"for i in $(seq 100); do true & done; wait; echo ok"}`.text()).trimEnd(), "ok");
});
