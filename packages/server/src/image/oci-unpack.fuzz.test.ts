/**
 * Fuzzes the OCI unpacker with random two- and three-layer images drawn from entries that try to
 * lead out of the target: symlinks to the neighbour directory (relative and absolute), names
 * through them, hard links to them, `..`, whiteouts and opaque markers through them, entries
 * replacing each other. Checked for every image: it unpacks or is refused with INVALID_ARGUMENT;
 * the neighbour is untouched (same names, content, and its file has one link: no hard link from
 * the tree); a refused unpack leaves no target; nothing in an unpacked tree is reached through a
 * symlink (every directory of it is a real directory inside it). Symlink targets stay inside the
 * test's own directory, so even a broken defence could not touch anything else.
 */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AtollError } from "atoll/contract";
import fc from "fast-check";
import { fuzzBudget } from "../testing/fuzz-budget.js";
import { type FixtureEntry, writeOciArchive } from "../testing/oci-fixture.js";
import { unpackOciArchive } from "./oci-archive.js";

// ".." and absolute names are refused before anything else (oci-archive.test.ts): left out here
// so that most images get far enough to try the links.
const NAMES = [
  "a",
  "d",
  "d/x",
  "d/e/f",
  "s",
  "s/victim",
  "s/new",
  "t/x",
  "d/.wh.x",
  ".wh.d",
  ".wh.s",
  "d/.wh..wh..opq",
  "s/.wh.victim",
  "s/.wh..wh..opq",
  "./d/",
  "t",
];

function entry(outside: string): fc.Arbitrary<FixtureEntry> {
  const name = fc.constantFrom(...NAMES);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ name, content: fc.constantFrom("x", "pwned") }) },
    { weight: 2, arbitrary: fc.record({ name, type: fc.constant("directory" as const) }) },
    {
      weight: 3,
      arbitrary: fc.record({ name, type: fc.constant("symlink" as const), linkname: fc.constantFrom("../outside", outside, `${outside}/victim`, "d", "s") }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ name, type: fc.constant("link" as const), linkname: fc.constantFrom("a", "d/x", "s", "s/victim", `${outside}/victim`) }),
    },
  );
}

/** Every directory under `dir` is a real directory whose real path is inside `root`. */
function assertConfined(root: string, dir: string): void {
  assert.ok(realpathSync(dir).startsWith(root), `${dir} resolves outside`);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory()) assertConfined(root, path);
  }
}

test("random layers of escape attempts never touch anything outside the target", async () => {
  const base = mkdtempSync(join(tmpdir(), "atoll-oci-fuzz-"));
  const outside = join(base, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "victim"), "original");
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(entry(outside), { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 3 }), async (layers) => {
        run += 1;
        const archive = join(base, `image-${run}.tar`);
        const target = join(base, `rootfs-${run}`);
        await writeOciArchive(archive, { layers, compression: "none" });
        try {
          await unpackOciArchive(archive, target, { maxBytes: 2 ** 20, ownership: false, platform: { os: "linux", architecture: "amd64" } });
          assertConfined(realpathSync(target), target);
          rmSync(target, { recursive: true });
        } catch (error) {
          if (!(error instanceof AtollError) || error.code !== "INVALID_ARGUMENT") throw error;
          assert.equal(lstatSync(target, { throwIfNoEntry: false }), undefined, "a refused unpack leaves no target");
        } finally {
          rmSync(archive, { force: true });
        }
        assert.deepEqual(readdirSync(outside), ["victim"]);
        assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
        assert.equal(lstatSync(join(outside, "victim")).nlink, 1, "no hard link to the neighbour");
      }),
      fuzzBudget(150),
    );
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
