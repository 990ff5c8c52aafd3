/**
 * FileService's decisions, through the FilesDriver seam with no host: a driver that answers the
 * helper's record protocol in process (testing/fakes/canned-files-driver.ts) and records where
 * each run went. The real helper and the bubblewrap driver are covered by e2e/files-*.itest.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConflictError, NotFoundError } from "atoll/contract";
import pino from "pino";
import { KeyedMutex } from "../host/keyed-mutex.js";
import { type CannedAnswer, cannedFilesDriver } from "../testing/fakes/canned-files-driver.js";
import type { RuntimeSandbox, StorageDriver } from "./drivers.js";
import { FileService, type FsPlace } from "./file-service.js";
import { LiveSandboxes } from "./live-sandboxes.js";
import type { SandboxService } from "./sandbox-service.js";
import type { VolumeService } from "./volume-service.js";

/** A FileService over one running sandbox `sbx_run`, one stopped `sbx_off`, one volume `vol_1` ("cache"). */
function setup(answer: CannedAnswer = {}) {
  const fake = cannedFilesDriver(answer);
  const live = new LiveSandboxes();
  live.add({
    id: "sbx_run",
    tenant: "t",
    runtime: { id: "sbx_run" } as RuntimeSandbox,
    timer: undefined,
    sessions: new Set(),
    everHadSession: false,
    stopping: false,
  });
  const sandboxes = {
    assertRunning: (_tenant: string, id: string) => {
      if (id === "sbx_off") throw new ConflictError("SANDBOX_NOT_RUNNING", "stopped", { sandboxId: id });
      if (id !== "sbx_run") throw new NotFoundError("SANDBOX_NOT_FOUND", "none", { sandboxId: id });
    },
  } as unknown as SandboxService;
  const volumes = {
    find: (_tenant: string, idOrName: string) => {
      if (idOrName !== "vol_1" && idOrName !== "cache") throw new NotFoundError("VOLUME_NOT_FOUND", "none", { volume: idOrName });
      return { id: "vol_1", name: "cache" };
    },
  } as unknown as VolumeService;
  const held: string[] = [];
  const storage = {
    acquire: async (id: string) => {
      held.push(id);
      return `/run/volumes/${id}`;
    },
    release: async (id: string) => void held.splice(held.indexOf(id), 1),
  } as unknown as StorageDriver;
  const files = new FileService({ sandboxes, live, volumes, storage, locks: new KeyedMutex(), driver: fake.driver, logger: pino({ level: "silent" }) });
  return { files, fake, held };
}

const sandbox = (id: string, user: "app" | "root" = "app"): FsPlace => ({ kind: "sandbox", tenant: "t", id, user });
const volume = (id: string, user: "app" | "root" = "app"): FsPlace => ({ kind: "volume", tenant: "t", id, user });

test("sandbox: the helper runs in the sandbox as the user asked, relative paths from /home/app", async () => {
  const { files, fake } = setup({ result: { path: "/home/app/x" } });
  assert.deepEqual(await files.op(sandbox("sbx_run", "root"), { op: "realPath", path: "x" }), { path: "/home/app/x" });
  await files.op(sandbox("sbx_run"), { op: "rename", from: "/abs", to: "rel/y" });
  await files.op(sandbox("sbx_run"), { op: "makeTempDir", prefix: "p", suffix: "" });
  assert.deepEqual(fake.runs, [
    { where: "sandbox sbx_run as root", argv: ["realpath", "/home/app/x"] },
    { where: "sandbox sbx_run as app", argv: ["rename", "/abs", "/home/app/rel/y"] },
    { where: "sandbox sbx_run as app", argv: ["mktemp", "d", "/tmp", "p", ""] },
  ]);
});

test("sandbox: one that does not run is refused before any helper starts", async () => {
  const { files, fake } = setup();
  await assert.rejects(files.op(sandbox("sbx_off"), { op: "stat", path: "x" }), { code: "SANDBOX_NOT_RUNNING" });
  await assert.rejects(files.readDir(sandbox("sbx_nope"), "/"), { code: "SANDBOX_NOT_FOUND" });
  assert.deepEqual(fake.runs, []);
});

test("volume: held for the run only, paths from its root, temp files at its root", async () => {
  const { files, fake, held } = setup({ result: { size: 3, type: "file" } });
  assert.deepEqual(await files.op(volume("cache"), { op: "stat", path: "docs/a" }), { size: 3, type: "file" });
  assert.deepEqual(held, [], "released once the helper is gone");
  await files.op(volume("vol_1"), { op: "makeTempFile", prefix: "p", suffix: ".s" });
  assert.deepEqual(fake.runs, [
    { where: "volume at /run/volumes/vol_1", argv: ["stat", "/docs/a"] },
    { where: "volume at /run/volumes/vol_1", argv: ["mktemp", "f", "/", "p", ".s"] },
  ]);
  assert.deepEqual(held, []);
});

test("volume: root is refused and an unknown volume is not found, with nothing acquired or run", async () => {
  const { files, fake, held } = setup();
  await assert.rejects(files.op(volume("cache", "root"), { op: "stat", path: "a" }), { code: "INVALID_ARGUMENT", message: /always handled as user "app"/ });
  await assert.rejects(files.op(volume("other"), { op: "stat", path: "a" }), { code: "VOLUME_NOT_FOUND" });
  assert.deepEqual(fake.runs, []);
  assert.deepEqual(held, []);
});

test("volume: a failed operation still releases it and carries the typed error", async () => {
  const { files, held } = setup({ errno: 2 }); // ENOENT;
  await assert.rejects(files.read(volume("cache"), "missing"), { code: "NOT_FOUND" });
  await assert.rejects(files.op(volume("cache"), { op: "remove", path: "gone", recursive: false }), { code: "NOT_FOUND" });
  assert.deepEqual(held, []);
});

test("shutdown closes the driver", () => {
  const { files, fake } = setup();
  files.shutdown();
  assert.equal(fake.closed(), 1);
});
