/**
 * The test:vm guest's kernel (docs/testing.md): Debian's stock linux-image package, fetched with
 * `apt-get download` and unpacked (never installed), its modules trimmed into the guest root,
 * the kernel itself decompressed for a direct PVH boot, and a handmade initramfs that loads just
 * what reaching the root disk needs.
 */
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { INITRAMFS_INIT } from "./guest-files.js";
import { type GuestRecipe, parseCandidateVersion, parseKernelDepends } from "./guest-recipe.js";
import { runTool } from "./run-tool.js";

/**
 * apt over the network: a mirror that stops answering fails the run within minutes, with apt's
 * message, instead of hanging it.
 */
const APT_NET = ["-o", "Acquire::http::Timeout=30", "-o", "Acquire::https::Timeout=30", "-o", "Acquire::Retries=2"];
const APT_TIMEOUT_MS = 5 * 60_000;

/** The kernel package linux-image-amd64 points at in the host's apt lists (updated once if they have none). */
export async function resolveKernel(): Promise<GuestRecipe["kernel"]> {
  const lookup = async () => {
    const pkg = parseKernelDepends((await runTool("apt-cache", ["depends", "linux-image-amd64"])).toString());
    return { package: pkg, version: parseCandidateVersion((await runTool("apt-cache", ["policy", pkg])).toString()) };
  };
  try {
    return await lookup();
  } catch {
    try {
      await runTool("apt-get", ["update", "-qq", ...APT_NET], { timeoutMs: APT_TIMEOUT_MS });
      return await lookup();
    } catch (err) {
      throw new Error(
        `apt knows no Debian kernel package (linux-image-amd64) even after apt-get update: check that Debian's mirror in /etc/apt/sources.list is reachable. ${(err as Error).message}`,
      );
    }
  }
}

/**
 * Downloads the kernel package into `work` and unpacks it to `<work>/kernel`; returns the
 * kernel release (the /lib/modules directory name). Refreshes the apt lists once when the
 * version they name is gone from the mirror.
 */
export async function fetchKernel(kernel: GuestRecipe["kernel"], work: string): Promise<string> {
  const download = () =>
    runTool("apt-get", ["download", ...APT_NET, "-o", "APT::Sandbox::User=root", `${kernel.package}=${kernel.version}`], {
      cwd: work,
      timeoutMs: APT_TIMEOUT_MS,
    });
  await download()
    .catch(async () => {
      await runTool("apt-get", ["update", "-qq", ...APT_NET], { timeoutMs: APT_TIMEOUT_MS });
      await download();
    })
    .catch((err: Error) => {
      throw new Error(`cannot download the guest kernel ${kernel.package} ${kernel.version} from Debian's mirror: ${err.message}`);
    });
  const deb = readdirSync(work).find((f) => f.startsWith(`${kernel.package}_`) && f.endsWith(".deb"));
  if (!deb) throw new Error(`apt-get download left no ${kernel.package} package in ${work}`);
  await runTool("dpkg-deb", ["-x", join(work, deb), join(work, "kernel")]);
  rmSync(join(work, deb));
  const releases = readdirSync(join(work, "kernel/lib/modules"));
  if (releases.length !== 1) throw new Error(`${deb} holds ${releases.length} module trees, expected one`);
  return releases[0]!;
}

/**
 * The ELF kernel inside a bzImage (XZ-compressed, as Debian builds it): QEMU boots it directly
 * through its PVH entry, which skips about 3.5 s of in-guest decompression under emulation.
 * undefined when the payload is not XZ (then the bzImage itself is booted).
 */
export async function extractVmlinux(bzImage: string): Promise<Buffer | undefined> {
  const data = readFileSync(bzImage);
  const at = data.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) return undefined;
  const elf = await runTool("xz", ["-dc", "--single-stream"], { input: data.subarray(at) });
  return elf.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) ? elf : undefined;
}

/** Copies the recipe's module trees into `rootfs` and indexes them there (the host has no depmod). */
export async function installModules(recipe: GuestRecipe, kernelTree: string, rootfs: string, release: string): Promise<void> {
  const from = join(kernelTree, "lib/modules", release);
  const to = join(rootfs, "lib/modules", release);
  mkdirSync(join(to, "kernel"), { recursive: true });
  for (const f of readdirSync(from)) if (f.startsWith("modules.")) copyFileSync(join(from, f), join(to, f));
  for (const dir of recipe.moduleDirs) {
    if (existsSync(join(from, "kernel", dir))) cpSync(join(from, "kernel", dir), join(to, "kernel", dir), { recursive: true });
  }
  for (const dir of recipe.moduleDirsExcluded) rmSync(join(to, "kernel", dir), { recursive: true, force: true });
  await runTool("chroot", [rootfs, "depmod", release]);
}

/** `modprobe --show-depends` lines → module paths in load order (built-in ones are skipped). */
export function parseShowDepends(text: string): string[] {
  return text
    .split("\n")
    .map((l) => /^insmod (\S+\.ko)\b/.exec(l.trim())?.[1])
    .filter((p): p is string => p !== undefined);
}

/**
 * The initramfs (gzip'd newc cpio, under 2 MB): the guest's static busybox, the modules that
 * reach the root disk, and INITRAMFS_INIT as /init.
 */
export async function buildInitramfs(recipe: GuestRecipe, rootfs: string, release: string, work: string): Promise<Buffer> {
  const order: string[] = [];
  for (const m of recipe.initramfsModules) {
    const deps = parseShowDepends((await runTool("chroot", [rootfs, "modprobe", "-S", release, "--show-depends", m])).toString());
    for (const p of deps) if (!order.includes(p)) order.push(p);
  }
  const dir = join(work, "initramfs");
  for (const d of ["bin", "m", "dev", "proc", "sys", "newroot"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(join(rootfs, "bin/busybox"), join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  for (const p of order) copyFileSync(join(rootfs, p), join(dir, "m", basename(p)));
  writeFileSync(join(dir, "modules"), order.map((p) => `/m/${basename(p)}\n`).join(""));
  writeFileSync(join(dir, "init"), INITRAMFS_INIT, { mode: 0o755 });
  const list = await runTool("find", ["."], { cwd: dir });
  const cpio = await runTool(join(rootfs, "bin/busybox"), ["cpio", "-o", "-H", "newc"], { cwd: dir, input: list });
  rmSync(dir, { recursive: true });
  return gzipSync(cpio, { level: 1 });
}
