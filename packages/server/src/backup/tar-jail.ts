/**
 * GNU tar (+ zstd) confined the way a sandbox is (docs/operations.md "Back up and restore",
 * docs/security.md): the volume's files and every archive are hostile, so tar never runs as host
 * root. It runs through atoll-launch in the sandboxes' user namespace mapping (sandbox ids
 * 0–65535 → host base…base+65535, the same seccomp profile) as that namespace's root, in a
 * bubblewrap root that is an empty, read-only tmpfs plus read-only /usr and /proc: no network,
 * no device node can be made (mknod needs CAP_MKNOD of the host's namespace), no host file is
 * reachable, files can only be owned by sandbox ids, and the only writable place is the volume,
 * which the daemon opens and hands down as fd 3 (tar works in /proc/self/fd/3). So an import
 * can make exactly what a sandbox's root could have made on the volume, and no more than it holds.
 * Ids in archives are the sandboxes' own: an archive restores on a host with another id range.
 */
import { spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import path from "node:path";
import { HOST_PATH } from "../host/run-command.js";
import { jailLaunchArgs } from "../runtime/jail-launch-args.js";

/** tar's options both ways: everything a volume's files carry, numeric ids (the jail has no /etc). */
const TAR_OPTIONS = ["--numeric-owner", "--sparse", "--xattrs", "--xattrs-include=*", "--acls", "--zstd", "--file=-", "-C", "/proc/self/fd/3"];
/** The capabilities (in the jail's user namespace) tar needs to restore owners, modes, ACLs, xattrs. */
const EXTRACT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_SETFCAP"];
/** Reading needs only to pass every permission check on the volume. */
const CREATE_CAPS = ["CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE"];
/** Lines of tar's stderr kept for an error message, and their length. */
const STDERR_LINES = 8;
const STDERR_MAX = 4096;

export interface TarJailOptions {
  /** Directory holding atoll-launch (native/build). */
  nativeDir: string;
  /** Host uid/gid of sandbox uid/gid 0. */
  uidBase: number;
  bwrap?: string;
}

/** How a jailed tar ended: its exit and the first lines it printed on stderr. */
export interface TarExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A running jailed tar. */
export interface TarRun {
  stdin: NodeJS.WritableStream | null;
  stdout: NodeJS.ReadableStream | null;
  exited: Promise<TarExit>;
  kill(): void;
}

/** The first lines of tar's complaints (member names are the archive's, never a host path). */
function firstLines(text: string): string {
  return text.split("\n").filter(Boolean).slice(0, STDERR_LINES).join("\n");
}

export class TarJail {
  constructor(private readonly opts: TarJailOptions) {}

  /** tar -c of the directory `source` (a read-only mount the daemon made) to stdout, compressed. */
  create(source: string): TarRun {
    // The volume's root entry `./` carries its owner and mode; lost+found is ext4's, never exported.
    return this.run(source, CREATE_CAPS, ["--create", ...TAR_OPTIONS, "--exclude=./lost+found", "."], "ignore");
  }

  /** tar -x from stdin into the directory `target` (a volume's mount), owners and modes restored. */
  extract(target: string): TarRun {
    return this.run(target, EXTRACT_CAPS, ["--extract", ...TAR_OPTIONS, "--same-owner", "--same-permissions"], "pipe");
  }

  private run(dir: string, caps: readonly string[], tarArgs: readonly string[], stdin: "pipe" | "ignore"): TarRun {
    // O_NOFOLLOW: dir is the daemon's own mount point, never a path a sandbox controls.
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    let child: ReturnType<typeof spawn>;
    try {
      const args = [
        ...jailLaunchArgs(this.opts.uidBase, this.opts.bwrap),
        "--ro-bind",
        "/usr",
        "/usr",
        ...["bin", "lib", "lib64", "sbin"].flatMap((d) => ["--symlink", `usr/${d}`, `/${d}`]),
        "--proc",
        "/proc",
        "--remount-ro",
        "/",
        "--cap-drop",
        "ALL",
        ...caps.flatMap((c) => ["--cap-add", c]),
        "--chdir",
        "/",
        "--",
        "/usr/bin/tar",
        ...tarArgs,
      ];
      child = spawn(path.join(this.opts.nativeDir, "atoll-launch"), args, {
        stdio: [stdin, "pipe", "pipe", fd],
        env: { PATH: HOST_PATH, LC_ALL: "C" },
      });
    } finally {
      closeSync(fd);
    }
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      if (stderr.length < STDERR_MAX) stderr += d.toString("utf8").slice(0, STDERR_MAX - stderr.length);
    });
    child.stdin?.on("error", () => undefined); // EPIPE once tar gave up; its exit says why
    const exited = new Promise<TarExit>((resolve) => {
      child.once("error", (err) => resolve({ code: null, signal: null, stderr: err.message }));
      child.once("close", (code, signal) => resolve({ code, signal, stderr: firstLines(stderr) }));
    });
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      exited,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      },
    };
  }
}
