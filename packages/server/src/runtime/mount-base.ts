/**
 * The base mount namespace sandboxes start from (native/atoll-mntns.c, docs/architecture.md
 * "Mount namespaces"): a private copy of the host's namespace without the mounts under
 * `<state>/run`, pinned at `<run>/mntns-base`. atoll-launch starts each sandbox from a private
 * copy of it with only that sandbox's root (and lxcfs) attached, so bwrap's namespace copy does
 * not grow with the number of live sandboxes. Made once per daemon start (a previous run's pin
 * is replaced); running sandboxes never depend on it, so it needs no adoption.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { CommandRunner } from "../host/run-command.js";
import { umount } from "../host/mounts.js";

export class MountBase {
  /** The pin: a regular file with the namespace's nsfs file bound on it. */
  readonly nsFile: string;
  private made = false;

  constructor(private readonly opts: { runDir: string; nativeDir: string; runner: CommandRunner; logger?: Logger | undefined }) {
    this.nsFile = path.join(opts.runDir, "mntns-base");
  }

  /**
   * Makes (or remakes) the base namespace. On a kernel without the new mount API (before 5.2)
   * it logs why and sandboxes start from the daemon's namespace as before.
   */
  async create(): Promise<void> {
    if (process.env.ATOLL_MOUNT_BASE === "off") {
      // Only to measure what the base saves (npm run load -- scale).
      this.opts.logger?.info("ATOLL_MOUNT_BASE=off: sandboxes start from the daemon's mount namespace");
      return;
    }
    try {
      await writeFile(this.nsFile, "", { flag: "a", mode: 0o600 });
      await this.opts.runner.run(path.join(this.opts.nativeDir, "atoll-mntns"), ["base", this.nsFile, this.opts.runDir]);
      this.made = true;
    } catch (err) {
      this.made = false;
      this.opts.logger?.warn({ err }, "no base mount namespace: each create copies every live sandbox's mounts (slower with many sandboxes)");
    }
  }

  /** atoll-launch options that start a sandbox from the base with `trees` attached. */
  launchArgs(trees: readonly string[]): string[] {
    return this.made ? ["--mount-base", this.nsFile, ...trees.flatMap((t) => ["--attach-tree", t])] : [];
  }

  /** Unpins the namespace (daemon close). Running sandboxes keep their own copies. */
  async release(): Promise<void> {
    if (!this.made) return;
    this.made = false;
    await umount(this.opts.runner, this.nsFile, { lazy: true });
  }
}
