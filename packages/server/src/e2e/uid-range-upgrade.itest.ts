/**
 * Upgrades keep data: a state directory made before the sandbox id range was recorded (base
 * 100000) keeps that base while the host gave it to no one, and when the host did (a user's
 * /etc/subuid range), the daemon moves every volume's files to the default range at start, with
 * owners, setuid bits, ACLs and file capabilities as the sandbox saw them. The host id files are
 * a throwaway copy (ATOLL_ETC_DIR).
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { type Sandbox, Client } from "atoll";
import { readUidRecord } from "../host/uid-range.js";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";

const work = mkdtempSync("/var/tmp/atoll-uid-upgrade-");
chmodSync(work, 0o755); // state directories below: bwrap (sandbox root's host uid) passes through
after(() => rmSync(work, { recursive: true, force: true }));

/** A throwaway /etc with `subuid` (and the same subgid) for the daemon's id checks. */
function etcWith(name: string, subid: string): string {
  const etc = mkdtempSync(join(work, `${name}-etc-`));
  writeFileSync(join(etc, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  writeFileSync(join(etc, "group"), "root:x:0:\n");
  writeFileSync(join(etc, "subuid"), subid);
  writeFileSync(join(etc, "subgid"), subid);
  return etc;
}

/** Starts a daemon on `stateDir` with these environment variables set (undefined: unset). */
async function startWith(stateDir: string, env: Record<string, string | undefined>): Promise<TestDaemon> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  setEnv(env);
  try {
    return await startTestDaemon({ stateDir });
  } finally {
    setEnv(saved);
  }
}

/** Sets each variable, or unsets it where the value is undefined. */
function setEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** What a sandbox sees of the volume's files, as sandbox root (ids as inside the sandbox). */
const INSPECT = String.raw`
import json, os, struct
def st(p): s = os.lstat(p); return [s.st_uid, s.st_gid, oct(s.st_mode & 0o7777)]
acl = os.getxattr("/data/root.txt", "system.posix_acl_access")
acl_ids = [struct.unpack("<HHI", acl[4 + 8 * i:12 + 8 * i])[2] for i in range((len(acl) - 4) // 8)]
cap = os.getxattr("/data/suid", "security.capability")
nobody = [os.path.join(r, n) for r, ds, fs in os.walk("/data") for n in ds + fs
          if n != "lost+found" and 65534 in (os.lstat(os.path.join(r, n)).st_uid, os.lstat(os.path.join(r, n)).st_gid)]
print(json.dumps({"files": {p: st("/data/" + p) for p in ["", "app.txt", "app-link", "root.txt", "dir", "suid", "sym"]},
                  "acl": acl_ids, "cap": cap.hex(), "nobody": nobody, "text": open("/data/app.txt").read()}))
`;

/** Files of every kind of owner the move must carry over (made as sandbox root). */
const MAKE = String.raw`
import os, struct
open("/data/app.txt", "w").write("app\n"); os.chown("/data/app.txt", 1000, 1000)
open("/data/root.txt", "w").write("root\n"); os.chown("/data/root.txt", 0, 0)
os.mkdir("/data/dir"); os.chown("/data/dir", 1234, 5678)
open("/data/suid", "w").write("#!/bin/sh\n"); os.chown("/data/suid", 0, 0); os.chmod("/data/suid", 0o4755)
os.link("/data/app.txt", "/data/app-link")
os.symlink("app.txt", "/data/sym"); os.lchown("/data/sym", 1000, 1000)
entries = [(1, 6, 0xffffffff), (2, 6, 1001), (4, 4, 0xffffffff), (8, 4, 1002), (0x10, 6, 0xffffffff), (0x20, 4, 0xffffffff)]
os.setxattr("/data/root.txt", "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))
os.setxattr("/data/suid", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0))
`;

async function inspect(client: Client, volumeId: string): Promise<{ sb: Sandbox; seen: unknown }> {
  const sb = await client.createSandbox({ timeout: "5m", volumes: [{ id: volumeId, mountPath: "/data" }] });
  return { sb, seen: await sb.sh`python3 -c ${INSPECT}`.sudo().json() };
}

/** A state directory as an earlier version left it: base 100000 and no record of it. */
async function legacyStateDir(name: string): Promise<{ stateDir: string; volumeId: string; before: unknown }> {
  const stateDir = mkdtempSync(join(work, `${name}-state-`));
  const daemon = await startWith(stateDir, { ATOLL_UID_BASE: "100000", ATOLL_ETC_DIR: etcWith(`${name}-old`, "") });
  try {
    const client = new Client({ url: daemon.url, token: daemon.token });
    const volume = await client.createVolume({ name: "keep", sizeGb: 0.25 });
    const writer = await client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/data" }] });
    await writer.sh`python3 -c ${MAKE}`.sudo();
    await writer.kill();
    const { sb, seen } = await inspect(client, volume.id);
    await sb.kill();
    assert.equal(await daemon.stop(), 0);
    unlinkSync(join(stateDir, "uid-base"));
    return { stateDir, volumeId: volume.id, before: seen };
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

test("an upgraded state directory keeps base 100000 while no one on the host holds it", async () => {
  const { stateDir, volumeId, before } = await legacyStateDir("keep");
  const daemon = await startWith(stateDir, { ATOLL_UID_BASE: undefined, ATOLL_ETC_DIR: etcWith("keep-new", "") });
  try {
    assert.deepEqual(readUidRecord(stateDir), { base: 100000 });
    const { sb, seen } = await inspect(new Client({ url: daemon.url, token: daemon.token }), volumeId);
    assert.deepEqual(seen, before);
    await sb.kill();
  } finally {
    await daemon.stop();
  }
});

test("when the host gave base 100000 to a user, the daemon moves every volume to the default range and the sandbox sees the same files", async () => {
  const { stateDir, volumeId, before } = await legacyStateDir("move");
  assert.deepEqual((before as { nobody: string[] }).nobody, []);
  const etc = etcWith("move-new", "bob:100000:65536\n");
  const daemon = await startWith(stateDir, { ATOLL_UID_BASE: undefined, ATOLL_ETC_DIR: etc });
  try {
    assert.deepEqual(readUidRecord(stateDir), { base: DEFAULT_UID_BASE });
    const moved = daemon.logs
      .map((l) => JSON.parse(l) as { msg?: string; volumes?: number; from?: number; to?: number })
      .find((l) => l.msg === "sandbox files moved to the new id range");
    assert.deepEqual([moved?.volumes, moved?.from, moved?.to], [1, 100000, DEFAULT_UID_BASE]);
    const { sb, seen } = await inspect(new Client({ url: daemon.url, token: daemon.token }), volumeId);
    // Owners, groups, setuid bit, ACL ids and the file capability (still readable, so its root id moved too).
    assert.deepEqual(seen, before);
    const hostView = statSync(join(stateDir, "run/volumes", volumeId, "app.txt"));
    assert.deepEqual([hostView.uid, hostView.gid], [DEFAULT_UID_BASE + 1000, DEFAULT_UID_BASE + 1000], "on the host: the new range");
    await sb.kill();
  } finally {
    await daemon.stop();
  }
});
