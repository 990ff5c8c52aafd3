/**
 * Sandbox networking decisions (docs/network.md): the network part of Sandbox.create (policy,
 * secrets, `port`), setAllowNet, exposeHttp and its unguessable URLs, and connections made from
 * a sandbox's network (sandbox.fetch, sandbox-fetch.ts), and forwarding to exposed ports
 * (expose-proxy.ts); both go through the shared HTTP forwarder (http/http-forwarder.ts). Host
 * work goes through the NetworkDriver; without one (`--network off`) sandboxes have loopback only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { rootCertificates } from "node:tls";
import type { Duplex } from "node:stream";
import {
  CapacityError,
  ConflictError,
  AuthenticationError,
  type ExposedPort,
  type IpRule,
  InvalidArgumentError,
  type NetRule,
  NetworkError,
  type SandboxNetworkInfo,
  ServerError,
  exposeHttpSchema,
  netRulesOf,
  parseOrThrow,
  setAllowNetSchema,
  type HostRule,
} from "atoll/contract";
import type { Logger } from "pino";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { SandboxRepo } from "../store/sandbox-repo.js";
import { sandboxLockKey } from "./attachment-service.js";
import type { NetworkDriver, RootFile, SecretBinding } from "./drivers.js";
import { type ExposeTarget, NOT_EXPOSED, type Routed, proxyRequest, proxyUpgrade } from "./expose-proxy.js";
import { covers, setOf, setOfCidrs } from "./ip-intervals.js";
import { type FetchRequest, type FetchResponse, fetchFromSandbox } from "./sandbox-fetch.js";
import { categoriesOf, parseOpenList } from "./special-ranges.js";

const TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** Ports one sandbox may expose: each is a listener (a file descriptor) of the daemon. */
export const MAX_EXPOSED_PORTS = 32;

/**
 * Serves exposed ports (api/expose-gateway.ts): gives each exposure its URL, on an origin that
 * is never the API's, and stops serving it.
 */
export interface ExposeFront {
  /**
   * Starts serving the exposure of `token`; resolves to its URL. `previousUrl`: the URL it had
   * before a daemon restart, kept when it can be served again.
   */
  open(token: string, previousUrl?: string): Promise<string>;
  close(token: string): void;
}

/** Reservations of reserveExposure kept at once (daemon-wide). */
const RESERVED_MAX = 1024;

/** 26 random base32 characters (130 bits): an unguessable DNS label. */
function exposeToken(): string {
  let out = "";
  for (const b of randomBytes(26)) out += TOKEN_ALPHABET[b & 31];
  return out;
}

/** The network part of a validated create request. */
export interface NetworkPlan {
  allowNet: string[] | null;
  rules: NetRule[] | null;
  secrets: SecretBinding[];
  /** Placeholders of the secrets, and where the sandbox CA is: added to the sandbox's env. */
  env: Record<string, string>;
  port: number | undefined;
  /** CIDRs the sandbox may never reach (its tenant's closed ranges). */
  closed: string[];
}

interface Exposure {
  token: string;
  sandboxId: string;
  port: number;
}

/** What the network column of the store holds. */
interface NetworkRecord {
  ipv4: string;
  ipv6: string;
  /** For adoption after a restart; missing in records written before adoption existed. */
  netnsPath?: string;
  /** Its secrets without their values (adoption: which hosts need them). */
  secrets?: Omit<SecretBinding, "value">[];
  /** `url` is missing in records written before exposures had their own origin. */
  exposed: { port: number; token: string; url?: string }[];
  /** Port given as `port` to create: its exposure is `url`. */
  port: number | null;
}

export class NetworkService {
  private readonly exposures = new Map<string, Exposure>();
  /** The expose proxy's view of this service: exposures by token, connections into sandboxes. */
  private readonly exposeTarget: ExposeTarget;

