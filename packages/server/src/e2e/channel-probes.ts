/**
 * Probes of the control-channel attack suite (attack-channel.itest.ts): Python run inside a
 * sandbox (or, for the controls, on the host) that tries one way into another process's memory
 * or file descriptors and prints "ok" or the errno name. Every call uses valid arguments, so
 * only the defence (a non-dumpable target, the seccomp filter) can make it fail.
 */
import type { Sandbox } from "atoll";

/** Python: `python3 -c PROBE WHAT PID` prints "ok" or an errno name such as "EPERM". */
export const PROBE = `
import ctypes, errno, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
what, pid = sys.argv[1], int(sys.argv[2])
def err(e):
  return errno.errorcode.get(e, str(e))
def attempt(fn):
  try:
    r = fn()
    print("ok" if r is None or r >= 0 else err(ctypes.get_errno()))
  except OSError as e:
    print(err(e.errno))
class iovec(ctypes.Structure):
  _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def first_mapping():
  try:
    return int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
  except OSError:
    return 0x400000  # unreadable: any address; the access check comes first
if what == "pidfd_getfd":
  attempt(lambda: libc.syscall(438, os.pidfd_open(pid), 1, 0))
elif what == "mem":
  attempt(lambda: os.close(os.open(f"/proc/{pid}/mem", os.O_RDWR)))
elif what == "fd":
  attempt(lambda: os.listdir(f"/proc/{pid}/fd") and None)
elif what == "process_vm_readv":
  buf = ctypes.create_string_buffer(8)
  local, remote = iovec(ctypes.addressof(buf), 8), iovec(first_mapping(), 8)
  attempt(lambda: libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
elif what == "ptrace":
  r = libc.syscall(101, 16, pid, 0, 0)  # PTRACE_ATTACH
  print("ok" if r == 0 else err(ctypes.get_errno()))
  if r == 0:
    os.waitpid(pid, 0); libc.syscall(101, 17, pid, 0, 0)  # PTRACE_DETACH
elif what.startswith("kill-"):
  sig = getattr(signal, what[5:])
  os.kill(pid, sig)
  time.sleep(0.3)
  state = "gone"
  try:
    state = [l for l in open(f"/proc/{pid}/status") if l.startswith("State:")][0].split()[1]
  except (OSError, IndexError):
    pass
  print("alive" if state in ("S", "R") else f"hit ({state})")
  if state == "T": os.kill(pid, signal.SIGCONT)
`;

/**
 * The probes tried against a process's memory and descriptors, with what a holding defence
 * returns. `filtered`: the seccomp profile refuses the call in every sandbox too, so the proof
 * that the probe works runs on the host.
 */
export const ACCESS_PROBES: { what: string; attack: string; expected: string; filtered?: true }[] = [
  { what: "pidfd_getfd", attack: "pidfd_getfd its stdout (the channel)", expected: "EPERM" },
  { what: "mem", attack: "open /proc/PID/mem read-write", expected: "EACCES" },
  { what: "fd", attack: "list /proc/PID/fd", expected: "EACCES" },
  { what: "process_vm_readv", attack: "process_vm_readv its memory", expected: "EPERM", filtered: true },
  { what: "ptrace", attack: "PTRACE_ATTACH", expected: "EPERM", filtered: true },
];

/** Signals a sandbox process may send to pid 1; init must stay alive (and running). */
export const SIGNALS = ["SIGKILL", "SIGTERM", "SIGSTOP", "SIGINT", "SIGHUP", "SIGSEGV", "SIGUSR1"];

/** Runs the probe in the sandbox as `user` against `pid`; returns its one-word verdict. */
export async function probe(sandbox: Sandbox, user: "app" | "root", what: string, pid: number): Promise<string> {
  const cmd = sandbox.sh`python3 -c ${PROBE} ${what} ${String(pid)}`.noThrow().stderr("piped");
  const r = await (user === "root" ? cmd.sudo() : cmd).text();
  return r.trim() || "no output";
}

