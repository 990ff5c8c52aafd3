/**
 * sandbox.fs end to end: every operation against a real sandbox, typed errors, relative paths,
 * upload/download of a directory tree with progress, read-only volumes, interrupted uploads.
 */
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileSystemError, type Sandbox, type TransferProgress } from "atoll";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const local = mkdtempSync("/var/tmp/atoll-files-");
// One sandbox for the file (node 20 runs top-level before() hooks concurrently, so it is made on first use).
let shared: Promise<Sandbox> | undefined;
const sandbox = () => (shared ??= ctx.client.createSandbox({ timeout: "10m" }));
after(() => rmSync(local, { recursive: true, force: true })); // the daemon's disposal kills the sandbox

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

test("write, read, stat and relative paths (from /home/app)", async () => {
  const sb = await sandbox();
  await sb.fs.writeTextFile("hello.txt", "hello\n");
  assert.equal(await sb.fs.readTextFile("/home/app/hello.txt"), "hello\n");
  assert.equal((await sb.sh`cat /home/app/hello.txt`.text()).trimEnd(), "hello");
  const info = await sb.fs.stat("hello.txt");
  assert.equal(info.isFile, true);
  assert.equal(info.size, 6);
  assert.equal(info.uid, 1000, "written as app");
  assert.equal(info.mode & 0o777, 0o644);
  assert.ok(info.mtime instanceof Date);
  const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
  await sb.fs.writeFile("bin.dat", bytes, { mode: 0o600 });
  assert.deepEqual(await sb.fs.readFile("bin.dat"), bytes);
  assert.equal((await sb.fs.stat("bin.dat")).mode & 0o777, 0o600);
  // A stream body.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode(`line ${i}\n`));
      c.close();
    },
  });
  await sb.fs.writeFile("streamed.txt", stream);
  assert.equal(await sb.fs.readTextFile("streamed.txt"), "line 0\nline 1\nline 2\nline 3\nline 4\n");
  assert.equal(await sb.fs.exists("streamed.txt"), true);
  assert.equal(await sb.fs.exists("nope.txt"), false);
});

test("write options: append, create: false, createNew", async () => {
  const sb = await sandbox();
  await sb.fs.writeTextFile("log.txt", "a\n");
  await sb.fs.writeTextFile("log.txt", "b\n", { append: true });
  assert.equal(await sb.fs.readTextFile("log.txt"), "a\nb\n");
  await expectCode(sb.fs.writeTextFile("missing.txt", "x", { create: false }), "NOT_FOUND");
  assert.equal(await sb.fs.exists("missing.txt"), false);
  const e = await expectCode(sb.fs.writeTextFile("log.txt", "x", { createNew: true }), "ALREADY_EXISTS");
  assert.ok(e instanceof FileSystemError);
  assert.equal((e as FileSystemError).path, "/home/app/log.txt");
  await sb.fs.writeTextFile("fresh.txt", "new", { createNew: true });
  assert.equal(await sb.fs.readTextFile("fresh.txt"), "new");
  // Replacing keeps the old mode unless a mode is given.
  await sb.fs.chmod("fresh.txt", 0o640);
  await sb.fs.writeTextFile("fresh.txt", "again");
  assert.equal((await sb.fs.stat("fresh.txt")).mode & 0o777, 0o640);
});

test("directories: mkdir, readDir, remove, rename, copyFile", async () => {
  const sb = await sandbox();
  await sb.fs.mkdir("d/e/f", { recursive: true });
  await expectCode(sb.fs.mkdir("d"), "ALREADY_EXISTS");
  await sb.fs.mkdir("d", { recursive: true }); // exists: fine
  await expectCode(sb.fs.mkdir("x/y"), "NOT_FOUND");
  await sb.fs.writeTextFile("d/a.txt", "A");
  const names = (await collect(sb.fs.readDir("d"))).map((e) => `${e.name}:${e.isDirectory ? "d" : e.isFile ? "f" : "?"}`).sort();
  assert.deepEqual(names, ["a.txt:f", "e:d"]);
  await sb.fs.rename("d/a.txt", "d/b.txt");
  await sb.fs.copyFile("d/b.txt", "d/c.txt");
  assert.equal(await sb.fs.readTextFile("d/c.txt"), "A");
  await expectCode(sb.fs.remove("d"), "DIRECTORY_NOT_EMPTY");
  await expectCode(sb.fs.readFile("d"), "IS_A_DIRECTORY");
  await expectCode(sb.fs.readDir("d/b.txt")[Symbol.asyncIterator]().next(), "NOT_A_DIRECTORY");
  await sb.fs.remove("d", { recursive: true });
  assert.equal(await sb.fs.exists("d"), false);
  await expectCode(sb.fs.remove("d"), "NOT_FOUND");
});

