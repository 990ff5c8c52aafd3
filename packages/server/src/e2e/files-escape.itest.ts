/**
 * The file API cannot reach a host file or another sandbox's file: `..`, absolute symlinks,
 * symlinks swapped between check and use, /proc/self/root and /proc/1/root, hard links, and
 * hostile tar entries. Every operation runs inside the sandbox (or the volume's jail), so the
 * kernel resolves paths in that root only; these tests prove it from the outside by planting
 * secrets and targets on the host and in a second sandbox.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { AtollError, type Sandbox } from "atoll";
import { tarOf } from "../testing/ustar.js";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const hostDir = mkdtempSync("/var/tmp/atoll-escape-");
const SECRET = `host-secret-${Math.random().toString(36).slice(2)}`;
writeFileSync(join(hostDir, "secret.txt"), SECRET, { mode: 0o644 });
writeFileSync(join(hostDir, "target.txt"), "host original", { mode: 0o666 });
after(() => rmSync(hostDir, { recursive: true, force: true }));

let pair: Promise<[Sandbox, Sandbox]> | undefined;
const sandboxes = () => (pair ??= Promise.all([ctx.client.createSandbox({ timeout: "10m" }), ctx.client.createSandbox({ timeout: "10m" })]));

/** Fails the test if an operation's outcome contains the secret. */
async function neverSecret(p: Promise<unknown>): Promise<string> {
  try {
    const v = await p;
    const text = v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v);
    assert.ok(!text.includes(SECRET), "the host secret leaked");
    return "ok";
  } catch (e) {
    if (!(e instanceof AtollError)) throw e;
    assert.ok(!e.message.includes(SECRET));
    return e.code;
  }
}

test("`..` and absolute paths stay inside the sandbox's root", async () => {
  const [a] = await sandboxes();
  const hostPath = join(hostDir, "secret.txt");
  assert.equal(await neverSecret(a.fs.readFile(hostPath)), "NOT_FOUND");
  assert.equal(await neverSecret(a.fs.asRoot().readFile(`../../../../../../../..${hostPath}`)), "NOT_FOUND");
  assert.equal(await a.fs.realPath("../../../../.."), "/");
  assert.equal(await neverSecret(a.fs.readFile(`/home/app/../../..${hostPath}`)), "NOT_FOUND");
});

test("absolute symlinks point into the sandbox, not the host", async () => {
  const [a] = await sandboxes();
  const root = a.fs.asRoot();
  await a.fs.symlink(join(hostDir, "secret.txt"), "to-host-secret");
  await a.fs.symlink("/etc/shadow", "to-shadow");
  assert.equal(await neverSecret(root.readFile("to-host-secret")), "NOT_FOUND");
  // /etc/shadow through the link is the sandbox's own (app may not read it; root reads the image's).
  assert.equal(await neverSecret(a.fs.readFile("to-shadow")), "PERMISSION_DENIED");
  const shadow = await root.readTextFile("to-shadow");
  assert.equal(shadow, await a.sh`sudo cat /etc/shadow`.noThrow().then(() => root.readTextFile("/etc/shadow")));
  assert.notEqual(shadow, readFileSync("/etc/shadow", "utf8"));
  // Writing through a link to a host path creates a file in the sandbox, never on the host.
  await root.mkdir(hostDir, { recursive: true });
  await a.fs.symlink(join(hostDir, "target.txt"), "to-host-target");
  await root.writeTextFile("to-host-target", "written in the sandbox");
  assert.equal(await root.readTextFile(join(hostDir, "target.txt")), "written in the sandbox");
  assert.equal(readFileSync(join(hostDir, "target.txt"), "utf8"), "host original");
  await a.fs.upload(hostDir, "uploaded-secret-dir"); // the host side of an upload is the client's disk
  await root.remove(hostDir, { recursive: true });
  assert.ok(existsSync(join(hostDir, "secret.txt")), "removing that path in the sandbox left the host alone");
});

