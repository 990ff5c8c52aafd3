/**
 * A sandbox network survives its daemon (docs/network.md, "Daemon restarts"), on the Linux driver
 * with a fake internet (never the host uplink). Driver A runs in a child process that attaches a
 * sandbox network with an allowNet policy and a secret, then is SIGKILLed as a crashing daemon
 * is; netd is left running, or killed too. Driver B, in this process, adopts the sandbox: the
 * allowed host is reachable, a denied one is refused, the secret is substituted (netd survived)
 * or its host is refused (netd died: the value was never on disk), and release + close leave
 * nothing on the machine.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { type HostRule, type NetRule, parseNetRule } from "atoll/contract";
import type { NetworkAttachment, SecretBinding } from "../core/drivers.js";
import { execFileRunner } from "../host/run-command.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { type FakeInternet, killAndWait, startFakeInternet } from "../testing/fake-internet.js";
import { LinuxNetworkDriver } from "./linux-network-driver.js";
import { resolveNetConfig } from "./net-config.js";
import { netdPidsOf } from "./netd-process.js";

const run = promisify(execFile);
const API = { name: "api.test", address: "203.0.113.20" };
/** Where driver B's configuration (another static DNS table) sends api.test: netd must apply it in place. */
const API_MOVED = "203.0.113.22";
const DENIED = { name: "denied.test", address: "198.51.100.21" };
const VALUE = "adopted-secret-value-7c1d";
const PLACEHOLDER = "ATOLL_SECRET_0123456789abcdef0123456789abcdef01234567";
const NATIVE_DIR = path.resolve(process.env.ATOLL_NATIVE_DIR ?? fileURLToPath(new URL("../../native/build", import.meta.url)));
const here = (file: string) => new URL(file, import.meta.url).href;

const rule = (entry: string): NetRule => {
  const r = parseNetRule(entry);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

/** Driver A in its own process: attaches one sandbox network, prints it, then waits to be killed. */
const DRIVER_A = `
const { LinuxNetworkDriver } = await import(${JSON.stringify(here("./linux-network-driver.js"))});
const { execFileRunner } = await import(${JSON.stringify(here("../host/run-command.js"))});
const o = JSON.parse(process.argv[1]);
const driver = new LinuxNetworkDriver({ config: o.config, stateDir: o.stateDir, nativeDir: o.nativeDir, poolSize: 1, runner: execFileRunner });
await driver.start();
const a = await driver.attach(o.id, { allowNet: o.allowNet, secrets: o.secrets, closed: driver.closedRanges([]) });
console.log(JSON.stringify({ a, ca: driver.sandboxCa(o.id), closed: driver.closedRanges([]) }));
setInterval(() => {}, 1 << 30);
`;

async function startDriverA(o: object): Promise<{ child: ChildProcess; a: NetworkAttachment; ca: string; closed: string[] }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", DRIVER_A, JSON.stringify(o)], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (t: string) => {
      out += t;
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    child.once("exit", (code) => reject(new Error(`driver A exited with ${code}`)));
  });
  return { child, ...(JSON.parse(line) as { a: NetworkAttachment; ca: string; closed: string[] }) };
}