  constructor(
    private readonly deps: {
      driver: NetworkDriver | undefined;
      repo: SandboxRepo;
      locks: KeyedMutex;
      logger: Logger;
      /** Extra PEM roots trusted for servers reached by sandbox.fetch (the upstream CA of tests). */
      upstreamCa?: string | undefined;
      /** Throws SANDBOX_NOT_FOUND / SANDBOX_NOT_RUNNING unless the tenant's sandbox runs. */
      assertRunning(tenant: string, id: string): void;
      /** Closed ranges an admin opened for a tenant (docs/tenants.md). */
      tenantOpen(tenant: string): string[];
      /** Serves exposed ports (without one, exposeHttp is refused). */
      front?: ExposeFront | undefined;
      /** Whether a header value is an Atoll API token (never forwarded to an exposed port). */
      isAtollToken(value: string): boolean;
    },
  ) {
    this.exposeTarget = {
      isAtollToken: (v) => deps.isAtollToken(v),
      connect: async (token) => {
        const e = this.exposures.get(token);
        if (!e) return { missing: true, message: NOT_EXPOSED };
        try {
          return await this.connect(e.sandboxId, "localhost", e.port);
        } catch (err) {
          return { missing: false, message: `The sandbox's port ${e.port} does not answer: ${(err as Error).message}` };
        }
      },
    };
  }

  /** CIDRs a tenant's sandboxes may never reach. */
  private closedFor(tenant: string): string[] {
    return this.deps.driver ? this.deps.driver.closedRanges(this.deps.tenantOpen(tenant)) : [];
  }

  /**
   * Refuses an IP/CIDR rule that lies entirely inside the tenant's closed ranges: it could
   * never reach anything. Rules that only overlap them (0.0.0.0/0, 10.0.0.0/7) are accepted and
   * reach the rest ("the public internet").
   */
  private checkClosed(tenant: string, closed: readonly string[], entries: readonly string[], rules: readonly NetRule[]): void {
    const closedSet = setOfCidrs(closed);
    rules.forEach((r, i) => {
      if (r.kind !== "ip" || !covers(closedSet, setOf([r]))) return;
      const categories = categoriesOf((r as IpRule).address);
      const what = categories.length > 0 ? categories.join(", ") : "the daemon's own network";
      const fix =
        categories.length > 0
          ? ` An admin can open it for this tenant (\`atoll tenant net ${tenant} --open ${categories[0]}\`) or for every tenant (\`atoll serve --net-open ${categories[0]}\`).`
          : "";
      throw new AuthenticationError("FORBIDDEN", `allowNet entry "${entries[i]}" is a destination closed to this tenant's sandboxes (${what}).${fix}`, {
        entry: entries[i],
        categories,
      });
    });
  }

  /** For the admin API: checks a tenant's open list, and applies a changed list to its running sandboxes. */
  readonly netAccess = {
    normalize: (open: readonly string[]): string[] => parseOpenList(open, "open"),
    apply: async (tenant: string): Promise<void> => {
      const driver = this.deps.driver;
      if (!driver) return;
      const closed = this.closedFor(tenant);
      for (const row of this.deps.repo.list(tenant, "running")) {
        await driver
          .setClosed(row.id, closed)
          .catch((err: unknown) => this.deps.logger.warn({ err, sandboxId: row.id }, "applying the tenant's network access failed"));
      }
    },
  };

  get enabled(): boolean {
    return this.deps.driver !== undefined;
  }

  /**
   * Checks the network options of a create request. Throws before anything exists.
   *
   * @example const plan = network.plan({ allowNet: ["example.com"], secrets: {}, env: {} });
   */
  plan(
    req: {
      allowNet?: string[] | null | undefined;
      secrets?: Record<string, { hosts: string[]; value: string }> | undefined;
      port?: number | undefined;
      env?: Record<string, string> | undefined;
    },
    tenant: string,
  ): NetworkPlan {
    const allowNet = req.allowNet ?? null;
    const secretEntries = Object.entries(req.secrets ?? {});
    if (!this.enabled && ((allowNet !== null && allowNet.length > 0) || secretEntries.length > 0 || req.port !== undefined)) {
      throw new InvalidArgumentError("This daemon runs without sandbox networking (--network off): allowNet entries, secrets and port are not available");
    }
    const env: Record<string, string> = {};
    const secrets: SecretBinding[] = [];
    for (const [name, s] of secretEntries) {
      if (req.env && name in req.env) throw new InvalidArgumentError(`${name} is both in env and in secrets; give it once`);
      const placeholder = `ATOLL_SECRET_${randomBytes(20).toString("hex")}`;
      secrets.push({ name, placeholder, value: s.value, hosts: netRulesOf(s.hosts) as HostRule[] });
      env[name] = placeholder;
    }
    const rules = allowNet === null ? null : netRulesOf(allowNet);
    const closed = this.closedFor(tenant);
    if (allowNet && rules) this.checkClosed(tenant, closed, allowNet, rules);
    return { allowNet, rules, secrets, env, port: req.port, closed };
  }

