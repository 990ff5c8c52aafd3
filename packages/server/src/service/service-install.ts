import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { AtollError, InvalidArgumentError } from "atoll/contract";
import { UNIT_NAME } from "./systemd-unit.js";

/** Where and how a unit is installed. */
export interface ServiceTarget {
  /** Unit name without `.service` (default "atoll"). */
  name: string;
  /** Install into this directory tree instead of the running system (systemctl --root; nothing is started). */
  root?: string | undefined;
}

/** Runs systemctl; returns its exit status and output (a seam for the tests of the plan only). */
export type Systemctl = (args: readonly string[]) => { status: number | null; output: string };

/** The real systemctl, when it is installed. */
export const hostSystemctl: Systemctl = (args) => {
  const r = spawnSync("systemctl", args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) return { status: null, output: r.error.message };
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
};

/** sd_booted(3): systemd runs as init when this directory exists. */
const SYSTEMD_RUNNING = "/run/systemd/system";

/** Where the unit file goes. */
export function unitPath(t: ServiceTarget): string {
  if (!UNIT_NAME.test(t.name)) throw new InvalidArgumentError(`--name "${t.name}" must be lowercase letters, digits, - and _ (e.g. atoll)`);
  return join(t.root ?? "/", "etc/systemd/system", `${t.name}.service`);
}

/**
 * The systemctl calls of an install or uninstall. Into a root: `enable`/`disable` only (systemctl
 * --root links the unit into multi-user.target.wants; nothing runs), or none when systemctl is
 * not installed. On the running system: reload, then enable and start (uninstall: stop and
 * disable, then reload once the file is gone); refused when systemd does not run.
 */
export function systemctlPlan(action: "install" | "uninstall", t: ServiceTarget, host: { systemdRunning: boolean; systemctlInstalled: boolean }): string[][] {
  const unit = `${t.name}.service`;
  if (t.root !== undefined) return host.systemctlInstalled ? [[`--root=${t.root}`, action === "install" ? "enable" : "disable", unit]] : [];
  const systemdRunning = host.systemdRunning;
  if (!systemdRunning)
    throw new AtollError(
      "INVALID_ARGUMENT",
      `systemd is not running on this host (no ${SYSTEMD_RUNNING}): nothing was changed. Use \`atoll service install --print\` to see the unit, or --root DIR to write it into another system's tree.`,
    );
  return action === "install" ? [["daemon-reload"], ["enable", "--now", unit]] : [["disable", "--now", unit]];
}

/** What the host has: systemd as the running init, and the systemctl command. */
export interface ServiceHost {
  systemdRunning: boolean;
  systemctlInstalled: boolean;
  systemctl: Systemctl;
}

/** This host, as `atoll service` sees it. */
export function thisHost(): ServiceHost {
  return {
    systemdRunning: existsSync(SYSTEMD_RUNNING),
    systemctlInstalled: spawnSync("systemctl", ["--version"]).error === undefined,
    systemctl: hostSystemctl,
  };
}

/** What install/uninstall did, for the command's output. */
export interface ServiceReport {
  unitFile: string;
  /** "written", "updated" or "unchanged" (install); "removed" (uninstall). */
  change: string;
  /** systemctl calls made, each as its argv. */
  ran: string[][];
}

/**
 * Writes the unit (atomically, 0644) and enables it: started now on a running systemd, linked
 * only with --root. Nothing is written when systemd is needed and absent. A failing systemctl
 * call is an error naming it (the unit file stays, so `systemctl status` can tell why).
 */
export function installService(t: ServiceTarget, unit: string, host: ServiceHost = thisHost()): ServiceReport {
  const file = unitPath(t);
  const plan = systemctlPlan("install", t, host);
  const before = existsSync(file) ? readFileSync(file, "utf8") : undefined;
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  if (before !== unit) {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, unit, { mode: 0o644 });
    renameSync(tmp, file);
  }
  const ran = run(plan, host.systemctl);
  return { unitFile: file, change: before === undefined ? "written" : before === unit ? "unchanged" : "updated", ran };
}

/** Stops and disables the unit (or unlinks it in --root), then removes its file. */
export function uninstallService(t: ServiceTarget, host: ServiceHost = thisHost()): ServiceReport {
  const file = unitPath(t);
  if (!existsSync(file)) throw new AtollError("NOT_FOUND", `No unit ${file}: nothing to uninstall (installed under another --name or --root?)`);
  const plan = systemctlPlan("uninstall", t, host);
  const ran = run(plan, host.systemctl);
  rmSync(file);
  if (t.root === undefined) ran.push(...run([["daemon-reload"]], host.systemctl));
  return { unitFile: file, change: "removed", ran };
}

function run(plan: string[][], systemctl: Systemctl): string[][] {
  const ran: string[][] = [];
  for (const args of plan) {
    const r = systemctl(args);
    ran.push(args);
    if (r.status !== 0) {
      throw new AtollError("HOST_ERROR", `systemctl ${args.join(" ")} failed${r.status === null ? "" : ` (exit ${r.status})`}: ${r.output || "no output"}`);
    }
  }
  return ran;
}
