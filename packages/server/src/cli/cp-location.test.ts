import assert from "node:assert/strict";
import { test } from "node:test";
import { intoDirectory, parseLocation } from "./cp-location.js";

test("locations: volume, sandbox, stdio, local", () => {
  assert.deepEqual(parseLocation("volume:cache:/models"), { kind: "volume", name: "cache", path: "/models" });
  assert.deepEqual(parseLocation("volume:cache:"), { kind: "volume", name: "cache", path: "/" });
  assert.deepEqual(parseLocation("sbx_12ab:out/x"), { kind: "sandbox", id: "sbx_12ab", path: "out/x" });
  assert.deepEqual(parseLocation("sbx_12ab:"), { kind: "sandbox", id: "sbx_12ab", path: "/home/app" });
  assert.deepEqual(parseLocation("-"), { kind: "stdio" });
  assert.deepEqual(parseLocation("./a:b"), { kind: "local", path: "./a:b" });
  assert.deepEqual(parseLocation("/tmp/a:b"), { kind: "local", path: "/tmp/a:b" });
  assert.deepEqual(parseLocation("plain"), { kind: "local", path: "plain" });
  assert.throws(() => parseLocation("volume:nocolon"), /volume:NAME:path/);
});

test("into an existing directory: the source's last name", () => {
  assert.equal(intoDirectory("/dst/", "/a/b/"), "/dst/b");
  assert.equal(intoDirectory("dst", "file.txt"), "dst/file.txt");
  assert.throws(() => intoDirectory("dst", "/"), /full path/);
});