test("links, realPath, chmod, chown, truncate, temp files", async () => {
  const sb = await sandbox();
  await sb.fs.writeTextFile("target.txt", "0123456789");
  await sb.fs.symlink("target.txt", "link.txt");
  assert.equal(await sb.fs.readLink("link.txt"), "target.txt");
  assert.equal((await sb.fs.lstat("link.txt")).isSymlink, true);
  assert.equal((await sb.fs.stat("link.txt")).isFile, true);
  assert.equal(await sb.fs.realPath("link.txt"), "/home/app/target.txt");
  assert.equal(await sb.fs.realPath("."), "/home/app");
  // Writing through a symlink writes its target (as a process would).
  await sb.fs.writeTextFile("link.txt", "via link");
  assert.equal(await sb.fs.readTextFile("target.txt"), "via link");
  assert.equal((await sb.fs.lstat("link.txt")).isSymlink, true);
  await sb.fs.truncate("target.txt", 3);
  assert.equal(await sb.fs.readTextFile("target.txt"), "via");
  await sb.fs.chmod("target.txt", 0o700);
  assert.equal((await sb.fs.stat("target.txt")).mode & 0o777, 0o700);
  await expectCode(sb.fs.chown("target.txt", 0, 0), "PERMISSION_DENIED");
  await sb.fs.asRoot().chown("target.txt", 0, 0);
  assert.equal((await sb.fs.stat("target.txt")).uid, 0);
  const dir = await sb.fs.makeTempDir({ prefix: "job-" });
  assert.match(dir, /^\/tmp\/job-/);
  assert.equal((await sb.fs.stat(dir)).isDirectory, true);
  const file = await sb.fs.makeTempFile({ dir, suffix: ".json" });
  assert.ok(file.startsWith(`${dir}/`) && file.endsWith(".json"));
  assert.equal((await sb.fs.stat(file)).size, 0);
});

test("permissions are the sandbox user's; root is opt-in", async () => {
  const sb = await sandbox();
  await expectCode(sb.fs.readFile("/etc/shadow"), "PERMISSION_DENIED");
  await expectCode(sb.fs.writeTextFile("/etc/motd", "x"), "PERMISSION_DENIED");
  await sb.fs.asRoot().writeTextFile("/etc/motd", "hello from root\n");
  assert.equal((await sb.sh`cat /etc/motd`.text()).trimEnd(), "hello from root");
  assert.equal((await sb.fs.stat("/etc/motd")).uid, 0);
  assert.ok((await sb.fs.asRoot().readTextFile("/etc/shadow")).includes("root:"));
});

test("walk and expandGlob", async () => {
  const sb = await sandbox();
  await sb.fs.mkdir("proj/src/lib", { recursive: true });
  await sb.fs.mkdir("proj/node_modules/x", { recursive: true });
  for (const f of ["proj/src/a.ts", "proj/src/lib/b.ts", "proj/src/c.js", "proj/node_modules/x/i.ts", "proj/.hidden.ts"]) await sb.fs.writeTextFile(f, f);
  const all = (await collect(sb.fs.walk("proj"))).map((e) => e.path);
  assert.ok(all.includes("proj") || all.includes("/home/app/proj"));
  const ts = (await collect(sb.fs.walk("/home/app/proj", { exts: [".ts"], skip: [/node_modules/] }))).map((e) => e.path).sort();
  assert.deepEqual(ts, ["/home/app/proj/.hidden.ts", "/home/app/proj/src/a.ts", "/home/app/proj/src/lib/b.ts"]);
  const shallow = (await collect(sb.fs.walk("/home/app/proj", { maxDepth: 1, includeFiles: false }))).map((e) => e.name).sort();
  assert.deepEqual(shallow, ["node_modules", "proj", "src"]);
  const globbed = (await collect(sb.fs.expandGlob("proj/src/**/*.ts"))).map((e) => e.path).sort();
  assert.deepEqual(globbed, ["/home/app/proj/src/a.ts", "/home/app/proj/src/lib/b.ts"]);
  const top = (await collect(sb.fs.expandGlob("*.ts", { root: "/home/app/proj" }))).map((e) => e.path);
  assert.deepEqual(top, [], "a leading dot is not matched by *");
  const excluded = (await collect(sb.fs.expandGlob("proj/**/*.ts", { exclude: ["proj/node_modules/**"] }))).map((e) => e.path).sort();
  assert.deepEqual(excluded, ["/home/app/proj/src/a.ts", "/home/app/proj/src/lib/b.ts"]);
  assert.deepEqual(await collect(sb.fs.expandGlob("nothing/here/*")), []);
});

