/**
 * A throwaway network namespace that plays "the host" for a daemon started the way `npm start`
 * starts it (no network flags: uplink `host`, DNS `host`). Its only link leads to a fake internet
 * (fake-internet.ts), which is its default route; the nameservers of this machine's
 * /etc/resolv.conf (what `--dns host` reads) answer there from the fake internet's table: a
 * non-loopback address sits on the fake internet, a loopback one (127.0.0.53 of
 * systemd-resolved) is served inside the fake host. The daemon keeps the machine's mount
 * namespace, cgroups and /run/netns: only its network is the fake host's (`nsenter --net`, not
 * `ip netns exec`, which would also replace /sys and with it /sys/fs/cgroup).
 *
 * Nothing can leave the machine: `assertClosed()` checks that every link of the fake host and of
 * its fake internet is a veth between the two (the daemon harness refuses to start a daemon in a
 * fake host that is not closed), and the daemon's API is reached through a relay (a local TCP
 * port in the test's namespace → a Unix socket → netns-relay.ts in the fake host → its loopback).
 *
 * @example
 *   const host = await startFakeHost({ "example.com": ["203.0.113.10"] });
 *   const daemon = await startTestDaemon({ host }); // `atoll serve` with no network flags
 *   … await daemon.dispose(); assert.deepEqual(await host.leftovers(), []); await host.dispose();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileRunner as runner } from "../host/run-command.js";
import { nameserversIn } from "../net/dns-forwarder.js";
import { addNetns, deleteNetns, ipBatch, netnsPath, nsRun } from "../net/netns-ops.js";
import { spliceSockets } from "./socket-splice.js";
import { type FakeInternet, killAndWait, startFakeInternet, startFakeServers } from "./fake-internet.js";

const RELAY = fileURLToPath(new URL("./netns-relay.js", import.meta.url));
/** The fake host's link to its fake internet: eth0 here, host0 there. */
const HOST_IF = "eth0";
const TRANSIT4 = { host: "172.31.255.254", internet: "172.31.255.253", prefix: 30 };
const TRANSIT6 = { host: "fd00:a701::2", internet: "fd00:a701::1", prefix: 64 };

export interface FakeHost {
  /** The namespace playing the host: /run/netns/<netns>. */
  netns: string;
  /** Its fake internet (requests, dnsQueries, CA). */
  internet: FakeInternet;
  /** The machine's nameservers (from /etc/resolv.conf) that answer inside this fake world. */
  nameservers: string[];
  /** Inode of the fake host's network namespace (compare with /proc/<pid>/ns/net). */
  netnsInode: number;
  /** Throws unless every link of the fake host and its internet is a veth between the two. */
  assertClosed(): Promise<void>;
  /** A URL in the test's own namespace that reaches `127.0.0.1:<port>` of the fake host. */
  relay(port: number): Promise<{ url: string; close(): Promise<void> }>;
  /** Pids of processes whose network namespace is the fake host's (its DNS stand-in excluded). */
  processesInside(): number[];
  /**
   * What a daemon left in the fake host: nft tables, links other than lo and eth0, an ip_forward
   * other than at start, processes. Empty when it cleaned up.
   */
  leftovers(): Promise<string[]>;
  dispose(): Promise<void>;
}

const isLoopback = (a: string) => a === "::1" || a.startsWith("127.");
const isLinkLocal = (a: string) => /^fe[89ab]/i.test(a) || a.startsWith("169.254.");

/** Network namespace inode of a /proc/<pid>/ns/net or /run/netns/<name> path. */
export function netnsInodeOf(path: string): number {
  return statSync(path).ino;
}

