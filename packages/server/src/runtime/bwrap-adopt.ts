/**
 * Adoption of a sandbox a previous daemon run left running (docs/architecture.md, "Live
 * restore"), for BwrapRuntime.adopt: connect to its atoll-shim's socket, resynchronise with
 * atoll-init (HELLO → STATE, within the ready timeout), take back its owner uid and its
 * scratch's share of the disk budget, and wrap it in a BwrapSandbox watched by the shim's pid.
 *
 * @example
 *   const sb = await adoptSandbox("sbx_1", { limits }, deps); // undefined: gone or silent
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { AdoptFacts, RuntimeSandbox } from "../core/drivers.js";
import type { DiskBudget } from "../host/disk-budget.js";
import type { CommandRunner } from "../host/run-command.js";
import { AgentChannel } from "./agent-channel.js";
import { BwrapSandbox, adoptedShim, withTimeout } from "./bwrap-sandbox.js";
import type { SandboxCgroup } from "./cgroups.js";
import { type ShimRecords, connectUnix } from "./shim-records.js";

export interface AdoptDeps {
  shims: ShimRecords;
  cgroup: () => SandboxCgroup;
  /** Marks the sandbox's namespace owner uid in use again. */
  claimOwner: (uid: number) => void;
  scratch: { image: string; mountPoint: string };
  root: string;
  disk?: Pick<DiskBudget, "adoptScratch"> | undefined;
  readyTimeoutMs: number;
  atollMount: string;
  runner: CommandRunner;
  release: () => Promise<void>;
  logger?: Logger | undefined;
}

export async function adoptSandbox(id: string, facts: AdoptFacts, deps: AdoptDeps): Promise<RuntimeSandbox | undefined> {
  const { logger } = deps;
  const rec = await deps.shims.read(id);
  if (!rec) return undefined;
  const socket = await connectUnix(deps.shims.socket(rec.shimPid));
  if (!socket) return undefined;
  const channel = new AgentChannel(socket, socket, {
    adoptNonce: randomBytes(8),
    onSinkError: (err) => logger?.error({ err, sandboxId: id }, "a process output consumer failed"),
  });
  try {
    await withTimeout(channel.ready, deps.readyTimeoutMs, "atoll-init did not answer HELLO");
  } catch (err) {
    logger?.warn({ err, sandboxId: id }, "a sandbox of the previous daemon run did not resynchronise; it is stopped");
    socket.destroy();
    return undefined;
  }
  deps.claimOwner(rec.ownerUid);
  await deps.disk?.adoptScratch(id, { ...deps.scratch, capBytes: facts.limits.rootfsBytes }).catch((err: unknown) => {
    logger?.warn({ err, sandboxId: id }, "an adopted sandbox's scratch is not in the disk budget");
  });
  const adopted = channel.adoptedProcesses().live.length;
  if (adopted > 0) logger?.info({ sandboxId: id, processes: adopted }, "adopted processes have no client: their output is drained and discarded");
  return new BwrapSandbox({
    id,
    root: deps.root,
    child: adoptedShim(rec.shimPid),
    channel,
    cgroup: deps.cgroup(),
    atollMount: deps.atollMount,
    runner: deps.runner,
    release: deps.release,
    logger,
  });
}
