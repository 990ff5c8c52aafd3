/**
 * Volume backups on a real daemon (issue 17, docs/operations.md "Back up and restore"): what a
 * sandbox writes (owners, modes, setuid, symlinks, hard links, a sparse file, a fifo, xattrs, a
 * file capability, a POSIX ACL, times) comes back the same after export and import under a new
 * name, through the SDK and the CLI; bad archives, a taken name and a too small size leave
 * nothing; tenants; the audit trail.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ArchiveInvalidError, Client, type Volume } from "atoll";
import type { AuditEntry } from "atoll/contract";
import { runCli } from "../testing/cli-runner.js";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const work = mkdtempSync("/var/tmp/atoll-backup-test-");
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** Writes one of each kind of thing a volume holds (as sandbox root, in the directory argv[1]). */
const WRITE_PY = `
import os, struct, sys
os.chdir(sys.argv[1])
def w(p, data, mode):
    with open(p, "wb") as f: f.write(data)
    os.chmod(p, mode)
w("plain", b"hello\\n", 0o640); os.chown("plain", 1234, 2345)
os.utime("plain", (1600000000, 1600000000))
w("setuid", b"#!/bin/sh\\n", 0o755); os.chown("setuid", 0, 0); os.chmod("setuid", 0o4755)
os.mkdir("sticky"); os.chmod("sticky", 0o1777)
os.mkdir("private"); os.chown("private", 5, 6); os.chmod("private", 0o700)
w("private/inside", b"secret", 0o600); os.chown("private/inside", 5, 6)
os.symlink("plain", "link"); os.symlink("/nowhere/at/all", "dangling")
w("hard-a", b"one inode, two names\\n", 0o644); os.link("hard-a", "sticky/hard-b")
with open("sparse", "wb") as f:
    f.truncate(200 * 1024 * 1024); f.seek(100 * 1024 * 1024); f.write(b"x")
os.mkfifo("fifo")
os.setxattr("plain", "user.note", b"kept \\x00\\xff")
os.setxattr("sticky", "user.dir", b"on a directory")
w("capped", b"not really a program", 0o755)
os.setxattr("capped", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0))
acl = [(1, 6, 0xffffffff), (2, 6, 1234), (4, 4, 0xffffffff), (0x10, 6, 0xffffffff), (0x20, 0, 0xffffffff)]
os.setxattr("plain", "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in acl))
`;

/** Everything about every entry under argv[1] as JSON (lost+found is ext4's own, never exported). */
const DESCRIBE_PY = `
import hashlib, json, os, stat, sys
root = sys.argv[1]
out, inodes = {}, {}
for dp, dns, fns in os.walk(root):
    dns[:] = sorted(d for d in dns if not (dp == root and d == "lost+found"))
    for p in [dp] + [os.path.join(dp, f) for f in sorted(fns + [d for d in dns if os.path.islink(os.path.join(dp, d))])]:
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        e = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
            e.update(size=st.st_size, blocks=st.st_blocks, sha=h.hexdigest(), mtime=int(st.st_mtime), links=st.st_nlink)
            if st.st_nlink > 1: inodes.setdefault(st.st_ino, []).append(rel)
        if stat.S_ISLNK(st.st_mode): e["target"] = os.readlink(p)
        names = os.listxattr(p, follow_symlinks=False)
        e["xattrs"] = {k: os.getxattr(p, k, follow_symlinks=False).hex() for k in sorted(names)}
        out[rel] = e
out["(hard links)"] = sorted(sorted(v) for v in inodes.values())
print(json.dumps(out, sort_keys=True))
`;

async function describe(volume: Volume): Promise<Record<string, Record<string, unknown>>> {
  await using sb = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/v", accessMode: "ro" }] });
  return JSON.parse(await sb.sh`python3 -c ${DESCRIBE_PY} /v`.sudo().text()) as Record<string, Record<string, unknown>>;
}

