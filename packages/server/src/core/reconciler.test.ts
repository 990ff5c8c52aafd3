/**
 * reconcileOnStart with live restore (issue 13), on the fakes: a sandbox whose runtime still
 * answers is adopted with its volumes' references; one whose deadline passed is ended with
 * `timeout`; one the runtime lost is stopped with `daemon-restart`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { AttachmentRepo } from "../store/attachment-repo.js";
import { SandboxRepo } from "../store/sandbox-repo.js";
import { VolumeRepo } from "../store/volume-repo.js";
import { startFakeDaemon } from "../testing/fakes/fake-daemon.js";
import { reconcileOnStart } from "./reconciler.js";

test("a restart adopts what still runs, ends what expired, stops what is gone", async () => {
  const d = await startFakeDaemon();
  try {
    const vol = (await d.request("POST", "/v1/volumes", { body: { name: "v", sizeGb: 1 } })).json() as { id: string };
    const create = async (body: object) => ((await d.request("POST", "/v1/sandboxes", { body })).json() as { id: string }).id;
    const kept = await create({ timeout: "10m", volumes: [{ id: vol.id, mountPath: "/a" }] });
    const keptToo = await create({ timeout: "10m", volumes: [{ id: vol.id, mountPath: "/b", accessMode: "ro" }] });
    const expired = await create({ timeout: "10m" });
    const lost = await create({ timeout: "10m" });
    const repo = new SandboxRepo(d.db);
    repo.setTimeout(expired, "1s", new Date(Date.now() - 1000).toISOString());
    d.runtime.sandboxes.delete(lost); // its shim is gone
    const r = await reconcileOnStart({
      sandboxes: repo,
      volumes: new VolumeRepo(d.db),
      attachments: new AttachmentRepo(d.db),
      runtime: d.runtime,
      storage: d.storage,
      logger: pino({ level: "silent" }),
    });
    assert.deepEqual(r.adopted.map((a) => a.row.id).sort(), [kept, keptToo].sort());
    assert.deepEqual({ volumes: r.adoptedVolumes, timedOut: r.timedOut, stopped: r.stopped }, { volumes: 1, timedOut: 1, stopped: 1 });
    assert.equal(d.storage.references(vol.id), 2, "one reference per adopted attachment");
    const state = (id: string) => {
      const row = repo.get("default", id)!;
      return `${row.state}${row.stopReason ? ` ${row.stopReason}` : ""}`;
    };
    assert.equal(state(kept), "running");
    assert.equal(state(expired), "stopped timeout");
    assert.equal(state(lost), "stopped daemon-restart");
    assert.equal(d.runtime.sandboxes.has(expired), false, "the expired sandbox's resources are released");
  } finally {
    await d.close();
  }
});
