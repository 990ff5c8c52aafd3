/**
 * The REST half of Deno's protocol (docs/deno-wire-protocol.md): under /api/v3 what a sandbox
 * object calls (kill, extendTimeout, expose*), under /api/v2 the console API of `new Client()`
 * for volumes, snapshots and sandbox listings. Handlers parse and map onto Atoll's services; Deno
 * Deploy's apps, revisions, timelines and layers have no counterpart and answer NOT_SUPPORTED.
 */
import { InvalidArgumentError, checkDenoSlug, type SnapshotInfo, type VolumeInfo, toCreateVolumeRequest } from "atoll/contract";
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import type { Services } from "../api/services.js";
import { afterEnding } from "./after-ending.js";
import { DENO_REGION, fromDenoSandboxId, toDenoSandboxId } from "./deno-ids.js";

type Id = { Params: { id: string } };

function notSupported(reply: FastifyReply, what: string): void {
  void reply
    .code(501)
    .send({ code: "NOT_SUPPORTED", message: `${what} is not available on Atoll (docs/deno-compatibility.md lists what the Deno client can use)` });
}

/**
 * A volume as Deno's `toVolume` reads it. Atoll's usedBytes is what the volume holds apart from
 * what it shares with its base snapshot (Deno's allocated size); the flattened size is given as
 * the same figure (a lower bound for a fork), docs/deno-compatibility.md.
 */
export function denoVolume(v: VolumeInfo): Record<string, unknown> {
  return {
    id: v.id,
    slug: v.name,
    region: DENO_REGION,
    capacity: v.capacityBytes,
    estimated_allocated_size: v.usedBytes,
    estimated_flattened_size: v.usedBytes,
    is_bootable: v.bootable,
    base_snapshot: v.fromSnapshot ? { id: v.fromSnapshot.id, slug: v.fromSnapshot.name } : null,
  };
}

/** A snapshot as Deno's `toSnapshot` reads it. */
export function denoSnapshot(s: SnapshotInfo): Record<string, unknown> {
  return {
    id: s.id,
    slug: s.name,
    region: DENO_REGION,
    allocated_size: s.allocatedBytes,
    flattened_size: s.capacityBytes,
    is_bootable: s.bootable,
    volume: { id: s.volumeId, slug: s.volumeName },
  };
}

const volumeInitSchema = z.object({
  slug: z.string().max(64),
  region: z.string().max(32).optional(),
  capacity: z.union([z.number(), z.string().max(32)]),
  from: z.string().min(1).max(128).optional(),
});
const extendSchema = z.strictObject({ stop_at_ms: z.number().int().positive() });
const labelsFromQuery = (q: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(q)
      .filter(([k]) => k.startsWith("labels[") && k.endsWith("]"))
      .map(([k, v]) => [k.slice(7, -1), String(v)]),
  );

export function registerDenoRestRoutes(app: FastifyInstance, s: Services): void {
  // --- what a Sandbox object calls (sandboxEndpoint) ---
  app.delete<Id>("/api/v3/sandbox/:id", async (req) => {
    await s.sandboxes.kill(req.principal.tenant, fromDenoSandboxId(req.params.id));
    return {};
  });
  app.patch<Id>("/api/v3/sandbox/:id", async (req) => {
    const body = extendSchema.safeParse(req.body);
    if (!body.success) throw new InvalidArgumentError("extendTimeout takes { stop_at_ms } (milliseconds since the epoch)");
    const ms = Math.max(1000, body.data.stop_at_ms - Date.now());
    const info = await s.sandboxes.extendTimeout(req.principal.tenant, fromDenoSandboxId(req.params.id), { timeout: ms });
    return { stop_at_ms: info.expiresAt ? Date.parse(info.expiresAt) : body.data.stop_at_ms };
  });
  app.post<Id>("/api/v3/sandbox/:id/expose/http", async (req, reply) => {
    const id = fromDenoSandboxId(req.params.id);
    s.sandboxes.assertRunning(req.principal.tenant, id);
    // The client builds https://<domain> itself: only an https --expose-domain gives such URLs.
    const url = await s.network?.reserveExposure(req.principal.tenant, id);
    if (url === undefined) return notSupported(reply, "exposeHttp through Deno's client needs an https --expose-domain (use Atoll's SDK for loopback URLs)");
    return { domain: new URL(url).host };
  });
  for (const kind of ["ssh", "vscode"]) {
    app.post<Id>(`/api/v3/sandbox/:id/expose/${kind}`, async (req, reply) => {
      s.sandboxes.assertRunning(req.principal.tenant, fromDenoSandboxId(req.params.id));
      notSupported(reply, `expose${kind === "ssh" ? "Ssh" : "Vscode"} through Deno's client`);
    });
  }

  // --- the console API (apiEndpoint) ---
  app.get("/api/v2/volumes", async (req) => {
    const search = (req.query as { search?: unknown }).search;
    const all = await s.volumes.list(req.principal.tenant);
    return all.filter((v) => typeof search !== "string" || v.name.includes(search)).map(denoVolume);
  });
  app.post("/api/v2/volumes", async (req) => {
    const init = volumeInitSchema.safeParse(req.body);
    if (!init.success) throw new InvalidArgumentError("volumes.create takes { slug, region, capacity, from? }");
    return denoVolume(await s.volumes.create(req.principal.tenant, toCreateVolumeRequest(init.data)));
  });
  app.get<Id>("/api/v2/volumes/:id", async (req) => denoVolume(await s.volumes.get(req.principal.tenant, req.params.id)));
  app.delete<Id>("/api/v2/volumes/:id", async (req) => {
    await afterEnding(s.sandboxes, () => s.volumes.delete(req.principal.tenant, req.params.id, false));
    return {};
  });
  app.post<Id>("/api/v2/volumes/:id/snapshot", async (req) => {
    const slug = (req.body as { slug?: unknown } | null)?.slug;
    checkDenoSlug(slug);
    return denoSnapshot(await s.snapshots.create(req.principal.tenant, req.params.id, { name: slug }));
  });
  app.get("/api/v2/snapshots", async (req) => {
    const search = (req.query as { search?: unknown }).search;
    const all = await s.snapshots.list(req.principal.tenant);
    return all.filter((x) => typeof search !== "string" || x.name.includes(search)).map(denoSnapshot);
  });
  app.get<Id>("/api/v2/snapshots/:id", async (req) => denoSnapshot(await s.snapshots.get(req.principal.tenant, req.params.id)));
  app.delete<Id>("/api/v2/snapshots/:id", async (req) => {
    await afterEnding(s.sandboxes, () => s.snapshots.delete(req.principal.tenant, req.params.id));
    return {};
  });
  app.get("/api/v2/sandboxes", async (req) => {
    const labels = labelsFromQuery(req.query as Record<string, string>);
    return s.sandboxes.list(req.principal.tenant, { labels }).map((sb) => ({
      id: toDenoSandboxId(sb.id),
      createdAt: sb.createdAt,
      stoppedAt: sb.stoppedAt,
      region: DENO_REGION,
      status: sb.state === "stopped" ? "stopped" : "running",
      labels: sb.labels,
    }));
  });
  // Deno Deploy's apps, revisions, timelines and layers.
  app.all("/api/v2/*", async (req, reply) => notSupported(reply, `${req.method} ${req.url.split("?")[0]}`));
}
