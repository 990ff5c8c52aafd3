/**
 * The host's other users see nothing of the tenants (docs/operations.md, "Host users"):
 * - an unprivileged host user (`nobody`) can neither list nor read anything under the state
 *   directory: a running sandbox's files, a volume's files, the store and its WAL, the token,
 *   volume and scratch images, and cannot run the base image's setuid programs;
 * - a user holding subordinate ids (made with useradd, as on a stock host) holds none of
 *   Atoll's, newuidmap refuses to map Atoll's range for them, and they cannot read sandbox files
 *   even as root of a user namespace of their own;
 * - the daemon refuses to start when its range overlaps an /etc/subuid or /etc/subgid entry.
 * Every probe is shown to work where nothing stops it (a world-readable file, the user's own
 * range), so each row can fail.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { readHostIds } from "../host/subid-files.js";
import { RESERVED_ID_COUNT, readUidRecord } from "../host/uid-range.js";
import { defaultImagesDir, readImage } from "../image/image-builder.js";
import { startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon, volumeImage } from "./e2e-helpers.js";

const ctx = useDaemon();
const PYTHON = "/usr/bin/python3";

/** As uid:gid (no supplementary groups), tries to list each directory / read each file: path → "ok" or errno name. */
const TRY_READ = String.raw`
import errno, json, os, sys
out = {}
for p in json.load(sys.stdin):
    try:
        if os.path.isdir(p): os.listdir(p)
        else:
            with open(p, "rb") as f: f.read(1)
        out[p] = "ok"
    except OSError as e:
        out[p] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
`;

function tryReadAs(uid: number, gid: number, paths: readonly string[]): Record<string, string> {
  const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", PYTHON, "-c", TRY_READ], {
    input: JSON.stringify(paths),
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`probe as ${uid} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

/**
 * Every file and directory root finds under `dir` down to `depth` levels, sandbox roots and
 * volume mounts included. Symlinks are left out: opening one would follow it on the host (an
 * image's `/etc/alternatives/*` point to host paths), which says nothing about the state directory.
 */
function walk(dir: string, depth: number): string[] {
  const out = [dir];
  if (depth === 0 || !lstatSync(dir).isDirectory()) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!lstatSync(p).isSymbolicLink()) out.push(...walk(p, depth - 1));
  }
  return out;
}

