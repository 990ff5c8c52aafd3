/**
 * System call probes of the escape suite (escape-suite.itest.ts). Each probe makes one x86_64
 * system call the seccomp profile blocks (docs/security.md) with arguments that are valid, or,
 * where a valid call would harm the host that runs the outside check (reboot, kexec, clock,
 * modules), arguments the kernel rejects with an errno other than EPERM. Inside a sandbox every
 * probe must fail with the filter's errno (EPERM; ENOSYS for clone3). Outside the filter the same
 * probe must succeed or fail differently, which proves the probe can tell the filter from the
 * kernel's own checks:
 *
 * - `userns`: run by real root in a throwaway user, mount, network, pid, ipc and uts namespace
 *   (root of the new user namespace, like sandbox root, but without the filter);
 * - `host`: calls that need a capability of the initial user namespace to get past the permission
 *   check (modules, swap, accounting, kernel log, bpf, device nodes, file handles), run by real
 *   root in private mount/network/pid/ipc/uts namespaces; every one of them is harmless there
 *   (an invalid module, a missing swap file, a read of the log buffer size, a throwaway bpf map).
 *
 * PROBE_PROGRAM is Python (the base image and the host both have python3): `python3 -c PROGRAM
 * NAME...` runs each named probe in a forked child and prints one JSON object, probe name → "ok"
 * or the errno name ("died" if the child was killed).
 */

/** One probe: the Python expression that makes the call, where its outside check runs, what the filter answers. */
export interface SyscallProbe {
  name: string;
  /** Where the proof that the probe works runs (see the file comment). */
  outside: "userns" | "host";
  /** The errno the seccomp filter answers with (default EPERM). */
  filterErrno?: string;
}

export const SYSCALL_PROBES: readonly SyscallProbe[] = [
  // mount API
  { name: "mount tmpfs", outside: "userns" },
  { name: "umount2", outside: "userns" },
  { name: "pivot_root", outside: "userns" },
  { name: "open_tree clone", outside: "userns" },
  { name: "move_mount", outside: "userns" },
  { name: "fsopen tmpfs", outside: "userns" },
  { name: "fsconfig", outside: "userns" },
  { name: "fsmount", outside: "userns" },
  { name: "fspick /", outside: "userns" },
  { name: "mount_setattr", outside: "userns" },
  { name: "open_tree_attr", outside: "userns" },
  { name: "listmount", outside: "userns" },
  { name: "statmount", outside: "userns" },
  // namespaces
  { name: "unshare user", outside: "userns" },
  { name: "unshare mount", outside: "userns" },
  { name: "unshare net", outside: "userns" },
  { name: "setns uts", outside: "userns" },
  { name: "clone newuser", outside: "userns" },
  { name: "clone3", outside: "userns", filterErrno: "ENOSYS" },
  // kernel
  { name: "init_module", outside: "host" },
  { name: "finit_module", outside: "host" },
  { name: "delete_module", outside: "host" },
  { name: "kexec_load", outside: "host" },
  { name: "kexec_file_load", outside: "host" },
  { name: "bpf map", outside: "host" },
  { name: "perf_event_open", outside: "host" },
  { name: "userfaultfd", outside: "userns" },
  { name: "syslog size", outside: "host" },
  { name: "iopl", outside: "userns" },
  { name: "ioperm", outside: "userns" },
  { name: "uselib", outside: "userns" },
  { name: "ustat", outside: "userns" },
  { name: "sysfs", outside: "userns" },
  { name: "nfsservctl", outside: "userns" },
  { name: "lookup_dcookie", outside: "userns" },
  { name: "acct", outside: "host" },
  { name: "reboot", outside: "userns" },
  { name: "swapon", outside: "host" },
  { name: "swapoff", outside: "host" },
  { name: "quotactl", outside: "userns" },
  { name: "quotactl_fd", outside: "userns" },
  // keyring
  { name: "keyctl", outside: "userns" },
  { name: "add_key", outside: "userns" },
  { name: "request_key", outside: "userns" },
  // other processes
  { name: "ptrace seize", outside: "userns" },
  { name: "process_vm_readv", outside: "userns" },
  { name: "process_vm_writev", outside: "userns" },
  { name: "kcmp", outside: "userns" },
  // clock
  { name: "settimeofday", outside: "userns" },
  { name: "clock_settime", outside: "userns" },
  { name: "clock_adjtime", outside: "userns" },
  { name: "adjtimex", outside: "userns" },
  // file handles
  { name: "name_to_handle_at", outside: "userns" },
  { name: "open_by_handle_at", outside: "host" },
  // io_uring
  { name: "io_uring_setup", outside: "userns" },
  { name: "io_uring_enter", outside: "userns" },
  { name: "io_uring_register", outside: "userns" },
  // personality, devices, raw sockets
  { name: "personality no-aslr", outside: "userns" },
  { name: "mknod char", outside: "host" },
  { name: "mknod block", outside: "host" },
  { name: "mknodat char", outside: "host" },
  { name: "socket packet", outside: "userns" },
  { name: "socket raw icmp", outside: "userns" },
  { name: "socketpair raw", outside: "userns" },
];