/** `data` with the byte at `at` changed. */
function flipped(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

/** Volume images the daemon holds now (nothing half-made may stay). */
function images(): string[] {
  return readdirSync(path.join(ctx.daemon.stateDir, "run", "cow-pool", "volumes")).sort();
}

test("what a sandbox wrote survives export and import under a new name: owners, modes, links, sparse files, xattrs, ACLs", async () => {
  const { client } = ctx;
  const original = await client.createVolume({ name: "kinds", sizeGb: 1 });
  await using writer = await client.createSandbox({ timeout: "5m", volumes: [{ id: original.id, mountPath: "/data" }] });
  await writer.sh`python3 -c ${WRITE_PY} /data && sync`.sudo();
  // Exported while the writer still has it mounted read-write: a temporary snapshot, one point in time.
  const archive = await bytesOf(await original.export());
  assert.ok(archive.length < 5_000_000, `the 200 MiB sparse file is not written out: ${archive.length} bytes`);
  const copy = await client.importVolume(new Blob([new Uint8Array(archive)]).stream(), { name: "kinds-copy" });
  assert.equal(copy.sizeGb, 1, "the exported volume's size by default");
  await writer.kill();

  const before = await describe(original);
  const after = await describe(copy);
  assert.deepEqual(after, before);
  // The kinds the test is about are really there (a describe that saw nothing would compare equal too).
  assert.equal(before.plain?.uid, 1234);
  assert.equal(before.plain?.gid, 2345);
  assert.equal(before.setuid?.mode, "0o104755");
  assert.equal(before.sticky?.mode, "0o41777");
  assert.equal(before.link?.target, "plain");
  assert.deepEqual(before["(hard links)"], [["hard-a", "sticky/hard-b"]]);
  assert.equal(before.sparse?.size, 200 * 1024 * 1024);
  assert.ok(Number(after.sparse?.blocks) * 512 <= 64 * 1024, `the restored sparse file takes ${Number(after.sparse?.blocks) * 512} bytes`);
  assert.equal(before.fifo?.mode, "0o10644");
  assert.deepEqual(Object.keys(before.plain?.xattrs as object), ["system.posix_acl_access", "user.note"]);
  assert.ok(Object.keys((before.capped?.xattrs ?? {}) as object).includes("security.capability"));
  assert.equal(before.plain?.mtime, 1600000000);
  assert.ok(!("lost+found" in after) && !("lost+found" in before));

  // The imported volume is an ordinary one: a sandbox writes to it, through either name of the hard link.
  await using user = await client.createSandbox({ volumes: [{ id: copy.id, mountPath: "/c" }] });
  await user.sh`echo more >> /c/sticky/hard-b`.sudo();
  assert.match(await user.sh`cat /c/hard-a`.text(), /more/);
});

test("the CLI exports a named snapshot to a file and imports it with another size", async () => {
  const { client, daemon } = ctx;
  const volume = await client.createVolume({ name: "cli-src", sizeGb: 0.25 });
  {
    await using sb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d" }] });
    await sb.sh`echo first > /d/state && sync`;
    await volume.snapshot({ name: "cli-snap" });
    await sb.sh`echo second > /d/state && sync`;
  }
  const file = path.join(work, "cli.atollvol");
  const exported = await runCli(daemon, ["volume", "export", "cli-src", "--snapshot", "cli-snap", "-o", file]);
  assert.equal(exported.code, 0, exported.stderr);
  const imported = await runCli(daemon, ["volume", "import", file, "--name", "cli-copy", "--size", "0.5"]);
  assert.equal(imported.code, 0, imported.stderr);
  const copy = await client.getVolume(imported.stdout.trim());
  assert.equal(copy.name, "cli-copy");
  assert.equal(copy.sizeGb, 0.5);
  assert.equal(await copy.fs.readTextFile("state"), "first\n", "the snapshot's data, not the volume's now");

  const bad = await runCli(daemon, ["volume", "export", "cli-src", "--snapshot", "no-such-snapshot", "-o", path.join(work, "none")]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SNAPSHOT_NOT_FOUND/);
});

test("bad archives, a taken name and a too small size fail clearly and leave nothing", async () => {
  const { client } = ctx;
  const volume = await client.createVolume({ name: "bad-src", sizeGb: 0.25 });
  {
    await using sb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d" }] });
    await sb.sh`head -c 100000000 /dev/urandom > /d/random && echo ok > /d/small && sync`;
  }
  const archive = await bytesOf(await volume.export());
  const held = images();

  const attempts: [string, Uint8Array, number | undefined, string, string?][] = [
    ["truncated", archive.subarray(0, archive.length - 1000), undefined, "ARCHIVE_INVALID", "truncated"],
    ["cut in half", archive.subarray(0, Math.floor(archive.length / 2)), undefined, "ARCHIVE_INVALID", "truncated"],
    ["one byte changed", flipped(archive, Math.floor(archive.length / 2)), undefined, "ARCHIVE_INVALID", "checksum"],
    ["not an archive", Buffer.from("just some text, not an Atoll volume archive"), undefined, "ARCHIVE_INVALID", "format"],
    ["empty", new Uint8Array(0), undefined, "ARCHIVE_INVALID", "format"],
    ["too small for it", archive, 0.0625, "INVALID_ARGUMENT", "no-space"],
  ];
  for (const [what, bytes, sizeGb, code, reason] of attempts) {
    const err = await expectCode(client.importVolume(bytes, { name: "bad-copy", ...(sizeGb ? { sizeGb } : {}) }), code);
    if (code === "ARCHIVE_INVALID") assert.ok(err instanceof ArchiveInvalidError, what);
    assert.equal(err.details?.reason, reason, `${what}: ${err.message}`);
    await expectCode(client.getVolume("bad-copy"), "VOLUME_NOT_FOUND");
    assert.deepEqual(images(), held, `${what}: no image is left`);
  }
  // The name is free after all that, and the whole archive imports.
  const good = await client.importVolume(archive, { name: "bad-copy" });
  assert.equal(await good.fs.readTextFile("small"), "ok\n");
  const taken = await expectCode(client.importVolume(archive, { name: "bad-copy" }), "VOLUME_NAME_TAKEN");
  assert.match(taken.message, /another name/);
  await expectCode(client.importVolume(archive, { name: "Bad Name!" }), "INVALID_ARGUMENT");
  assert.equal((await client.listVolumes()).filter((v) => v.name === "bad-copy").length, 1);
  assert.deepEqual(images().length, held.length + 1);
});

test("a tenant exports and imports only its own volumes, within its quota; both are in the audit trail", async () => {
  const { client, daemon } = ctx;
  const makeTenant = async (tenant: string) => {
    const created = await client.admin.createToken({ tenant });
    return { client: new Client({ url: daemon.url, token: created.token }), token: created.token };
  };
  const a = await makeTenant("backup-a");
  const b = await makeTenant("backup-b");
  const mine = await a.client.createVolume({ name: "mine", sizeGb: 0.25 });
  await mine.fs.writeTextFile("note", "a's data");
  const archive = await bytesOf(await mine.export());
  await expectCode(
    b.client.getVolume(mine.id).then((v) => v.export()),
    "VOLUME_NOT_FOUND",
  );
  const direct = await fetch(`${daemon.url}/v1/volumes/${mine.id}/export`, { headers: { authorization: `Bearer ${b.token}` } });
  assert.equal(direct.status, 404, "another tenant cannot export it by id");

  // At most four transfers of one tenant at once; others' are not counted. The volume holds more
  // than the socket buffers take (incompressible), so an export nobody reads cannot end by itself.
  const big = await a.client.createVolume({ name: "big", sizeGb: 0.25 });
  await big.fs.writeFile("random", randomBytes(48 * 2 ** 20));
  const open = await Promise.all([1, 2, 3, 4].map(async () => (await big.export()).getReader()));
  const fifth = await expectCode(big.export(), "QUOTA_EXCEEDED");
  assert.match(fifth.message, /retry when one has ended/);
  await b.client.importVolume(archive, { name: "while-a-exports" });
  await open[0]?.cancel();
  const deadline = Date.now() + 60_000;
  let again: ReadableStream<Uint8Array> | undefined;
  while (!again && Date.now() < deadline) again = await big.export().catch(() => undefined);
  assert.ok(again, "a slot is free again once an export ended");
  await again.cancel();
  for (const r of open.slice(1)) await r.cancel();
  await big.delete();
  await (await b.client.getVolume("while-a-exports")).delete();

  await client.admin.setQuota("backup-b", { maxSandboxes: null, maxVolumeGb: 0.5 });
  await expectCode(b.client.importVolume(archive, { name: "too-big", sizeGb: 1 }), "QUOTA_EXCEEDED");
  const theirs = await b.client.importVolume(archive, { name: "from-a" });
  assert.equal(await theirs.fs.readTextFile("note"), "a's data");
  assert.deepEqual(
    (await a.client.listVolumes()).map((v) => v.name),
    ["mine"],
    "the import is b's, not a's",
  );

  const res = await fetch(`${daemon.url}/v1/audit?tenant=backup-b&limit=50`, { headers: { authorization: `Bearer ${daemon.token}` } });
  const { entries } = (await res.json()) as { entries: AuditEntry[] };
  const seen = entries.map((e) => [e.action, e.target, e.outcome]);
  assert.ok(
    seen.some(([a, t, o]) => a === "volume.import" && t === theirs.id && o === "ok"),
    JSON.stringify(seen),
  );
  assert.ok(
    seen.some(([a, , o]) => a === "volume.import" && o === "QUOTA_EXCEEDED"),
    JSON.stringify(seen),
  );
  assert.ok(
    seen.some(([a, t, o]) => a === "volume.export" && t === mine.id && o === "VOLUME_NOT_FOUND"),
    JSON.stringify(seen),
  );
  const ofA = await fetch(`${daemon.url}/v1/audit?tenant=backup-a&limit=50`, { headers: { authorization: `Bearer ${daemon.token}` } });
  const aEntries = ((await ofA.json()) as { entries: AuditEntry[] }).entries;
  assert.ok(aEntries.some((e) => e.action === "volume.export" && e.target === mine.id && e.outcome === "ok"));
});

test("an export stopped part way releases its snapshot and mount", async () => {
  const { client, daemon } = ctx;
  const volume = await client.createVolume({ name: "stopped", sizeGb: 0.25 });
  {
    await using sb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d" }] });
    await sb.sh`head -c 150000000 /dev/urandom > /d/random && sync`;
  }
  const snapshots = path.join(daemon.stateDir, "run", "cow-pool", "snapshots");
  const backups = path.join(daemon.stateDir, "run", "backups");
  const kept = readdirSync(snapshots).sort(); // the named snapshots of earlier tests
  const stream = await volume.export();
  const reader = stream.getReader();
  await reader.read();
  await reader.cancel();
  const settled = () => readdirSync(snapshots).length === kept.length && readdirSync(backups).length === 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !settled()) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(readdirSync(snapshots).sort(), kept, "the temporary snapshot is gone");
  assert.deepEqual(readdirSync(backups), [], "the export's mount is gone");
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(backups));
});

