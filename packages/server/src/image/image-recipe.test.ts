import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { canonicalJson, debianArchitecture, defaultRecipe, hostAptSources, parseDeb822Sources, parseOneLineSources, recipeHash } from "./image-recipe.js";

const SUITES = new Set(["bookworm", "bookworm-updates", "bookworm-security"]);

test("canonicalJson sorts keys at every level", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: "s" } }), '{"a":{"c":"s","d":[2,{"x":0,"y":1}]},"b":1}');
});

test("recipeHash depends on content, not on where packages come from", () => {
  const a = defaultRecipe({ sources: [] });
  const b = defaultRecipe({ sources: ["deb http://mirror.example/debian bookworm main"] });
  assert.equal(recipeHash(a), recipeHash(b));
  assert.match(recipeHash(a), /^[0-9a-f]{16}$/);
  assert.notEqual(recipeHash(defaultRecipe({ uidBase: 200000, sources: [] })), recipeHash(a));
  const more = defaultRecipe({ sources: [] });
  more.content.packages.push("make");
  assert.notEqual(recipeHash(more), recipeHash(a));
});

test("default recipe is bookworm minbase with user app 1000:1000", () => {
  const r = defaultRecipe({ sources: [] });
  assert.equal(r.content.suite, "bookworm");
  assert.equal(r.content.variant, "minbase");
  assert.deepEqual(r.content.user, { name: "app", uid: 1000, gid: 1000, home: "/home/app", shell: "/bin/bash" });
  assert.equal(r.content.uidBase, 1879048192, "0x70000000: outside useradd, LXD, nspawn and Podman ranges");
  for (const p of ["bash", "coreutils", "ca-certificates", "curl", "git", "procps", "python3", "python3-venv", "sqlite3"]) {
    assert.ok(r.content.packages.includes(p), p);
  }
});

test("parseDeb822Sources keeps deb entries of the wanted suites", () => {
  const text = [
    "Types: deb",
    "# a comment",
    "URIs: http://deb.debian.org/debian",
    "Suites: bookworm bookworm-updates",
    "Components: main",
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
    "",
    "Types: deb deb-src",
    "URIs: http://deb.debian.org/debian-security",
    "Suites: bookworm-security",
    "Components: main contrib",
    "",
    "Types: deb",
    "URIs: http://deb.debian.org/debian",
    "Suites: trixie",
    "Components: main",
    "",
    "Enabled: no",
    "Types: deb",
    "URIs: http://disabled.example/debian",
    "Suites: bookworm",
    "Components: main",
  ].join("\n");
  assert.deepEqual(parseDeb822Sources(text, SUITES), [
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main contrib",
  ]);
});

test("parseOneLineSources skips options, comments, deb-src and other suites", () => {
  const text = [
    "# deb http://old.example/debian bookworm main",
    "deb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main contrib",
    "deb-src http://ftp.example/debian bookworm main",
    "deb http://archive.ubuntu.com/ubuntu noble main",
    "deb http://ftp.example/debian bookworm-security main # trailing",
  ].join("\n");
  assert.deepEqual(parseOneLineSources(text, SUITES), [
    "deb http://ftp.example/debian bookworm main contrib",
    "deb http://ftp.example/debian bookworm-security main",
  ]);
});

test("hostAptSources returns [] when the host has no source for the suite (Ubuntu)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-recipe-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "sources.list"), "deb http://archive.ubuntu.com/ubuntu noble main\n");
  assert.deepEqual(hostAptSources("bookworm", { deb822: [join(dir, "missing.sources")], oneLine: [join(dir, "sources.list")] }), []);
});

test("debianArchitecture maps node names", () => {
  assert.equal(debianArchitecture("x64"), "amd64");
  assert.equal(debianArchitecture("arm64"), "arm64");
  assert.throws(() => debianArchitecture("mips"), /unsupported architecture/);
});
