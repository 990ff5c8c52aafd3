/**
 * Probes of the standing attack suite that run the same way inside a sandbox and on the host
 * (python3 on both), so each defence is shown to be what stops them: the same code succeeds,
 * or fails differently, outside the sandbox.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { promisify } from "node:util";

export const run = promisify(execFile);

/**
 * Calls statmount, listmount, open_tree_attr and listns with valid arguments (a real mount id
 * from statx, LSMT_ROOT, /tmp with MOUNT_ATTR_RDONLY, the caller's namespaces) and prints a
 * JSON object: call → "ok" or the errno name.
 */
export const NEW_SYSCALLS_PY = `
import ctypes, errno, struct, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *args)
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
sx = ctypes.create_string_buffer(256)
call(332, ctypes.c_int(-100), b"/", ctypes.c_int(0), ctypes.c_uint(0x4000), sx)  # statx STATX_MNT_ID_UNIQUE
mnt_id = struct.unpack_from("Q", sx.raw, 0x90)[0]
out = {}
buf = ctypes.create_string_buffer(4096)
out["statmount"] = call(457, struct.pack("IIQQ", 24, 0, mnt_id, 1), buf, ctypes.c_size_t(4096), ctypes.c_uint(0))
ids = (ctypes.c_uint64 * 64)()
out["listmount"] = call(458, struct.pack("IIQQ", 24, 0, 0xffffffffffffffff, 0), ids, ctypes.c_size_t(64), ctypes.c_uint(0))
out["open_tree_attr"] = call(467, ctypes.c_int(-100), b"/tmp", ctypes.c_uint(1 | 0o2000000), struct.pack("QQQQ", 1, 0, 0, 0), ctypes.c_size_t(32))
nsids = (ctypes.c_uint64 * 64)()
out["listns"] = call(470, struct.pack("IIQIIQ", 32, 0, 0, 0, 0, 0), nsids, ctypes.c_size_t(64), ctypes.c_uint(0))
print(json.dumps(out))
`;

/**
 * socket() of families and netlink protocols a sandbox must not get; prints JSON name →
 * "ok" or the errno name. A vsock socket is also bound to port argv[1] (what blocked the host).
 */
export const SOCKETS_PY = `
import socket, errno, json, sys
def t(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def vsock():
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.bind((socket.VMADDR_CID_ANY, int(sys.argv[1])))
    s.close()
print(json.dumps({
    "AF_VSOCK bind": t(vsock),
    "AF_XDP": t(lambda: socket.socket(44, socket.SOCK_RAW).close()),
    "NETLINK_KOBJECT_UEVENT": t(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15).close()),
    "NETLINK_ROUTE": t(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()),
    "AF_INET6": t(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()),
}))
`;

/**
 * Listens for kernel uevents for argv[1] seconds and prints "uevent <header>" for each loop
 * device event ("socket-error <errno>" when it cannot listen; "ready" once it listens).
 */
export const UEVENT_LISTENER_PY = `
import socket, sys, time, errno
try:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)
    s.bind((0, 1))
except OSError as e:
    print("socket-error", errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(0)
print("ready", flush=True)
s.settimeout(0.3)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    try:
        msg = s.recv(65536)
    except socket.timeout:
        continue
    head = msg.split(b"\\0", 1)[0].decode(errors="replace")
    if "/loop" in head:
        print("uevent", head, flush=True)
`;

/** Starts a python3 probe on the host; resolves once it printed `ready` (or exited). */
export function startHostPython(code: string, args: string[]): { child: ChildProcess; output: () => string; ready: Promise<void> } {
  const child = spawn("python3", ["-c", code, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("ready") || out.includes("socket-error")) onReady();
  });
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  child.on("exit", () => onReady());
  return { child, output: () => out, ready };
}

/** pid of the netd process a daemon started (its child titled atoll-netd, running netd-main.js), if any. */
export function netdPid(daemonPid: number): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== daemonPid) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (cmdline.startsWith("atoll-netd") || cmdline.includes("netd-main.js")) return Number(name);
    } catch {
      /* the process ended meanwhile */
    }
  }
  return undefined;
}

/**
 * DNS latency probe: argv[1] queries (A example.com) to the sandbox's resolver, argv[2] ms
 * apart, each with a 5 s timeout; prints JSON: latencies in ms (null for a timeout).
 */
export const DNS_LATENCY_PY = `
import socket, struct, time, json, sys, random
ns = open("/etc/resolv.conf").read().split("nameserver")[1].split()[0]
def query(name):
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    t = time.monotonic()
    s.sendto(q, (ns, 53))
    try:
        while True:
            data = s.recv(4096)
            if struct.unpack(">H", data[:2])[0] == qid:
                return round((time.monotonic() - t) * 1000, 1)
    except socket.timeout:
        return None
    finally:
        s.close()
out = []
for i in range(int(sys.argv[1])):
    out.append(query(sys.argv[3] if len(sys.argv) > 3 else "example.com"))
    time.sleep(int(sys.argv[2]) / 1000)
print(json.dumps(out))
`;

/**
 * The zero-length TLS record flood of issue 10: argv[2] threads, for argv[1] seconds, each
 * connecting to the proxy's TLS port and sending nothing but empty handshake records, a few at
 * a time (every read makes a re-scanning parser start over), until the connection is closed.
 * Prints JSON: connections, bytes sent, most bytes one connection got in.
 */
export const ZERO_RECORD_FLOOD_PY = `
import socket, threading, time, json, sys
gw = open("/etc/resolv.conf").read().split("nameserver")[1].split()[0]
end = time.time() + float(sys.argv[1])
chunk = bytes([22, 3, 1, 0, 0]) * 20
stats = {"connections": 0, "bytes": 0, "most": 0}
lock = threading.Lock()
def worker():
    while time.time() < end:
        sent = 0
        try:
            s = socket.create_connection((gw, 15443), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(5)
            while time.time() < end:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            try: s.close()
            except Exception: pass
        with lock:
            stats["connections"] += 1
            stats["bytes"] += sent
            stats["most"] = max(stats["most"], sent)
threads = [threading.Thread(target=worker) for _ in range(int(sys.argv[2]))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(stats))
`;

/** A UDP query flood to the sandbox's resolver for argv[1] seconds; prints JSON: sent, answered. */
export const DNS_FLOOD_PY = `
import socket, struct, time, json, sys
ns = open("/etc/resolv.conf").read().split("nameserver")[1].split()[0]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
q = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\\x07example\\x03com\\x00" + struct.pack(">HH", 1, 1)
end = time.time() + float(sys.argv[1])
sent = answered = 0
while time.time() < end:
    try:
        s.sendto(q, (ns, 53))
        sent += 1
    except BlockingIOError:
        pass
    try:
        while True:
            s.recv(4096)
            answered += 1
    except BlockingIOError:
        pass
print(json.dumps({"sent": sent, "answered": answered}))
`;

/** Median and maximum of latencies (null = timed out), for the attack table. */
export function latencySummary(ms: (number | null)[]): { text: string; allAnswered: boolean; max: number } {
  const ok = ms.filter((m): m is number => m !== null).sort((a, b) => a - b);
  const median = ok.length > 0 ? ok[Math.floor(ok.length / 2)]! : NaN;
  const max = ok.length > 0 ? ok[ok.length - 1]! : NaN;
  return { text: `${ok.length}/${ms.length} answered, median ${median} ms, max ${max} ms`, allAnswered: ok.length === ms.length, max };
}
