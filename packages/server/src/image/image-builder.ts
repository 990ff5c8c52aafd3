import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CommandRunner, execFileRunner } from "../host/run-command.js";
import { acquireLock } from "./build-lock.js";
import { chooseBootstrapTool, runBootstrap, type BuildProgress } from "./bootstrap-runner.js";
import { BUILDER_VERSION, DEFAULT_IMAGES_DIR, DEFAULT_UID_BASE, defaultRecipe, recipeHash, type ImageRecipe } from "./image-recipe.js";
import { deriveImage, findDerivableImage } from "./image-derive.js";
import { customizeRootfs } from "./rootfs-customize.js";
import { removeTreeSafely } from "./safe-remove.js";
import { shiftTreeOwners } from "./uid-shift.js";
import { DaemonError } from "../daemon-error.js";

/** Contents of `<imagesDir>/<hash>/image.json`. */
export interface ImageInfo {
  hash: string;
  builderVersion: number;
  recipe: ImageRecipe;
  createdAt: string;
  /** Which tool bootstrapped it, with its version line. */
  tool: string;
  buildSeconds: number;
  /** Disk usage of the rootfs (hard links once), bytes. */
  sizeBytes: number;
  inodes: number;
  /** File capabilities re-applied after the uid shift (0 in the default image). */
  capabilitiesRestored: number;
  packages: { name: string; version: string }[];
}

/** Where an image lives and what it is. */
export interface ImageLocation {
  hash: string;
  dir: string;
  rootfs: string;
  info: ImageInfo;
}

export interface ImageOptions {
  /** Default: $ATOLL_IMAGES_DIR or /var/lib/atoll/images. */
  imagesDir?: string;
  /** Default: $ATOLL_UID_BASE or DEFAULT_UID_BASE. Part of the recipe hash. */
  uidBase?: number;
  /** Default: defaultRecipe({ uidBase }). */
  recipe?: ImageRecipe;
  onProgress?: (progress: BuildProgress) => void;
  /** Runs the build's host tools (the daemon passes its host spawner); default: execFileRunner. */
  runner?: CommandRunner;
}

/** $ATOLL_IMAGES_DIR or /var/lib/atoll/images. */
export function defaultImagesDir(): string {
  return process.env.ATOLL_IMAGES_DIR || DEFAULT_IMAGES_DIR;
}

/** $ATOLL_UID_BASE or DEFAULT_UID_BASE. */
export function defaultUidBase(): number {
  const raw = process.env.ATOLL_UID_BASE;
  if (!raw) return DEFAULT_UID_BASE;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new DaemonError("CONFIG_INVALID", `ATOLL_UID_BASE must be a non-negative integer, got ${raw}`);
  return value;
}

function resolveOptions(options: ImageOptions): { imagesDir: string; recipe: ImageRecipe; hash: string } {
  const imagesDir = options.imagesDir ?? defaultImagesDir();
  const recipe = options.recipe ?? defaultRecipe({ uidBase: options.uidBase ?? defaultUidBase() });
  return { imagesDir, recipe, hash: recipeHash(recipe) };
}

/** Reads a finished image's directory, or null when it is absent or incomplete. */
export function readImage(imagesDir: string, hash: string): ImageLocation | null {
  const dir = join(imagesDir, hash);
  const rootfs = join(dir, "rootfs");
  try {
    const info = JSON.parse(readFileSync(join(dir, "image.json"), "utf8")) as ImageInfo;
    if (info.hash !== hash || !existsSync(join(rootfs, "bin/sh"))) return null;
    return { hash, dir, rootfs, info };
  } catch {
    return null;
  }
}

/**
 * The rootfs path of the image for the current recipe, or null if it has not been built.
 * Never builds.
 */
export function findImage(imagesDir?: string, options: Omit<ImageOptions, "imagesDir" | "onProgress" | "runner"> = {}): string | null {
  const resolved = resolveOptions({ ...options, imagesDir });
  return readImage(resolved.imagesDir, resolved.hash)?.rootfs ?? null;
}

/** The rootfs path of the image for the current recipe, building it first when missing. */
export async function ensureImage(options: ImageOptions = {}): Promise<string> {
  return (await buildImage(options)).rootfs;
}

/**
 * Builds the image for the recipe unless it exists (`cached: true`). Only one build runs per
 * images directory at a time (lock file `<imagesDir>/.build.lock`); a second caller waits and
 * then finds the first one's image. The tree is built in `<imagesDir>/.build-<hash>-<pid>`
 * and renamed into place only when complete, so a crash never leaves a half image behind.
 */
