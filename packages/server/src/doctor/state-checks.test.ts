import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostIds } from "../host/subid-files.js";
import { judgeDisk, judgeStateDir, judgeUidRange, searchableBy, traversalProblem } from "./state-checks.js";

const BASE = 1879048192;
const GIB = 2 ** 30;
const MIB = 2 ** 20;
const dir = (path: string, mode: number, uid = 0, gid = 0) => ({ path, mode: 0o40000 | mode, uid, gid });

test("searchableBy: owner, group or other x bit, whichever applies to the id", () => {
  assert.equal(searchableBy(dir("/var", 0o755), BASE), true);
  assert.equal(searchableBy(dir("/root", 0o700), BASE), false);
  // The state directory: 0710 root:BASE lets BASE pass, nobody else.
  assert.equal(searchableBy(dir("/var/lib/atoll", 0o710, 0, BASE), BASE), true);
  assert.equal(searchableBy(dir("/var/lib/atoll", 0o710, 0, BASE), BASE + 1), false);
  // A matching group without g+x blocks even with o+x (the kernel checks the group class only).
  assert.equal(searchableBy(dir("/x", 0o701, 0, BASE), BASE), false);
});

test("traversalProblem names the first blocking directory and the chmod", () => {
  assert.equal(traversalProblem([dir("/var/lib", 0o755), dir("/var", 0o755), dir("/", 0o755)], BASE, "x"), undefined);
  const v = traversalProblem([dir("/root/atoll", 0o755), dir("/root", 0o700), dir("/", 0o755)], BASE, "/root/atoll/native/build/atoll-init");
  assert.equal(v?.status, "fail");
  assert.match(v!.detail, /^\/root \(mode 700, owner 0:0\) keeps sandbox root/);
  assert.match(v!.fix!, /chmod o\+x \/root/);
});

test("state directory: read-only, full, not a directory, missing but creatable", () => {
  const parents = [dir("/var/lib", 0o755), dir("/var", 0o755), dir("/", 0o755)];
  const base = { stateDir: "/var/lib/atoll", parents, uidBase: BASE };
  assert.equal(
    judgeStateDir({ ...base, self: { isDirectory: true, mode: 0o40710, uid: 0, gid: BASE } }).detail,
    "/var/lib/atoll is writable (mode 0710 0:1879048192)",
  );
  assert.match(judgeStateDir({ ...base, self: { isDirectory: true, mode: 0o40755, uid: 0, gid: 0 } }).detail, /the daemon sets 0710 0:1879048192 at start/);

  const ro = judgeStateDir({ ...base, self: { isDirectory: true, mode: 0o40755, uid: 0, gid: 0 }, notWritable: "EROFS: read-only file system" });
  assert.equal(ro.status, "fail");
  assert.match(ro.detail, /cannot write \/var\/lib\/atoll: EROFS/);
  assert.match(ro.fix!, /remount that filesystem read-write/);

  const full = judgeStateDir({ ...base, self: { isDirectory: true, mode: 0o40755, uid: 0, gid: 0 }, notWritable: "ENOSPC: no space left on device" });
  assert.match(full.fix!, /free space/);

  assert.equal(judgeStateDir({ ...base, self: { isDirectory: false, mode: 0o100644, uid: 0, gid: 0 } }).status, "fail");

  assert.deepEqual(judgeStateDir({ ...base, ancestor: "/var/lib" }), { status: "ok", detail: "/var/lib/atoll will be created" });
  const roParent = judgeStateDir({ ...base, ancestor: "/var/lib", notWritable: "EROFS: read-only file system" });
  assert.match(roParent.detail, /cannot write \/var\/lib \(where \/var\/lib\/atoll would be created\)/);

  const hidden = judgeStateDir({ stateDir: "/root/atoll-state", parents: [dir("/root", 0o700), dir("/", 0o755)], uidBase: BASE, ancestor: "/root" });
  assert.equal(hidden.status, "fail");
  assert.match(hidden.fix!, /chmod o\+x \/root/);
});

test("free disk: full fails, below the reserve plus 1 GiB warns, else ok with the reserve", () => {
  const disk = { path: "/var/lib/atoll", totalBytes: 100 * GIB, freeInodes: 1_000_000, reserveBytes: undefined };
  assert.deepEqual(judgeDisk({ ...disk, availableBytes: 50 * GIB }), { status: "ok", detail: "50.0 GiB free under /var/lib/atoll, 5.00 GiB kept in reserve" });
  const low = judgeDisk({ ...disk, availableBytes: 5.5 * GIB });
  assert.equal(low.status, "warn");
  assert.match(low.detail, /only 512\.0 MiB left for volumes and sandbox roots/);
  assert.equal(judgeDisk({ ...disk, availableBytes: 4 * GIB }).status, "warn");
  const full = judgeDisk({ ...disk, availableBytes: 10 * MIB });
  assert.equal(full.status, "fail");
  assert.match(full.detail, /is full/);
  assert.equal(judgeDisk({ ...disk, availableBytes: 50 * GIB, freeInodes: 0 }).status, "fail");
  // An explicit --disk-reserve counts, and the fix says it can be lowered.
  const reserved = judgeDisk({ ...disk, availableBytes: 50 * GIB, reserveBytes: 49.5 * GIB });
  assert.equal(reserved.status, "warn");
  assert.match(reserved.fix!, /lower --disk-reserve/);
});

function host(parts: Partial<HostIds> = {}): HostIds {
  return { dir: "/etc", subuid: [], subgid: [], users: [], groups: [], ...parts };
}

test("sandbox id range: reserved is ok, free but unreserved warns, a refusal fails with its fix on one line", () => {
  const reservation = { owner: "atoll", start: BASE, count: 131072 };
  assert.equal(judgeUidRange({ base: BASE }, host({ subuid: [reservation], subgid: [reservation] })).status, "ok");
  const unreserved = judgeUidRange({ base: BASE }, host({ subuid: [reservation] }));
  assert.equal(unreserved.status, "warn");
  assert.match(unreserved.detail, /not reserved/);
  assert.match(
    judgeUidRange({ base: BASE, from: 100000 }, host({ subuid: [reservation], subgid: [reservation] })).detail,
    /moves the sandbox files from base 100000/,
  );

  const refused = judgeUidRange(
    {
      error:
        "Atoll's sandbox id range 100000–231071 (ATOLL_UID_BASE) overlaps ids this host gave others:\n  - /etc/subuid gives alice 100000–165535 (usermod --del-subuids 100000-165535 alice)\nWhoever holds a sandbox id can own every sandbox's files and processes, so the daemon does not start.\nFix: set ATOLL_UID_BASE=1879048192 (free: 1879048192–1879179263) or unset it, or take those ids away from their holders.",
    },
    host(),
  );
  assert.equal(refused.status, "fail");
  assert.equal(
    refused.detail,
    "Atoll's sandbox id range 100000–231071 (ATOLL_UID_BASE) overlaps ids this host gave others: /etc/subuid gives alice 100000–165535",
  );
  assert.match(refused.fix!, /^set ATOLL_UID_BASE=1879048192/);
});
