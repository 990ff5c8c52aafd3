/**
 * Boots the test:vm guest under QEMU software emulation (TCG: this kind of machine has no usable
 * KVM) and streams its serial console. The guest gets no network device at all (`-nic none`,
 * `-nodefaults`): it cannot send a packet off the machine. Only the QEMU process this module
 * started is ever signalled, by its pid.
 */
import { spawn } from "node:child_process";

export interface QemuBoot {
  /** vmlinux (PVH entry) or a bzImage. */
  kernel: string;
  initrd: string;
  /** The guest root disk; opened with snapshot=on, so the cached image is never written. */
  disk: string;
  /** The checkout disk, read-only. */
  checkoutDisk: string;
  /** Host directory shared as 9p tag `job` (job.env in, exit-code and results out). */
  jobDir: string;
  memory: string;
  cpus: number;
  pidFile: string;
}

/** QEMU escapes a comma in an option value by doubling it. */
function optionValue(path: string): string {
  return path.replaceAll(",", ",,");
}

/** The qemu-system-x86_64 argv for a boot. */
export function qemuArgs(b: QemuBoot): string[] {
  return [
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    "max",
    "-smp",
    String(b.cpus),
    "-m",
    b.memory,
    "-display",
    "none",
    "-nodefaults",
    "-serial",
    "stdio",
    "-no-reboot",
    "-nic",
    "none",
    "-pidfile",
    b.pidFile,
    "-kernel",
    b.kernel,
    "-initrd",
    b.initrd,
    "-drive",
    `file=${optionValue(b.disk)},if=virtio,format=raw,snapshot=on`,
    "-drive",
    `file=${optionValue(b.checkoutDisk)},if=virtio,format=raw,readonly=on`,
    "-virtfs",
    `local,path=${optionValue(b.jobDir)},mount_tag=job,security_model=none,id=job`,
    "-append",
    "root=/dev/vda rw console=ttyS0 panic=1 quiet loglevel=3",
  ];
}

/** How a boot ended. */
export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

/**
 * Runs QEMU until the guest powers off (or `timeoutMs` passes: then SIGTERM, and SIGKILL 10 s
 * later), passing each console line to `onLine`. A SIGINT or SIGTERM to this process stops QEMU
 * the same way before it is handled. QEMU is started through `setpriv --pdeathsig KILL` (which
 * execs it, same pid): if this process dies any other way (SIGKILL, a crash), the kernel kills
 * QEMU too, so no guest ever outlives its run.
 */
export function runQemu(
  binary: string,
  args: readonly string[],
  options: { timeoutMs: number; onLine: (line: string) => void; setpriv: string },
): Promise<QemuExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.setpriv, ["--pdeathsig", "KILL", "--", binary, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      killer ??= setTimeout(() => child.kill("SIGKILL"), 10_000);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onSignal = () => stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let pending = "";
    const feed = (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) options.onLine(l.replace(/\r$/, ""));
    };
    // Decoded per stream, so a character split across two reads stays whole.
    child.stdout.setEncoding("utf8").on("data", feed);
    child.stderr.setEncoding("utf8").on("data", feed);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (pending) options.onLine(pending);
      resolve({ code, signal, timedOut });
    });
  });
}
