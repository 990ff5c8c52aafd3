/**
 * Builds (once) and finds the test:vm guest image (docs/testing.md): `<cacheDir>/<hash>/` holds
 * the kernel (`vmlinux`, or `vmlinuz` when it cannot be unpacked), `initrd.gz`, the root disk
 * `disk.img` (a sparse ext4 file) and `guest.json`. Built in `<cacheDir>/.build-<hash>-<pid>` and
 * renamed into place when complete; one build at a time per cache directory; older images are
 * removed once a new one is in place.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireLock } from "../image/build-lock.js";
import { findExecutable, runBootstrap } from "../image/bootstrap-runner.js";
import { createProgressReporter } from "../image/build-progress.js";
import type { ImageLocation } from "../image/image-builder.js";
import { DEFAULT_DPKG_PATH_RULES, type ImageRecipe, debianArchitecture, hostAptSources } from "../image/image-recipe.js";
import { removeTreeSafely } from "../image/safe-remove.js";
import { FSTAB, JOB_RUNNER, JOB_RUNNER_PATH, JOB_UNIT, JOB_UNIT_NAME, MASKED_UNITS } from "./guest-files.js";
import { buildInitramfs, extractVmlinux, fetchKernel, installModules, resolveKernel } from "./guest-kernel.js";
import { type GuestRecipe, guestRecipe, guestRecipeHash } from "./guest-recipe.js";
import { runTool } from "./run-tool.js";

/** A finished guest image. */
export interface GuestImage {
  hash: string;
  dir: string;
  /** vmlinux (PVH boot) or vmlinuz. */
  kernel: string;
  initrd: string;
  disk: string;
}

/** Prints one line of progress (the CLI adds timings). */
export type Progress = (line: string) => void;

/** The image of `hash` in `cacheDir`, or undefined when it is absent or incomplete. */
export function readGuestImage(cacheDir: string, hash: string): GuestImage | undefined {
  const dir = join(cacheDir, hash);
  try {
    const info = JSON.parse(readFileSync(join(dir, "guest.json"), "utf8")) as { hash: string; kernel: string };
    const image = { hash, dir, kernel: join(dir, info.kernel), initrd: join(dir, "initrd.gz"), disk: join(dir, "disk.img") };
    return info.hash === hash && [image.kernel, image.initrd, image.disk].every((f) => existsSync(f)) ? image : undefined;
  } catch {
    return undefined;
  }
}

/** The guest image for the current recipe, built first when it is not in the cache. */
export async function ensureGuestImage(options: { cacheDir: string; baseImage: ImageLocation; progress: Progress }): Promise<GuestImage & { cached: boolean }> {
  const { cacheDir, baseImage, progress } = options;
  const kernel = await resolveKernel();
  const node = realpathSync(process.execPath);
  const recipe = guestRecipe(kernel, baseImage.hash, { version: process.version, sizeBytes: statSync(node).size });
  const hash = guestRecipeHash(recipe);
  const cached = readGuestImage(cacheDir, hash);
  if (cached) return { ...cached, cached: true };
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(cacheDir, ".build.lock"), { onWait: (pid) => progress(`waiting for the guest image build of pid ${pid}`) });
  try {
    const ready = readGuestImage(cacheDir, hash);
    if (ready) return { ...ready, cached: true };
    for (const name of readdirSync(cacheDir)) if (name.startsWith(".build-")) await removeTreeSafely(join(cacheDir, name));
    const work = join(cacheDir, `.build-${hash}-${process.pid}`);
    mkdirSync(work);
    try {
      await buildInto(work, recipe, hash, baseImage, node, progress);
      renameSync(work, join(cacheDir, hash));
    } catch (err) {
      await removeTreeSafely(work);
      throw err;
    }
    // Only the current image is kept: each is about 1 GB.
    for (const name of readdirSync(cacheDir)) {
      if (name !== hash && /^[0-9a-f]{16}$/.test(name)) await removeTreeSafely(join(cacheDir, name));
    }
    return { ...readGuestImage(cacheDir, hash)!, cached: false };
  } finally {
    lock.release();
  }
}