test("upload and download a directory tree with progress", async () => {
  const sb = await sandbox();
  const src = join(local, "tree");
  mkdirSync(join(src, "a/b"), { recursive: true });
  writeFileSync(join(src, "top.txt"), "top");
  writeFileSync(join(src, "a/mid.bin"), Buffer.alloc(300_000, 7));
  writeFileSync(join(src, "a/b/deep.txt"), "deep");
  mkdirSync(join(src, "empty"));
  symlinkSync("a/b/deep.txt", join(src, "shortcut"));
  const up: TransferProgress[] = [];
  const summary = await sb.fs.upload(src, "tree", { onProgress: (p) => up.push(p) });
  assert.equal(summary.files, 4);
  assert.equal(summary.bytes, 300_007);
  assert.ok(up.length >= 4);
  assert.deepEqual(up.at(-1), { bytes: 300_007, totalBytes: 300_007, files: 4, totalFiles: 4, path: "top.txt" });
  assert.equal((await sb.sh`cat tree/a/b/deep.txt`.text()).trimEnd(), "deep");
  assert.equal(await sb.fs.readLink("tree/shortcut"), "a/b/deep.txt");
  assert.equal((await sb.fs.stat("tree/empty")).isDirectory, true);
  // Uploading into an existing directory puts the copy under the local directory's name (as in
  // Deno Sandbox): "." holds "tree" already, so this merges into it and replaces.
  writeFileSync(join(src, "top.txt"), "top v2");
  await sb.fs.upload(src, ".");
  assert.equal(await sb.fs.readTextFile("tree/top.txt"), "top v2");

  await sb.sh`echo made-inside > tree/a/inside.txt`;
  const dst = join(local, "back");
  const down: TransferProgress[] = [];
  const got = await sb.fs.download("tree", dst, { onProgress: (p) => down.push(p) });
  assert.equal(got.files, 5);
  assert.equal(readFileSync(join(dst, "a/inside.txt"), "utf8"), "made-inside\n");
  assert.equal(readFileSync(join(dst, "a/mid.bin")).length, 300_000);
  assert.equal(readlinkSync(join(dst, "shortcut")), "a/b/deep.txt");
  assert.ok(statSync(join(dst, "empty")).isDirectory());
  assert.ok(down.length >= 5 && down.at(-1)!.bytes === got.bytes);
  assert.deepEqual(
    readdirSync(dst).filter((n) => n.startsWith(".atoll-tmp")),
    [],
  );

  // Single files both ways.
  writeFileSync(join(local, "one.txt"), "one file");
  await sb.fs.upload(join(local, "one.txt"), "uploaded-one.txt");
  assert.equal(await sb.fs.readTextFile("uploaded-one.txt"), "one file");
  await sb.fs.download("uploaded-one.txt", join(local, "one-back.txt"));
  assert.equal(readFileSync(join(local, "one-back.txt"), "utf8"), "one file");
  await expectCode(sb.fs.download("no/such/dir", join(local, "x")), "NOT_FOUND");
});

test("a download that fails part way reports the typed error", async () => {
  const sb = await sandbox();
  await sb.fs.mkdir("partly/ok", { recursive: true });
  await sb.fs.writeTextFile("partly/ok/a.txt", "a");
  await sb.fs.asRoot().writeTextFile("partly/secret.txt", "s", { mode: 0o600 });
  await expectCode(sb.fs.download("partly", join(local, "partly")), "PERMISSION_DENIED");
  // The same tar imported elsewhere fails the same way instead of pretending success.
  await expectCode(sb.fs.importTar("/tmp/partly-copy", await sb.fs.exportTar("partly")), "PERMISSION_DENIED");
});