  /** Prepares the sandbox's network namespace (only when `enabled`). */
  async attach(id: string, plan: NetworkPlan): Promise<{ netnsPath: string; files: RootFile[]; env: Record<string, string> }> {
    const a = await this.requireDriver("networking").attach(id, { allowNet: plan.rules, secrets: plan.secrets, closed: plan.closed });
    const secrets = plan.secrets.map(({ name, placeholder, hosts }) => ({ name, placeholder, hosts }));
    const record: NetworkRecord = { ipv4: a.ipv4, ipv6: a.ipv6, netnsPath: a.netnsPath, secrets, exposed: [], port: plan.port ?? null };
    this.deps.repo.setNetwork(id, plan.allowNet, JSON.stringify(record));
    return { netnsPath: a.netnsPath, files: a.files, env: a.env };
  }

  /** After the sandbox runs: exposes `port` of create (its URL becomes `sandbox.url`). */
  async afterStart(id: string, plan: NetworkPlan): Promise<void> {
    if (plan.port !== undefined) await this.addExposure(id, plan.port);
  }

  /** Releases the sandbox's network and its exposed URLs. Idempotent. */
  async release(id: string): Promise<void> {
    for (const [token, sandboxId] of this.reserved) if (sandboxId === id) this.reserved.delete(token);
    for (const [token, e] of this.exposures) {
      if (e.sandboxId !== id) continue;
      this.exposures.delete(token);
      this.deps.front?.close(token);
    }
    await this.deps.driver?.release(id);
  }

  /**
   * After a daemon restart: takes over the network of a running sandbox of the previous run
   * (docs/network.md, "Daemon restarts") and serves its exposed ports again at the same URLs.
   * Call it for each adopted sandbox after the daemon started the driver keeping their
   * namespaces (`keepForAdoption`), then `endAdoption()`. Throws NETWORK_FAILED when the network
   * cannot be adopted (the sandbox should then be ended).
   *
   * @example for (const row of adoptedRows) await network.adopt(row); await network.endAdoption();
   */
  async adopt(row: { id: string; tenant: string; allowNet?: string[] | null; network?: string | null }): Promise<void> {
    const driver = this.deps.driver;
    if (!driver || !row.network) return;
    const record = JSON.parse(row.network) as NetworkRecord;
    if (!record.netnsPath) throw new NetworkError("NETWORK_FAILED", `Sandbox ${row.id} was started by a daemon that could not hand its network over.`);
    const allowNet = row.allowNet ?? null;
    await driver.adopt(row.id, {
      netnsPath: record.netnsPath,
      ipv4: record.ipv4,
      ipv6: record.ipv6,
      allowNet: allowNet === null ? null : netRulesOf(allowNet),
      closed: this.closedFor(row.tenant),
      secrets: record.secrets ?? [],
    });
    let changed = false;
    for (const e of record.exposed) {
      if (e.url === undefined) continue;
      this.exposures.set(e.token, { token: e.token, sandboxId: row.id, port: e.port });
      const url = await this.deps.front?.open(e.token, e.url).catch((err: unknown) => {
        this.deps.logger.warn({ err, sandboxId: row.id, port: e.port }, "an exposed port could not be served again after the restart");
        return undefined;
      });
      if (url === undefined) this.exposures.delete(e.token);
      else if (url !== e.url) [e.url, changed] = [url, true];
    }
    if (changed) this.deps.repo.setNetwork(row.id, undefined, JSON.stringify(record));
  }

