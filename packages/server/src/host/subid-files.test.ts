import assert from "node:assert/strict";
import { test } from "node:test";
import { editSubidText, parseIdDatabase, parseSubidFile } from "./subid-files.js";

test("parseSubidFile reads owner:start:count lines and skips the rest", () => {
  const text = "alice:100000:65536\n# comment\n\nbob:165536:65536\nbroken:x:1\n1000:231072:10\nzero:1:0\n";
  assert.deepEqual(parseSubidFile(text), [
    { owner: "alice", start: 100000, count: 65536 },
    { owner: "bob", start: 165536, count: 65536 },
    { owner: "1000", start: 231072, count: 10 },
  ]);
});

test("parseIdDatabase reads the name and id of passwd and group lines", () => {
  assert.deepEqual(parseIdDatabase("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/sbin/nologin\n+@nis\n"), [
    { name: "root", id: 0 },
    { name: "nobody", id: 65534 },
  ]);
  assert.deepEqual(parseIdDatabase("sudo:x:27:alice\n"), [{ name: "sudo", id: 27 }]);
});

test("editSubidText adds an entry once, removes old ones and keeps every other line", () => {
  const entry = { owner: "atoll", start: 1879048192, count: 131072 };
  const before = "alice:100000:65536\nsomething odd\n";
  const after = editSubidText(before, entry);
  assert.equal(after, "alice:100000:65536\nsomething odd\natoll:1879048192:131072\n");
  assert.equal(editSubidText(after, entry), after, "idempotent");
  assert.equal(editSubidText("", entry), "atoll:1879048192:131072\n");
  assert.equal(editSubidText("atoll:100000:131072\nbob:1:2", entry, [{ owner: "atoll", start: 100000, count: 131072 }]), "bob:1:2\natoll:1879048192:131072\n");
  assert.equal(editSubidText("alice:100000:65536\n", undefined, [{ owner: "alice", start: 100000, count: 65536 }]), "");
});
