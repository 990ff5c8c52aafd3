/**
 * What decides the content of the test:vm guest image (docs/testing.md), and its hash: the
 * image is cached under `<cacheDir>/<hash>` and rebuilt only when any of this changes (the
 * kernel Debian ships, the packages, the base image copied in, the host's node binary, the
 * guest files, or VM_BUILDER_VERSION).
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../image/image-recipe.js";
import { FSTAB, INITRAMFS_INIT, JOB_RUNNER, JOB_UNIT, MASKED_UNITS } from "./guest-files.js";

/** Bumped whenever the builder changes what it makes from the same recipe. */
export const VM_BUILDER_VERSION = 1;

/** Default cache directory of guest images ($ATOLL_VM_CACHE_DIR overrides it). */
export const DEFAULT_VM_CACHE_DIR = "/var/cache/atoll/vm";

/**
 * Debian packages of the guest root, on top of minbase: systemd as pid 1 (it owns the unified
 * cgroup hierarchy, as on a Debian 12 host), busybox-static for the initramfs, what the daemon
 * runs (bubblewrap, iproute2, nftables, e2fsprogs, util-linux, uidmap, libcap2-bin, lxcfs for
 * the sandboxes' /proc view), what the tests run (python3, psmisc, lsof, make) and the libraries of the host-built helpers and node
 * (libseccomp2, libstdc++6).
 */
export const GUEST_PACKAGES: readonly string[] = [
  "systemd",
  "systemd-sysv",
  "udev",
  "dbus",
  "kmod",
  "busybox-static",
  "procps",
  "libstdc++6",
  "libseccomp2",
  "bubblewrap",
  "iproute2",
  "nftables",
  "e2fsprogs",
  "util-linux",
  "uidmap",
  "libcap2-bin",
  "lxcfs",
  "ca-certificates",
  "python3",
  "psmisc",
  "lsof",
  "make",
];

/**
 * Module trees (under /lib/modules/<version>/kernel) copied into the guest: filesystems,
 * networking (netfilter, veth, 9p), virtio, loop. Sound, graphics and hardware drivers stay out
 * (they are 300 MB of the 390 MB tree).
 */
export const MODULE_DIRS: readonly string[] = [
  "arch",
  "block",
  "crypto",
  "fs",
  "lib",
  "mm",
  "net",
  "virt",
  "drivers/block",
  "drivers/char",
  "drivers/md",
  "drivers/net",
  "drivers/virtio",
];
/** Dropped again from MODULE_DIRS: network hardware, and KVM (udev would load it for the emulated CPU's SVM flag). */
export const MODULE_DIRS_EXCLUDED: readonly string[] = [
  "arch/x86/kvm",
  "drivers/net/ethernet",
  "drivers/net/wireless",
  "drivers/net/usb",
  "drivers/net/can",
  "drivers/net/wwan",
];

/** Modules the initramfs loads to reach the root disk (their dependencies come along). */
export const INITRAMFS_MODULES: readonly string[] = ["virtio_pci", "virtio_blk", "ext4"];

/** The guest disk: a sparse file; room for sandboxes' 10 GiB root filesystems and volumes. */
export const GUEST_DISK_GIB = 64;

export interface GuestRecipe {
  builderVersion: number;
  suite: string;
  /** The versioned kernel package linux-image-amd64 points at, and its version. */
  kernel: { package: string; version: string };
  packages: string[];
  moduleDirs: string[];
  moduleDirsExcluded: string[];
  initramfsModules: string[];
  /** Hash of the Atoll base image copied to /var/lib/atoll/images in the guest. */
  baseImage: string;
  /** The host's node binary, copied in: same glibc as bookworm. */
  node: { version: string; sizeBytes: number };
  diskGiB: number;
  files: Record<string, string | string[]>;
}

/** The recipe for a kernel, a base image and a node binary. */
export function guestRecipe(kernel: GuestRecipe["kernel"], baseImage: string, node: GuestRecipe["node"]): GuestRecipe {
  return {
    builderVersion: VM_BUILDER_VERSION,
    suite: "bookworm",
    kernel,
    packages: [...GUEST_PACKAGES],
    moduleDirs: [...MODULE_DIRS],
    moduleDirsExcluded: [...MODULE_DIRS_EXCLUDED],
    initramfsModules: [...INITRAMFS_MODULES],
    baseImage,
    node,
    diskGiB: GUEST_DISK_GIB,
    files: { init: INITRAMFS_INIT, fstab: FSTAB, runner: JOB_RUNNER, unit: JOB_UNIT, masked: [...MASKED_UNITS] },
  };
}

/** sha256 (hex, first 16 characters) of the canonical recipe. */
export function guestRecipeHash(recipe: GuestRecipe): string {
  return createHash("sha256").update(canonicalJson(recipe)).digest("hex").slice(0, 16);
}

/** The versioned package in `apt-cache depends linux-image-amd64` output, e.g. linux-image-6.1.0-57-amd64. */
export function parseKernelDepends(text: string): string {
  const m = /^\s*Depends:\s*(linux-image-[0-9][A-Za-z0-9.+~-]*)\s*$/m.exec(text);
  if (!m) throw new Error(`apt-cache depends linux-image-amd64 names no versioned kernel package:\n${text.trim()}`);
  return m[1]!;
}

/** The candidate version in `apt-cache policy PACKAGE` output. */
export function parseCandidateVersion(text: string): string {
  const m = /^\s*Candidate:\s*(\S+)\s*$/m.exec(text);
  if (!m || m[1] === "(none)") throw new Error(`apt has no candidate version:\n${text.trim()}`);
  return m[1]!;
}
