/**
 * `atoll image import` on a real daemon (issue 14, docs/images.md "Importing an image"): an OCI
 * archive built here (layer 1 the base image's real root filesystem, layer 2 adding a file,
 * removing one with a whiteout and making a directory opaque, a config with Env, WorkingDir and
 * User) is imported through the CLI, booted with `root:`, and its files, env, cwd and user checked;
 * bad input (corrupt and truncated archives, a name in use, a size too small, an archive over the
 * limit) is refused with a clear error and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { findImage } from "../image/image-builder.js";
import { runCli } from "../testing/cli-runner.js";
import { type FixtureImage, writeOciArchive } from "../testing/oci-fixture.js";
import { hostFootprint, killOnDispose, useDaemon, volumeImagesDir } from "./e2e-helpers.js";

const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build");
const ctx = useDaemon();
let work: string;
let archive: string;

/** Layer 1: the base image's rootfs with its owners moved back to the image's own ids (0..65535), as `docker save` has them. */
function baseLayer(dir: string): Buffer {
  const rootfs = findImage();
  assert.ok(rootfs, "the base image is built");
  const tree = path.join(dir, "base");
  execFileSync("cp", ["-a", rootfs, tree]);
  execFileSync(path.join(NATIVE, "atoll-idshift"), [String(statSync(rootfs).uid), "0", "65536", tree]);
  const tar = path.join(dir, "layer1.tar");
  execFileSync("tar", ["-C", tree, "--numeric-owner", "--xattrs", "-cf", tar, "."]);
  rmSync(tree, { recursive: true, force: true });
  const data = readFileSync(tar);
  rmSync(tar);
  return data;
}

