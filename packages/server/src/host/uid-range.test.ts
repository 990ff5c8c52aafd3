import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import type { HostIds } from "./subid-files.js";
import { UidRangeError, findIdConflicts, firstFreeBase, planUidBase } from "./uid-range.js";

const DEFAULT = DEFAULT_UID_BASE;

function host(parts: Partial<HostIds> = {}): HostIds {
  return { dir: "/etc", subuid: [], subgid: [], users: [{ name: "root", id: 0 }], groups: [{ name: "root", id: 0 }], ...parts };
}
/** A stock Debian host after `useradd alice`. */
const ALICE = host({ subuid: [{ owner: "alice", start: 100000, count: 65536 }], subgid: [{ owner: "alice", start: 100000, count: 65536 }] });

test("the default range overlaps none of the usual allocations", () => {
  assert.equal(DEFAULT, 0x70000000);
  assert.ok(DEFAULT > 600100000 + 65536, "above useradd's SUB_UID_MAX");
  assert.ok(DEFAULT > 1879048191, "above systemd-nspawn's container range");
  assert.ok(DEFAULT + 131072 <= 0x7ffe0000, "below systemd's foreign range and Podman's containers range");
  assert.deepEqual(findIdConflicts(DEFAULT, ALICE), []);
});

test("findIdConflicts names subuid and subgid holders, users, groups and a user called atoll", () => {
  assert.deepEqual(findIdConflicts(100000, ALICE), [
    "/etc/subuid gives alice 100000–165535 (usermod --del-subuids 100000-165535 alice)",
    "/etc/subgid gives alice 100000–165535 (usermod --del-subgids 100000-165535 alice)",
  ]);
  // The range is 131072 ids: the user-namespace owners above the sandbox ids count too.
  assert.equal(findIdConflicts(100000, host({ subuid: [{ owner: "bob", start: 231071, count: 1 }] })).length, 1);
  assert.equal(findIdConflicts(100000, host({ subuid: [{ owner: "bob", start: 231072, count: 65536 }] })).length, 0);
  assert.equal(findIdConflicts(100000, host({ subuid: [{ owner: "atoll", start: 100000, count: 131072 }] })).length, 0, "our own reservation");
  assert.match(findIdConflicts(DEFAULT, host({ users: [{ name: "ldapuser", id: DEFAULT + 5 }] }))[0]!, /user ldapuser has uid 1879048197/);
  assert.match(findIdConflicts(DEFAULT, host({ groups: [{ name: "big", id: DEFAULT + 70000 }] }))[0]!, /group big has gid/);
  assert.match(findIdConflicts(DEFAULT, host({ users: [{ name: "atoll", id: 990 }] }))[0]!, /user atoll \(uid 990\) exists/);
});

test("a new state directory gets the default range", () => {
  assert.deepEqual(planUidBase({ record: undefined, existingState: false, requested: undefined, host: ALICE }), {
    base: DEFAULT,
    reason: "default for a new state directory",
  });
});

test("an upgrade keeps base 100000 while no one holds it, and moves when someone does", () => {
  const keep = planUidBase({ record: undefined, existingState: true, requested: undefined, host: host() });
  assert.equal(keep.base, 100000);
  assert.equal(keep.from, undefined);
  const move = planUidBase({ record: undefined, existingState: true, requested: undefined, host: ALICE });
  assert.deepEqual([move.base, move.from], [DEFAULT, 100000]);
  assert.match(move.reason, /overlaps ids the host gave others/);
  // A recorded base behaves the same way.
  assert.deepEqual(planUidBase({ record: { base: 100000 }, existingState: true, requested: undefined, host: ALICE }).from, 100000);
  assert.equal(planUidBase({ record: { base: 300000 }, existingState: true, requested: undefined, host: ALICE }).base, 300000);
});

test("ATOLL_UID_BASE is used as asked, moves a recorded base, and is refused on an overlap with the fix", () => {
  assert.deepEqual(planUidBase({ record: { base: DEFAULT }, existingState: true, requested: 300000, host: ALICE }), {
    base: 300000,
    from: DEFAULT,
    reason: "ATOLL_UID_BASE",
  });
  // An earlier version that read ATOLL_UID_BASE made its files with that base: nothing to move.
  assert.equal(planUidBase({ record: undefined, existingState: true, requested: 300000, host: ALICE }).from, undefined);
  assert.throws(
    () => planUidBase({ record: undefined, existingState: false, requested: 100000, host: ALICE }),
    (err: unknown) =>
      err instanceof UidRangeError &&
      /100000–231071 \(ATOLL_UID_BASE\) overlaps/.test(err.message) &&
      /subuid gives alice 100000–165535/.test(err.message) &&
      /Fix: set ATOLL_UID_BASE=1879048192 .* or unset it/.test(err.message),
  );
  assert.throws(() => planUidBase({ record: { base: 100000 }, existingState: true, requested: 150000, host: host() }), /ranges overlap/);
  assert.throws(() => planUidBase({ record: undefined, existingState: false, requested: 1000, host: host() }), /ATOLL_UID_BASE must be an integer from 65536/);
});

test("the default taken too: refused, naming a free base; an interrupted move is finished first", () => {
  const taken = host({ subuid: [{ owner: "lxd", start: DEFAULT, count: 65536 }] });
  assert.throws(
    () => planUidBase({ record: undefined, existingState: false, requested: undefined, host: taken }),
    /gives lxd .*\nWhoever holds .*\nFix: set ATOLL_UID_BASE=1879113728 \(free/s,
  );
  assert.equal(firstFreeBase(taken), DEFAULT + 65536);
  const resume = planUidBase({ record: { base: 100000, movingTo: DEFAULT }, existingState: true, requested: undefined, host: host() });
  assert.deepEqual([resume.base, resume.from], [DEFAULT, 100000]);
  assert.throws(() => planUidBase({ record: { base: 100000, movingTo: DEFAULT }, existingState: true, requested: 300000, host: host() }), /unfinished/);
});
