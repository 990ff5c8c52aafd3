/** Bad input to the volume API: a clear error with a stable code and a 4xx, and no partial state. */
import assert from "node:assert/strict";
import { readdirSync, statfsSync } from "node:fs";
import { test } from "node:test";
import { AtollError } from "atoll";
import { errorFromWire } from "atoll/contract";
import { expectCode, hostFootprint, useDaemon, volumeImagesDir } from "./e2e-helpers.js";

const ctx = useDaemon();

/** Everything a failed request must not have changed. */
async function snapshot() {
  return {
    volumes: (await ctx.client.listVolumes()).map((v) => v.id).sort(),
    sandboxes: (await ctx.client.listSandboxes()).map((s) => `${s.id}:${s.state}`).sort(),
    images: readdirSync(volumeImagesDir(ctx.daemon.stateDir)).sort(),
    host: hostFootprint(ctx.daemon.stateDir),
  };
}

/** POSTs `body` without the SDK and throws the daemon's error as the SDK would see it. */
async function rawPost(path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`${ctx.daemon.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ctx.daemon.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as unknown;
  if (!r.ok) throw errorFromWire(json, r.status);
  return json;
}

/** `call` runs only after the snapshot, so the request cannot race it. */
async function rejects(what: string, call: () => Promise<unknown>, code: string) {
  const before = await snapshot();
  const err = await expectCode(call(), code);
  assert.ok(err.status >= 400 && err.status < 500, `${what}: status ${err.status}`);
  assert.ok(err.message.length > 20, `${what}: message says what to do`);
  assert.deepEqual(await snapshot(), before, `${what}: nothing changed`);
}

test("createVolume refuses bad names and sizes", async () => {
  await ctx.client.createVolume({ name: "taken", sizeGb: 0.0625 });
  const cases: [string, unknown, string][] = [
    ["missing name", { sizeGb: 1 }, "INVALID_ARGUMENT"],
    ["empty name", { name: "", sizeGb: 1 }, "INVALID_ARGUMENT"],
    ["bad characters", { name: "My Volume", sizeGb: 1 }, "INVALID_ARGUMENT"],
    ["duplicate name", { name: "taken", sizeGb: 1 }, "VOLUME_NAME_TAKEN"],
    ["zero size", { name: "z", sizeGb: 0 }, "INVALID_ARGUMENT"],
    ["negative size", { name: "z", sizeGb: -2 }, "INVALID_ARGUMENT"],
    ["NaN size", { name: "z", sizeGb: Number.NaN }, "INVALID_ARGUMENT"],
    ["string size", { name: "z", sizeGb: "5" }, "INVALID_ARGUMENT"],
    ["beyond the bound", { name: "z", sizeGb: 4096 }, "INVALID_ARGUMENT"],
    ["unknown option", { name: "z", sizeGb: 1, fast: true }, "INVALID_ARGUMENT"],
  ];
  for (const [what, body, code] of cases) {
    await rejects(what, () => ctx.client.createVolume(body as never), code);
    // The daemon checks on its own too, whatever client sends the request (NaN travels as null).
    await rejects(`${what} (raw HTTP)`, () => rawPost("/v1/volumes", body), code);
  }
  // Beyond the host's free disk (but within the 1024 GiB bound, where this host allows it).
  const fs = statfsSync(ctx.daemon.stateDir);
  const freeGb = (fs.bavail * fs.bsize) / 2 ** 30;
  if (freeGb + 1 <= 1024) {
    await rejects("beyond free disk", () => ctx.client.createVolume({ name: "z", sizeGb: Math.ceil(freeGb + 1) }), "INSUFFICIENT_STORAGE");
  }
});

test("Sandbox.create with bad volumes creates nothing", async () => {
  const volume = await ctx.client.createVolume({ name: "mounts", sizeGb: 0.0625 });
  const other = await ctx.client.createVolume({ name: "mounts2", sizeGb: 0.0625 });
  const cases: [string, unknown, string][] = [
    ["unknown volume", [{ id: "vol_doesnotexist", mountPath: "/mnt/x" }], "VOLUME_NOT_FOUND"],
    ["relative path", [{ id: volume.id, mountPath: "mnt/x" }], "INVALID_ARGUMENT"],
    ["root", [{ id: volume.id, mountPath: "/" }], "INVALID_ARGUMENT"],
    ["under /proc", [{ id: volume.id, mountPath: "/proc/x" }], "INVALID_ARGUMENT"],
    ["under /etc", [{ id: volume.id, mountPath: "/etc" }], "INVALID_ARGUMENT"],
    ["under /usr", [{ id: volume.id, mountPath: "/usr/local/x" }], "INVALID_ARGUMENT"],
    ["not normalised", [{ id: volume.id, mountPath: "/mnt/../x" }], "INVALID_ARGUMENT"],
    ["trailing slash", [{ id: volume.id, mountPath: "/mnt/x/" }], "INVALID_ARGUMENT"],
    ["bad accessMode", [{ id: volume.id, mountPath: "/mnt/x", accessMode: "readonly" }], "INVALID_ARGUMENT"],
    [
      "same path twice",
      [
        { id: volume.id, mountPath: "/mnt/x" },
        { id: other.id, mountPath: "/mnt/x" },
      ],
      "INVALID_ARGUMENT",
    ],
    [
      "nested paths",
      [
        { id: volume.id, mountPath: "/mnt/x" },
        { id: other.id, mountPath: "/mnt/x/y" },
      ],
      "INVALID_ARGUMENT",
    ],
    [
      "same volume twice",
      [
        { id: volume.id, mountPath: "/a" },
        { id: volume.id, mountPath: "/b" },
      ],
      "INVALID_ARGUMENT",
    ],
  ];
  for (const [what, volumes, code] of cases) {
    await rejects(what, () => ctx.client.createSandbox({ volumes } as never), code);
    await rejects(`${what} (raw HTTP)`, () => rawPost("/v1/sandboxes", { volumes }), code);
  }
});

test("detach and delete twice, attach to a killed sandbox, bad hot-attach input", async () => {
  const volume = await ctx.client.createVolume({ name: "twice", sizeGb: 0.0625 });
  const other = await ctx.client.createVolume({ name: "twice-b", sizeGb: 0.0625 });
  const sb = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/t" }] });
  await rejects("attach the same volume again", () => sb.attachVolume({ id: volume.id, mountPath: "/t2" }), "VOLUME_ALREADY_ATTACHED");
  await rejects("attach over an existing mount", () => sb.attachVolume({ id: other.id, mountPath: "/t/inner" }), "MOUNT_PATH_CONFLICT");
  await rejects("attach at a system path", () => sb.attachVolume({ id: other.id, mountPath: "/etc/x" }), "INVALID_ARGUMENT");
  await rejects("attach an unknown volume", () => sb.attachVolume({ id: "nope", mountPath: "/n" }), "VOLUME_NOT_FOUND");
  await sb.detachVolume(volume.id);
  await rejects("detach twice", () => sb.detachVolume(volume.id), "VOLUME_NOT_ATTACHED");
  await sb.kill();
  await rejects("attach to a killed sandbox", () => sb.attachVolume({ id: volume.id, mountPath: "/t" }), "SANDBOX_NOT_RUNNING");
  await ctx.client.deleteVolume(volume.id);
  await rejects("delete twice", () => ctx.client.deleteVolume(volume.id), "VOLUME_NOT_FOUND");
  await ctx.client.deleteVolume(other.id);
});

test("errors are Atoll errors with a code on the wire too", async () => {
  const r = await fetch(`${ctx.daemon.url}/v1/volumes`, {
    method: "POST",
    headers: { authorization: `Bearer ${ctx.daemon.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "x", sizeGb: "big" }),
  });
  assert.equal(r.status, 400);
  const body = (await r.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "INVALID_ARGUMENT");
  assert.match(body.error.message, /sizeGb/);
  const unauth = await fetch(`${ctx.daemon.url}/v1/volumes`);
  assert.equal(unauth.status, 401);
  assert.equal(((await unauth.json()) as { error: { code: string } }).error.code, "UNAUTHORIZED");
  assert.ok(AtollError);
});
