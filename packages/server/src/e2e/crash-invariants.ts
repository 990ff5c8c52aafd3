/**
 * What must hold after a daemon died at any step and a new one started on its state directory
 * (e2e/crash-points.itest.ts): the store and the host agree, nothing is left half-made, nothing
 * on the host lacks an owner in the store, and every volume is usable. Written to hold whether a
 * restart stops the previous run's sandboxes ("daemon-restart") or adopts them (issue 13): a
 * sandbox the store calls running must answer, one it calls stopped must have nothing left.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Client } from "atoll";
import Database from "better-sqlite3";
import { volumeImage, volumeImagesDir } from "./e2e-helpers.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";

/** The rows that decide ownership, read straight from the daemon's SQLite file. */
export interface StoreView {
  sandboxes: { id: string; state: string; stopReason: string | null }[];
  volumes: { id: string; name: string; state: string }[];
  attachments: { sandboxId: string; volumeId: string; mountPath: string; accessMode: string }[];
}

export function readStore(stateDir: string): StoreView {
  const db = new Database(path.join(stateDir, "atoll.db"), { readonly: true, fileMustExist: true });
  try {
    return {
      sandboxes: db.prepare("SELECT id, state, stop_reason AS stopReason FROM sandboxes").all() as StoreView["sandboxes"],
      volumes: db.prepare("SELECT id, name, state FROM volumes").all() as StoreView["volumes"],
      attachments: db
        .prepare("SELECT sandbox_id AS sandboxId, volume_id AS volumeId, mount_path AS mountPath, access_mode AS accessMode FROM attachments")
        .all() as StoreView["attachments"],
    };
  } finally {
    db.close();
  }
}

/** A live (not zombie) process's command line, or undefined. */
function commandLine(pid: number): string | undefined {
  try {
    if (/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return undefined; // gone
  }
}

/**
 * Every process below `pid` (pid → command line): a daemon's helpers (host spawner, netd,
 * lxcfs, launchers) do not all name the state directory, so the test takes them from the tree.
 */
export function processTree(pid: number): Map<number, string> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const ppid = Number(/\) \S+ (\d+)/s.exec(readFileSync(`/proc/${name}/stat`, "utf8"))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = new Map<number, string>();
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      const cmdline = commandLine(child);
      if (cmdline !== undefined) tree.set(child, cmdline);
      walk(child);
    }
  };
  walk(pid);
  return tree;
}

/**
 * What outlived a dead daemon, taken right after it died: its processes (pid → command line:
 * `tree`, taken from processTree before the request, and whatever names the state directory),
 * its network namespaces and its launcher pool's cgroups. A new daemon may keep them only for
 * sandboxes it adopted.
 */
export interface Survivors {
  processes: Map<number, string>;
  netns: Set<string>;
  poolCgroups: Set<string>;
}

export function takeSurvivors(stateDir: string, tree: ReadonlyMap<number, string>): Survivors {
  const processes = new Map<number, string>();
  for (const [pid, cmdline] of tree) if (commandLine(pid) === cmdline) processes.set(pid, cmdline);
  const netns = new Set<string>();
  const poolCgroups = new Set<string>();
  for (const entry of machineLeftovers(stateDir)) {
    const proc = /^process (\d+) (.*)$/.exec(entry);
    if (proc) processes.set(Number(proc[1]), proc[2]!);
    if (entry.startsWith("netns ")) netns.add(entry.slice("netns ".length));
    if (entry.startsWith("cgroup ")) {
      const parent = entry.slice("cgroup ".length);
      for (const c of readdirSync(parent)) if (c.startsWith("pool-")) poolCgroups.add(path.join(parent, c));
    }
  }
  return { processes, netns, poolCgroups };
}

/** Problems between the store and itself: half-made rows, attachments without a live sandbox. */
export function storeProblems(stateDir: string, store: StoreView): string[] {
  const problems: string[] = [];
  const running = new Set(store.sandboxes.filter((s) => s.state === "running").map((s) => s.id));
  for (const s of store.sandboxes) if (s.state !== "running" && s.state !== "stopped") problems.push(`sandbox ${s.id} left ${s.state}`);
  for (const v of store.volumes) {
    if (v.state !== "ready") problems.push(`volume ${v.name} left ${v.state}`);
    else if (!existsSync(volumeImage(stateDir, v.id))) problems.push(`volume ${v.name} is ready but has no image`);
  }
  const ready = new Set(store.volumes.filter((v) => v.state === "ready").map((v) => v.id));
  // Images live in the copy-on-write pool (run/cow-pool/volumes), or in volumes/ when made before it.
  for (const dir of new Set([volumeImagesDir(stateDir), path.join(stateDir, "volumes")])) {
    for (const file of readdirSync(dir)) {
      if (!ready.has(file.replace(/\.img$/, ""))) problems.push(`${path.relative(stateDir, dir)}/${file} belongs to no ready volume`);
    }
  }
  for (const a of store.attachments) {
    if (!running.has(a.sandboxId)) problems.push(`attachment of ${a.volumeId} to ${a.sandboxId}, which is not running`);
    else if (!isMounted(path.join(stateDir, "run", "volumes", a.volumeId)))
      problems.push(`attachment of ${a.volumeId} to ${a.sandboxId} without its host mount`);
  }
  return problems;
}

