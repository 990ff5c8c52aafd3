/**
 * The OCI unpacker as root, on the host's filesystem: numeric owners (also of symlinks), the
 * setuid/setgid bits chown would clear, and extended attributes from a layer GNU tar wrote with
 * --xattrs (binary `security.capability` intact, `trusted.*` skipped).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeOciArchive } from "../testing/oci-fixture.js";
import { unpackOciArchive } from "./oci-archive.js";

function workspace(t: { after: (fn: () => void) => void }): { dir: string; archive: string; target: string } {
  const dir = mkdtempSync(join(tmpdir(), "atoll-oci-itest-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, archive: join(dir, "image.tar"), target: join(dir, "rootfs") };
}

const OPTS = { maxBytes: 2 ** 30, platform: { os: "linux", architecture: "amd64" } };

/** An xattr of `path` as hex (Python's os.getxattr: the host has no getfattr), or null. */
function xattrHex(path: string, name: string): string | null {
  const out = execFileSync(
    "python3",
    ["-c", "import os,sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: print('-')", path, name],
    { encoding: "utf8" },
  ).trim();
  return out === "-" ? null : out;
}

test("owners come from the archive, numerically, and setuid/setgid bits survive the chown", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, {
    layers: [
      [
        { name: "home/app/", type: "directory", uid: 1000, gid: 1000, mode: 0o750 },
        { name: "home/app/notes", content: "n", uid: 1000, gid: 1000, mode: 0o600 },
        { name: "home/app/link", type: "symlink", linkname: "notes", uid: 1000, gid: 1001 },
        { name: "usr/bin/su", content: "su", mode: 0o4755 },
        { name: "usr/bin/chage", content: "chage", gid: 42, mode: 0o2755 },
        { name: "tmp/", type: "directory", mode: 0o1777 },
      ],
      [{ name: "home/app/notes", content: "rewritten", uid: 1000, gid: 1000, mode: 0o640 }],
    ],
  });
  await unpackOciArchive(ws.archive, ws.target, OPTS);
  const meta = (p: string): string => {
    const st = lstatSync(join(ws.target, p));
    return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
  };
  assert.equal(meta("home/app"), "1000:1000 750");
  assert.equal(meta("home/app/notes"), "1000:1000 640");
  assert.equal(lstatSync(join(ws.target, "home/app/link")).uid, 1000, "symlinks are chowned themselves");
  assert.equal(lstatSync(join(ws.target, "home/app/link")).gid, 1001);
  assert.equal(meta("usr/bin/su"), "0:0 4755");
  assert.equal(meta("usr/bin/chage"), "0:42 2755");
  assert.equal(meta("tmp"), "0:0 1777");
  assert.equal(meta("usr"), "0:0 755", "implicit parents: root's, 0755");
  assert.equal(readFileSync(join(ws.target, "home/app/notes"), "utf8"), "rewritten");
});

test("xattrs from a GNU tar --xattrs layer: binary capability and user.* applied, trusted.* skipped", async (t) => {
  const ws = workspace(t);
  const src = join(ws.dir, "src");
  mkdirSync(join(src, "bin"), { recursive: true });
  writeFileSync(join(src, "bin/tool"), "tool");
  symlinkSync("tool", join(src, "bin/alias"));
  // cap_setfcap is bit 31: its v2 blob holds a 0x80 byte, which a UTF-8 round trip would mangle.
  execFileSync("setcap", ["cap_setfcap,cap_net_raw+ep", join(src, "bin/tool")]);
  const setx = "import os,sys\nos.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))";
  execFileSync("python3", ["-c", setx, join(src, "bin/tool"), "user.note", "ff006f6b"]);
  execFileSync("python3", ["-c", setx, join(src, "bin"), "trusted.overlay.opaque", "79"]);
  const capHex = xattrHex(join(src, "bin/tool"), "security.capability");
  assert.ok(capHex?.includes("80"), `the capability blob has a high byte: ${capHex}`);
  const layer = execFileSync("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-cf", "-", "-C", src, "."], { maxBuffer: 1 << 26 });
  await writeOciArchive(ws.archive, { layers: [layer] });
  const result = await unpackOciArchive(ws.archive, ws.target, OPTS);
  const tool = join(ws.target, "bin/tool");
  assert.equal(xattrHex(tool, "security.capability"), capHex);
  assert.match(execFileSync("getcap", [tool], { encoding: "utf8" }), /cap_net_raw,cap_setfcap=ep/);
  assert.equal(xattrHex(tool, "user.note"), "ff006f6b");
  assert.equal(xattrHex(join(ws.target, "bin"), "trusted.overlay.opaque"), null);
  assert.equal(result.skipped.xattrs, 1);
  assert.equal(lstatSync(join(ws.target, "bin/alias")).isSymbolicLink(), true);
});
