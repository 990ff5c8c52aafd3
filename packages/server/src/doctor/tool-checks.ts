/**
 * Host tools the daemon runs, looked up where the daemon looks (its fixed PATH), each run with
 * `--version` or a harmless real request: bubblewrap, nftables (a checked, never committed
 * change: the kernel validates it), iproute2, e2fsprogs, util-linux, lxcfs (optional), and one
 * real sandbox launch (atoll-launch → bwrap → atoll-probe) that proves namespaces, the id mapping
 * and seccomp work together.
 */
import { statSync } from "node:fs";
import { RESERVED_ID_COUNT } from "../host/uid-range.js";
import { type Check, type DoctorContext, type Verdict, fail, ok, skip, warn } from "./check-types.js";
import { findTool } from "../host/find-tool.js";
import { type ProbeRun, readSysctl, runProbe } from "./host-probes.js";
import { sysctlFix } from "./kernel-checks.js";

/** Oldest bubblewrap with every option the runtime passes (--as-pid-1, --remount-ro, --unshare-cgroup). Tested with 0.8.0. */
export const MIN_BWRAP = [0, 4, 0] as const;

/** [major, minor, patch] of the first x.y(.z) in `text`, or undefined. */
export function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function atLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

export function judgeBwrap(run: ProbeRun): Verdict {
  if (!run.ok) return fail(run.error === "not found" ? "bwrap is not installed" : `bwrap --version failed: ${run.error}`, "apt-get install bubblewrap");
  const v = parseVersion(run.stdout);
  if (!v) return fail(`bwrap --version said "${run.stdout.trim()}"`, "apt-get install --reinstall bubblewrap");
  if (!atLeast(v, MIN_BWRAP))
    return fail(
      `bubblewrap ${v.join(".")} is older than ${MIN_BWRAP.join(".")}`,
      "install bubblewrap 0.4 or newer (Debian 12: apt-get install bubblewrap, 0.8.0)",
    );
  return ok(`bubblewrap ${v.join(".")}`);
}

/** `version`: nft --version; `check`: nft --check of a table add (sent to the kernel, never committed); both absent with --network off. */
export function judgeNft(version?: ProbeRun, check?: ProbeRun): Verdict {
  if (!version || !check) return skip("not needed with --network off");
  if (!version.ok) return fail(version.error === "not found" ? "nft is not installed" : `nft --version failed: ${version.error}`, "apt-get install nftables");
  const name = version.stdout.trim().split(" (")[0] ?? "nftables";
  if (!check.ok)
    return fail(
      `${name} is installed but the kernel refuses nftables: ${check.error}`,
      "modprobe nf_tables (the kernel needs CONFIG_NF_TABLES, CONFIG_NFT_NAT, CONFIG_NFT_MASQ)",
    );
  return ok(`${name}, the kernel's nf_tables answers`);
}

/** `run`: ip -V, absent with --network off. */
export function judgeIproute(run?: ProbeRun): Verdict {
  if (!run) return skip("not needed with --network off");
  if (!run.ok) return fail(run.error === "not found" ? "ip is not installed" : `ip -V failed: ${run.error}`, "apt-get install iproute2");
  const m = /iproute2-([\w.]+)/.exec(run.stdout);
  return ok(m ? `iproute2 ${m[1]}` : run.stdout.trim());
}

/** Every tool of one package must be there; `versionRun` is one of them run with its version flag. */
export function judgePackageTools(pkg: string, missing: readonly string[], versionRun: ProbeRun, versionPattern: RegExp): Verdict {
  if (missing.length > 0) return fail(`${missing.join(", ")} not found`, `apt-get install ${pkg}`);
  if (!versionRun.ok) return fail(`cannot run: ${versionRun.error}`, `apt-get install --reinstall ${pkg}`);
  const m = versionPattern.exec(`${versionRun.stdout}\n${versionRun.stderr}`);
  return ok(m ? `${pkg} ${m[1]}` : pkg);
}

async function packageCheck(ctx: DoctorContext, pkg: string, tools: readonly string[], version: [string, string[]], pattern: RegExp): Promise<Verdict> {
  const missing = tools.filter((t) => !findTool(t, ctx.searchPath));
  const run =
    missing.length > 0
      ? { ok: false as const, error: "skipped", stdout: "", stderr: "" }
      : await runProbe(version[0], version[1], { searchPath: ctx.searchPath });
  return judgePackageTools(pkg, missing, run, pattern);
}

/**
 * GNU tar and zstd make and read volume archives (`atoll volume export|import`, backup/tar-jail.ts);
 * without them only those two calls fail: a warning, the daemon runs.
 */
export function judgeBackupTools(missing: readonly string[]): Verdict {
  if (missing.length > 0) return warn(`${missing.join(", ")} not found: volume export and import fail`, "apt-get install tar zstd");
  return ok("tar, zstd");
}

/**
 * lxcfs (runtime/proc-view.ts) gives sandboxes their own /proc/meminfo, /proc/swaps and
 * /proc/uptime; without it (or without FUSE) they see the host's: a warning, the daemon runs.
 * `run`: lxcfs --version; `fuse`: /dev/fuse is a character device.
 */