test("/proc/self/root is the sandbox's root; /proc/1/root is closed", async () => {
  const [a, b] = await sandboxes();
  await a.fs.writeTextFile("/home/app/marker", a.id);
  assert.equal(await a.fs.readTextFile("/proc/self/root/home/app/marker"), a.id);
  // pid 1 (atoll-init) is non-dumpable: even sandbox root may not follow its /proc links.
  assert.equal(await neverSecret(a.fs.asRoot().readTextFile("/proc/1/root/home/app/marker")), "PERMISSION_DENIED");
  assert.equal((await a.fs.readTextFile("/proc/sys/kernel/hostname")).trim(), a.id);
  for (const p of ["/proc/self/root", "/proc/1/root", "/proc/self/cwd", "/proc/thread-self/root"]) {
    const expected = p === "/proc/1/root" ? "PERMISSION_DENIED" : "NOT_FOUND";
    assert.equal(await neverSecret(a.fs.asRoot().readFile(`${p}${join(hostDir, "secret.txt")}`)), expected, p);
  }
  // b's processes are not in a's pid namespace.
  const bPid = Number((await b.sh`sh -c 'sleep 60 & echo $!'`.text()).trimEnd());
  await b.fs.writeTextFile("b-secret.txt", SECRET);
  const outcome = await neverSecret(a.fs.asRoot().readFile(`/proc/${bPid}/root/home/app/b-secret.txt`));
  assert.ok(["NOT_FOUND", "PERMISSION_DENIED"].includes(outcome), outcome);
  await a.fs
    .asRoot()
    .symlink("/proc/self/root/../../../../..", "proc-climb")
    .catch(() => undefined);
  assert.equal(
    await a.fs
      .asRoot()
      .realPath("proc-climb")
      .catch((e: AtollError) => e.code),
    "/",
  );
});

test("another sandbox's files are out of reach, by host path or through a volume-less guess", async () => {
  const [a, b] = await sandboxes();
  await b.fs.writeTextFile("/home/app/only-b.txt", SECRET);
  const bRootOnHost = join(ctx.daemon.stateDir, "run/sandboxes", b.id, "root");
  assert.ok(existsSync(join(bRootOnHost, "home/app/only-b.txt")), "the file is where the host keeps b's root");
  for (const p of [join(bRootOnHost, "home/app/only-b.txt"), `/proc/1/root${bRootOnHost}/home/app/only-b.txt`]) {
    assert.ok(["NOT_FOUND", "PERMISSION_DENIED"].includes(await neverSecret(a.fs.asRoot().readFile(p))), p);
  }
  await a.fs.asRoot().symlink(join(bRootOnHost, "home/app/only-b.txt"), "/home/app/to-b");
  assert.equal(await neverSecret(a.fs.asRoot().readFile("/home/app/to-b")), "NOT_FOUND");
  assert.equal(await neverSecret(a.fs.download("/home/app", join(hostDir, "a-home"))), "ok");
  assert.ok(!readdirSync(join(hostDir, "a-home")).includes("only-b.txt"));
});

test("a symlink swapped between check and use never reaches the host", async () => {
  const [a] = await sandboxes();
  await a.fs.writeTextFile("benign.txt", "benign");
  const flipper = await a.spawn("sh", {
    args: ["-c", `while :; do ln -sfn /home/app/benign.txt flip; ln -sfn ${join(hostDir, "target.txt")} flip; ln -sfn /etc/shadow flip; done`],
    stdout: "null",
    stderr: "null",
  });
  try {
    const outcomes = new Set<string>();
    for (let i = 0; i < 150; i++) {
      outcomes.add(await neverSecret(a.fs.readFile("flip")));
      outcomes.add(await neverSecret(a.fs.writeTextFile("flip", `write ${i}`)));
      outcomes.add(await neverSecret(a.fs.asRoot().readFile("flip")));
    }
    assert.ok(outcomes.has("ok"), [...outcomes].join(","));
  } finally {
    flipper.kill("SIGKILL");
    await flipper.status;
  }
  assert.equal(readFileSync(join(hostDir, "target.txt"), "utf8"), "host original");
  assert.equal(readFileSync("/etc/shadow", "utf8").includes("write "), false);
});

