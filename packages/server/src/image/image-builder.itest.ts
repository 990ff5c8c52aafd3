import assert from "node:assert/strict";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildImage, defaultImagesDir, defaultUidBase, ensureImage, findImage, readImage } from "./image-builder.js";
import { BUILDER_VERSION, defaultRecipe, recipeHash } from "./image-recipe.js";

// Uses the host's real image directory: scripts/setup.sh built the image before the suite, so
// this is a cache hit; on a machine without it, it builds (about a minute, Debian mirror).

test("findImage returns null for an empty images directory", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-images-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(findImage(dir), null);
});

test("the base image is Debian bookworm with every owner shifted into the sandbox range", async () => {
  const rootfs = await ensureImage();
  assert.equal(findImage(), rootfs);
  const hash = recipeHash(defaultRecipe());
  assert.equal(rootfs, join(defaultImagesDir(), hash, "rootfs"));

  const again = await buildImage();
  assert.equal(again.cached, true, "a second ensure is a cache hit");

  const image = readImage(defaultImagesDir(), hash);
  assert.ok(image);
  const base = image.info.recipe.content.uidBase;
  assert.equal(base, defaultUidBase());
  const names = new Set(image.info.packages.map((p) => p.name));
  for (const p of [
    "bash",
    "coreutils",
    "ca-certificates",
    "curl",
    "git",
    "procps",
    "python3",
    "python3-venv",
    "python3-pip",
    "sqlite3",
    "util-linux",
    "mount",
  ]) {
    assert.ok(names.has(p), `package ${p} installed`);
  }

  const st = (p: string) => lstatSync(join(rootfs, p));
  assert.equal(st("").uid, base);
  assert.equal(st("etc/passwd").uid, base);
  assert.deepEqual([st("home/app").uid, st("home/app").gid, st("home/app").mode & 0o7777], [base + 1000, base + 1000, 0o755]);
  assert.equal(st("tmp").mode & 0o7777, 0o1777);
  assert.equal(st("usr/bin/su").mode & 0o7777, 0o4755, "setuid bit survives the shift");
  assert.ok(st(".atoll").isDirectory());
  assert.deepEqual(readdirSync(join(rootfs, "dev")), [], "no device nodes in the image");
  assert.ok(st("mnt").isDirectory());

  assert.match(readFileSync(join(rootfs, "etc/passwd"), "utf8"), /^app:x:1000:1000::\/home\/app:\/bin\/bash$/m);
  assert.match(readFileSync(join(rootfs, "etc/group"), "utf8"), /^app:x:1000:$/m);
  assert.equal(readFileSync(join(rootfs, "etc/hostname"), "utf8"), "sandbox\n");
  assert.match(readFileSync(join(rootfs, "etc/hosts"), "utf8"), /^127\.0\.0\.1\tlocalhost$/m);
  assert.equal(readFileSync(join(rootfs, "etc/resolv.conf"), "utf8"), "", "no host DNS configuration leaks in");
  assert.equal(readFileSync(join(rootfs, "etc/debian_version"), "utf8").trim().split(".")[0], "12");

  // Lean: no apt lists, no manual pages, docs only as copyright files.
  assert.deepEqual(
    readdirSync(join(rootfs, "var/lib/apt/lists")).filter((n) => n !== "lock" && n !== "partial"),
    [],
  );
  assert.deepEqual(filesUnder(join(rootfs, "usr/share/man")), [], "no manual pages");
  const docs = filesUnder(join(rootfs, "usr/share/doc")).filter((f) => !f.endsWith("/copyright"));
  assert.deepEqual(docs, [], "only copyright files under /usr/share/doc");
});

test("an image for another uid base is derived from a built one: owners moved, setuid kept, no bootstrap", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-images-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A small stand-in for a built image at base 100000: the builder only reads image.json and rootfs.
  const from = defaultRecipe({ uidBase: 100000, sources: [] });
  const src = join(dir, recipeHash(from));
  mkdirSync(join(src, "rootfs/bin"), { recursive: true });
  mkdirSync(join(src, "rootfs/home/app"), { recursive: true });
  writeFileSync(join(src, "rootfs/bin/sh"), "#!/bin/true\n", { mode: 0o755 });
  writeFileSync(join(src, "rootfs/bin/su"), "", { mode: 0o755 });
  for (const [p, id] of [
    ["", 0],
    ["bin", 0],
    ["bin/sh", 0],
    ["bin/su", 0],
    ["home", 0],
    ["home/app", 1000],
  ] as const) {
    chownSync(join(src, "rootfs", p), 100000 + id, 100000 + id);
  }
  chmodSync(join(src, "rootfs/bin/su"), 0o4755);
  const info = {
    hash: recipeHash(from),
    builderVersion: BUILDER_VERSION,
    recipe: from,
    createdAt: "",
    tool: "test",
    buildSeconds: 0,
    sizeBytes: 0,
    inodes: 6,
    capabilitiesRestored: 0,
    packages: [],
  };
  writeFileSync(join(src, "image.json"), JSON.stringify(info));

  const to = 0x70000000;
  const image = await buildImage({ imagesDir: dir, recipe: defaultRecipe({ uidBase: to, sources: [] }) });
  assert.equal(image.cached, false);
  assert.match(image.info.tool, new RegExp(`derived from ${recipeHash(from)}`));
  assert.equal(image.info.recipe.content.uidBase, to);
  const st = (p: string) => lstatSync(join(image.rootfs, p));
  assert.deepEqual([st("").uid, st("bin/sh").gid, st("home/app").uid], [to, to, to + 1000]);
  assert.equal(st("bin/su").mode & 0o7777, 0o4755, "setuid bit kept");
  assert.equal(lstatSync(join(src, "rootfs/home/app")).uid, 101000, "the source image is untouched");
  assert.equal(statSync(dir).mode & 0o777, 0o700, "the images directory is root's only");
});

/** Paths of everything but directories below `dir` (dpkg leaves empty directories behind). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name));
}
