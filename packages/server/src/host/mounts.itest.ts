/** Mounts on the real host (root): the private run mount, binds, umountTree. Parsing: mounts.test.ts. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { bindMount, ensurePrivateMount, findMount, isMountPoint, mountsUnder, readMountInfo, statfsUsage, umountTree } from "./mounts.js";
import { execFileRunner as runner } from "./run-command.js";

test("ensurePrivateMount, bind and umountTree on the real host", async () => {
  const base = await mkdtemp("/var/tmp/atoll-mounts-test-");
  const run = path.join(base, "run with space");
  try {
    await ensurePrivateMount(runner, run);
    assert.equal(await isMountPoint(run), true);
    assert.deepEqual((await findMount(run))!.optionalFields, []);
    // Idempotent: a second call does not stack another bind.
    await ensurePrivateMount(runner, run);
    assert.equal((await readMountInfo()).filter((e) => e.mountPoint === run).length, 1);

    const src = path.join(base, "src");
    await mkdir(src);
    await writeFile(path.join(src, "f"), "x");
    const a = path.join(run, "a");
    const b = path.join(a, "b");
    await mkdir(a);
    await bindMount(runner, src, a, { readOnly: true });
    await mkdir(path.join(base, "src", "b"));
    await bindMount(runner, src, b);
    await bindMount(runner, src, b); // stacked on the same point
    assert.equal(mountsUnder(await readMountInfo(), run).length, 4);
    const ro = await findMount(a);
    assert.ok(ro!.mountOptions.includes("ro"));

    const usage = await statfsUsage(run);
    assert.ok(usage.totalBytes > 0 && usage.usedBytes >= 0 && usage.availableBytes <= usage.freeBytes);

    const unmounted = await umountTree(runner, run);
    assert.equal(unmounted.length, 4);
    assert.equal(mountsUnder(await readMountInfo(), run).length, 0);
  } finally {
    await umountTree(runner, base).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
});
