/**
 * Crash consistency at every step (issue 13, docs/testing.md "Crash points"). For each point of
 * CRASH_POINTS: a daemon makes a volume with data and stops; a daemon armed with
 * ATOLL_CRASH_AT=<point> gets the request that passes the point and dies by SIGKILL there; a
 * plain daemon starts on the same state directory. Then the invariants of crash-invariants.ts
 * must hold, no volume is lost, the retried request succeeds, and after a clean stop nothing of
 * the state directory is left on the host. One row per point is printed as a table.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { after, test } from "node:test";
import { AtollError, Client } from "atoll";
import { CRASH_POINTS, type CrashPointName } from "../crash-points.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { ociLayoutMembers, outerTar } from "../testing/oci-fixture.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { processTree, readStore, runningSandboxProblems, storeProblems, takeSurvivors, unownedResources, volumeProblems } from "./crash-invariants.js";

/** Small volumes: every point makes a few. */
const SIZE_GB = 0.0625;
/** The volume every point starts with; its data must survive every crash. */
const KEEP = "keep";
const KEEP_DATA = "kept across the crash";

interface Ctx {
  client: Client;
  /** Set by a scenario's setup: the sandbox its request works on. */
  sandboxId?: string;
}

interface Scenario {
  /** What the request is, for the table. */
  request: string;
  /** Makes what the request needs, on the armed daemon (passing no armed point). */
  setup?(c: Ctx): Promise<void>;
  /** The request that passes the point. */
  send(c: Ctx): Promise<unknown>;
  /** The same request again after the restart; resolves to what it did (for the table), or throws. */
  retry(c: Ctx): Promise<string>;
  /** Volumes the request removes (a delete): they need not survive. */
  removes?: string;
}

const codeOf = (err: unknown) => (err instanceof AtollError ? err.code : undefined);
const isRunning = async (c: Ctx) => (await c.client.getSandbox(c.sandboxId!)).state === "running";

/**
 * A bystander holding keep read-only, so the volume's host mount has two holders when the
 * request changes one: a restart that adopts sandboxes must leave the bystander's mount working.
 */
async function bystander(c: Ctx): Promise<void> {
  await (await c.client.createSandbox({ timeout: "5m", volumes: [{ id: KEEP, mountPath: "/shared", accessMode: "ro" }] })).close();
}

async function sandboxWithKeep(c: Ctx): Promise<void> {
  await bystander(c);
  const sb = await c.client.createSandbox({ timeout: "5m", volumes: [{ id: KEEP, mountPath: "/keep" }] });
  c.sandboxId = sb.id;
  await sb.close();
}

const createSandbox: Scenario = {
  request: "create sandbox with keep at /keep",
  send: (c) => c.client.createSandbox({ timeout: "5m", volumes: [{ id: KEEP, mountPath: "/keep" }] }),
  async retry(c) {
    const sb = await c.client.createSandbox({ timeout: "5m", volumes: [{ id: KEEP, mountPath: "/keep" }] });
    try {
      assert.equal((await sb.sh`cat /keep/marker`.text()).trimEnd(), KEEP_DATA);
      return "created, keep readable";
    } finally {
      await sb.kill();
    }
  },
};

const attach: Scenario = {
  request: "hot attach keep at /keep (keep shared ro)",
  async setup(c) {
    await bystander(c);
    const sb = await c.client.createSandbox({ timeout: "5m" });
    c.sandboxId = sb.id;
    await sb.close();
  },
  async send(c) {
    const sb = await c.client.connectSandbox(c.sandboxId!);
    return sb.attachVolume({ id: KEEP, mountPath: "/keep" });
  },
  async retry(c) {
    // The same sandbox if it lives on (adopted), else a new one: the volume must attach.
    const sb = (await isRunning(c)) ? await c.client.connectSandbox(c.sandboxId!) : await c.client.createSandbox({ timeout: "5m" });
    try {
      let did = "attached";
      try {
        await sb.attachVolume({ id: KEEP, mountPath: "/keep" });
      } catch (err) {
        // An attach that completed before the crash is fine if the daemon says so.
        const attachedHere = (await sb.info()).volumes.some((v) => v.mountPath === "/keep");
        if (codeOf(err) !== "VOLUME_ALREADY_ATTACHED" || !attachedHere) throw err;
        did = "already attached";
      }
      assert.equal((await sb.sh`cat /keep/marker`.text()).trimEnd(), KEEP_DATA);
      return sb.id === c.sandboxId ? `${did} (same sandbox)` : `${did} (new sandbox)`;
    } finally {
      await (sb.id === c.sandboxId ? sb.close() : sb.kill());
    }
  },
};

