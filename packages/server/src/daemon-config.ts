import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { parseDuration, parseSize } from "atoll/contract";
import { fileURLToPath } from "node:url";
import { defaultImagesDir, defaultUidBase } from "./image/image-builder.js";
import { type NetConfig, resolveNetConfig } from "./net/net-config.js";
import { type WebConfig, type WebFlags, resolveWebConfig } from "./api/web-config.js";
import { DaemonError } from "./daemon-error.js";
import { findDenoBinary } from "./runtime/deno-binary.js";

/** Everything `atoll serve` needs to know, resolved from flags and the environment. */
export interface DaemonConfig {
  stateDir: string;
  /** Private mount directory for every mount the daemon makes. */
  runDir: string;
  host: string;
  port: number;
  imagesDir: string;
  /**
   * First host uid/gid of the sandbox id range when ATOLL_UID_BASE asks for one; otherwise the
   * daemon keeps the state directory's recorded base or takes the default (host/uid-range.ts).
   */
  uidBase: number | undefined;
  /** Where the host's passwd, group, subuid and subgid are (ATOLL_ETC_DIR, default /etc; tests point it elsewhere). */
  etcDir: string;
  /**
   * Name of the daemon's parent cgroup: "atoll" for the default state directory, "atoll-<hash>"
   * for any other, so two daemons on one host (a test next to production) never touch each
   * other's sandboxes.
   */
  cgroupParent: string;
  /** Where `make` put atoll-init, atoll-launch and atoll-mount (ATOLL_NATIVE_DIR, default native/build of this package). */
  nativeDir: string;
  logLevel: string;
  /** The dashboard marks a volume stale when nothing attached it for this long (`--stale-after`, ATOLL_STALE_AFTER, default 7d). */
  staleAfterMs: number;
  /**
   * `--stop-sandboxes-on-exit` (ATOLL_STOP_SANDBOXES_ON_EXIT=1): `atoll serve` stops every sandbox
   * when it exits. Default false: sandboxes keep running and the next daemon adopts them (issue 13).
   */
  stopSandboxesOnExit: boolean;
  /** Volume usage sampling for the dashboard's charts (ATOLL_USAGE_SAMPLE_INTERVAL, default 60s; ATOLL_USAGE_RETENTION, default 30d). */
  usageSampling: { intervalMs: number; retentionMs: number };
  /** Sandbox networks: --network, --uplink, --dns, --net-range, --upstream-ca (docs/network.md). */
  net: NetConfig;
  /** Exposed ports (--expose-domain, --expose-listen) and per-client HTTP limits (docs/api.md). */
  web: WebConfig;
  /** The host disk budget (docs/operations.md, "Disk space"). */
  disk: DiskConfig;
  /** The Deno binary bound into sandboxes (ATOLL_DENO; runtime/deno-binary.ts), or none. */
  denoBinary: string | undefined;
  /** The audit trail's bounds: `--audit-retention` / ATOLL_AUDIT_RETENTION (90d), ATOLL_AUDIT_MAX_PER_TENANT (100000). */
  audit: { retentionMs: number; maxPerTenant: number };
}

/** `--disk-reserve` / ATOLL_DISK_RESERVE and `--rootfs-overcommit` / ATOLL_ROOTFS_OVERCOMMIT. */
export interface DiskConfig {
  /** Bytes always left free on the state directory's filesystem; undefined: 5% (256 MiB–10 GiB). */
  reserveBytes: number | undefined;
  /** on (default): running sandboxes' unused rootfs is squeezed fairly; off: every rootfs is reserved in full. */
  overcommit: boolean;
}

/** Flags of `atoll serve` that shape the disk budget. */
export interface DiskFlags {
  diskReserve?: string;
  rootfsOvercommit?: string;
}

/** Parses the disk flags (or their variables); throws a readable Error. */
export function resolveDiskConfig(opts: DiskFlags): DiskConfig {
  const reserve = opts.diskReserve ?? process.env.ATOLL_DISK_RESERVE;
  const overcommit = opts.rootfsOvercommit ?? process.env.ATOLL_ROOTFS_OVERCOMMIT ?? "on";
  if (overcommit !== "on" && overcommit !== "off")
    throw new DaemonError("CONFIG_INVALID", `--rootfs-overcommit / ATOLL_ROOTFS_OVERCOMMIT must be on or off, got "${overcommit}"`);
  let reserveBytes: number | undefined;
  if (reserve !== undefined) {
    const size = parseSize(reserve);
    if (!size.ok) throw new DaemonError("CONFIG_INVALID", `--disk-reserve / ATOLL_DISK_RESERVE: ${size.error}`);
    reserveBytes = size.value;
  }
  return { reserveBytes, overcommit: overcommit === "on" };
}

