import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { resolveImageUser } from "./oci-user.js";

function tree(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "atoll-oci-user-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "etc"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, "etc", name), text);
  return root;
}

const PASSWD =
  "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken:x:abc:1::/:/bin/sh\nnfsnobody:x:4294967294:4294967294::/:/bin/false\n";
const GROUP = "root:x:0:\nstaff:x:50:\n";

test("User resolves like runc: names through /etc/passwd and /etc/group, numbers as they are", async (t) => {
  const root = tree(t, { passwd: PASSWD, group: GROUP });
  assert.deepEqual(await resolveImageUser(root, null), { uid: 0, gid: 0, home: "/root" });
  assert.deepEqual(await resolveImageUser(root, "app"), { uid: 1000, gid: 1001, home: "/home/app" });
  assert.deepEqual(await resolveImageUser(root, "app:staff"), { uid: 1000, gid: 50, home: "/home/app" });
  assert.deepEqual(await resolveImageUser(root, "1000"), { uid: 1000, gid: 1001, home: "/home/app" });
  assert.deepEqual(await resolveImageUser(root, "4242"), { uid: 4242, gid: 0, home: null }, "a uid without an entry: group 0");
  assert.deepEqual(await resolveImageUser(root, "4242:7"), { uid: 4242, gid: 7, home: null });
});

test("User errors: unknown names, ids past the sandbox range, broken entries", async (t) => {
  const root = tree(t, { passwd: PASSWD, group: GROUP });
  await assert.rejects(resolveImageUser(root, "nobody"), /User "nobody" is not in its \/etc\/passwd/);
  await assert.rejects(resolveImageUser(root, "app:wheel"), /group "wheel" is not in its \/etc\/group/);
  await assert.rejects(resolveImageUser(root, "70000"), /sandboxes map ids 0..65535 only/);
  await assert.rejects(resolveImageUser(root, "broken"), /has no numeric id/);
});

test("an /etc/passwd that is a symlink is refused, not followed", async (t) => {
  const root = tree(t, {});
  const outside = join(root, "..", `${root.split("/").pop()}-host-passwd`);
  writeFileSync(outside, "evil:x:0:0::/:/bin/sh\n");
  t.after(() => rmSync(outside, { force: true }));
  symlinkSync(outside, join(root, "etc/passwd"));
  await assert.rejects(resolveImageUser(root, "evil"), /\/etc\/passwd is not a regular file/);
  rmSync(join(root, "etc"), { recursive: true });
  symlinkSync(join(outside, ".."), join(root, "etc"));
  await assert.rejects(resolveImageUser(root, "evil"), /goes through the symlink "etc"/);
});