  /** netnsPaths the driver keeps at start for these sandboxes of the previous run (candidates for adopt). */
  static keepForAdoption(rows: readonly { network?: string | null }[]): string[] {
    return rows.flatMap((r) => {
      const path = r.network ? (JSON.parse(r.network) as NetworkRecord).netnsPath : undefined;
      return path ? [path] : [];
    });
  }

  /** After the adoptions: the kept networks of sandboxes that were not adopted are removed. */
  async endAdoption(): Promise<void> {
    await this.deps.driver?.dropUnadopted();
  }

  /** The daemon stops while its sandboxes keep running: their networks stay for the next daemon. */
  async detach(): Promise<void> {
    this.exposures.clear();
    await this.deps.driver?.detach();
  }

  async setAllowNet(tenant: string, id: string, input: unknown): Promise<void> {
    const req = parseOrThrow(setAllowNetSchema, input, "allowNet change");
    this.requireDriver("setAllowNet");
    const rules = req.allowNet === null ? null : netRulesOf(req.allowNet);
    if (req.allowNet && rules) this.checkClosed(tenant, this.closedFor(tenant), req.allowNet, rules);
    await this.deps.locks.run(sandboxLockKey(id), async () => {
      this.deps.assertRunning(tenant, id);
      await this.deps.driver!.setAllowNet(id, rules);
      this.deps.repo.setAllowNet(id, req.allowNet);
    });
    this.deps.logger.info({ sandboxId: id, allowNet: req.allowNet }, "sandbox allowNet changed");
  }

  async expose(tenant: string, id: string, input: unknown, reservedToken?: string): Promise<ExposedPort> {
    const req = parseOrThrow(exposeHttpSchema, input, "exposeHttp options");
    this.requireDriver("exposeHttp");
    if (reservedToken !== undefined && this.reserved.get(reservedToken) !== id) {
      throw new InvalidArgumentError("exposeHttp: that domain was not handed out for this sandbox (ask for a new one)");
    }
    return this.deps.locks.run(sandboxLockKey(id), async () => {
      this.deps.assertRunning(tenant, id);
      this.reserved.delete(reservedToken ?? "");
      return this.addExposure(id, req.port, reservedToken);
    });
  }

  /**
   * Deno's client asks for an exposure's domain before it names the port (a REST call, then the
   * `exposeHttp` RPC with `{ domain, port }`) and builds `https://<domain>` itself. With an https
   * `--expose-domain` the token is minted here, for `expose(…, token)` of this sandbox only;
   * undefined when exposed URLs are not `https://<host>/` (loopback, an http domain).
   */
  async reserveExposure(tenant: string, id: string): Promise<string | undefined> {
    this.requireDriver("exposeHttp");
    this.deps.assertRunning(tenant, id);
    const front = this.deps.front;
    if (!front) return undefined;
    const token = exposeToken();
    const url = await front.open(token);
    front.close(token);
    if (!/^https:\/\/[^/]+\/$/.test(url)) return undefined;
    // Bounded: the oldest reservation nobody used is forgotten first.
    if (this.reserved.size >= RESERVED_MAX) this.reserved.delete(this.reserved.keys().next().value!);
    this.reserved.set(token, id);
    return url;
  }
  /** Tokens handed out by reserveExposure, not used yet: token → sandbox id. */
  private readonly reserved = new Map<string, string>();

  private async addExposure(id: string, port: number, reservedToken?: string): Promise<ExposedPort> {
    const record = this.record(id);
    const existing = record?.exposed.find((e) => e.port === port && e.url !== undefined);
    if (existing && reservedToken === undefined) return { port, url: existing.url! };
    if ((record?.exposed.length ?? 0) >= MAX_EXPOSED_PORTS) {
      throw new CapacityError("QUOTA_EXCEEDED", `A sandbox can expose at most ${MAX_EXPOSED_PORTS} ports; this one has.`, { port });
    }
    const front = this.deps.front;
    if (!front) throw new InvalidArgumentError("exposeHttp is not available on this daemon (no HTTP front for exposed ports)");
    const token = reservedToken ?? exposeToken();
    const exposure: Exposure = { token, sandboxId: id, port };
    this.exposures.set(token, exposure);
    let url: string;
    try {
      url = await front.open(token);
    } catch (err) {
      this.exposures.delete(token);
      throw new ServerError("UNAVAILABLE", `Could not serve the exposed port ${port}: ${(err as Error).message}`, { port });
    }
    // The sandbox may have ended while the listener opened: release() no longer sees it.
    if (this.exposures.get(token) !== exposure) {
      front.close(token);
      throw new ConflictError("SANDBOX_NOT_RUNNING", `Sandbox ${id} stopped while its port ${port} was being exposed.`, { sandboxId: id });
    }
    if (record) {
      record.exposed.push({ port, token, url });
      this.deps.repo.setNetwork(id, undefined, JSON.stringify(record));
    }
    this.deps.logger.info({ sandboxId: id, port }, "port exposed");
    return { port, url };
  }

