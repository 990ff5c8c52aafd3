/**
 * The daemon's side of netd (net/netd/netd-main.ts): starts it inside the router namespace as
 * uid/gid 65534, pushes sandbox policies to it, and answers its calls (admit addresses into
 * nftables, forward DNS to the host's resolvers).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { NetRule } from "atoll/contract";
import type { Logger } from "pino";
import type { SecretBinding } from "../core/drivers.js";
import type { AddressPlan } from "./address-plan.js";
import type { CertificateAuthority } from "./cert-authority.js";
import { DnsForwarder } from "./dns-forwarder.js";
import type { NetConfig } from "./net-config.js";
import type { NetdConfig } from "./netd/netd-main.js";
import { type IpcEndpoint, Rpc } from "./netd/rpc.js";
import { DENY4, DENY6, PROXY_HTTP_PORT, PROXY_TLS_PORT, type PortRange } from "./nft-ruleset.js";

const NETD_MAIN = fileURLToPath(new URL("./netd/netd-main.js", import.meta.url));
const NOBODY = "65534";
const START_TIMEOUT_MS = 20_000;

export interface LearnRequest {
  ip: string;
  ports: PortRange[];
  intercept: boolean;
  addresses: string[];
}

export interface NetdStartOptions {
  /** /run/netns/<router>. */
  routerNetns: string;
  plan: AddressPlan;
  config: NetConfig;
  logger?: Logger | undefined;
  onLearn(req: LearnRequest): Promise<void>;
}

export class NetdClient {
  private stopping = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly rpc: Rpc,
    private readonly logger: Logger | undefined,
  ) {
    child.on("exit", (code, signal) => {
      if (!this.stopping) logger?.error({ code, signal }, "netd exited: sandbox DNS and the egress proxy are down");
    });
  }

  static async start(o: NetdStartOptions): Promise<NetdClient> {
    const dns: NetdConfig["dns"] =
      o.config.dns.kind === "static"
        ? { kind: "static", table: JSON.parse(readFileSync(o.config.dns.file, "utf8")) as Record<string, string[]> }
        : o.config.dns;
    const cfg: NetdConfig = {
      gateway4: o.plan.gateway4,
      gateway6: o.plan.gateway6,
      httpPort: PROXY_HTTP_PORT,
      tlsPort: PROXY_TLS_PORT,
      dns,
      upstreamCa: o.config.upstreamCaFile ? readFileSync(o.config.upstreamCaFile, "utf8") : null,
      denied: [...DENY4, ...DENY6, o.plan.range4, o.plan.range6],
    };
    const child = spawn("nsenter", [`--net=${o.routerNetns}`, "-S", NOBODY, "-G", NOBODY, "--", process.execPath, NETD_MAIN], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ATOLL_NETD_CONFIG: JSON.stringify(cfg) },
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (t: string) => {
      stderr = (stderr + t).slice(-8192);
      for (const line of t.split("\n")) if (line.trim()) o.logger?.warn({ stderr: line }, "netd stderr");
    });
    const rpc = new Rpc(child as unknown as IpcEndpoint);
    const forwarder = o.config.dns.kind === "host" ? new DnsForwarder() : undefined;
    rpc.handle("learn", (req) => o.onLearn(req as LearnRequest));
    rpc.handle("dnsForward", async (packet) => {
      if (!forwarder) throw new Error("DNS forwarding is off");
      return (await forwarder.forward(Buffer.from(packet as string, "base64"))).toString("base64");
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`netd did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(err);
      };
      child.on("message", (m: { netd?: string; error?: string; message?: string; data?: Record<string, unknown> }) => {
        if (m?.netd === "ready") {
          clearTimeout(timer);
          resolve();
        } else if (m?.netd === "failed") fail(new Error(`netd failed to start: ${m.error}`));
        else if (m?.netd === "log") o.logger?.debug({ ...m.data }, `netd: ${m.message}`);
      });
      child.once("exit", (code) => fail(new Error(`netd exited with ${code} before it was ready: ${stderr.trim()}`)));
      child.once("error", (err) => fail(err));
    });
    return new NetdClient(child, rpc, o.logger);
  }

  setSandbox(s: { id: string; ipv4: string; ipv6: string; rules: NetRule[] | null; secrets: SecretBinding[]; ca: CertificateAuthority | undefined }): Promise<void> {
    return this.rpc.call("setSandbox", { ...s, ca: s.ca ?? null });
  }

  setRules(id: string, rules: NetRule[] | null): Promise<void> {
    return this.rpc.call("setRules", { id, rules });
  }

  forgetSandbox(id: string): Promise<void> {
    return this.rpc.call("forget", { id });
  }

  resolveFor(ip: string, name: string): Promise<string[]> {
    return this.rpc.call("resolveFor", { ip, name });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.rpc.close(new Error("netd stopped"));
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.disconnect?.();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
    this.logger?.debug("netd stopped");
  }
}
