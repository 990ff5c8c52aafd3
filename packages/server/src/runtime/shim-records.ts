/**
 * What the bubblewrap runtime keeps about each sandbox's atoll-shim (docs/architecture.md, "Live
 * restore"), so that the next daemon can adopt the sandbox: `<state>/shims/`, a root-only 0700
 * directory, holds the shims' sockets (`<shim pid>.sock`, made by the shim) and one small JSON
 * record per sandbox (`<id>.json`: the shim's pid and the sandbox's namespace owner uid).
 *
 * @example
 *   const shims = new ShimRecords("/var/lib/atoll/shims");
 *   await shims.prepare();
 *   await shims.write("sbx1", { shimPid: 4242, ownerUid: 1_200_000 });
 *   (await shims.read("sbx1"))?.shimPid; // 4242
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, mkdirSync } from "node:fs";
import { readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { type Socket, createConnection } from "node:net";
import path from "node:path";
import { HOST_PATH } from "../host/run-command.js";
import { pidRunning } from "./launcher-watch.js";

/** One sandbox's shim as recorded at launch. */
export interface ShimRecord {
  shimPid: number;
  /** Host uid owning the sandbox's user namespace (OwnerUids): taken again on adoption. */
  ownerUid: number;
}

export class ShimRecords {
  constructor(readonly dir: string) {}

  /** Creates the directory root-only (0700): no one but root may reach a shim's socket. */
  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  /** The socket a shim listens on (it names it by its pid). */
  socket(shimPid: number): string {
    return path.join(this.dir, `${shimPid}.sock`);
  }

  async write(id: string, rec: ShimRecord): Promise<void> {
    const tmp = path.join(this.dir, `${id}.json.tmp`);
    await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
    await rename(tmp, path.join(this.dir, `${id}.json`));
  }

  /** The record of sandbox `id`, or undefined when there is none or it is not well formed. */
  async read(id: string): Promise<ShimRecord | undefined> {
    try {
      const v = JSON.parse(await readFile(path.join(this.dir, `${id}.json`), "utf8")) as Partial<ShimRecord>;
      if (Number.isInteger(v.shimPid) && Number.isInteger(v.ownerUid)) return { shimPid: v.shimPid!, ownerUid: v.ownerUid! };
    } catch {
      // missing or unreadable: no shim to adopt
    }
    return undefined;
  }

  async remove(id: string): Promise<void> {
    const rec = await this.read(id);
    await rm(path.join(this.dir, `${id}.json`), { force: true });
    // The shim unlinks its socket when it exits; a killed one leaves it behind.
    if (rec && !pidRunning(rec.shimPid)) await rm(this.socket(rec.shimPid), { force: true });
  }

  /** Removes the sockets of shims that are gone and records no sandbox in `keep` names. */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const sock = /^(\d+)\.sock$/.exec(name);
      if (sock && !pidRunning(Number(sock[1]))) await rm(path.join(this.dir, name), { force: true });
      const rec = /^(.+)\.json(\.tmp)?$/.exec(name);
      if (rec && !keep.has(rec[1]!)) await rm(path.join(this.dir, name), { force: true });
    }
  }
}

/**
 * Spawns `launcher args` under atoll-shim (native/atoll-shim.c), in a session of its own so that
 * a signal to the daemon's process group or terminal does not reach it. The child's stdio is the
 * shim's: the same records as the launcher's own.
 */
export function spawnUnderShim(shim: string, sockDir: string, launcher: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn(shim, ["--sock-dir", sockDir, "--", launcher, ...args], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: HOST_PATH }, detached: true });
}

/** A connection to a shim's socket, or undefined when nobody listens there (the shim is gone). */
export function connectUnix(file: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(file);
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", () => resolve(undefined));
  });
}
