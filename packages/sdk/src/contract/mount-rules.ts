/**
 * Rules for where a volume may be mounted inside a sandbox. Checked by the daemon before it
 * creates anything; exported so the CLI and the SDK can explain the same rules.
 */

/** First path segments no volume may be mounted at or under (plus lib, lib32, lib64 and libx32). */
export const FORBIDDEN_MOUNT_ROOTS = ["proc", "sys", "dev", "etc", "usr", "bin", "sbin", "boot", "run", ".atoll"] as const;

/** Why `mountPath` is not allowed, or null when it is fine. */
export function mountPathProblem(mountPath: string): string | null {
  if (!mountPath.startsWith("/")) return `mountPath "${mountPath}" must be absolute (start with "/")`;
  if (mountPath === "/") return `mountPath "/" would hide the sandbox's root filesystem; use a directory such as /mnt/data`;
  if (mountPath.length > 1024) return "mountPath is longer than 1024 characters";
  if (mountPath.includes("\0")) return "mountPath contains a NUL byte";
  const segments = mountPath.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    return `mountPath "${mountPath}" is not normalised (no trailing "/", "//", "." or ".." segments)`;
  }
  if (segments.some((s) => s.length > 255)) return "a mountPath segment is longer than 255 characters";
  const first = segments[0]!;
  if ((FORBIDDEN_MOUNT_ROOTS as readonly string[]).includes(first) || /^lib(32|64|x32)?$/.test(first)) {
    return `mountPath "${mountPath}" is under /${first}, which belongs to the system; use a path such as /mnt/data or /workspace`;
  }
  return null;
}

/** true when one path equals the other or lies below it. */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** Problems of a sandbox's whole set of mounts: overlapping paths, a volume mounted twice. */
export function mountSetProblem(mounts: readonly { volumeId: string; mountPath: string }[]): string | null {
  for (let i = 0; i < mounts.length; i++) {
    for (let j = i + 1; j < mounts.length; j++) {
      const a = mounts[i]!;
      const b = mounts[j]!;
      if (a.volumeId === b.volumeId) return `volume ${a.volumeId} is mounted twice; a volume can be mounted at most once per sandbox`;
      if (pathsOverlap(a.mountPath, b.mountPath)) {
        return `mount paths ${a.mountPath} and ${b.mountPath} overlap; give each volume its own, non-nested path`;
      }
    }
  }
  return null;
}