before(async () => {
  work = mkdtempSync("/var/tmp/atoll-import-test-");
  const base = baseLayer(work);
  const passwd = `${readFileSync(path.join(findImage()!, "etc/passwd"), "utf8")}svc:x:1234:1234::/srv/svc:/bin/bash\n`;
  const group = `${readFileSync(path.join(findImage()!, "etc/group"), "utf8")}svc:x:1234:\n`;
  const image: FixtureImage = {
    layers: [
      base,
      [
        { name: "etc/passwd", content: passwd },
        { name: "etc/group", content: group },
        { name: "srv/svc", type: "directory", uid: 1234, gid: 1234 },
        { name: "srv/app", type: "directory", uid: 1234, gid: 1234 },
        { name: "srv/app/hello.txt", content: "hello from layer 2\n", uid: 1234, gid: 1234 },
        { name: "etc/.wh.motd" },
        { name: "usr/share/doc/bash/.wh..wh..opq" },
        { name: "usr/share/doc/bash/NOTE", content: "only me\n" },
      ],
    ],
    config: { Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=from-image", "FOO=image"], WorkingDir: "/srv/app", User: "svc" },
  };
  archive = path.join(work, "app.tar");
  await writeOciArchive(archive, image);
});

after(() => rmSync(work, { recursive: true, force: true }));

/** Nothing an import made is left: no work dir, no volume, only `snapshots` listed, no loop device or mount. */
async function assertNothingLeft(snapshots: string[]): Promise<void> {
  const { daemon, client } = ctx;
  const workDir = path.join(daemon.stateDir, "image-imports");
  assert.deepEqual(existsSync(workDir) ? readdirSync(workDir) : [], [], "no import work directory is left");
  assert.deepEqual(
    (await client.listVolumes()).map((v) => v.name),
    [],
  );
  const kept = await client.listSnapshots();
  assert.deepEqual(kept.map((s) => s.name).sort(), [...snapshots].sort());
  assert.deepEqual(
    readdirSync(volumeImagesDir(daemon.stateDir)).filter((f) => f.endsWith(".img")),
    [],
    "no volume image is left",
  );
  // A kept snapshot a sandbox booted from may stay mounted read-only a while: it is not the import's.
  const { loops, mounts } = hostFootprint(daemon.stateDir);
  const notKept = (l: string) => !kept.some((s) => l.includes(s.id));
  assert.deepEqual({ loops: loops.filter(notKept), mounts: mounts.filter(notKept) }, { loops: [], mounts: [] });
}

test("an imported OCI image boots with its files, Env, WorkingDir and User", async () => {
  const { daemon, client } = ctx;
  const run = await runCli(daemon, ["image", "import", archive, "--name", "app-img"]);
  assert.equal(run.code, 0, run.stderr);
  const snap = await client.getSnapshot("app-img");
  assert.equal(run.stdout.trim(), snap.id);
  assert.equal(snap.bootable, true);
  await assertNothingLeft(["app-img"]);
  {
    await using sb = killOnDispose(await client.createSandbox({ root: "app-img", env: { FOO: "request" } }));
    assert.equal(await sb.sh`cat /srv/app/hello.txt`.text(), "hello from layer 2\n");
    assert.equal((await sb.sh`test -e /etc/motd; echo $?`.text()).trim(), "1", "the whiteout removed /etc/motd");
    assert.equal((await sb.sh`ls -A /usr/share/doc/bash`.text()).trim(), "NOTE", "the opaque directory holds only layer 2's entries");
    assert.match(await sb.sh`cat /etc/debian_version`.text(), /^12\./, "layer 1's files are there");
    assert.equal((await sb.sh`pwd`.text()).trim(), "/srv/app", "WorkingDir is the default cwd");
    assert.equal((await sb.sh`id`.text()).trim(), "uid=1234(svc) gid=1234(svc) groups=1234(svc)", "User is the default user");
    const env = await sb.sh`env`.text();
    assert.match(env, /^GREETING=from-image$/m, "Env is the default environment");
    assert.match(env, /^FOO=request$/m, "the request's env wins");
    assert.match(env, /^HOME=\/srv\/svc$/m);
    assert.equal((await sb.sh`id -u`.sudo().text()).trim(), "0", "root is still root");
    assert.equal((await sb.sh`touch /srv/app/mine && stat -c %u /srv/app/mine`.text()).trim(), "1234");
  }
  // A volume forked from the snapshot carries the image config.
  const vol = await client.createVolume({ name: "app-rw", sizeGb: snap.sizeGb, from: "app-img" });
  {
    await using sb = killOnDispose(await client.createSandbox({ root: vol.id }));
    assert.equal((await sb.sh`id -un && pwd && echo $GREETING`.text()).trim(), "svc\n/srv/app\nfrom-image");
  }
  await client.deleteVolume(vol.id);
  await assertNothingLeft(["app-img"]);
});

test("bad archives, a name in use, a size too small and an archive over the limit are refused and leave nothing", async () => {
  const { daemon } = ctx;
  const expectRefused = async (args: string[], code: string) => {
    const run = await runCli(daemon, ["image", "import", ...args]);
    assert.equal(run.code, 1, `${args.join(" ")}: ${run.stdout}`);
    assert.match(run.stderr, new RegExp(`error \\[${code}\\]: .+`), run.stderr);
    await assertNothingLeft(["app-img"]);
    return run.stderr;
  };
  const corrupt = path.join(work, "corrupt.tar");
  writeFileSync(corrupt, Buffer.alloc(10_000, 0x5a));
  await expectRefused([corrupt, "--name", "corrupt"], "INVALID_ARGUMENT");
  const truncated = path.join(work, "truncated.tar");
  writeFileSync(truncated, readFileSync(archive).subarray(0, Math.floor(statSync(archive).size / 2)));
  await expectRefused([truncated, "--name", "truncated"], "INVALID_ARGUMENT");
  await expectRefused([archive, "--name", "app-img"], "SNAPSHOT_NAME_TAKEN");
  const small = await expectRefused([archive, "--name", "small", "--size", "0.25"], "INVALID_ARGUMENT");
  assert.match(small, /needs sizeGb/);
  const over = await expectRefused([archive, "--name", "over", "--size", "0.0625"], "PAYLOAD_TOO_LARGE");
  assert.match(over, /larger than/);
  // A User the sandbox cannot map, or one its own /etc/passwd does not have: refused at import.
  for (const [user, message] of [
    ["70000", /65535|range|outside/i],
    ["ghost", /not in its \/etc\/passwd/],
  ] as const) {
    const file = path.join(work, `user-${user}.tar`);
    await writeOciArchive(file, {
      layers: [
        [
          { name: "etc", type: "directory" },
          { name: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
        ],
      ],
      config: { User: user },
    });
    assert.match(await expectRefused([file, "--name", `user-${user}`], "INVALID_ARGUMENT"), message);
  }
});