/** Pids whose network namespace has inode `ino`. */
export function pidsInNetns(ino: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/net`) === `net:[${ino}]`) out.push(Number(name));
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}

interface LinkInfo {
  ifname: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
}

async function linksOf(ns: string): Promise<LinkInfo[]> {
  const { stdout } = await runner.run("ip", ["-n", ns, "-j", "-d", "link", "show"]);
  return JSON.parse(stdout) as LinkInfo[];
}

/** nsid → namespace name, as seen from inside `ns`. */
async function peerNames(ns: string): Promise<Map<number, string>> {
  const { stdout } = await runner.run("ip", ["-n", ns, "-j", "netns", "list-id"]);
  const ids = JSON.parse(stdout || "[]") as { nsid: number; name?: string }[];
  return new Map(ids.filter((i) => i.name).map((i) => [i.nsid, i.name!]));
}

/** `table`/`extraAddresses` as for startFakeInternet. */
export async function startFakeHost(table: Record<string, string[]>, extraAddresses: string[] = []): Promise<FakeHost> {
  const all = nameserversIn(readFileSync("/etc/resolv.conf", "utf8")).filter((a) => !isLinkLocal(a));
  if (all.length === 0) throw new Error("/etc/resolv.conf names no nameserver a fake host can stand in for (the daemon's --dns host reads it)");
  const remote = all.filter((a) => !isLoopback(a));
  const internet = await startFakeInternet(table, [...extraAddresses, ...remote]);
  const netns = `atoll-host${randomBytes(4).toString("hex")}`;
  let resolver: ChildProcess | undefined;
  const relays = new Set<() => Promise<void>>();
  const dispose = async () => {
    for (const close of [...relays]) await close().catch(() => undefined);
    await killAndWait(resolver);
    await deleteNetns(runner, netns).catch(() => undefined);
    await internet.dispose();
  };
  try {
    await addNetns(runner, netns);
    await ipBatch(runner, netns, [
      "link set lo up",
      `link add ${HOST_IF} type veth peer name host0 netns ${netnsPath(internet.netns)}`,
      `addr add ${TRANSIT4.host}/${TRANSIT4.prefix} dev ${HOST_IF}`,
      `addr add ${TRANSIT6.host}/${TRANSIT6.prefix} dev ${HOST_IF} nodad`,
      `link set ${HOST_IF} up`,
      `route add default via ${TRANSIT4.internet} dev ${HOST_IF}`,
      `route add ::/0 via ${TRANSIT6.internet} dev ${HOST_IF}`,
    ]);
    await ipBatch(runner, internet.netns, [
      `addr add ${TRANSIT4.internet}/${TRANSIT4.prefix} dev host0`,
      `addr add ${TRANSIT6.internet}/${TRANSIT6.prefix} dev host0 nodad`,
      "link set host0 up",
    ]);
    if (all.some(isLoopback)) {
      resolver = await startFakeServers(netns, { caCertPem: internet.caPem, caKeyPem: internet.caKeyPem, table, dnsOnly: true });
    }
    const netnsInode = netnsInodeOf(netnsPath(netns));
    const forwardAtStart = await sysctl(netns, "net.ipv4.ip_forward");
    const host: FakeHost = {
      netns,
      internet,
      nameservers: all,
      netnsInode,
      async assertClosed() {
        const world = new Set([netns, internet.netns]);
        // A daemon that left sandboxes running (live restore) leaves its router namespace linked to
        // the fake host (its uplink) and the sandboxes' namespaces linked to the router: they belong
        // to the closed world when every link they have is a veth inside it (checked the same way).
        const atollNamespace = /^atoll-[0-9a-f]{8}(-[0-9a-z]+)*$/;
        const seen = new Set(world);
        const pending = [...world];
        for (let ns = pending.pop(); ns !== undefined; ns = pending.pop()) {
          const names = await peerNames(ns);
          for (const l of await linksOf(ns)) {
            if (l.ifname === "lo") continue;
            const peer = l.link_netnsid === undefined ? undefined : names.get(l.link_netnsid);
            if (l.linkinfo?.info_kind !== "veth" || !peer || !(world.has(peer) || atollNamespace.test(peer))) {
              throw new Error(
                `refusing to use fake host ${netns}: link ${l.ifname} in ${ns} may lead off this machine (${l.linkinfo?.info_kind ?? "no kind"}, peer ${peer ?? "unknown"})`,
              );
            }
            if (!seen.has(peer)) {
              seen.add(peer);
              pending.push(peer);
            }
          }
        }
        if (netnsInodeOf("/proc/self/ns/net") === netnsInode) throw new Error(`refusing to use fake host ${netns}: it is this process's own network namespace`);
      },
      async relay(port) {
        // A relay process inside the fake host, reached over a Unix socket: no link to the machine.
        const dir = mkdtempSync("/var/tmp/atoll-fake-host-");
        const socketPath = path.join(dir, "api.sock");
        const child = spawn("nsenter", [`--net=${netnsPath(netns)}`, "--", process.execPath, RELAY, socketPath, String(port)], {
          stdio: ["ignore", "inherit", "inherit", "ipc"],
        });
        const close = async () => {
          relays.delete(close);
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await killAndWait(child);
          rmSync(dir, { recursive: true, force: true });
        };
        relays.add(close);
        const server = net.createServer({ noDelay: true }, (client) => spliceSockets(client, net.connect(socketPath)));
        try {
          await new Promise<void>((resolve, reject) => {
            child.once("message", () => resolve());
            child.once("exit", (code) => reject(new Error(`the API relay in ${netns} exited with ${code}`)));
          });
          await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
        } catch (err) {
          await close().catch(() => undefined);
          throw err;
        }
        return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close };
      },
      processesInside: () => pidsInNetns(netnsInode).filter((pid) => pid !== resolver?.pid),
      async leftovers() {
        const found: string[] = [];
        const tables = (await nsRun(runner, netns, "nft", ["list", "tables"])).stdout.trim();
        if (tables) found.push(...tables.split("\n").map((t) => `nft ${t}`));
        for (const l of await linksOf(netns)) if (l.ifname !== "lo" && l.ifname !== HOST_IF) found.push(`link ${l.ifname}`);
        const forward = await sysctl(netns, "net.ipv4.ip_forward");
        if (forward !== forwardAtStart) found.push(`net.ipv4.ip_forward ${forward} (was ${forwardAtStart})`);
        for (const pid of host.processesInside()) found.push(`process ${pid} ${commandLine(pid)}`);
        return found;
      },
      dispose,
    };
    await host.assertClosed();
    return host;
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return "(exited)";
  }
}

async function sysctl(ns: string, key: string): Promise<string> {
  return (await nsRun(runner, ns, "sysctl", ["-n", key])).stdout.trim();
}