export async function buildImage(options: ImageOptions & { force?: boolean } = {}): Promise<ImageLocation & { cached: boolean }> {
  const { imagesDir, recipe, hash } = resolveOptions(options);
  const report = options.onProgress ?? (() => {});
  const runner = options.runner ?? execFileRunner;
  // Root only: the trees hold setuid files owned by sandbox ids (docs/images.md).
  mkdirSync(imagesDir, { recursive: true, mode: 0o700 });
  chmodSync(imagesDir, 0o700);
  if (!options.force) {
    const existing = readImage(imagesDir, hash);
    if (existing) return { ...existing, cached: true };
  }
  const lock = await acquireLock(join(imagesDir, ".build.lock"), {
    onWait: (pid) => report({ phase: `waiting for the image build of pid ${pid}` }),
  });
  try {
    // Whoever held the lock may have built it; builds that crashed left directories behind.
    const ready = options.force ? null : readImage(imagesDir, hash);
    if (ready) return { ...ready, cached: true };
    for (const name of readdirSync(imagesDir)) {
      if (name.startsWith(".build-")) await removeTreeSafely(join(imagesDir, name), runner);
    }
    const location = await buildLocked(runner, imagesDir, recipe, hash, report, options.force === true);
    return { ...location, cached: false };
  } finally {
    lock.release();
  }
}

async function buildLocked(
  runner: CommandRunner,
  imagesDir: string,
  recipe: ImageRecipe,
  hash: string,
  report: (p: BuildProgress) => void,
  force: boolean,
): Promise<ImageLocation> {
  const started = Date.now();
  const work = join(imagesDir, `.build-${hash}-${process.pid}`);
  const rootfs = join(work, "rootfs");
  mkdirSync(work, { mode: 0o755 });
  try {
    // The same recipe for another uid base: copy and move its owners (seconds, no network). A
    // forced rebuild (fresh packages) always bootstraps.
    const sibling = force ? null : findDerivableImage(imagesDir, recipe, readImage);
    if (sibling) {
      report({ phase: `deriving from image ${sibling.hash} (uid base ${sibling.info.recipe.content.uidBase})` });
      const info = await deriveImage(runner, sibling, rootfs, recipe, hash);
      return install(runner, imagesDir, work, hash, info, report);
    }
    const tool = chooseBootstrapTool();
    const toolVersion = await bootstrapToolVersion(runner, tool.tool, tool.path);
    await runBootstrap(tool, recipe, rootfs, report);

    report({ phase: "customizing (user app, hostname, pruning)" });
    await customizeRootfs(runner, rootfs, recipe, { tool: tool.tool });
    const packages = await listPackages(runner, rootfs);

    report({ phase: `shifting owners by +${recipe.content.uidBase}` });
    const shifted = await shiftTreeOwners(runner, rootfs, recipe.content.uidBase);
    if (shifted.capabilitiesLost) {
      report({ phase: "warning: getcap not installed, file capabilities (if any) were dropped by the uid shift" });
    }

    const info: ImageInfo = {
      hash,
      builderVersion: BUILDER_VERSION,
      recipe,
      createdAt: new Date().toISOString(),
      tool: toolVersion,
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
      sizeBytes: shifted.diskBytes,
      inodes: shifted.inodes,
      capabilitiesRestored: shifted.capabilitiesRestored,
      packages,
    };
    return install(runner, imagesDir, work, hash, info, report);
  } catch (error) {
    // Clean up the half-built tree, but report the build's own failure, not a cleanup one.
    await removeTreeSafely(work, runner).catch(() => {});
    throw error;
  }
}

/** Writes image.json into the finished build directory `work` and renames it into place. */
async function install(
  runner: CommandRunner,
  imagesDir: string,
  work: string,
  hash: string,
  info: ImageInfo,
  report: (p: BuildProgress) => void,
): Promise<ImageLocation> {
  writeFileSync(join(work, "image.json"), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
  chmodSync(work, 0o755);
  const dir = join(imagesDir, hash);
  // A forced rebuild replaces the old directory: move it aside first, delete after the swap.
  const old = existsSync(dir) ? join(imagesDir, `.build-old-${hash}-${process.pid}`) : null;
  if (old) renameSync(dir, old);
  renameSync(work, dir);
  if (old) await removeTreeSafely(old, runner);
  report({ phase: "done" });
  return { hash, dir, rootfs: join(dir, "rootfs"), info };
}

/** Package names and versions installed in a rootfs, from its own dpkg database. */
async function listPackages(runner: CommandRunner, rootfs: string): Promise<{ name: string; version: string }[]> {
  const { stdout } = await runner.run("dpkg-query", [
    `--admindir=${join(rootfs, "var/lib/dpkg")}`,
    "--show",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format fields
    "--showformat=${Package}\\t${Version}\\n",
  ]);
  return stdout
    .split("\n")
    .filter((l) => l.includes("\t"))
    .map((l) => {
      const [name, version] = l.split("\t") as [string, string];
      return { name, version };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function bootstrapToolVersion(runner: CommandRunner, tool: string, path: string): Promise<string> {
  if (tool === "mmdebstrap") {
    try {
      return (await runner.run(path, ["--version"])).stdout.trim();
    } catch {
      return tool;
    }
  }
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format field
    const { stdout } = await runner.run("dpkg-query", ["--show", "--showformat=${Version}", tool]);
    return `${tool} ${stdout.trim()}`;
  } catch {
    return tool;
  }
}
