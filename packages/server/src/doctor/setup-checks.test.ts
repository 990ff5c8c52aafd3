import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeImage, judgeListen, judgeNative, judgeNode, judgeSqlite } from "./setup-checks.js";

test("Node.js 20 or newer", () => {
  assert.equal(judgeNode("20.20.2").status, "ok");
  assert.equal(judgeNode("22.1.0").status, "ok");
  assert.equal(judgeNode("18.19.0").status, "fail");
});

test("SQLite addon: a load error says how to rebuild it", () => {
  assert.equal(judgeSqlite(undefined).status, "ok");
  const v = judgeSqlite("Could not locate the bindings file.");
  assert.equal(v.status, "fail");
  assert.match(v.fix!, /npm rebuild better-sqlite3/);
});

test("native helpers: missing ones say npm run build; a blocked path is reported", () => {
  assert.equal(judgeNative("/n", [], { ok: true, stdout: "", stderr: "" }, undefined).status, "ok");
  const missing = judgeNative("/n", ["atoll-launch"], undefined, undefined);
  assert.equal(missing.detail, "atoll-launch missing in /n");
  assert.match(missing.fix!, /npm run build/);
  const broken = judgeNative("/n", [], { ok: false, error: "error while loading shared libraries: libseccomp.so.2", stdout: "", stderr: "" }, undefined);
  assert.match(broken.fix!, /libseccomp2/);
  const blocked = { status: "fail" as const, detail: "/root keeps sandbox root out", fix: "chmod o+x /root" };
  assert.deepEqual(judgeNative("/n", [], { ok: true, stdout: "", stderr: "" }, blocked), blocked);
});

test("base image: built is ok; derivable or buildable warns; nothing to build it with fails", () => {
  assert.equal(judgeImage({ imagesDir: "/i", ready: "/i/abc" }).status, "ok");
  assert.match(judgeImage({ imagesDir: "/i", derivableFrom: "/i/def" }).detail, /derives it from \/i\/def/);
  const build = judgeImage({ imagesDir: "/i", bootstrapTool: "mmdebstrap" });
  assert.equal(build.status, "warn");
  assert.match(build.fix!, /atoll image build/);
  const none = judgeImage({ imagesDir: "/i" });
  assert.equal(none.status, "fail");
  assert.match(none.fix!, /apt-get install mmdebstrap/);
});

test("API address: port 0 skipped, another daemon warns, another program fails", () => {
  assert.equal(judgeListen({ port: 0 }).status, "skip");
  assert.equal(judgeListen({ address: "127.0.0.1:7420" }).status, "ok");
  assert.equal(judgeListen({ address: "127.0.0.1:7420", error: "EADDRINUSE", atollAnswers: true }).status, "warn");
  const taken = judgeListen({ address: "127.0.0.1:7420", error: "EADDRINUSE", atollAnswers: false });
  assert.equal(taken.status, "fail");
  assert.match(taken.fix!, /--listen/);
  assert.match(judgeListen({ address: "10.9.9.9:7420", error: "EADDRNOTAVAIL" }).detail, /no such address/);
});
