import assert from "node:assert/strict";
import { test } from "node:test";
import { isAtOrUnder, isMountPoint, mountsUnder, parseMountInfo, readMountInfo, unescapeMountField } from "./mounts.js";

const SAMPLE = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard",
  "36 22 0:32 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 master:2 - tmpfs tmpfs ro,mode=755",
  "90 22 7:3 / /var/lib/atoll/run/volumes/vol\\040one rw,nosuid,nodev,noatime - ext4 /dev/loop3 rw",
  "91 90 254:0 /srv/a\\011b /var/lib/atoll/run/volumes/vol\\040one/sub\\134dir rw - ext4 /dev/vda rw",
  "92 22 0:50 / /mnt/new\\012line rw - tmpfs my\\040tmp rw,size=1024k",
  "garbage line without separator",
  "",
].join("\n");

test("parseMountInfo reads every field and skips malformed lines", () => {
  const entries = parseMountInfo(SAMPLE);
  assert.equal(entries.length, 5);
  const root = entries[0]!;
  assert.deepEqual(root, {
    mountId: 22,
    parentId: 1,
    device: "254:0",
    root: "/",
    mountPoint: "/",
    mountOptions: ["rw", "relatime"],
    optionalFields: ["shared:1"],
    fsType: "ext4",
    source: "/dev/vda",
    superOptions: ["rw", "discard"],
  });
  assert.deepEqual(entries[1]!.optionalFields, ["shared:9", "master:2"]);
  assert.deepEqual(entries[2]!.optionalFields, []);
});

test("parseMountInfo undoes octal escapes in paths and source", () => {
  const entries = parseMountInfo(SAMPLE);
  assert.equal(entries[2]!.mountPoint, "/var/lib/atoll/run/volumes/vol one");
  assert.equal(entries[3]!.root, "/srv/a\tb");
  assert.equal(entries[3]!.mountPoint, "/var/lib/atoll/run/volumes/vol one/sub\\dir");
  assert.equal(entries[4]!.mountPoint, "/mnt/new\nline");
  assert.equal(entries[4]!.source, "my tmp");
  assert.equal(unescapeMountField("a\\040b\\134c"), "a b\\c");
  assert.equal(unescapeMountField("plain"), "plain");
});

test("mountsUnder returns deepest first and respects path boundaries", () => {
  const entries = parseMountInfo(
    [
      "1 0 0:1 / /r rw - tmpfs t rw",
      "2 1 0:2 / /r/a rw - tmpfs t rw",
      "3 2 0:3 / /r/a/b rw - tmpfs t rw",
      "4 1 0:4 / /r/a rw - tmpfs t rw",
      "5 0 0:5 / /rx rw - tmpfs t rw",
    ].join("\n"),
  );
  const ids = mountsUnder(entries, "/r").map((e) => e.mountId);
  assert.deepEqual(ids, [3, 4, 2, 1]);
  assert.equal(isAtOrUnder("/rx", "/r"), false);
  assert.equal(isAtOrUnder("/r/x", "/r"), true);
  assert.equal(isAtOrUnder("/anything", "/"), true);
});

test("readMountInfo sees the root mount", async () => {
  const entries = await readMountInfo();
  assert.ok(entries.some((e) => e.mountPoint === "/"));
  assert.equal(await isMountPoint("/"), true);
});
