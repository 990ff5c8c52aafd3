import assert from "node:assert/strict";
import { test } from "node:test";
import type { Header } from "tar-stream";
import { parsePaxXattrs, xattrsOf } from "./oci-xattrs.js";

function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

test("pax xattr records keep binary values byte for byte", () => {
  const cap = Buffer.from("0100000200000080000000000000000000000000", "hex");
  const buf = Buffer.concat([
    record("mtime", Buffer.from("1.5")),
    record("SCHILY.xattr.security.capability", cap),
    record("SCHILY.xattr.user.a", Buffer.from("x\ny=z")),
  ]);
  const got = parsePaxXattrs(buf);
  assert.deepEqual([...got.keys()], ["security.capability", "user.a"]);
  assert.equal(got.get("security.capability")?.toString("hex"), cap.toString("hex"));
  assert.equal(got.get("user.a")?.toString(), "x\ny=z", "a value may hold newlines and =");
});

test("malformed pax records end the parse instead of reading past the header", () => {
  const good = record("SCHILY.xattr.user.ok", Buffer.from("1"));
  for (const tail of ["99999 SCHILY.xattr.user.x=1\n", "abc SCHILY.xattr.user.x=1\n", "0 \n", "5 x", `${"9".repeat(30)} k=v\n`]) {
    assert.deepEqual([...parsePaxXattrs(Buffer.concat([good, Buffer.from(tail)])).keys()], ["user.ok"], tail);
  }
});

test("only user.* and security.capability are applied; the rest is counted as skipped", () => {
  const raw = new Map([
    ["user.note", Buffer.from("n")],
    ["security.capability", Buffer.alloc(20)],
    ["trusted.overlay.redirect", Buffer.from("/etc")],
    ["security.selinux", Buffer.from("x")],
    ["system.posix_acl_access", Buffer.alloc(4)],
  ]);
  const header = { name: "f", pax: { "atoll.raw-xattrs": raw } } as unknown as Header;
  const { apply, skipped } = xattrsOf(header);
  assert.deepEqual(
    apply.map(([n]) => n),
    ["user.note", "security.capability"],
  );
  assert.equal(skipped, 3);
  assert.deepEqual(xattrsOf({ name: "g", pax: null } as unknown as Header), { apply: [], skipped: 0 });
});
