import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter } from "node:path";
import { findTool } from "../host/find-tool.js";
import type { ImageRecipe } from "./image-recipe.js";
import { DaemonError } from "../daemon-error.js";

/** One progress report of an image build. */
export interface BuildProgress {
  /** Short name of what happens now ("downloading packages with apt", "shifting owners", ...). */
  phase: string;
  /** Items done in this phase and how many there are, when the tool says so. */
  current?: number;
  total?: number;
  /** Extra text for the current item (a package name). */
  detail?: string;
}

export type BootstrapTool = "mmdebstrap" | "debootstrap";

/** Finds an executable on PATH (plus the sbin directories root normally has). */
export function findExecutable(name: string): string | null {
  return findTool(name, [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"].join(":")) ?? null;
}

/**
 * mmdebstrap when installed, else debootstrap; throws if neither is. ATOLL_BOOTSTRAP_TOOL
 * (mmdebstrap|debootstrap) forces one, e.g. to test the fallback.
 */
export function chooseBootstrapTool(): { tool: BootstrapTool; path: string } {
  const forced = process.env.ATOLL_BOOTSTRAP_TOOL || undefined;
  if (forced !== undefined && forced !== "mmdebstrap" && forced !== "debootstrap") {
    throw new DaemonError("CONFIG_INVALID", `ATOLL_BOOTSTRAP_TOOL must be mmdebstrap or debootstrap, got ${forced}`);
  }
  const candidates: BootstrapTool[] = forced ? [forced] : ["mmdebstrap", "debootstrap"];
  for (const tool of candidates) {
    const path = findExecutable(tool);
    if (path) return { tool, path };
  }
  throw new DaemonError("HOST_NOT_READY", "neither mmdebstrap nor debootstrap is installed: run `bash scripts/setup.sh` (or apt-get install mmdebstrap)");
}

/** Debian's archive keyring as the debian-archive-keyring package installs it (also on Ubuntu). */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * The argv (after the program name) that bootstraps `recipe` into the empty directory `target`.
 * Without host sources (an Ubuntu host, say) the tools use Debian's default mirror, verified
 * with Debian's keyring, which apt on such a host does not trust by itself.
 */
export function bootstrapArgs(
  tool: BootstrapTool,
  recipe: ImageRecipe,
  target: string,
  keyring: string | null = existsSync(DEBIAN_KEYRING) ? DEBIAN_KEYRING : null,
): string[] {
  const { suite, variant, architecture, packages, dpkgPathRules } = recipe.content;
  const keyringArgs = recipe.sources.length === 0 && keyring ? [`--keyring=${keyring}`] : [];
  if (tool === "mmdebstrap") {
    return [
      "--verbose",
      ...keyringArgs,
      "--mode=root",
      "--format=directory",
      `--variant=${variant}`,
      `--architectures=${architecture}`,
      `--include=${packages.join(",")}`,
      ...dpkgPathRules.map((rule) => `--dpkgopt=${rule}`),
      suite,
      target,
      ...recipe.sources,
    ];
  }
  // debootstrap takes one mirror: the one that serves the suite itself.
  const mirror = recipe.sources.map((line) => line.split(/\s+/)).find((w) => w[2] === suite)?.[1];
  return [...keyringArgs, `--variant=${variant}`, `--arch=${architecture}`, `--include=${packages.join(",")}`, suite, target, ...(mirror ? [mirror] : [])];
}

/**
 * Turns the tools' output lines into BuildProgress. mmdebstrap (with --verbose) prints
 * `I: phase...` lines, apt's `N upgraded, M newly installed`, `Get:N ...` per download and
 * dpkg's `Setting up pkg` per configured package; debootstrap prints `I: Retrieving pkg`,
 * `I: Unpacking pkg`, ... .
 */
export class BootstrapOutputParser {
  private phase = "starting";
  private current = 0;
  private total: number | undefined;
  private lastItem: "get" | "setup" | null = null;

  constructor(private readonly emit: (p: BuildProgress) => void) {}

  line(text: string): void {
    const line = text.trimEnd();
    const info = /^I: (.*)$/.exec(line);
    if (info) {
      const message = info[1]!.replace(/\.\.\.$/, "");
      // debootstrap: "I: Retrieving libc6 2.36-9" → phase "Retrieving", detail "libc6 2.36-9"
      const perPackage = /^(Retrieving|Validating|Extracting|Unpacking|Configuring|Installing) (\S+)(?: \S+)?$/.exec(message);
      if (perPackage && !/ (packages|system|core)$/.test(message)) {
        const phase = perPackage[1]!.toLowerCase();
        if (phase !== this.phase) this.startPhase(phase);
        this.current += 1;
        this.emit({ phase: this.phase, current: this.current, detail: perPackage[2] });
        return;
      }
      if (/^success in /.test(message) || /^Base system installed/.test(message)) return;
      this.startPhase(message);
      this.emit({ phase: this.phase });
      return;
    }
    const counts = /^(\d+) upgraded, (\d+) newly installed/.exec(line);
    if (counts) {
      this.total = Number(counts[2]);
      this.current = 0;
      this.emit({ phase: this.phase, current: 0, total: this.total });
      return;
    }
    const get = /^Get:\d+ \S+ \S+ \S+ (\S+) /.exec(line);
    const setup = /^Setting up (\S+?)(?::\S+)? \(/.exec(line);
    const item = get?.[1] ?? setup?.[1];
    if (item && this.total !== undefined) {
      // apt inside the chroot downloads, then configures: two bars, not one that stays full.
      if (setup && this.lastItem === "get") this.startPhase("configuring packages");
      this.lastItem = get ? "get" : "setup";
      this.current = Math.min(this.current + 1, this.total);
      this.emit({ phase: this.phase, current: this.current, total: this.total, detail: item });
    }
  }

  /** A new phase restarts the item count; the package total of the last apt run carries over. */
  private startPhase(phase: string): void {
    this.phase = phase;
    this.current = 0;
    this.lastItem = null;
  }
}

/**
 * Runs the bootstrap tool, streaming progress. Rejects with the last lines of its output when
 * it fails. Output goes nowhere else (the caller's reporter decides what to show).
 */
export function runBootstrap(
  tool: { tool: BootstrapTool; path: string },
  recipe: ImageRecipe,
  target: string,
  onProgress: (p: BuildProgress) => void,
): Promise<void> {
  const args = bootstrapArgs(tool.tool, recipe, target);
  const parser = new BootstrapOutputParser(onProgress);
  const tail: string[] = [];
  return new Promise((resolve, reject) => {
    const child = spawn(tool.path, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C.UTF-8" },
    });
    const feed = (stream: NodeJS.ReadableStream): void => {
      let pending = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        pending += chunk;
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? "";
        for (const l of lines) {
          tail.push(l);
          if (tail.length > 40) tail.shift();
          parser.line(l);
        }
      });
    };
    feed(child.stdout);
    feed(child.stderr);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else {
        reject(new DaemonError("IMAGE_BUILD_FAILED", `${tool.tool} ${args.join(" ")} failed (${signal ?? `exit ${code}`}); last output:\n${tail.join("\n")}`));
      }
    });
  });
}
