/**
 * What a sandbox must not see or do, checked from inside real sandboxes of a real daemon: host
 * processes and files, other sandboxes, host privileges, mounts, the daemon and host over the network.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Client, type Sandbox } from "atoll";
import { readUidRecord } from "../host/uid-range.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";

let daemon: TestDaemon;
let client: Client;
let sb: Sandbox;
before(async () => {
  daemon = await startTestDaemon();
  client = new Client({ url: daemon.url, token: daemon.token });
  sb = await client.createSandbox({ timeout: "5m" });
});
after(async () => {
  await sb?.kill();
  await daemon?.dispose();
});

/** Runs a shell line as app and as root; returns both exit codes. */
async function codes(cmd: string): Promise<{ app: number | null; root: number | null }> {
  const app = await sb.sh`sh -c ${cmd}`.noThrow();
  const root = await sb.sh`sh -c ${cmd}`.sudo().noThrow();
  return { app: app.status.code, root: root.status.code };
}

test("the sandbox sees only its own processes; its pid 1 is Atoll's init", async () => {
  assert.equal((await sb.sh`cat /proc/1/cmdline`.text()).trimEnd().replace(/\0/g, " ").trim(), "/.atoll/init");
  const pids = (await sb.sh`ls /proc | grep -E '^[0-9]+$'`.lines()).map(Number);
  assert.ok(pids.length < 10, `sandbox sees ${pids.length} processes: ${pids.join(" ")}`);
  assert.ok(!pids.includes(daemon.pid) || daemon.pid < 10, "the daemon's pid is not visible");
  // Host processes cannot be signalled either: there is nothing to name.
  assert.notEqual((await codes(`kill -0 ${daemon.pid}`)).root, 0);
});

test("host files outside the sandbox's root are out of reach", async () => {
  const marker = `/var/tmp/atoll-isolation-${randomBytes(6).toString("hex")}`;
  writeFileSync(marker, "host secret");
  try {
    for (const path of [marker, join(daemon.stateDir, "token"), join(daemon.stateDir, "atoll.db"), "/work", "/root/.npmrc"]) {
      const r = await codes(`cat ${path} || ls ${path}`);
      assert.notEqual(r.app, 0, `app reached ${path}`);
      assert.notEqual(r.root, 0, `root reached ${path}`);
    }
  } finally {
    rmSync(marker, { force: true });
  }
});

test("another sandbox's files and processes are invisible", async () => {
  await using other = await client.createSandbox();
  await other.sh`echo theirs > /tmp/other-secret && echo theirs > /home/app/other-secret`;
  await other.spawn("sleep", { args: ["300"] });
  assert.notEqual((await codes("cat /tmp/other-secret /home/app/other-secret")).root, 0);
  assert.notEqual((await sb.sh`pgrep -x sleep`.noThrow()).status.code, 0, "no sleep of the other sandbox is visible");
  await other.kill();
});

test("sandbox root is an unprivileged host uid without dangerous capabilities", async () => {
  assert.equal((await sb.sh`id -u`.sudo().text()).trimEnd(), "0");
  const base = readUidRecord(daemon.stateDir)!.base;
  assert.match((await sb.sh`cat /proc/self/uid_map`.sudo().text()).trimEnd(), new RegExp(`^\\s*0\\s+${base}\\s+65536$`));
  const capEff = BigInt(`0x${(await sb.sh`grep CapEff /proc/self/status`.sudo().text()).trimEnd().split(/\s+/)[1]}`);
  const CAP_SYS_ADMIN = 21n;
  const CAP_NET_RAW = 13n;
  const CAP_SYS_MODULE = 16n;
  const CAP_SYS_PTRACE = 19n;
  for (const cap of [CAP_SYS_ADMIN, CAP_NET_RAW, CAP_SYS_MODULE, CAP_SYS_PTRACE]) assert.equal((capEff >> cap) & 1n, 0n, `capability ${cap}`);
  assert.equal((await sb.sh`grep CapEff /proc/self/status`.text()).trimEnd(), "CapEff:\t0000000000000000", "app has no capabilities");
  assert.equal((await sb.sh`grep NoNewPrivs /proc/self/status`.sudo().text()).trimEnd(), "NoNewPrivs:\t1");
  assert.equal((await sb.sh`grep Seccomp: /proc/self/status`.text()).trimEnd(), "Seccomp:\t2");
  // A file root creates is owned by the range's first host uid, not by host root.
  const volume = await client.createVolume({ name: "owner-check", sizeGb: 0.0625 });
  await using vsb = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/v" }] });
  await vsb.sh`touch /v/by-root`.sudo();
  const st = statSync(join(daemon.stateDir, "run", "volumes", volume.id, "by-root"));
  assert.equal(st.uid, base);
  await vsb.kill();
  await client.deleteVolume(volume.id);
});