const detach: Scenario = {
  request: "hot detach keep (keep shared ro)",
  setup: sandboxWithKeep,
  async send(c) {
    const sb = await c.client.connectSandbox(c.sandboxId!);
    return sb.detachVolume(KEEP);
  },
  async retry(c) {
    // The bystander may hold keep too (if it was adopted): only this sandbox's attachment counts.
    const held = async () => (await c.client.getVolume(KEEP)).attachments.filter((a) => a.sandboxId === c.sandboxId);
    if (!(await isRunning(c))) {
      assert.deepEqual(await held(), [], "the stopped sandbox still holds keep");
      return "sandbox stopped; keep free";
    }
    const sb = await c.client.connectSandbox(c.sandboxId!);
    try {
      await sb.detachVolume(KEEP).catch((err: unknown) => {
        if (codeOf(err) !== "VOLUME_NOT_ATTACHED") throw err;
      });
      assert.deepEqual(await held(), []);
      return "detached";
    } finally {
      await sb.close();
    }
  },
};

const kill: Scenario = {
  request: "kill a sandbox holding keep (shared ro)",
  setup: sandboxWithKeep,
  send: (c) => c.client.killSandbox(c.sandboxId!),
  async retry(c) {
    const info = await c.client.killSandbox(c.sandboxId!);
    assert.equal(info.state, "stopped");
    return `stopped (${info.stopReason})`;
  },
};

const createVolume: Scenario = {
  request: 'create volume "fresh"',
  send: (c) => c.client.createVolume({ name: "fresh", sizeGb: SIZE_GB }),
  async retry(c) {
    const v = await c.client.createVolume({ name: "fresh", sizeGb: SIZE_GB });
    await v.fs.writeTextFile("marker", "fresh");
    assert.equal(await v.fs.readTextFile("marker"), "fresh");
    return "created, writable";
  },
};

/** Delete "doomed" (with a file; `force`: attached to a sandbox, deleted with force). */
function deleteVolume(force: boolean): Scenario {
  return {
    request: force ? 'force-delete "doomed", attached to a sandbox' : 'delete volume "doomed"',
    removes: "doomed",
    async setup(c) {
      const v = await c.client.createVolume({ name: "doomed", sizeGb: SIZE_GB });
      await v.fs.writeTextFile("marker", "doomed");
      if (force) await (await c.client.createSandbox({ timeout: "5m", volumes: [{ id: "doomed", mountPath: "/doomed" }] })).close();
    },
    send: (c) => c.client.deleteVolume("doomed", { force }),
    async retry(c) {
      let did = "deleted";
      await c.client.deleteVolume("doomed", { force }).catch((err: unknown) => {
        if (codeOf(err) !== "VOLUME_NOT_FOUND") throw err;
        did = "already gone";
      });
      assert.ok(!(await c.client.listVolumes()).some((v) => v.name === "doomed"), "doomed is still listed");
      return did;
    },
  };
}

const writeVolumeFile: Scenario = {
  request: "write a file on keep (volume.fs)",
  send: (c) => c.client.getVolume(KEEP).then((v) => v.fs.writeTextFile("second", "second")),
  async retry(c) {
    const v = await c.client.getVolume(KEEP);
    await v.fs.writeTextFile("second", "second");
    assert.equal(await v.fs.readTextFile("second"), "second");
    return "written, read back";
  },
};

/** keep's data as a volume made from snapshot `snapshot` sees it (the snapshot is usable). */
async function forkReads(c: Ctx, snapshot: string, name: string): Promise<string> {
  const fork = await c.client.createVolume({ name, sizeGb: SIZE_GB, from: snapshot });
  return fork.fs.readTextFile("marker");
}

const createSnapshot: Scenario = {
  request: 'snapshot "snap" of keep, attached rw and in use',
  setup: sandboxWithKeep,
  send: async (c) => (await c.client.getVolume(KEEP)).snapshot({ name: "snap" }),
  async retry(c) {
    let did = "taken";
    await (await c.client.getVolume(KEEP)).snapshot({ name: "snap" }).catch(async (err: unknown) => {
      // A snapshot that was finished before the crash is fine if it is listed ready.
      if (codeOf(err) !== "SNAPSHOT_NAME_TAKEN") throw err;
      did = "already taken";
    });
    assert.equal(await forkReads(c, "snap", "from-snap"), KEEP_DATA);
    // keep itself is not left frozen: the sandbox that holds it can still write.
    if (await isRunning(c)) {
      const sb = await c.client.connectSandbox(c.sandboxId!);
      try {
        await sb.sh`echo more > /keep/after-snapshot`.timeout(30_000);
      } finally {
        await sb.close();
      }
    }
    return `${did}, a fork reads keep's data`;
  },
};