/** A world-readable file in a world-searchable directory: what a read looks like when nothing stops it. */
function worldReadableFile(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync("/var/tmp/atoll-hostuser-control-");
  chmodSync(dir, 0o755);
  const path = join(dir, "public.txt");
  writeFileSync(path, "public\n", { mode: 0o644 });
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test("an unprivileged host user can list or read nothing under the state directory, a running sandbox's and a volume's files included", async () => {
  const { stateDir } = ctx.daemon;
  const base = readUidRecord(stateDir)!.base;
  const volume = await ctx.client.createVolume({ name: "host-user-probe", sizeGb: 0.25 });
  await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
  await sb.sh`sh -c ${"echo tenant-secret > /data/secret.txt; echo tenant-secret > /home/app/secret.txt; chmod 0644 /data/secret.txt /home/app/secret.txt"}`;
  const control = worldReadableFile();
  try {
    const root = join(stateDir, "run/sandboxes", sb.id, "root");
    const named: Record<string, string> = {
      "list the state directory": stateDir,
      "list run/sandboxes (sandbox ids)": join(stateDir, "run/sandboxes"),
      "read a file in a running sandbox's root": join(root, "home/app/secret.txt"),
      "read a volume file through a running sandbox's root": join(root, "data/secret.txt"),
      "read a volume file through its host mount": join(stateDir, "run/volumes", volume.id, "secret.txt"),
      "read the store (atoll.db)": join(stateDir, "atoll.db"),
      "read the store's WAL (command log)": join(stateDir, "atoll.db-wal"),
      "read the API token": join(stateDir, "token"),
      "read a volume image": volumeImage(stateDir, volume.id),
      "list the copy-on-write pool": join(stateDir, "run", "cow-pool"),
      "read a sandbox's scratch image": join(stateDir, "scratch", `${sb.id}.img`),
      "list the base images": defaultImagesDir(),
    };
    // Everything else root can see there too, down to a few levels (each sandbox root, each volume).
    const everything = [...new Set([...Object.values(named), ...walk(stateDir, 6)])];
    const asRoot = tryReadAs(0, 0, [...everything, control.path]);
    const asNobody = tryReadAs(65534, 65534, [...everything, control.path]);
    const rows: AttackRow[] = [];
    rows.push({
      area: "host users",
      attack: "read a world-readable file (probe control)",
      as: "nobody",
      expected: "ok",
      observed: asNobody[control.path]!,
      held: asNobody[control.path] === "ok",
    });
    for (const [attack, path] of Object.entries(named)) {
      rows.push({
        area: "host users",
        attack,
        as: "nobody",
        expected: "EACCES (root: ok)",
        observed: `${asNobody[path]} (root: ${asRoot[path]})`,
        held: asNobody[path] === "EACCES" && asRoot[path] === "ok",
      });
    }
    const reachable = everything.filter((p) => asNobody[p] === "ok");
    rows.push({
      area: "host users",
      attack: `list or read any of ${everything.length} paths under the state directory`,
      as: "nobody",
      expected: "none",
      observed: reachable.length === 0 ? "none" : reachable.slice(0, 3).join(", "),
      held: reachable.length === 0,
    });
    // The base image holds setuid programs owned by sandbox root's host uid (su, mount, passwd).
    const image = readdirSync(defaultImagesDir())
      .map((h) => readImage(defaultImagesDir(), h))
      .find((i) => i?.info.recipe.content.uidBase === base);
    assert.ok(image, "the daemon's base image");
    const su = join(image.rootfs, "usr/bin/su");
    // Through sh, as a user would: setpriv itself still holds root's capabilities until it execs.
    const run = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", '"$0" --version', su], { encoding: "utf8" });
    const asRootRun = spawnSync(su, ["--version"], { encoding: "utf8" });
    const denied = run.status !== 0 && /Permission denied/.test(run.stderr);
    rows.push({
      area: "host users",
      attack: `run the base image's setuid su (owner uid ${base})`,
      as: "nobody",
      expected: "Permission denied (root: runs)",
      observed: `${denied ? "Permission denied" : `exit ${run.status} ${run.stdout.trim().slice(0, 40)}`} (root: exit ${asRootRun.status})`,
      held: denied && asRootRun.status === 0,
    });
    reportAttacks("host users: an unprivileged host user against the state directory", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    control.cleanup();
    await ctx.client.deleteVolume(volume.id, { force: true }).catch(() => undefined);
  }
});

test("a host user holding subordinate ids cannot map Atoll's range or read sandbox files, even as root of their own user namespace", async (t) => {
  const base = readUidRecord(ctx.daemon.stateDir)!.base;
  const name = `atoll-probe-${randomBytes(3).toString("hex")}`;
  execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", name]);
  // -f: userdel refuses while any process runs under the user's subordinate ids.
  t.after(() => spawnSync("userdel", ["-f", name]));
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }));
  const asUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
  const range = readHostIds().subuid.find((e) => e.owner === name);
  assert.ok(range, `useradd gave ${name} subordinate ids (/etc/subuid exists on this host)`);
  await using sb = await ctx.client.createSandbox();
  await sb.sh`sh -c ${"echo tenant-secret > /home/app/secret.txt"}`;
  const secret = join(ctx.daemon.stateDir, "run/sandboxes", sb.id, "root/home/app/secret.txt");
  const control = worldReadableFile();
  const rows: AttackRow[] = [];
  try {
    const overlap = range.start < base + RESERVED_ID_COUNT && base < range.start + range.count;
    rows.push({
      area: "host users",
      attack: "hold a subordinate id of Atoll's range",
      as: name,
      expected: `range outside ${base}+${RESERVED_ID_COUNT}`,
      observed: `${range.start}+${range.count}`,
      held: !overlap,
    });

    // newuidmap on a process in a user namespace the user made: Atoll's range refused, their own granted.
    const mapInto = async (tool: string, first: number) => {
      const holder = spawn(asUser[0]!, [...asUser.slice(1), "unshare", "--user", "sleep", "60"], { stdio: "ignore" });
      try {
        // setpriv and unshare exec in place: the holder's pid becomes the sleep in the new namespace.
        for (let i = 0; i < 100 && !readFileSync(`/proc/${holder.pid}/status`, "utf8").startsWith("Name:\tsleep"); i++) await sleep(50);
        const r = spawnSync(asUser[0]!, [...asUser.slice(1), tool, String(holder.pid), "0", String(first), "1"], { encoding: "utf8" });
        return r.status === 0 ? "mapped" : `refused: ${r.stderr.trim().slice(0, 60)}`;
      } finally {
        holder.kill("SIGKILL");
      }
    };
    for (const tool of ["newuidmap", "newgidmap"]) {
      const atoll = await mapInto(tool, base);
      const own = await mapInto(tool, range.start);
      rows.push({
        area: "host users",
        attack: `${tool} Atoll's range into their own user namespace`,
        as: name,
        expected: "refused; own range mapped",
        observed: `${atoll}; own range ${own}`,
        held: atoll.startsWith("refused") && own === "mapped",
      });
    }

    // As root of a user namespace holding their whole subordinate range (what the issue's attacker did).
    const inNs = (cmd: string) =>
      spawnSync(asUser[0]!, [...asUser.slice(1), "unshare", "--user", "--map-auto", "--map-root-user", "sh", "-c", cmd], { encoding: "utf8" });
    const read = inNs(`cat ${secret}`);
    const readControl = inNs(`cat ${control.path}`);
    rows.push({
      area: "host users",
      attack: "read a running sandbox's file as root of a user namespace with their subordinate ids",
      as: name,
      expected: "Permission denied; a world-readable file: read",
      observed: `${read.status === 0 ? "READ" : read.stderr.trim().split(": ").pop()}; control ${readControl.status === 0 ? "read" : "failed"}`,
      held: read.status !== 0 && !read.stdout.includes("tenant-secret") && readControl.status === 0,
    });
    reportAttacks("host users: a user holding subordinate ids", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    control.cleanup();
  }
});