test("hard links: writing through one never changes the shared base image or another sandbox", async () => {
  const [a, b] = await sandboxes();
  const original = await b.fs.readTextFile("/etc/debian_version");
  await a.sh`sudo ln /etc/debian_version /root/hl`.noThrow();
  await a.fs
    .asRoot()
    .writeTextFile("/root/hl", "rewritten")
    .catch(() => undefined);
  await a.fs.asRoot().writeTextFile("/etc/debian_version", "rewritten too");
  assert.equal(await b.fs.readTextFile("/etc/debian_version"), original);
  // app cannot hard link files it does not own (protected_hardlinks), through fs or otherwise.
  const c = await ctx.client.createSandbox({ timeout: "5m" });
  assert.equal(await c.fs.readTextFile("/etc/debian_version"), original, "a new sandbox sees the image unchanged");
  await c.kill();
});

test("hostile tars cannot write outside the target directory", async () => {
  const [a] = await sandboxes();
  const root = a.fs.asRoot();
  await root.mkdir("/srv/target", { recursive: true });
  await expectCode(root.importTar("/srv/target", tarOf([["../escaped.txt", "0", "x"]])), "INVALID_ARGUMENT");
  await expectCode(root.importTar("/srv/target", tarOf([["a/../../escaped.txt", "0", "x"]])), "INVALID_ARGUMENT");
  await expectCode(
    root.importTar(
      "/srv/target",
      tarOf([
        ["evil", "2", "/etc"],
        ["evil/passwd", "0", "pwned"],
      ]),
    ),
    "PERMISSION_DENIED",
  );
  await expectCode(
    root.importTar(
      "/srv/target",
      tarOf([
        ["up", "2", "../.."],
        ["up/escaped.txt", "0", "x"],
      ]),
    ),
    "PERMISSION_DENIED",
  );
  await expectCode(root.importTar("/srv/target", tarOf([["hl", "1", "../../etc/passwd"]])), "INVALID_ARGUMENT");
  // A leading "/" is dropped: absolute names land inside the target.
  await root.importTar("/srv/target", tarOf([["/etc/inside.txt", "0", "inside"]]));
  assert.equal(await root.readTextFile("/srv/target/etc/inside.txt"), "inside");
  assert.equal(await root.exists("/srv/escaped.txt"), false);
  assert.equal(await root.exists("/escaped.txt"), false);
  assert.doesNotMatch(await root.readTextFile("/etc/passwd"), /pwned/);
});

test("volume files: the volume is the whole world of volume.fs", async () => {
  const vol = await ctx.client.createVolume({ name: "escape-vol", sizeGb: 0.0625 });
  try {
    await vol.fs.symlink(join(hostDir, "secret.txt"), "to-host");
    await vol.fs.symlink("/etc/passwd", "to-passwd");
    assert.equal(await neverSecret(vol.fs.readFile("to-host")), "NOT_FOUND");
    assert.equal(await neverSecret(vol.fs.readFile("to-passwd")), "NOT_FOUND");
    assert.equal(await neverSecret(vol.fs.readFile(`../../../..${join(hostDir, "secret.txt")}`)), "NOT_FOUND");
    assert.equal(await neverSecret(vol.fs.readFile("/proc/self/root/etc/passwd")), "NOT_FOUND");
    assert.equal(await vol.fs.realPath("../../.."), "/");
    await vol.fs.symlink(join(hostDir, "target.txt"), "to-target");
    await vol.fs.writeTextFile("to-target", "x").catch(() => undefined);
    assert.equal(readFileSync(join(hostDir, "target.txt"), "utf8"), "host original");
    await expectCode(
      vol.fs.importTar(
        "/",
        tarOf([
          ["x", "2", "/"],
          ["x/escaped", "0", "x"],
        ]),
      ),
      "PERMISSION_DENIED",
    );
  } finally {
    await ctx.client.deleteVolume(vol.id);
  }
});