  /** Forwards a request the expose front routed to an exposure (404 when it is gone, 502 on failure). */
  proxyExposed(req: IncomingMessage, res: ServerResponse, m: Routed): void {
    proxyRequest(this.exposeTarget, req, res, m);
  }

  /** Relays an upgrade (WebSocket) the expose front routed to an exposure. */
  proxyExposedUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, m: Routed): void {
    proxyUpgrade(this.exposeTarget, req, socket, head, m);
  }

  /**
   * sandbox.fetch: `r` made from the sandbox's network. Throws FETCH_FAILED when it fails;
   * `signal` (the caller went away) ends it.
   */
  fetch(id: string, r: FetchRequest, signal: AbortSignal): Promise<FetchResponse> {
    this.requireDriver("fetch");
    return fetchFromSandbox(this, id, r, signal);
  }

  /** For SandboxInfo: addresses, exposed ports, `url`. */
  info(networkJson: string | null): { network: SandboxNetworkInfo | null; url: string | null } {
    if (!networkJson) return { network: null, url: null };
    const record = JSON.parse(networkJson) as NetworkRecord;
    const exposed = record.exposed.flatMap((e) => (e.url === undefined ? [] : [{ port: e.port, url: e.url }]));
    return {
      network: { ipv4: record.ipv4, ipv6: record.ipv6, exposed },
      url: record.port === null ? null : (exposed.find((e) => e.port === record.port)?.url ?? null),
    };
  }

  /**
   * A TCP connection from inside the sandbox's network to `host:port` (sandbox.fetch, exposed
   * ports). `localhost` and loopback literals are the sandbox's own; names are resolved by the
   * sandbox's resolver (its allowNet applies).
   */
  async connect(id: string, host: string, port: number): Promise<Duplex> {
    const driver = this.requireDriver("fetch");
    const bare = host.replace(/^\[|\]$/g, "");
    let addresses: string[];
    if (bare === "localhost" || bare === "127.0.0.1" || bare === "::1") addresses = bare === "::1" ? ["::1"] : ["127.0.0.1", "::1"];
    else if (/^[\d.]+$/.test(bare) || bare.includes(":")) addresses = [bare];
    else {
      addresses = await driver.resolve(id, bare);
      if (addresses.length === 0)
        throw new NetworkError("FETCH_FAILED", `${bare} does not resolve in this sandbox's network (not in its allowNet, or no such name)`, { host: bare });
    }
    return driver.connect(id, addresses, port);
  }

  /** Roots sandbox.fetch trusts over HTTPS: the system's, the sandbox CA (secrets), the upstream CA. */
  trustFor(id: string): string[] {
    const ca = this.deps.driver?.sandboxCa(id);
    return [...rootCertificates, ...(ca ? [ca] : []), ...(this.deps.upstreamCa ? [this.deps.upstreamCa] : [])];
  }

  async close(): Promise<void> {
    await this.deps.driver?.close();
  }

  private record(id: string): NetworkRecord | undefined {
    const json = this.deps.repo.getNetwork(id);
    return json ? (JSON.parse(json) as NetworkRecord) : undefined;
  }

  private requireDriver(what: string): NetworkDriver {
    if (!this.deps.driver) throw new InvalidArgumentError(`${what} needs sandbox networking, which this daemon runs without (--network off)`);
    return this.deps.driver;
  }
}
