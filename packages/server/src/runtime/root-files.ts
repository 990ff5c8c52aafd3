/**
 * Writes small files (resolv.conf, the sandbox CA) into a sandbox's root before its first
 * process starts. No sandbox process has run in the root yet, but the image may hold symlinks
 * (an absolute one would point at the host): no component is followed, a symlink at the target
 * is replaced, and the file is created with O_EXCL.
 */
import { lstat, readFile, unlink, writeFile, chown } from "node:fs/promises";
import path from "node:path";
import type { RootFile } from "../core/drivers.js";
import { DaemonError } from "../daemon-error.js";

/** Host path of `file.path` under `root`, after checking that every parent is a real directory. */
async function hostPath(root: string, inside: string): Promise<string> {
  const rel = path.posix.normalize(inside).replace(/^\/+/, "");
  if (!path.posix.isAbsolute(inside) || rel === "" || rel.startsWith(".."))
    throw new DaemonError("SANDBOX_RUNTIME_FAILED", `bad sandbox file path ${JSON.stringify(inside)}`);
  const parts = rel.split("/");
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = path.join(dir, part);
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new DaemonError("SANDBOX_RUNTIME_FAILED", `cannot write ${inside} in the sandbox: ${part} is not a directory`);
  }
  return path.join(dir, parts[parts.length - 1]!);
}

/**
 * Writes `files` into `root`, owned by sandbox root (host uid `uidBase`), mode 0644.
 *
 * @example await writeRootFiles(root, [{ path: "/etc/resolv.conf", content: "nameserver 10.73.0.1\n" }], 100000);
 */
export async function writeRootFiles(root: string, files: readonly RootFile[], uidBase: number): Promise<void> {
  for (const file of files) {
    const target = await hostPath(root, file.path);
    let previous = "";
    const st = await lstat(target).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e)));
    if (st) {
      if (file.appendToImage && st.isFile()) previous = await readFile(target, "utf8");
      await unlink(target);
    }
    const content = previous && !previous.endsWith("\n") ? `${previous}\n${file.content}` : previous + file.content;
    await writeFile(target, content, { flag: "wx", mode: 0o644 });
    await chown(target, uidBase, uidBase);
  }
}
