import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { OciImageConfig } from "../image/oci-config.js";
import { decodeImageDefaults, encodeImageDefaults, imageDefaults } from "./image-defaults.js";
import { processEnv, resolveCwd } from "./process-env.js";

const config = (over: Partial<OciImageConfig>): OciImageConfig => ({
  os: "linux",
  architecture: "amd64",
  variant: null,
  env: {},
  workingDir: null,
  user: null,
  entrypoint: [],
  cmd: [],
  diffIds: [],
  ...over,
});

describe("image defaults", () => {
  it("keep Env a sandbox env can hold, the WorkingDir normalised and the resolved User", () => {
    const d = imageDefaults(config({ env: { PATH: "/bin", "bad.name": "x", GOOD_1: "y" }, workingDir: "/srv/../app/", user: "svc:staff" }), {
      uid: 1234,
      gid: 50,
      home: "/srv/svc",
    });
    assert.deepEqual(d, { env: { PATH: "/bin", GOOD_1: "y" }, workingDir: "/app", user: { name: "svc", uid: 1234, gid: 50, home: "/srv/svc" } });
    assert.deepEqual(decodeImageDefaults(encodeImageDefaults(d)), d);
  });

  it("without a User, commands run as Atoll's app; a user without a home gets /", () => {
    assert.equal(imageDefaults(config({}), { uid: 0, gid: 0, home: "/root" }).user, null);
    assert.equal(imageDefaults(config({ user: "4000" }), { uid: 4000, gid: 0, home: null }).user?.home, "/");
  });

  it("a stored config is re-checked: ids outside the sandbox's range, relative dirs and bad JSON are dropped", () => {
    const stored = JSON.stringify({ env: { A: "1", "B-C": "2", D: 3 }, workingDir: "rel", user: { name: "x", uid: 65536, gid: 0, home: "/" } });
    assert.deepEqual(decodeImageDefaults(stored), { env: { A: "1" }, workingDir: null, user: null });
    assert.equal(decodeImageDefaults("{not json"), undefined);
    assert.equal(decodeImageDefaults(null), undefined);
  });

  it("the image user's name and home replace app's in a command's env; the sandbox's and command's env still win", () => {
    const env = processEnv("app", { HOME: "/override" }, { X: "1" }, false, { name: "svc", home: "/srv/svc" });
    assert.equal(env.USER, "svc");
    assert.equal(env.LOGNAME, "svc");
    assert.equal(env.HOME, "/override");
    assert.equal(resolveCwd(undefined, "/srv/app"), "/srv/app");
    assert.equal(resolveCwd("sub", "/srv/app"), "/srv/app/sub");
    assert.equal(resolveCwd(undefined), "/home/app");
  });
});
