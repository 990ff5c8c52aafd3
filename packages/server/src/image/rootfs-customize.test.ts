import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { DEFAULT_DPKG_PATH_RULES } from "./image-recipe.js";
import { prunePaths } from "./rootfs-customize.js";

test("prunePaths applies dpkg path-exclude/path-include like dpkg would", (t) => {
  const root = mkdtempSync(join(tmpdir(), "atoll-prune-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const files = [
    "usr/share/doc/git/copyright",
    "usr/share/doc/git/README.md",
    "usr/share/doc/git/contrib/x/y.txt",
    "usr/share/man/man1/git.1.gz",
    "usr/share/locale/de/LC_MESSAGES/git.mo",
    "usr/share/locale/locale.alias",
    "usr/share/info/coreutils.info.gz",
    "usr/bin/git",
    "usr/share/git-core/templates/description",
  ];
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), "x");
  }
  const removed = prunePaths(root, DEFAULT_DPKG_PATH_RULES);
  const kept = files.filter((f) => existsSync(join(root, f)));
  assert.deepEqual(kept, ["usr/share/doc/git/copyright", "usr/share/locale/locale.alias", "usr/bin/git", "usr/share/git-core/templates/description"]);
  assert.equal(removed, files.length - kept.length);
  assert.ok(existsSync(join(root, "usr/share/man/man1")), "directories stay, as with dpkg");
});
