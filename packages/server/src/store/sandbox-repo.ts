import type { SandboxState } from "atoll/contract";
import type { Db } from "./database.js";

/** A sandbox as the store keeps it. */
export interface SandboxRow {
  id: string;
  tenant: string;
  state: SandboxState;
  stopReason: string | null;
  createdAt: string;
  stoppedAt: string | null;
  timeout: string;
  expiresAt: string | null;
  labels: Record<string, string>;
  env: Record<string, string>;
  memoryBytes: number;
  pids: number;
  cpuWeight: number;
  rootfsBytes: number;
  /** Egress policy as given: null = unrestricted (docs/network.md). Set by setNetwork. */
  allowNet?: string[] | null;
  /** JSON the network service keeps (addresses, exposed ports); null without networking. */
  network?: string | null;
}

interface RawRow {
  id: string;
  tenant: string;
  state: SandboxState;
  stop_reason: string | null;
  created_at: string;
  stopped_at: string | null;
  timeout: string;
  expires_at: string | null;
  labels: string;
  env: string;
  memory_bytes: number;
  pids: number;
  cpu_weight: number;
  rootfs_bytes: number;
  allow_net: string | null;
  network: string | null;
}

function fromRaw(r: RawRow): SandboxRow {
  return {
    id: r.id,
    tenant: r.tenant,
    state: r.state,
    stopReason: r.stop_reason,
    createdAt: r.created_at,
    stoppedAt: r.stopped_at,
    timeout: r.timeout,
    expiresAt: r.expires_at,
    labels: JSON.parse(r.labels) as Record<string, string>,
    env: JSON.parse(r.env) as Record<string, string>,
    memoryBytes: r.memory_bytes,
    pids: r.pids,
    cpuWeight: r.cpu_weight,
    rootfsBytes: r.rootfs_bytes,
    allowNet: r.allow_net === null ? null : (JSON.parse(r.allow_net) as string[]),
    network: r.network,
  };
}

/** Sandboxes table access. Every method is one statement (atomic on its own). */
export class SandboxRepo {
  constructor(private readonly db: Db) {}

  insert(row: SandboxRow): void {
    this.db
      .prepare(
        `INSERT INTO sandboxes (id, tenant, state, stop_reason, created_at, stopped_at, timeout, expires_at, labels, env,
           memory_bytes, pids, cpu_weight, rootfs_bytes)
         VALUES (@id, @tenant, @state, @stopReason, @createdAt, @stoppedAt, @timeout, @expiresAt, @labels, @env,
           @memoryBytes, @pids, @cpuWeight, @rootfsBytes)`,
      )
      .run({ ...row, labels: JSON.stringify(row.labels), env: JSON.stringify(row.env) });
  }

  get(tenant: string, id: string): SandboxRow | undefined {
    const raw = this.db.prepare("SELECT * FROM sandboxes WHERE tenant = ? AND id = ?").get(tenant, id) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  list(tenant: string, state?: SandboxState): SandboxRow[] {
    const rows = state
      ? this.db.prepare("SELECT * FROM sandboxes WHERE tenant = ? AND state = ? ORDER BY created_at DESC").all(tenant, state)
      : this.db.prepare("SELECT * FROM sandboxes WHERE tenant = ? ORDER BY created_at DESC").all(tenant);
    return (rows as RawRow[]).map(fromRaw);
  }

  /** How many of the tenant's sandboxes are not stopped (starting ones included: quotas). */
  countLive(tenant: string): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM sandboxes WHERE tenant = ? AND state != 'stopped'").get(tenant) as { n: number }).n;
  }

  /** Every sandbox the store believes is alive, across tenants (for reconcile). */
  listLive(): SandboxRow[] {
    return (this.db.prepare("SELECT * FROM sandboxes WHERE state != 'stopped'").all() as RawRow[]).map(fromRaw);
  }

  setRunning(id: string): void {
    this.db.prepare("UPDATE sandboxes SET state = 'running' WHERE id = ?").run(id);
  }

  setStopped(id: string, reason: string, at: string): void {
    this.db
      .prepare("UPDATE sandboxes SET state = 'stopped', stop_reason = ?, stopped_at = ?, expires_at = NULL WHERE id = ? AND state != 'stopped'")
      .run(reason, at, id);
  }

  setTimeout(id: string, timeout: string, expiresAt: string | null): void {
    this.db.prepare("UPDATE sandboxes SET timeout = ?, expires_at = ? WHERE id = ?").run(timeout, expiresAt, id);
  }

  setEnv(id: string, env: Record<string, string>): void {
    this.db.prepare("UPDATE sandboxes SET env = ? WHERE id = ?").run(JSON.stringify(env), id);
  }

  /** Records the network of a sandbox; `allowNet` undefined keeps the current policy. */
  setNetwork(id: string, allowNet: string[] | null | undefined, networkJson: string): void {
    if (allowNet === undefined) this.db.prepare("UPDATE sandboxes SET network = ? WHERE id = ?").run(networkJson, id);
    else
      this.db.prepare("UPDATE sandboxes SET allow_net = ?, network = ? WHERE id = ?").run(allowNet === null ? null : JSON.stringify(allowNet), networkJson, id);
  }

  setAllowNet(id: string, allowNet: string[] | null): void {
    this.db.prepare("UPDATE sandboxes SET allow_net = ? WHERE id = ?").run(allowNet === null ? null : JSON.stringify(allowNet), id);
  }

  getNetwork(id: string): string | null {
    const r = this.db.prepare("SELECT network FROM sandboxes WHERE id = ?").get(id) as { network: string | null } | undefined;
    return r?.network ?? null;
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM sandboxes WHERE id = ?").run(id);
  }
}