/** Flags of `atoll serve` that shape sandbox networks. */
export interface NetFlags {
  network?: string;
  uplink?: string;
  dns?: string;
  netRange?: string;
  upstreamCa?: string;
  netOpen?: string;
}

export const DEFAULT_STATE_DIR = "/var/lib/atoll";
export const DEFAULT_LISTEN = "127.0.0.1:7420";

/** Parses "HOST:PORT" ("[::1]:7420" for IPv6); throws a readable Error. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new DaemonError("CONFIG_INVALID", `--listen must look like 127.0.0.1:7420, got "${listen}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Milliseconds of a duration setting ("7d", "90s"); throws a readable Error naming the setting. */
export function durationSetting(name: string, raw: string): number {
  const d = parseDuration(raw);
  if (!d.ok) throw new DaemonError("CONFIG_INVALID", `${name}: ${d.error}`);
  return d.value;
}

/** A whole number ≥ 1 of a count setting; throws a readable Error naming the setting. */
function countSetting(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new DaemonError("CONFIG_INVALID", `${name}: must be a whole number ≥ 1, got "${raw}"`);
  return n;
}

/** `atoll serve`'s flags, as commander parses them (each falls back to its ATOLL_* variable). */
export type ServeFlags = {
  stateDir?: string;
  listen?: string;
  imagesDir?: string;
  logLevel?: string;
  staleAfter?: string;
  stopSandboxesOnExit?: boolean;
  auditRetention?: string;
} & NetFlags &
  WebFlags &
  DiskFlags;

export function resolveConfig(opts: ServeFlags): DaemonConfig {
  const stateDir = resolve(opts.stateDir ?? process.env.ATOLL_STATE_DIR ?? DEFAULT_STATE_DIR);
  const { host, port } = parseListen(opts.listen ?? process.env.ATOLL_LISTEN ?? DEFAULT_LISTEN);
  return {
    stateDir,
    runDir: join(stateDir, "run"),
    host,
    port,
    imagesDir: opts.imagesDir ?? defaultImagesDir(),
    uidBase: process.env.ATOLL_UID_BASE ? defaultUidBase() : undefined,
    etcDir: process.env.ATOLL_ETC_DIR || "/etc",
    cgroupParent: stateDir === DEFAULT_STATE_DIR ? "atoll" : `atoll-${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}`,
    nativeDir: resolve(process.env.ATOLL_NATIVE_DIR ?? fileURLToPath(new URL("../native/build", import.meta.url))),
    logLevel: opts.logLevel ?? process.env.ATOLL_LOG_LEVEL ?? "info",
    stopSandboxesOnExit: opts.stopSandboxesOnExit ?? ["1", "true", "on"].includes(process.env.ATOLL_STOP_SANDBOXES_ON_EXIT ?? ""),
    staleAfterMs: durationSetting("--stale-after / ATOLL_STALE_AFTER", opts.staleAfter ?? process.env.ATOLL_STALE_AFTER ?? "7d"),
    usageSampling: {
      intervalMs: durationSetting("ATOLL_USAGE_SAMPLE_INTERVAL", process.env.ATOLL_USAGE_SAMPLE_INTERVAL ?? "60s"),
      retentionMs: durationSetting("ATOLL_USAGE_RETENTION", process.env.ATOLL_USAGE_RETENTION ?? "30d"),
    },
    net: resolveNetConfig(opts),
    web: resolveWebConfig(opts, host, { listen: parseListen, duration: durationSetting }),
    disk: resolveDiskConfig(opts),
    denoBinary: findDenoBinary(),
    audit: {
      retentionMs: durationSetting("--audit-retention / ATOLL_AUDIT_RETENTION", opts.auditRetention ?? process.env.ATOLL_AUDIT_RETENTION ?? "90d"),
      maxPerTenant: countSetting("ATOLL_AUDIT_MAX_PER_TENANT", process.env.ATOLL_AUDIT_MAX_PER_TENANT ?? "100000"),
    },
  };
}
