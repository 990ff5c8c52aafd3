import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { arch } from "node:process";
import { DaemonError } from "../daemon-error.js";

/**
 * Bumped whenever the builder changes what it produces from the same recipe (customize steps,
 * pruning, uid shifting), so existing images are rebuilt instead of silently reused.
 */
export const BUILDER_VERSION = 1;

/** Default directory that holds `<recipeHash>/rootfs` + `<recipeHash>/image.json`. */
export const DEFAULT_IMAGES_DIR = "/var/lib/atoll/images";

/**
 * Default first host uid/gid of the range that sandbox uid/gid 0..65535 map to (0x70000000;
 * Atoll reserves 131072 ids from here, docs/operations.md "The sandbox id range"). Outside the
 * usual allocations: useradd's subordinate ids (SUB_UID_MIN 100000 .. SUB_UID_MAX 600100000),
 * LXD's default (1000000 .. 1000999999), systemd-nspawn's container range (524288 ..
 * 1879048191), systemd's foreign range (from 0x7FFE0000), Podman's "containers" range (from
 * 2147483647) and below 2^31, which some kernel code treats as signed.
 */
export const DEFAULT_UID_BASE = 0x7000_0000;

/** The unprivileged account commands run as inside a sandbox. */
export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Everything that decides the content of a base image. Only `content` is hashed: where the
 * packages are downloaded from (`sources`) does not change what the image is.
 */
export interface ImageRecipe {
  content: {
    distribution: "debian";
    suite: string;
    variant: "minbase";
    /** Debian architecture name (amd64, arm64, ...). */
    architecture: string;
    /** Installed on top of the variant's Essential/required set (no Recommends). */
    packages: string[];
    user: ImageUser;
    hostname: string;
    /** dpkg path-exclude/path-include rules, written to /etc/dpkg/dpkg.cfg.d/ in the image. */
    dpkgPathRules: string[];
    /** Every owner in the stored tree is shifted by this much (see docs/images.md). */
    uidBase: number;
  };
  /**
   * One-line apt sources (`deb URI SUITE COMPONENTS`) taken from the host; empty means "let
   * mmdebstrap/debootstrap use their own default mirror".
   */
  sources: string[];
}

/**
 * Packages added to Debian's minbase variant. minbase already has bash, coreutils, util-linux
 * and mount (all Priority: required); they are listed anyway so the recipe says what a sandbox
 * can rely on. git pulls in perl; python3 is the full interpreter with its standard library.
 * What agent code commonly runs on top (docs/images.md says why each, and why not
 * build-essential or nodejs): `python3 -m venv` with pip (python3-venv brings ensurepip's
 * wheels, so it works offline), pip itself, the sqlite3 CLI, `tar -J` (xz-utils), unzip, jq.
 */
export const DEFAULT_PACKAGES: readonly string[] = [
  "bash",
  "ca-certificates",
  "coreutils",
  "curl",
  "git",
  "jq",
  "procps",
  "python3",
  "python3-pip",
  "python3-venv",
  "sqlite3",
  "unzip",
  "xz-utils",
];

/** Documentation, manual pages and translations are not installed (copyright files are kept). */
export const DEFAULT_DPKG_PATH_RULES: readonly string[] = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*",
];

/** Maps Node's `process.arch` to Debian's architecture names. */
export function debianArchitecture(nodeArch: string = arch): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "armhf",
    ia32: "i386",
    ppc64: "ppc64el",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  const name = map[nodeArch];
  if (!name) throw new DaemonError("IMAGE_BUILD_FAILED", `unsupported architecture for a Debian base image: ${nodeArch}`);
  return name;
}

/**
 * The default recipe: Debian bookworm minbase plus DEFAULT_PACKAGES, user `app` (1000:1000),
 * downloaded from the host's own Debian mirror when it has one for the suite.
 */
export function defaultRecipe(options: { uidBase?: number; sources?: string[] } = {}): ImageRecipe {
  const suite = "bookworm";
  return {
    content: {
      distribution: "debian",
      suite,
      variant: "minbase",
      architecture: debianArchitecture(),
      packages: [...DEFAULT_PACKAGES],
      user: { name: "app", uid: 1000, gid: 1000, home: "/home/app", shell: "/bin/bash" },
      hostname: "sandbox",
      dpkgPathRules: [...DEFAULT_DPKG_PATH_RULES],
      uidBase: options.uidBase ?? DEFAULT_UID_BASE,
    },
    sources: options.sources ?? hostAptSources(suite),
  };
}

/** JSON with object keys sorted at every level, so equal recipes hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex, first 16 chars) of the canonical recipe content and BUILDER_VERSION. */
export function recipeHash(recipe: ImageRecipe): string {
  return createHash("sha256")
    .update(canonicalJson({ builderVersion: BUILDER_VERSION, content: recipe.content }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * Reads the host's apt sources (deb822 `.sources` files and one-line `sources.list`) and
 * returns `deb URI SUITE COMPONENTS` lines for `suite`, `suite-updates` and `suite-security`.
 * Returns [] when the host has none for that suite (an Ubuntu host, say): the bootstrap tool
 * then uses its own default Debian mirror.
 */
export function hostAptSources(
  suite: string,
  files: { deb822: string[]; oneLine: string[] } = {
    deb822: ["/etc/apt/sources.list.d/debian.sources"],
    oneLine: ["/etc/apt/sources.list"],
  },
): string[] {
  const wanted = new Set([suite, `${suite}-updates`, `${suite}-security`]);
  const lines: string[] = [];
  for (const file of files.deb822) {
    const text = readOptional(file);
    if (text !== null) lines.push(...parseDeb822Sources(text, wanted));
  }
  for (const file of files.oneLine) {
    const text = readOptional(file);
    if (text !== null) lines.push(...parseOneLineSources(text, wanted));
  }
  return [...new Set(lines)];
}

/** Parses deb822 apt sources into one-line `deb` entries limited to `wanted` suites. */
export function parseDeb822Sources(text: string, wanted: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last) ?? ""} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      }
    }
    if (fields.get("enabled")?.toLowerCase() === "no") continue;
    const types = words(fields.get("types"));
    if (!types.includes("deb")) continue;
    const components = words(fields.get("components"));
    for (const uri of words(fields.get("uris"))) {
      for (const s of words(fields.get("suites"))) {
        if (wanted.has(s) && components.length > 0) out.push(`deb ${uri} ${s} ${components.join(" ")}`);
      }
    }
  }
  return out;
}

/** Parses one-line `deb [opts] URI SUITE COMPONENTS...` entries limited to `wanted` suites. */
export function parseOneLineSources(text: string, wanted: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw
      .replace(/#.*/, "")
      .replace(/\[[^\]]*\]/, " ")
      .trim();
    const [type, uri, s, ...components] = line.split(/\s+/);
    if (type === "deb" && uri && s && wanted.has(s) && components.length > 0) {
      out.push(`deb ${uri} ${s} ${components.join(" ")}`);
    }
  }
  return out;
}

function words(value: string | undefined): string[] {
  return (value ?? "").split(/\s+/).filter((w) => w.length > 0);
}

function readOptional(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}