export const PROBE_PROGRAM = String.raw`
import ctypes, errno, json, os, sys, tempfile, time
C = ctypes
libc = C.CDLL(None, use_errno=True)
libc.syscall.restype = C.c_long
AT_FDCWD = -100

def arg(a):
    if a is None: return C.c_void_p(0)
    if isinstance(a, int): return C.c_long(a)
    if isinstance(a, bytes): return C.c_char_p(a)
    return a

def sc(nr, *args):
    C.set_errno(0)
    r = libc.syscall(C.c_long(nr), *[arg(a) for a in args])
    return r, C.get_errno()

def buf(n): return C.create_string_buffer(n)
def ref(b): return C.cast(b, C.c_void_p)

def tmpnode(kind, at):
    d = tempfile.mkdtemp()
    p = (d + "/node").encode()
    mode = (0o020000 if kind == "c" else 0o060000) | 0o600
    dev = (1 << 8) | 3 if kind == "c" else (7 << 8) | 250
    r = sc(259, AT_FDCWD, p, mode, dev) if at else sc(133, p, mode, dev)
    if r[0] == 0: os.unlink(p)
    os.rmdir(d)
    return r

def seize():
    child = os.fork()
    if child == 0:
        time.sleep(60); os._exit(0)
    try: return sc(101, 0x4206, child, 0, 0)
    finally: os.kill(child, 9); os.waitpid(child, 0)

def clone(flags):
    r = sc(56, flags | 17, 0, 0, 0, 0)
    if r[0] == 0: os._exit(0)
    if r[0] > 0: os.waitpid(r[0], 0)
    return r

def clone3():
    args = buf(88)
    C.memmove(C.addressof(args) + 32, C.byref(C.c_uint64(17)), 8)  # exit_signal = SIGCHLD
    r = sc(435, ref(args), 88)
    if r[0] == 0: os._exit(0)
    if r[0] > 0: os.waitpid(r[0], 0)
    return r

def vm(nr):
    data = buf(8)
    iov = (C.c_void_p * 2)(ref(data), 8)
    return sc(nr, os.getpid(), ref(iov), 1, ref(iov), 1, 0)

def timeval(sec, frac): return (C.c_long * 2)(sec, frac)

def handle(valid):
    h = buf(8 + 128)
    C.memmove(h, C.byref(C.c_uint32(128 if valid else 8)), 4)
    C.memmove(C.addressof(h) + 4, C.byref(C.c_int32(1)), 4)
    if valid: return sc(303, AT_FDCWD, b"/tmp", ref(h), C.byref(C.c_int(0)), 0)
    fd = os.open("/", os.O_RDONLY)
    return sc(304, fd, ref(h), os.O_RDONLY)

def perf():
    attr = buf(128)
    C.memmove(attr, C.byref(C.c_uint32(1)), 4)                     # PERF_TYPE_SOFTWARE
    C.memmove(C.addressof(attr) + 4, C.byref(C.c_uint32(128)), 4)  # size
    C.memmove(C.addressof(attr) + 40, C.byref(C.c_uint64(0x60)), 8)  # exclude_kernel | exclude_hv
    return sc(298, ref(attr), 0, -1, -1, 0)

def bpf_map():
    attr = buf(72)
    C.memmove(attr, (C.c_uint32 * 4)(2, 4, 4, 1), 16)  # BPF_MAP_TYPE_ARRAY, key 4, value 4, 1 entry
    return sc(321, 0, ref(attr), 72)

def ifflags():
    import fcntl, socket, struct
    s = socket.socket()
    req = struct.pack("16sH", b"lo", 0)
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, req)[:18])[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags))
    return 0, 0

def mnt_req(mnt_id, param):
    req = buf(24)
    C.memmove(req, C.byref(C.c_uint32(24)), 4)  # MNT_ID_REQ_SIZE_VER0
    C.memmove(C.addressof(req) + 8, C.byref(C.c_uint64(mnt_id)), 8)
    C.memmove(C.addressof(req) + 16, C.byref(C.c_uint64(param)), 8)
    return req

def root_mnt_id():
    stx = buf(256)
    sc(332, AT_FDCWD, b"/", 0, 0x4000, ref(stx))  # statx STATX_MNT_ID_UNIQUE
    return C.c_uint64.from_buffer(stx, 144).value

QCMD_GETFMT = 0x800004 << 8
P = {
    "mount tmpfs": lambda: sc(165, b"none", b"/mnt", b"tmpfs", 0, None),
    "umount2": lambda: sc(166, b"/mnt", 0),
    "pivot_root": lambda: sc(155, b".", b"."),
    "open_tree clone": lambda: sc(428, AT_FDCWD, b"/tmp", 1 | 0o2000000),
    "move_mount": lambda: sc(429, AT_FDCWD, b"/mnt", AT_FDCWD, b"/tmp", 0),
    "fsopen tmpfs": lambda: sc(430, b"tmpfs", 1),
    "fsconfig": lambda: sc(431, -1, 6, None, None, 0),
    "fsmount": lambda: sc(432, -1, 0, 0),
    "fspick /": lambda: sc(433, AT_FDCWD, b"/", 1),
    "mount_setattr": lambda: sc(442, AT_FDCWD, b"/tmp", 0, ref(buf(32)), 32),
    "unshare user": lambda: sc(272, 0x10000000),
    "unshare mount": lambda: sc(272, 0x00020000),
    "unshare net": lambda: sc(272, 0x40000000),
    "setns uts": lambda: sc(308, os.open("/proc/self/ns/uts", os.O_RDONLY), 0x04000000),
    "clone newuser": lambda: clone(0x10000000),
    "clone3": clone3,
    "init_module": lambda: sc(175, ref(buf(64)), 64, b""),
    "finit_module": lambda: sc(313, os.memfd_create("probe"), b"", 0),
    "delete_module": lambda: sc(176, b"atoll_probe_none", 0o4000),
    "kexec_load": lambda: sc(246, 0, 0, None, 0x8000),
    "kexec_file_load": lambda: sc(320, -1, -1, 0, None, 0x80000000),
    "bpf map": bpf_map,
    "perf_event_open": perf,
    "userfaultfd": lambda: sc(323, 0o2000000 | 1),
    "syslog size": lambda: sc(103, 10, None, 0),
    "iopl": lambda: sc(172, 4),
    "ioperm": lambda: sc(173, 0x10000, 1, 1),
    "uselib": lambda: sc(134, b"/nonexistent-atoll-probe"),
    "ustat": lambda: sc(136, 0, ref(buf(64))),
    "sysfs": lambda: sc(139, 3),
    "nfsservctl": lambda: sc(180, 0, None, None),
    "lookup_dcookie": lambda: sc(212, 0, None, 0),
    "acct": lambda: sc(163, b"/nonexistent-atoll-probe/acct"),
    "reboot": lambda: sc(169, 0xfee1dead, 0, 0x01234567, None),
    "swapon": lambda: sc(167, b"/nonexistent-atoll-probe", 0),
    "swapoff": lambda: sc(168, b"/nonexistent-atoll-probe"),
    "quotactl": lambda: sc(179, QCMD_GETFMT, b"/nonexistent-atoll-probe", 0, ref(buf(8))),
    "quotactl_fd": lambda: sc(443, os.open("/tmp", os.O_RDONLY), QCMD_GETFMT, 0, ref(buf(8))),
    "keyctl": lambda: sc(250, 0, -3, 0),
    "add_key": lambda: sc(248, b"user", b"atoll-probe", b"x", 1, -2),
    "request_key": lambda: sc(249, b"user", b"atoll-probe-none", None, -2),
    "ptrace seize": seize,
    "process_vm_readv": lambda: vm(310),
    "process_vm_writev": lambda: vm(311),
    "kcmp": lambda: sc(312, os.getpid(), os.getpid(), 0, 0, 0),
    "settimeofday": lambda: sc(164, ref(timeval(0, 2000000)), None),
    "clock_settime": lambda: sc(227, 0, ref(timeval(0, 2000000000))),
    "clock_adjtime": lambda: sc(305, 0, ref(buf(256))),
    "adjtimex": lambda: sc(159, ref(buf(256))),
    "name_to_handle_at": lambda: handle(True),
    "open_by_handle_at": lambda: handle(False),
    "io_uring_setup": lambda: sc(425, 1, ref(buf(120))),
    "io_uring_enter": lambda: sc(426, -1, 0, 0, 0, None, 0),
    "io_uring_register": lambda: sc(427, -1, 0, None, 0),
    "personality no-aslr": lambda: sc(135, 0x0040000),
    "mknod char": lambda: tmpnode("c", False),
    "mknod block": lambda: tmpnode("b", False),
    "mknodat char": lambda: tmpnode("c", True),
    "socket packet": lambda: sc(41, 17, 3, 0),
    "socket raw icmp": lambda: sc(41, 2, 3, 1),
    "socketpair raw": lambda: sc(53, 1, 3, 0, ref(buf(8))),
    "lo flags": ifflags,
    # Newer mount API calls (issue 10, item 9).
    "open_tree_attr": lambda: sc(467, AT_FDCWD, b"/tmp", 1 | 0o2000000, ref(buf(32)), 32),
    "listmount": lambda: sc(458, ref(mnt_req(0xffffffffffffffff, 0)), ref(buf(8 * 16)), 16, 0),  # LSMT_ROOT
    "statmount": lambda: sc(457, ref(mnt_req(root_mnt_id(), 1)), ref(buf(4096)), 4096, 0),  # STATMOUNT_SB_BASIC
}

def run(name):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            r, e = P[name]()
            out = "ok" if r >= 0 else errno.errorcode.get(e, str(e))
        except OSError as ex:
            out = errno.errorcode.get(ex.errno, str(ex.errno))
        except Exception as ex:
            out = "exception " + type(ex).__name__
        os.write(wfd, out.encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 256)
        if not chunk: break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    return data.decode() or "died"

print(json.dumps({name: run(name) for name in sys.argv[1:]}))
`;
