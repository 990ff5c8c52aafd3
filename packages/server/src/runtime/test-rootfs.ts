/**
 * A throwaway root filesystem for integration tests of the runtime, built in well under a
 * second: the host's /usr/bin, /usr/sbin, /usr/lib64 and /usr/lib/x86_64-linux-gnu are
 * *hard-linked* (`cp -al`, no data copied; needs the temp dir on the same filesystem as /usr)
 * under `<dir>/rootfs/usr`, plus a minimal /etc with `root` and `app` (1000). The overlay never
 * writes to its lower layer, so the host's files are not modified by sandboxes.
 * Set ATOLL_TEST_ROOTFS to use an existing rootfs (e.g. the real base image) instead.
 */
import { chmod, chown, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { execFileCommand } from "../host/run-command.js";
import { DaemonError } from "../daemon-error.js";

/** Builds (or returns $ATOLL_TEST_ROOTFS) a test rootfs under `dir` and returns its path. */
export async function buildTestRootfs(dir: string, uidBase: number): Promise<string> {
  const given = process.env.ATOLL_TEST_ROOTFS;
  if (given) return given;
  const root = path.join(dir, "rootfs");
  for (const d of ["usr/lib", "etc", "proc", "dev", "tmp", "mnt", "root", "run", "home/app", "opt"]) {
    await mkdir(path.join(root, d), { recursive: true });
  }
  try {
    await execFileCommand("cp", ["-al", "/usr/bin", "/usr/sbin", "/usr/lib64", path.join(root, "usr")]);
    await execFileCommand("cp", ["-al", "/usr/lib/x86_64-linux-gnu", path.join(root, "usr/lib")]);
  } catch (err) {
    throw new DaemonError(
      "HOST_NOT_READY",
      `cannot hard-link the host's /usr into ${root} (is it on another filesystem? set ATOLL_TEST_ROOTFS): ${(err as Error).message}`,
      { cause: err },
    );
  }
  for (const [name, to] of [
    ["bin", "usr/bin"],
    ["sbin", "usr/sbin"],
    ["lib", "usr/lib"],
    ["lib64", "usr/lib64"],
  ] as const) {
    await symlink(to, path.join(root, name));
  }
  await writeFile(path.join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
  await writeFile(path.join(root, "etc/group"), "root:x:0:\napp:x:1000:\n");
  // Owners as the shifted base image would have them.
  for (const d of ["etc", "proc", "dev", "mnt", "root", "run", "home", "opt", "tmp"]) await chown(path.join(root, d), uidBase, uidBase);
  await chown(path.join(root, "home/app"), uidBase + 1000, uidBase + 1000);
  await chmod(path.join(root, "tmp"), 0o1777);
  return root;
}