test("the daemon refuses to start when its range overlaps an /etc/subuid or /etc/subgid entry, naming it and the fix", async () => {
  const work = mkdtempSync("/var/tmp/atoll-overlap-");
  const saved = process.env.ATOLL_ETC_DIR;
  const rows: AttackRow[] = [];
  try {
    const base = readUidRecord(ctx.daemon.stateDir)!.base; // a new state directory gets the same
    for (const file of ["subuid", "subgid"]) {
      const etc = join(work, `etc-${file}`);
      execFileSync("mkdir", ["-p", etc]);
      for (const f of ["subuid", "subgid"]) writeFileSync(join(etc, f), f === file ? `mallory:${base + 70000}:65536\n` : "");
      process.env.ATOLL_ETC_DIR = etc;
      const refused = await startTestDaemon().then(
        async (d) => {
          await d.dispose();
          return "started";
        },
        (err: Error) => err.message,
      );
      const named = refused.includes(`${etc}/${file} gives mallory ${base + 70000}–${base + 70000 + 65535}`) && refused.includes("Fix: set ATOLL_UID_BASE=");
      const untouched = readFileSync(join(etc, file), "utf8") === `mallory:${base + 70000}:65536\n`;
      // Control: the same host without mallory's entry starts, and reserves Atoll's range.
      writeFileSync(join(etc, file), "");
      const d = await startTestDaemon();
      await d.dispose();
      const reserved = readFileSync(join(etc, file), "utf8");
      rows.push({
        area: "host users",
        attack: `start with mallory holding ${base + 70000}+65536 in ${file}`,
        as: "host admin",
        expected: "refused, naming mallory and the fix; nothing written; without it: starts and reserves",
        observed: `${refused === "started" ? "STARTED" : named ? "refused, named" : "refused, unnamed"}; ${untouched ? "nothing written" : "FILE CHANGED"}; control reserved ${reserved.trim()}`,
        held: refused !== "started" && named && untouched && reserved === `atoll:${base}:${RESERVED_ID_COUNT}\n`,
      });
    }
    reportAttacks("host users: a daemon whose range the host gave away", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    if (saved === undefined) delete process.env.ATOLL_ETC_DIR;
    else process.env.ATOLL_ETC_DIR = saved;
    rmSync(work, { recursive: true, force: true });
  }
});