test("mounting, new namespaces, kernel interfaces and raw sockets are refused, also to root", async () => {
  const refused = [
    "mount -t tmpfs none /mnt",
    "mount --bind /tmp /mnt",
    "unshare -U true",
    "unshare -m true",
    "unshare -n true",
    "test $(head -c 1 /proc/kcore | wc -c) -eq 1", // masked: reads nothing
    "echo 1 > /proc/sys/kernel/panic",
    "echo 1 > /proc/sysrq-trigger",
    "dmesg",
    "mknod /tmp/null c 1 3",
    'python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)"',
    'python3 -c "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"',
    'python3 -c "import ctypes; l=ctypes.CDLL(None); assert l.syscall(321, 0, 0, 0) == 0"', // bpf(2)
  ];
  for (const cmd of refused) {
    const r = await codes(cmd);
    assert.notEqual(r.app, 0, `app: ${cmd}`);
    assert.notEqual(r.root, 0, `root: ${cmd}`);
  }
});

test("the network is loopback plus one veth; the daemon, the host and the router are unreachable", async () => {
  assert.deepEqual((await sb.sh`awk 'NR>2 {print $1}' /proc/net/dev | tr -d :`.lines()).sort(), ["eth0", "lo"]);
  const port = new URL(daemon.url).port;
  const info = await client.getSandbox(sb.id);
  // The router: the sandbox's gateway and resolver.
  const gateway = (await sb.sh`awk '/^nameserver/ {print $2}' /etc/resolv.conf`.text()).trim();
  assert.match(gateway, /^10\./, "the resolver is the router");
  assert.ok(info.network?.ipv4, "the sandbox has an address");
  for (const target of [`127.0.0.1:${port}`, `${gateway}:${port}`, `${gateway}:22`, `${gateway}:15080`]) {
    const r = await sb.sh`curl -fsS --max-time 3 http://${target}/healthz`.noThrow();
    assert.notEqual(r.status.code, 0, `the sandbox reached ${target}`);
  }
  // Loopback inside the sandbox works.
  const server = await sb.spawn("python3", { args: ["-m", "http.server", "8080", "--bind", "127.0.0.1"], stdout: "null", stderr: "null" });
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = (await sb.sh`curl -s -o /dev/null http://127.0.0.1:8080/`.noThrow()).status.code === 0;
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  server.kill("SIGKILL");
  assert.ok(ok, "loopback inside the sandbox works");
});

test("sandbox root cannot change its network: interfaces, addresses, routes and sysctls are the host's", async () => {
  // SIOCSIFFLAGS (down), SIOCSIFADDR, SIOCADDRT need CAP_NET_ADMIN over the namespace, which
  // belongs to the host's user namespace: refused even to sandbox root.
  const py = (code: string) => sb.sh`python3 -c ${code}`.sudo().noThrow();
  const ioctl = (req: number, payload: string) =>
    `import fcntl, socket, struct\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfcntl.ioctl(s, ${req}, ${payload})`;
  for (const [what, req, payload] of [
    ["interface down", 0x8914, "struct.pack('16sH14x', b'eth0', 0)"],
    ["new address", 0x8916, "struct.pack('16sH2s4s8x', b'eth0', socket.AF_INET, b'\\0\\0', socket.inet_aton('10.73.9.9'))"],
  ] as const) {
    const r = await py(ioctl(req, payload));
    assert.notEqual(r.status.code, 0, `${what} succeeded`);
    assert.match(r.stderrText, /Operation not permitted|Permission denied/, what);
  }
  assert.notEqual((await sb.sh`sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'`.sudo().noThrow()).status.code, 0, "sysctl write");
  assert.deepEqual((await sb.sh`awk 'NR>2 {print $1}' /proc/net/dev | tr -d :`.lines()).sort(), ["eth0", "lo"]);
});