/** Python that execs `sleep 600` with SIGINT and SIGQUIT at their defaults (a shell's `&` ignores them). */
const SLEEP = `import os, signal
for s in (signal.SIGINT, signal.SIGQUIT): signal.signal(s, signal.SIG_DFL)
os.execvp("sleep", ["sleep", "600"])`;

/** Starts `sleep` as `user` in the background and returns its pid (a dumpable process of that user). */
export async function sleeper(sandbox: Sandbox, user: "app" | "root"): Promise<number> {
  const cmd = sandbox.sh`python3 -c ${SLEEP} >/dev/null 2>&1 & echo $!`;
  return Number(await (user === "root" ? cmd.sudo() : cmd).text());
}

/**
 * Python for sandbox root: takes pid 1's control channel with pidfd_getfd — which works only while
 * the non-dumpable defence is switched off (a test build of atoll-init) — and writes the hostile
 * frames of case `argv[1]` into it, as init would send them to the daemon. The frames speak of
 * procId 1: the first process of the sandbox, which the test starts first with a piped stdout it
 * never reads (so no consumer hands credit back while the flood runs).
 */
export const HOSTILE_FRAMES = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(438, os.pidfd_open(1), 1, 0)
if fd < 0:
  print("pidfd_getfd failed", ctypes.get_errno()); sys.exit(3)
def frame(t, pid, payload=b""):
  return struct.pack(">IBI", 5 + len(payload), t, pid) + payload
me = 1
cases = {
  "short STARTED frames (the issue's attack)": b"".join(frame(65, i) for i in range(1, 65)),
  "EXIT too short": frame(69, me, b"\\0\\0\\0"),
  "SPAWN_FAILED too short": frame(66, me, b"\\0"),
  "length field too small": struct.pack(">I", 1) + b"\\0",
  "length field of 4 GiB": struct.pack(">I", 0xffffffff) + b"\\0" * 64,
  "frame for an unknown procId": frame(67, 999999, b"x"),
  "unknown frame type": frame(200, me),
  "output after EXIT": frame(69, me, b"\\0" * 8) + frame(67, me, b"late"),
  "flood of output beyond the credit": frame(67, me, b"\\0" * 60000) * 64,
}
try:
  os.write(fd, cases[sys.argv[1]])
except OSError as e:
  print("write:", e)
print("sent")
`;

/** The cases of HOSTILE_FRAMES. */
export const FRAME_CASES = [
  "short STARTED frames (the issue's attack)",
  "EXIT too short",
  "SPAWN_FAILED too short",
  "length field too small",
  "length field of 4 GiB",
  "frame for an unknown procId",
  "unknown frame type",
  "output after EXIT",
  "flood of output beyond the credit",
];

/**
 * Python for `app`: finds the atoll-fs helper serving a download (`/.atoll/fs read …`), takes its
 * stdout with pidfd_getfd (test build only) and writes hostile records into it.
 */
export const HOSTILE_RECORDS = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
helper = [int(d) for d in os.listdir("/proc") if d.isdigit() and open(f"/proc/{d}/cmdline", "rb").read().startswith(b"/.atoll/fs\\0read\\0")]
if not helper:
  print("no helper"); sys.exit(3)
fd = libc.syscall(438, os.pidfd_open(helper[0]), 1, 0)
if fd < 0:
  print("pidfd_getfd failed", ctypes.get_errno()); sys.exit(3)
def rec(t, payload=b""):
  return struct.pack(">BI", t, len(payload)) + payload
cases = {
  "data beyond the credit": rec(0x44, b"\\0" * 60000) * 40,
  "unknown record type": rec(0x5a, b"z"),
  "record of 4 GiB": struct.pack(">BI", 0x44, 0xffffffff),
  "acknowledgement of bytes never sent": rec(0x41, struct.pack(">Q", 1 << 40)),
}
os.write(fd, cases[sys.argv[1]])
print("sent")
`;

/** The cases of HOSTILE_RECORDS. */
export const RECORD_CASES = ["data beyond the credit", "unknown record type", "record of 4 GiB", "acknowledgement of bytes never sent"];