async function buildInto(work: string, recipe: GuestRecipe, hash: string, baseImage: ImageLocation, node: string, progress: Progress): Promise<void> {
  const t0 = Date.now();
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const result = await fn();
    progress(`${name} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
    return result;
  };
  const rootfs = join(work, "rootfs");
  const release = await step(`kernel ${recipe.kernel.package} ${recipe.kernel.version} downloaded and unpacked`, () => fetchKernel(recipe.kernel, work));
  const kernelFile = await step("kernel unpacked for a direct (PVH) boot", async () => {
    const bzImage = join(work, "kernel/boot", `vmlinuz-${release}`);
    const elf = await extractVmlinux(bzImage);
    if (!elf) {
      copyFileSync(bzImage, join(work, "vmlinuz"));
      return "vmlinuz";
    }
    writeFileSync(join(work, "vmlinux"), elf);
    return "vmlinux";
  });
  await step(`guest root built with mmdebstrap (${recipe.packages.length} packages on minbase)`, () => bootstrap(recipe, rootfs));
  await step("kernel modules installed and indexed", () => installModules(recipe, join(work, "kernel"), rootfs, release));
  await step("initramfs made", async () => writeFileSync(join(work, "initrd.gz"), await buildInitramfs(recipe, rootfs, release, work)));
  await step(`node ${recipe.node.version}, base image ${baseImage.hash} and the job unit copied in`, () => customize(rootfs, baseImage, node));
  await step(`${recipe.diskGiB} GiB sparse root disk written`, () =>
    runTool("mke2fs", [
      "-q",
      "-t",
      "ext4",
      "-i",
      "65536",
      "-E",
      "lazy_itable_init=1,lazy_journal_init=1",
      "-L",
      "atoll-vm",
      "-d",
      rootfs,
      join(work, "disk.img"),
      `${recipe.diskGiB}G`,
    ]),
  );
  await removeTreeSafely(rootfs);
  rmSync(join(work, "kernel"), { recursive: true, force: true });
  writeFileSync(
    join(work, "guest.json"),
    `${JSON.stringify({ hash, kernel: kernelFile, release, createdAt: new Date().toISOString(), buildSeconds: (Date.now() - t0) / 1000, recipe }, null, 2)}\n`,
  );
}

/** mmdebstrap of the guest's packages from the host's Debian mirror (as the base image builder does). */
async function bootstrap(recipe: GuestRecipe, rootfs: string): Promise<void> {
  const path = findExecutable("mmdebstrap");
  if (!path) throw new Error("mmdebstrap is not installed: run `bash scripts/setup.sh --vm`");
  // bootstrapArgs reads the suite, variant, architecture, packages, dpkg rules and sources only.
  const bootstrapRecipe: ImageRecipe = {
    content: {
      distribution: "debian",
      suite: recipe.suite,
      variant: "minbase",
      architecture: debianArchitecture(),
      packages: recipe.packages,
      user: { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/bash" },
      hostname: "atoll-vm",
      dpkgPathRules: [...DEFAULT_DPKG_PATH_RULES],
      uidBase: 0,
    },
    sources: hostAptSources(recipe.suite),
  };
  const reporter = createProgressReporter({ prefix: "  vm image: mmdebstrap" });
  try {
    await runBootstrap({ tool: "mmdebstrap", path }, bootstrapRecipe, rootfs, (p) => reporter.onProgress(p));
  } finally {
    reporter.stop();
  }
}

/** The host's node, the base image, the job runner and its unit; systemd settings for a quick boot. */
async function customize(rootfs: string, baseImage: ImageLocation, node: string): Promise<void> {
  copyFileSync(node, join(rootfs, "usr/bin/node"));
  chmodSync(join(rootfs, "usr/bin/node"), 0o755);
  const images = join(rootfs, "var/lib/atoll/images");
  mkdirSync(images, { recursive: true, mode: 0o700 });
  await runTool("cp", ["-a", baseImage.dir, join(images, baseImage.hash)]);
  writeFileSync(join(rootfs, JOB_RUNNER_PATH), JOB_RUNNER, { mode: 0o755 });
  writeFileSync(join(rootfs, "etc/systemd/system", JOB_UNIT_NAME), JOB_UNIT);
  writeFileSync(join(rootfs, "etc/fstab"), FSTAB);
  writeFileSync(join(rootfs, "etc/hostname"), "atoll-vm\n");
  await runTool("chroot", [rootfs, "passwd", "-d", "root"]);
  await runTool("chroot", [rootfs, "systemctl", "enable", JOB_UNIT_NAME]);
  await runTool("chroot", [rootfs, "systemctl", "mask", ...MASKED_UNITS]);
}