/** Runs until it holds: polls `done` for up to a minute. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, 100));
}

/**
 * An export and an import, both part way (the export's temporary snapshot mounted, the import's
 * unlisted volume made and its upload stalled), then `end(daemon)`; after a restart (a new
 * daemon in ctx) nothing of either is left and the name is free.
 */
async function endMidway(volumeName: string, end: (daemon: typeof ctx.daemon) => Promise<unknown>): Promise<void> {
  const { client, daemon } = ctx;
  const volume = await client.createVolume({ name: volumeName, sizeGb: 0.25 });
  {
    await using sb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/d" }] });
    await sb.sh`head -c 100000000 /dev/urandom > /d/random && sync`;
  }
  const archive = await bytesOf(await volume.export());
  const snapshots = path.join(daemon.stateDir, "run", "cow-pool", "snapshots");
  const backups = path.join(daemon.stateDir, "run", "backups");
  const kept = readdirSync(snapshots).sort();
  const held = images();

  const reader = (await volume.export()).getReader();
  await reader.read();
  await until(() => readdirSync(backups).length > 0);
  assert.equal(readdirSync(snapshots).length, kept.length + 1);
  assert.equal(readdirSync(backups).length, 1);
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(archive.subarray(0, archive.length / 2)));
    },
  });
  const copyName = `${volumeName}-copy`;
  const importing = client.importVolume(stalled, { name: copyName }).catch((e: unknown) => e);
  await until(() => images().length > held.length);
  assert.equal(images().length, held.length + 1, "the import's volume was made");
  await end(daemon);
  await importing;
  await reader.cancel().catch(() => undefined);

  ctx.daemon = await daemon.restart();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  assert.deepEqual(readdirSync(snapshots).sort(), kept, "the temporary snapshot is gone");
  assert.deepEqual(readdirSync(backups), [], "the export's mount is gone");
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(backups));
  assert.deepEqual(images(), held, "the half-imported volume is gone");
  await expectCode(ctx.client.getVolume(copyName), "VOLUME_NOT_FOUND");
  const copy = await ctx.client.importVolume(archive, { name: copyName });
  assert.equal(copy.name, copyName, "the name is free");
}

test("a daemon stopped during an export and an import ends both and stops", async () => {
  await endMidway("stop-src", async (daemon) => assert.equal(await daemon.stop(), 0, "a clean stop, not held by the transfers"));
});

test("a daemon killed during an export and an import leaves nothing once it starts again", async () => {
  await endMidway("crash-src", (daemon) => daemon.crash());
});
