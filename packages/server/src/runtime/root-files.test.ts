import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { writeRootFiles } from "./root-files.js";

test("root files replace symlinks instead of following them, append to the image's file, refuse bad parents", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "atoll-rootfiles-"));
  try {
    const root = path.join(dir, "root");
    const outside = path.join(dir, "outside");
    writeFileSync(outside, "host file\n");
    mkdirSync(path.join(root, "etc/ssl"), { recursive: true });
    symlinkSync(outside, path.join(root, "etc/resolv.conf"));
    writeFileSync(path.join(root, "etc/ssl/bundle.crt"), "SYSTEM CAS");
    symlinkSync(dir, path.join(root, "linkdir"));
    const uid = process.getuid!();
    await writeRootFiles(
      root,
      [
        { path: "/etc/resolv.conf", content: "nameserver 10.73.0.1\n" },
        { path: "/etc/ssl/bundle.crt", content: "SANDBOX CA\n", appendToImage: true },
      ],
      uid,
    );
    assert.equal(readFileSync(outside, "utf8"), "host file\n", "the symlink's target is untouched");
    assert.ok(lstatSync(path.join(root, "etc/resolv.conf")).isFile());
    assert.equal(readFileSync(path.join(root, "etc/resolv.conf"), "utf8"), "nameserver 10.73.0.1\n");
    assert.equal(readFileSync(path.join(root, "etc/ssl/bundle.crt"), "utf8"), "SYSTEM CAS\nSANDBOX CA\n");
    await assert.rejects(writeRootFiles(root, [{ path: "/linkdir/x", content: "no" }], uid), /not a directory/);
    await assert.rejects(writeRootFiles(root, [{ path: "relative", content: "no" }], uid), /bad sandbox file path/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
