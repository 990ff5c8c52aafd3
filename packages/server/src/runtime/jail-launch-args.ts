/**
 * The start of every throwaway jail's command line (a volume's files without a sandbox: atoll-fs
 * in bwrap-files-driver.ts, tar in backup/tar-jail.ts): atoll-launch's user namespace mapping and
 * seccomp profile, then bwrap with new pid, ipc, uts, net and cgroup namespaces that dies with
 * its parent. The caller appends its own binds and `-- PROGRAM ARGS`.
 *
 * @example spawn(path.join(nativeDir, "atoll-launch"), [...jailLaunchArgs(uidBase), "--ro-bind", src, dst, "--", prog]);
 */
export function jailLaunchArgs(uidBase: number, bwrap = "bwrap"): string[] {
  return [
    "--uid-base",
    String(uidBase),
    "--",
    bwrap,
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-net",
    "--unshare-cgroup",
    "--die-with-parent",
    "--new-session",
  ];
}