const readNumber = (file: string) => Number.parseInt(existsSync(file) ? readFileSync(file, "utf8") : "", 10);
/** The lxcfs a daemon of `dir` runs, and which daemon owns it (runtime/proc-view.ts). */
const lxcfsPid = (dir: string) => readNumber(path.join(dir, "run", "lxcfs.pid"));
const lxcfsOwner = (dir: string) => readNumber(path.join(dir, "run", "lxcfs.owner"));

function isMounted(mountPoint: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === mountPoint);
}

/**
 * Host resources of the daemon of `stateDir` (mounts and loop devices in it, cgroups under its
 * parent, namespaces and processes a dead predecessor left) that no store row owns. Owners: a
 * running sandbox (its run/sandboxes/<id> tree, scratch image, cgroup), a volume attached to one
 * (its run/volumes mount and image), the live daemon's pools and lxcfs.
 */
export function unownedResources(stateDir: string, store: StoreView, before: Survivors, liveDaemonPid?: number): string[] {
  const dir = path.resolve(stateDir);
  const running = new Set(store.sandboxes.filter((s) => s.state === "running").map((s) => s.id));
  const inUse = new Set(store.attachments.filter((a) => running.has(a.sandboxId)).map((a) => a.volumeId));
  const owner = (id: string) => {
    const row = store.sandboxes.find((s) => s.id === id);
    return row ? `sandbox ${id} is ${row.state}` : `no sandbox ${id}`;
  };
  const problems: string[] = [];
  const survivingNetns: string[] = [];
  for (const entry of machineLeftovers(dir)) {
    const [kind, ...rest] = entry.split(" ");
    const what = rest.join(" ");
    if (kind === "mount") {
      const rel = path.relative(dir, what);
      const sandbox = /^run\/sandboxes\/([^/]+)(\/|$)/.exec(rel)?.[1];
      const volume = /^run\/volumes\/([^/]+)$/.exec(rel)?.[1];
      // The live daemon's own mounts: its run dir, lxcfs, warm pool, copy-on-write pool, base mount namespace.
      if (rel === "run" || rel === "run/lxcfs" || rel.startsWith("run/pool/") || rel === "run/cow-pool" || rel === "run/mntns-base") continue;
      if (sandbox !== undefined) {
        if (!running.has(sandbox)) problems.push(`mount ${rel}: ${owner(sandbox)}`);
      } else if (volume !== undefined) {
        if (!inUse.has(volume)) problems.push(`mount ${rel}: volume attached to no running sandbox`);
      } else problems.push(`mount ${rel}: no owner`);
    } else if (kind === "loop") {
      const file = what.slice(what.indexOf(dir));
      const rel = path.relative(dir, file);
      const scratch = /^scratch\/([^/]+)\.img$/.exec(rel)?.[1];
      const volume = /^(?:run\/cow-pool\/)?volumes\/([^/]+)\.img$/.exec(rel)?.[1];
      if (scratch?.startsWith("pool-") || rel === "cow-pool.xfs") continue;
      if (scratch !== undefined) {
        if (!running.has(scratch)) problems.push(`loop device on ${rel}: ${owner(scratch)}`);
      } else if (volume !== undefined) {
        if (!inUse.has(volume)) problems.push(`loop device on ${rel}: volume attached to no running sandbox`);
      } else problems.push(`loop device on ${rel}: no owner`);
    } else if (kind === "cgroup") {
      for (const child of readdirSync(what, { withFileTypes: true })) {
        // The launcher pool's cgroups and lxcfs's view belong to the live daemon.
        if (!child.isDirectory() || child.name.startsWith("pool-") || child.name === "lxcfs.view") continue;
        if (!running.has(child.name)) problems.push(`cgroup ${path.join(what, child.name)}: ${owner(child.name)}`);
      }
    } else if (kind === "netns") {
      if (before.netns.has(what)) survivingNetns.push(what);
    }
  }
  // Of the dead daemon's processes only those in a cgroup of a sandbox the store calls running
  // may live on; its launcher pool's cgroups go with it.
  for (const [pid, cmdline] of before.processes) {
    if (commandLine(pid) !== cmdline) continue; // gone (or the pid was reused)
    let cgroups: string;
    try {
      cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // Taken over by the live daemon: lxcfs (it records its owner) and netd (it reconnects to it).
    if (liveDaemonPid !== undefined && pid === lxcfsPid(dir) && lxcfsOwner(dir) === liveDaemonPid) continue;
    if (liveDaemonPid !== undefined && cmdline.startsWith("atoll-netd")) continue;
    if (![...running].some((id) => cgroups.includes(`/${id}`) || cmdline.includes(id))) {
      problems.push(`process ${pid} of the dead daemon still runs: ${cmdline.slice(0, 120)}`);
    }
  }
  for (const cgroup of before.poolCgroups) if (existsSync(cgroup)) problems.push(`cgroup ${cgroup} of the dead daemon's launcher pool`);
  // Files and directories a sandbox or a mounted volume leaves (teardown removes them all).
  const names = (rel: string) => (existsSync(path.join(dir, rel)) ? readdirSync(path.join(dir, rel)) : []);
  for (const file of names("scratch")) {
    const id = file.replace(/\.img$/, "");
    if (!file.startsWith("pool-") && !running.has(id)) problems.push(`scratch/${file}: ${owner(id)}`);
  }
  for (const id of names("run/sandboxes")) if (!running.has(id)) problems.push(`run/sandboxes/${id}: ${owner(id)}`);
  for (const id of names("run/volumes")) if (!inUse.has(id)) problems.push(`run/volumes/${id}: volume attached to no running sandbox`);
  // The router's namespace is named after the state directory and is rebuilt in place; a
  // sandbox's namespace may live on only with a sandbox the new daemon adopted.
  const leftNetns = survivingNetns.filter((n) => !/^atoll-[0-9a-f]{8}$/.test(n));
  if (leftNetns.length > running.size) problems.push(`network namespaces of the dead daemon: ${leftNetns.join(", ")}`);
  return problems;
}

/**
 * Every sandbox the store calls running answers `sh\`true\`` and can use each volume it has;
 * returns the problems found.
 */
export async function runningSandboxProblems(client: Client, store: StoreView): Promise<string[]> {
  const problems: string[] = [];
  for (const s of store.sandboxes.filter((row) => row.state === "running")) {
    try {
      const sb = await client.connectSandbox(s.id);
      try {
        await sb.sh`true`;
        for (const a of store.attachments.filter((x) => x.sandboxId === s.id)) {
          if (a.accessMode === "rw")
            await sb.sh`echo probe > ${a.mountPath}/.crash-probe && test "$(cat ${a.mountPath}/.crash-probe)" = probe && rm ${a.mountPath}/.crash-probe`;
          else await sb.sh`ls ${a.mountPath} > /dev/null`;
        }
      } finally {
        await sb.close();
      }
    } catch (err) {
      problems.push(`running sandbox ${s.id} does not work: ${(err as Error).message.slice(0, 160)}`);
    }
  }
  return problems;
}

/**
 * Mounts every volume in one new sandbox and writes and reads back a file on each; checks
 * `expected` (volume name → content of its file `marker`). Returns the problems found.
 */
export async function volumeProblems(client: Client, expected: ReadonlyMap<string, string>): Promise<string[]> {
  const problems: string[] = [];
  const volumes = await client.listVolumes();
  for (const name of expected.keys()) if (!volumes.some((v) => v.name === name)) problems.push(`volume ${name} was lost`);
  try {
    const probe = await client.createSandbox({ timeout: "5m", volumes: volumes.map((v) => ({ id: v.id, mountPath: `/v/${v.name}` })) });
    try {
      for (const v of volumes) {
        const dir = `/v/${v.name}`;
        const readBack = (await probe.sh`echo probe > ${dir}/.crash-probe && cat ${dir}/.crash-probe && rm ${dir}/.crash-probe`.text()).trimEnd();
        if (readBack !== "probe") problems.push(`volume ${v.name}: wrote "probe", read back "${readBack}"`);
        const want = expected.get(v.name);
        if (want !== undefined) {
          const got = await probe.sh`cat ${dir}/marker`.text().catch((e: Error) => `(${e.message})`);
          if (got.trimEnd() !== want.trimEnd()) problems.push(`volume ${v.name} lost its data: marker is "${got.slice(0, 80)}"`);
        }
      }
    } finally {
      await probe.kill();
    }
  } catch (err) {
    problems.push(`a sandbox with every volume could not use them: ${(err as Error).message.slice(0, 200)}`);
  }
  return problems;
}