test("an interrupted upload leaves nothing under the final name", async () => {
  const sb = await sandbox();
  await sb.fs.writeTextFile("keep.txt", "old contents");
  const aborter = new AbortController();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= 4 * 1024 * 1024) {
        aborter.abort(new Error("client gave up"));
        await new Promise((r) => setTimeout(r, 50));
        c.error(new Error("client gave up"));
        return;
      }
      sent += 256 * 1024;
      c.enqueue(new Uint8Array(256 * 1024).fill(1));
    },
  });
  await assert.rejects(sb.fs.writeFile("keep.txt", body, { signal: aborter.signal }));
  await assert.rejects(sb.fs.writeFile("new-partial.bin", new ReadableStream({ pull: (c) => c.error(new Error("boom")) })));
  // The helper finishes its cleanup right after the connection dropped.
  for (let i = 0; i < 50 && (await sb.sh`ls -a /home/app`.text()).trimEnd().includes(".atoll-tmp"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await sb.fs.readTextFile("keep.txt"), "old contents");
  assert.equal(await sb.fs.exists("new-partial.bin"), false);
  assert.doesNotMatch((await sb.sh`ls -a /home/app`.text()).trimEnd(), /\.atoll-tmp/);
});

test("bad input: typed errors, nothing changed", async () => {
  const sb = await sandbox();
  await expectCode(sb.fs.readFile(""), "INVALID_ARGUMENT");
  await expectCode(sb.fs.readFile("a\0b"), "INVALID_ARGUMENT");
  await expectCode(sb.fs.readFile("x".repeat(5000)), "INVALID_ARGUMENT");
  await expectCode(sb.fs.chmod("hello.txt", 0o77777), "INVALID_ARGUMENT");
  await expectCode(sb.fs.writeTextFile("hello.txt", "x", { mode: -1 }), "INVALID_ARGUMENT");
  await expectCode(sb.fs.makeTempDir({ prefix: "a/b" }), "INVALID_ARGUMENT");
  await expectCode(sb.fs.rename("hello.txt", "no/such/dir/x"), "NOT_FOUND");
  await expectCode(sb.fs.rename("hello.txt", "/proc/x"), "INVALID_ARGUMENT"); // across mounts: EXDEV

  assert.equal(await sb.fs.readTextFile("hello.txt"), "hello\n");
  await expectCode(
    ctx.client.connectSandbox("sbx_nope").then((s) => s.fs.stat("/")),
    "SANDBOX_NOT_FOUND",
  );
});

test("a read-only volume refuses writes through fs with READ_ONLY", async () => {
  const vol = await ctx.client.createVolume({ name: "files-ro", sizeGb: 0.0625 });
  await vol.fs.writeTextFile("seed.txt", "seed");
  const ro = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: vol.id, mountPath: "/data", accessMode: "ro" }] });
  try {
    assert.equal(await ro.fs.readTextFile("/data/seed.txt"), "seed");
    const e = await expectCode(ro.fs.writeTextFile("/data/new.txt", "x"), "READ_ONLY");
    assert.equal(e.status, 403);
    await expectCode(ro.fs.asRoot().writeTextFile("/data/seed.txt", "x"), "READ_ONLY");
    await expectCode(ro.fs.remove("/data/seed.txt"), "READ_ONLY");
    await expectCode(ro.fs.mkdir("/data/d"), "READ_ONLY");
    await expectCode(ro.fs.upload(local, "/data/tree"), "READ_ONLY");
    assert.deepEqual(await collect(vol.fs.readDir("/")).then((es) => es.map((e) => e.name).filter((n) => n !== "lost+found")), ["seed.txt"]);
  } finally {
    await ro.kill();
    await ctx.client.deleteVolume(vol.id);
  }
});

test("a stopped sandbox answers SANDBOX_NOT_RUNNING", async () => {
  const s2 = await ctx.client.createSandbox({ timeout: "5m" });
  await s2.kill();
  await expectCode(s2.fs.stat("/"), "SANDBOX_NOT_RUNNING");
});