export function judgeLxcfs(run: ProbeRun, fuse: boolean): Verdict {
  const why = "sandboxes then see the host's memory and uptime in /proc";
  if (!run.ok) return warn(run.error === "not found" ? `lxcfs is not installed: ${why}` : `lxcfs --version failed: ${run.error}`, "apt-get install lxcfs");
  if (!fuse) return warn(`no /dev/fuse: lxcfs cannot mount, ${why}`, "modprobe fuse (the kernel needs CONFIG_FUSE_FS)");
  return ok(`lxcfs ${(run.stdout.trim() || run.stderr.trim()).replaceAll('"', "")}, /dev/fuse`);
}

/**
 * A real launch: atoll-launch maps the ids and loads the seccomp profile, bwrap makes the
 * namespaces and an empty root (binding nothing of the host's mount tree, which other daemons
 * change all the time), the static atoll-probe runs in it.
 */
export function judgeLaunch(launch: ProbeRun | undefined, missing: string | undefined, apparmorRestrict: number | undefined): Verdict {
  if (missing) return skip(`cannot test: ${missing}`);
  if (!launch || launch.ok) return ok("atoll-launch → bwrap → a program ran in fresh namespaces with the seccomp profile");
  const fix =
    apparmorRestrict === 1
      ? `${sysctlFix("kernel.apparmor_restrict_unprivileged_userns", 0)}, or give bwrap an AppArmor profile that allows user namespaces`
      : "see the error; `atoll doctor` lists the kernel features above (user namespaces, seccomp)";
  return fail(`a test sandbox does not start: ${launch.error}`, fix);
}

async function probeLaunch(ctx: DoctorContext, uidBase: number): Promise<{ launch?: ProbeRun; missing?: string }> {
  const launcher = findTool("atoll-launch", ctx.nativeDir);
  const probe = findTool("atoll-probe", ctx.nativeDir);
  if (!launcher || !probe) return { missing: "the native helpers are not built" };
  if (!findTool("bwrap", ctx.searchPath)) return { missing: "bubblewrap is not installed" };
  const bwrap = [
    "bwrap",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-net",
    "--unshare-cgroup",
    "--as-pid-1",
    "--die-with-parent",
    "--new-session",
  ];
  bwrap.push("--ro-bind", probe, "/atoll-probe", "--proc", "/proc", "--dev", "/dev", "--", "/atoll-probe", "true");
  const launch = await runProbe(launcher, ["--uid-base", String(uidBase), "--owner-uid", String(uidBase + RESERVED_ID_COUNT - 1), "--", ...bwrap], {
    searchPath: ctx.searchPath,
  });
  return { launch };
}

export const toolChecks: Check[] = [
  { id: "bwrap", title: "bubblewrap", atStart: true, run: async (ctx) => judgeBwrap(await runProbe("bwrap", ["--version"], { searchPath: ctx.searchPath })) },
  {
    id: "nftables",
    title: "nftables",
    atStart: true,
    run: async (ctx) => {
      if (!ctx.network) return judgeNft();
      const version = await runProbe("nft", ["--version"], { searchPath: ctx.searchPath });
      const check = version.ok ? await runProbe("nft", ["--check", "add table inet atoll_doctor"], { searchPath: ctx.searchPath }) : version;
      return judgeNft(version, check);
    },
  },
  {
    id: "iproute2",
    title: "iproute2",
    atStart: true,
    run: async (ctx) => judgeIproute(ctx.network ? await runProbe("ip", ["-V"], { searchPath: ctx.searchPath }) : undefined),
  },
  {
    id: "e2fsprogs",
    title: "e2fsprogs",
    atStart: true,
    run: (ctx) => packageCheck(ctx, "e2fsprogs", ["mkfs.ext4", "e2fsck", "dumpe2fs"], ["mkfs.ext4", ["-V"]], /mke2fs ([\d.]+)/),
  },
  {
    id: "util-linux",
    title: "util-linux",
    atStart: true,
    run: (ctx) =>
      packageCheck(
        ctx,
        "util-linux",
        ["losetup", "mount", "umount", "fallocate", "fstrim", "nsenter", "unshare"],
        ["losetup", ["--version"]],
        /util-linux ([\d.]+)/,
      ),
  },
  {
    id: "lxcfs",
    title: "lxcfs",
    atStart: false,
    run: async (ctx) => {
      let fuse = false;
      try {
        fuse = statSync("/dev/fuse").isCharacterDevice();
      } catch {
        fuse = false;
      }
      return judgeLxcfs(await runProbe("lxcfs", ["--version"], { searchPath: ctx.searchPath }), fuse);
    },
  },
  {
    id: "backup-tools",
    title: "volume archives",
    atStart: false,
    run: async (ctx) => judgeBackupTools(["tar", "zstd"].filter((t) => !findTool(t, ctx.searchPath))),
  },
  {
    id: "launch",
    title: "test sandbox",
    atStart: true,
    run: async (ctx, facts) => {
      const { launch, missing } = await probeLaunch(ctx, facts.uidBase);
      return judgeLaunch(launch, missing, readSysctl("kernel.apparmor_restrict_unprivileged_userns"));
    },
  },
];