/** curl from inside the sandbox's network namespace; names go to `address` (the proxy checks the name). */
async function curlIn(netnsPath: string, caFile: string, url: string, address: string): Promise<{ ok: boolean; out: string }> {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  const args = [`--net=${netnsPath}`, "--", "curl", "-sS", "--max-time", "20", "--cacert", caFile, "--resolve", `${u.hostname}:${port}:${address}`];
  args.push("-H", `Authorization: Bearer ${PLACEHOLDER}`, "-w", "\nHTTP %{http_code}", url);
  try {
    const { stdout } = await run("nsenter", args);
    return { ok: /HTTP 2\d\d$/.test(stdout), out: stdout };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/** A DNS query for `name` (type A) from inside the namespace to the sandbox resolver; prints the rcode and the last answer's address. */
const DNS_RCODE_PY = `
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(q, (server, 53))
r = s.recv(2048)
print(r[3] & 15, ".".join(str(b) for b in r[-4:]) if struct.unpack(">H", r[6:8])[0] > 0 else "-")
`;

async function dnsAnswer(netnsPath: string, name: string, server: string): Promise<{ rcode: number; address: string }> {
  const { stdout } = await run("nsenter", [`--net=${netnsPath}`, "--", "python3", "-c", DNS_RCODE_PY, name, server]);
  const [rcode, address] = stdout.trim().split(" ");
  return { rcode: Number(rcode), address: address! };
}

for (const netd of ["left running", "killed"] as const) {
  describe(`adoption of a sandbox network after a crash, netd ${netd}`, () => {
    let internet: FakeInternet;
    let stateDir: string;
    let config: ReturnType<typeof resolveNetConfig>;
    let driverB: LinuxNetworkDriver | undefined;
    let childA: ChildProcess | undefined;

    before(async () => {
      internet = await startFakeInternet({ [API.name]: [API.address], [DENIED.name]: [DENIED.address] }, [API_MOVED]);
      stateDir = await mkdtemp("/var/tmp/atoll-net-adopt-");
      const n = internet.daemonNet();
      config = resolveNetConfig({ network: "on", uplink: n.uplink!, dns: n.dns!, upstreamCa: n.upstreamCa!, netOpen: n.netOpen! }, {});
    });
    after(async () => {
      await killAndWait(childA);
      await driverB?.close().catch(() => undefined);
      await internet.dispose();
      await rm(stateDir, { recursive: true, force: true });
    });

    it("driver B adopts it: policy holds, the secret is substituted or fails closed, release leaves nothing", async () => {
      const id = "sbx_adopt1";
      const allowNet = [rule(API.name)];
      const secrets: SecretBinding[] = [{ name: "TOKEN", placeholder: PLACEHOLDER, value: VALUE, hosts: [rule(API.name) as HostRule] }];
      const started = await startDriverA({ config, stateDir, nativeDir: NATIVE_DIR, id, allowNet, secrets });
      childA = started.child;
      const { a } = started;
      const caFile = path.join(stateDir, "sandbox-ca.pem");
      await writeFile(caFile, started.ca);
      const gateway = /nameserver (\S+)/.exec(a.files.find((f) => f.path === "/etc/resolv.conf")?.content ?? "")![1]!;
      const router = path.basename(a.netnsPath).split("-").slice(0, 2).join("-");
      const seen = () => internet.requests.filter((r) => r.host === API.name).map((r) => r.headers.authorization);

      // Before the crash: the proxy substitutes the secret.
      assert.ok((await curlIn(a.netnsPath, caFile, `https://${API.name}/before`, API.address)).ok);
      assert.equal(seen().at(-1), `Bearer ${VALUE}`);

      await killAndWait(childA); // the daemon dies: nothing is released
      const [netdPid] = netdPidsOf(router);
      assert.ok(netdPid !== undefined, "netd outlived the daemon");
      // While no daemon runs, connections that need no daemon still work (the proxy, already known names).
      if (netd === "killed") {
        process.kill(netdPid, "SIGKILL");
        for (let i = 0; i < 200 && netdPidsOf(router).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
      } else {
        assert.ok((await curlIn(a.netnsPath, caFile, `https://${API.name}/daemonless`, API.address)).ok, "the proxy serves while no daemon runs");
        // Its answer must be admitted into nftables by the daemon: without one it fails closed.
        assert.equal((await dnsAnswer(a.netnsPath, API.name, gateway)).rcode, 2, "SERVFAIL while no daemon runs");
      }

      // The next daemon runs with another configuration: its DNS table moved api.test.
      const dnsB = path.join(stateDir, "dns-b.json");
      await writeFile(dnsB, JSON.stringify({ [API.name]: [API_MOVED], [DENIED.name]: [DENIED.address] }));
      const configB = { ...config, dns: { kind: "static" as const, file: dnsB } };
      driverB = new LinuxNetworkDriver({ config: configB, stateDir, nativeDir: NATIVE_DIR, poolSize: 1, runner: execFileRunner });
      await driverB.start([a.netnsPath]);
      const adopted = await driverB.adopt(id, {
        netnsPath: a.netnsPath,
        ipv4: a.ipv4,
        ipv6: a.ipv6,
        allowNet,
        closed: started.closed,
        secrets: secrets.map(({ name, placeholder, hosts }) => ({ name, placeholder, hosts })),
      });
      await driverB.dropUnadopted();
      assert.equal(adopted.netnsPath, a.netnsPath);
      assert.equal(netdPidsOf(router).length, 1, "one netd serves");
      if (netd === "left running") assert.deepEqual(netdPidsOf(router), [netdPid], "the surviving netd was kept");

      // Resolved again once adopted, with the new daemon's DNS table (a kept netd is reconfigured in place).
      assert.deepEqual(await dnsAnswer(a.netnsPath, API.name, gateway), { rcode: 0, address: API_MOVED });
      const denied = await curlIn(a.netnsPath, caFile, `https://${DENIED.name}/x`, DENIED.address);
      assert.ok(!denied.ok, denied.out);
      const before = seen().length;
      const afterAdopt = await curlIn(a.netnsPath, caFile, `https://${API.name}/after`, API.address);
      if (netd === "left running") {
        assert.ok(afterAdopt.ok, afterAdopt.out);
        assert.equal(seen().at(-1), `Bearer ${VALUE}`, "the secret is still substituted");
        assert.equal(driverB.sandboxCa(id), started.ca);
      } else {
        // The value was only in the dead netd: requests to its host are refused, never sent without it.
        assert.ok(!afterAdopt.ok, afterAdopt.out);
        const plain = await curlIn(a.netnsPath, caFile, `http://${API.name}/plain`, API.address);
        assert.match(plain.out, /HTTP 403$/);
        assert.match(plain.out, /secret TOKEN .* was lost/);
        assert.equal(seen().length, before, "nothing reached the secret's host");
      }

      await driverB.release(id);
      await driverB.close();
      driverB = undefined;
      assert.deepEqual(machineLeftovers(stateDir), []);
      assert.deepEqual(netdPidsOf(router), []);
    });
  });
}
