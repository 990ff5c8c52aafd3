import assert from "node:assert/strict";
import { test } from "node:test";
import { statusOf } from "./error-codes.js";
import { ERRNO, fsErrorFromErrno, parseErrnoReport } from "./fs-errno.js";
import { FileSystemError, NotFoundError, errorFromWire } from "./errors.js";

test("every errno a file operation reports maps to its code and status", () => {
  const cases: [number, string, number][] = [
    [ERRNO.ENOENT, "NOT_FOUND", 404],
    [ERRNO.EEXIST, "ALREADY_EXISTS", 409],
    [ERRNO.EACCES, "PERMISSION_DENIED", 403],
    [ERRNO.EPERM, "PERMISSION_DENIED", 403],
    [ERRNO.EROFS, "READ_ONLY", 403],
    [ERRNO.ENOSPC, "NO_SPACE", 507],
    [ERRNO.EDQUOT, "NO_SPACE", 507],
    [ERRNO.EISDIR, "IS_A_DIRECTORY", 409],
    [ERRNO.ENOTDIR, "NOT_A_DIRECTORY", 409],
    [ERRNO.ENOTEMPTY, "DIRECTORY_NOT_EMPTY", 409],
    [ERRNO.ELOOP, "INVALID_ARGUMENT", 400],
    [ERRNO.EXDEV, "INVALID_ARGUMENT", 400],
    [ERRNO.EIO, "HOST_ERROR", 500],
  ];
  for (const [errno, code, status] of cases) {
    const e = fsErrorFromErrno({ errno, syscall: "open", path: "/x/y" }, 'user "app"');
    assert.equal(e.code, code, `errno ${errno}`);
    assert.equal(e.status, status);
    assert.equal(statusOf(e.toWire().code), status);
    assert.equal(e.details?.path, "/x/y");
    assert.ok(e.message.includes("/x/y"));
  }
});

test("file errors round-trip through the wire as typed classes", () => {
  const ro = fsErrorFromErrno({ errno: ERRNO.EROFS, syscall: "open", path: "/data/x" });
  const back = errorFromWire({ error: ro.toWire() }, 403);
  assert.ok(back instanceof FileSystemError);
  assert.equal((back as FileSystemError).path, "/data/x");
  assert.ok(errorFromWire({ error: fsErrorFromErrno({ errno: ERRNO.ENOENT, syscall: "stat", path: "/a" }).toWire() }, 404) instanceof NotFoundError);
});

test("ENOSPC from a filesystem without free inodes says out of inodes, not out of space", () => {
  const report = parseErrnoReport('{"errno":28,"syscall":"open","path":"/data/f","outOfInodes":true}');
  assert.equal(report.outOfInodes, true);
  const e = fsErrorFromErrno(report);
  assert.equal(e.code, "NO_SPACE");
  assert.match(e.message, /^Out of inodes for \/data\/f: /);
  assert.equal(e.details?.outOfInodes, true);
  const space = fsErrorFromErrno(parseErrnoReport('{"errno":28,"syscall":"write","path":"/data/f"}'));
  assert.match(space.message, /^No space left for \/data\/f/);
  assert.equal(space.details?.outOfInodes, undefined);
  assert.equal(parseErrnoReport('{"errno":28,"syscall":"open","path":"/a","outOfInodes":"yes"}').outOfInodes, undefined, "only true counts");
});

test("parseErrnoReport accepts the helper's JSON and survives garbage", () => {
  assert.deepEqual(parseErrnoReport('{"errno":2,"syscall":"open","path":"/a"}'), { errno: 2, syscall: "open", path: "/a" });
  assert.equal(parseErrnoReport("not json").errno, ERRNO.EIO);
  assert.equal(parseErrnoReport('{"errno":"2"}').errno, ERRNO.EIO);
});