const deleteSnapshot: Scenario = {
  request: 'delete snapshot "old" of keep',
  async setup(c) {
    await (await c.client.getVolume(KEEP)).snapshot({ name: "old" });
  },
  send: (c) => c.client.deleteSnapshot("old"),
  async retry(c) {
    let did = "deleted";
    await c.client.deleteSnapshot("old").catch((err: unknown) => {
      if (codeOf(err) !== "SNAPSHOT_NOT_FOUND") throw err;
      did = "already gone";
    });
    assert.ok(!(await c.client.listSnapshots()).some((s) => s.name === "old"), "old is still listed");
    return did;
  },
};

const forkVolume: Scenario = {
  request: 'create volume "fork" from a snapshot of keep',
  async setup(c) {
    await (await c.client.getVolume(KEEP)).snapshot({ name: "base" });
  },
  send: (c) => c.client.createVolume({ name: "fork", sizeGb: SIZE_GB, from: "base" }),
  async retry(c) {
    const fork = await c.client.createVolume({ name: "fork", sizeGb: SIZE_GB, from: "base" });
    assert.equal(await fork.fs.readTextFile("marker"), KEEP_DATA);
    return "forked, reads keep's data";
  },
};

/** A small OCI archive (a few files; the import does not boot it). */
const smallImage = async () =>
  outerTar(
    await ociLayoutMembers({
      layers: [
        [
          { name: "etc", type: "directory" },
          { name: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
          { name: "hello", content: "hi\n" },
        ],
      ],
      config: { Env: ["A=1"], WorkingDir: "/" },
    }),
  );

const importImage: Scenario = {
  request: 'import an OCI archive as snapshot "img"',
  send: async (c) => c.client.importImage(await smallImage(), { name: "img" }),
  async retry(c) {
    const snap = await c.client.importImage(await smallImage(), { name: "img" });
    assert.equal(snap.bootable, true);
    assert.deepEqual(
      (await c.client.listSnapshots()).map((s) => s.name),
      ["img"],
      "only the retried import's snapshot is listed",
    );
    const fork = await c.client.createVolume({ name: "img-copy", sizeGb: snap.sizeGb, from: "img" });
    assert.equal(await fork.fs.readTextFile("/hello"), "hi\n");
    return "imported, a fork reads the image";
  },
};

/** Every point's scenario: a point without one does not compile, a stale one fails below. */
const SCENARIOS: Record<CrashPointName, Scenario> = {
  "sandbox.create.after-row": createSandbox,
  "sandbox.create.after-volume-refs": createSandbox,
  "sandbox.create.after-cgroup": createSandbox,
  "sandbox.create.after-scratch": createSandbox,
  "sandbox.create.after-overlay": createSandbox,
  "sandbox.create.after-network": createSandbox,
  "sandbox.create.after-volume-mounts": createSandbox,
  "sandbox.create.after-init-ready": createSandbox,
  "sandbox.create.before-running": createSandbox,
  "attach.after-host-mount": attach,
  "attach.after-row": attach,
  "attach.after-bind": attach,
  "detach.after-unbind": detach,
  "detach.after-row": detach,
  "kill.after-processes": kill,
  "kill.after-unmount": kill,
  "kill.after-scratch": kill,
  "kill.before-row": kill,
  "volume.create.after-row": createVolume,
  "volume.create.after-image": createVolume,
  "volume.create.after-mkfs": createVolume,
  "volume.create.before-ready": createVolume,
  "volume.delete.after-detach": deleteVolume(true),
  "volume.delete.after-deleting": deleteVolume(false),
  "volume.delete.after-image": deleteVolume(false),
  "volume.files.after-mount": writeVolumeFile,
  "snapshot.create.after-row": createSnapshot,
  "snapshot.create.while-frozen": createSnapshot,
  "snapshot.create.before-ready": createSnapshot,
  "snapshot.delete.after-deleting": deleteSnapshot,
  "snapshot.delete.after-image": deleteSnapshot,
  "volume.fork.after-clone": forkVolume,
  "image.import.after-unpack": importImage,
  "image.import.after-row": importImage,
  "image.import.after-fill": importImage,
  "image.import.before-ready": importImage,
};

interface Row {
  point: string;
  request: string;
  found: string;
  retry: string;
  result: "ok" | "FAILED";
}
const rows: Row[] = [];

after(() => {
  console.log("\nCrash points: kill -9 at each step, restart, check");
  console.table(rows);
});

const clientOf = (d: TestDaemon) => new Client({ url: d.url, token: d.token });

test("every crash point has a scenario", () => {
  assert.deepEqual(Object.keys(SCENARIOS).sort(), [...CRASH_POINTS].sort());
});

for (const point of CRASH_POINTS) {
  test(`crash at ${point}: restart agrees with the host, loses nothing, the retry succeeds`, async () => {
    const scenario = SCENARIOS[point];
    const row: Row = { point, request: scenario.request, found: "", retry: "", result: "FAILED" };
    rows.push(row);
    const stateDir = mkdtempSync("/var/tmp/atoll-crash-");
    const daemons: TestDaemon[] = [];
    try {
      // 1. A volume with data, made before the armed daemon (its create passes volume points).
      const first = await startTestDaemon({ stateDir });
      daemons.push(first);
      const keep = await clientOf(first).createVolume({ name: KEEP, sizeGb: SIZE_GB });
      await keep.fs.writeTextFile("marker", KEEP_DATA);
      assert.equal(await first.stop(), 0);

      // 2. The armed daemon dies at the point, during the request.
      const armed = await startTestDaemon({ stateDir, env: { ATOLL_CRASH_AT: point } });
      daemons.push(armed);
      const ctx: Ctx = { client: clientOf(armed) };
      await scenario.setup?.(ctx);
      const expected = new Map((await ctx.client.listVolumes()).map((v) => [v.name, v.name === KEEP ? KEEP_DATA : v.name]));
      if (scenario.removes) expected.delete(scenario.removes);
      const tree = processTree(armed.pid);
      assert.ok(tree.size > 0, "the armed daemon's helpers (host spawner, netd, lxcfs) were not found");
      const outcome = await scenario.send(ctx).then(
        () => "answered",
        (err: Error) => `failed: ${err.message}`,
      );
      const exit = await Promise.race([armed.exited, new Promise((r) => setTimeout(r, 30_000, undefined).unref())]);
      assert.deepEqual(exit, { code: null, signal: "SIGKILL" }, `the daemon did not die at ${point} (the request ${outcome})`);
      const survivors = takeSurvivors(stateDir, tree);

      // 3. A plain daemon on the same state directory.
      const second = await startTestDaemon({ stateDir });
      daemons.push(second);
      ctx.client = clientOf(second);
      const store = readStore(stateDir);
      const problems = [...storeProblems(stateDir, store), ...unownedResources(stateDir, store, survivors, second.pid)];
      problems.push(...(await runningSandboxProblems(ctx.client, store)));
      problems.push(...(await volumeProblems(ctx.client, expected)));
      const count = (state: string) => store.sandboxes.filter((s) => s.state === state).length;
      const reasons = [...new Set(store.sandboxes.map((s) => s.stopReason).filter(Boolean))].join(",");
      row.found =
        `${count("running")} running, ${count("stopped")} stopped${reasons ? ` (${reasons})` : ""}; ` +
        `volumes ${store.volumes.map((v) => v.name).join(",") || "none"}` +
        (problems.length > 0 ? `; ${problems.join("; ")}` : "");
      row.retry = await scenario.retry(ctx).then(
        (did) => `ok: ${did}`,
        (err: Error) => `FAILED: ${err.message.slice(0, 160)}`,
      );

      // 4. After a clean stop nothing of this state directory is left on the host.
      assert.equal(await second.stop(), 0);
      const leftovers = machineLeftovers(stateDir);
      if (leftovers.length > 0) problems.push(`after a clean stop: ${leftovers.join("; ")}`);
      if (problems.length === 0 && row.retry.startsWith("ok")) row.result = "ok";
      assert.deepEqual(problems, [], "invariants after the restart");
      assert.match(row.retry, /^ok/, "the retried request");
    } catch (err) {
      if (!row.found) row.found = `(${(err as Error).message.split("\n")[0]?.slice(0, 160)})`;
      throw err;
    } finally {
      for (const d of daemons) await d.stop().catch(() => undefined);
      // A failed point may have left the host dirty: one more start and stop cleans up (reconcile).
      if (machineLeftovers(stateDir).length > 0)
        await startTestDaemon({ stateDir })
          .then((d) => d.stop())
          .catch(() => undefined);
      if (machineLeftovers(stateDir).length === 0) rmSync(stateDir, { recursive: true, force: true });
    }
  });
}
