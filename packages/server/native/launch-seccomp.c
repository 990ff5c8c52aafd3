/*
 * The default seccomp profile of atoll-launch (docs/security.md; keep both in sync): built with
 * libseccomp, exported as a BPF program into a memfd that bwrap loads with --seccomp.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>


#include "launch.h"

/* ------------------------------------------------------------------------------------------
 * Seccomp profile (documented in docs/security.md; keep both in sync).
 *
 * Default action ALLOW; the calls below fail with EPERM unless noted. Only the native x86_64
 * ABI is allowed: i386 (int 0x80) and x32 system calls kill the process (libseccomp's
 * bad-arch action), which closes the socketcall/ipc multiplexer loopholes of those ABIs.
 *
 * - Mount API: mount, umount2, pivot_root, open_tree, move_mount, fsopen, fsconfig, fsmount,
 *   fspick, mount_setattr. (chroot stays allowed: harmless without mount.) Together with the
 *   locked mounts this is what stops sandbox root from remounting a read-only volume.
 * - Namespaces: unshare and setns always; clone with any CLONE_NEW* flag; clone3 → ENOSYS so
 *   libc falls back to clone (whose flags we can inspect).
 * - Kernel: kexec_load, kexec_file_load, init_module, finit_module, delete_module, bpf,
 *   perf_event_open, userfaultfd, syslog, iopl, ioperm, uselib, ustat, sysfs, vm86, vm86old,
 *   nfsservctl, lookup_dcookie, acct, reboot, swapon, swapoff, quotactl, quotactl_fd.
 * - Keyring: keyctl, add_key, request_key.
 * - Other processes: ptrace, process_vm_readv, process_vm_writev, kcmp.
 * - Clock: settimeofday, clock_settime, clock_adjtime, adjtimex.
 * - File handles: name_to_handle_at, open_by_handle_at.
 * - io_uring_setup, io_uring_enter, io_uring_register (large attack surface, bypasses seccomp
 *   for the operations it performs).
 * - personality: only 0 (PER_LINUX), 0x8 (PER_LINUX32), 0x20000 (UNAME26), 0x20008
 *   (PER_LINUX32|UNAME26) and 0xffffffff (query), like Docker; so ASLR cannot be turned off
 *   (ADDR_NO_RANDOMIZE). libseccomp cannot express "not one of" on one argument,
 *   so this check is a small hand-written BPF prefix placed in front of the libseccomp program.
 * - mknod/mknodat of character or block devices (fifos, sockets, regular files are fine).
 * - socket(AF_PACKET, ...); socket/socketpair of type SOCK_RAW, except AF_NETLINK (netlink
 *   sockets are SOCK_RAW by convention and `ip`, glibc's getaddrinfo use them).
 * - Address families: socket() only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, socketpair()
 *   only for AF_UNIX; every other family (AF_VSOCK, AF_BLUETOOTH, AF_TIPC, AF_ALG, ...) fails
 *   with EAFNOSUPPORT, as on a kernel built without it, so programs fall back.
 * - Netlink protocols: only NETLINK_ROUTE (ip, glibc) and NETLINK_SOCK_DIAG (ss); every other
 *   protocol fails with EPROTONOSUPPORT (what libaudit, sudo and systemd take as "not
 *   available"). This closes NETLINK_KOBJECT_UEVENT: a sandbox's network namespace belongs to
 *   the host's user namespace, so without this it would receive the host's uevents (other
 *   tenants' loop devices, ...).
 * - Newer mount and namespace introspection: statmount, listmount, open_tree_attr, listns, by
 *   raw x86_64 number when libseccomp does not know them (see raw_blocked below).
 * ------------------------------------------------------------------------------------------ */

static const int blocked_syscalls[] = {
    /* mount API */
    SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(open_tree),
    SCMP_SYS(move_mount), SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount),
    SCMP_SYS(fspick), SCMP_SYS(mount_setattr),
    /* namespaces */
    SCMP_SYS(unshare), SCMP_SYS(setns),
    /* kernel */
    SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),
    SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
    SCMP_SYS(userfaultfd), SCMP_SYS(syslog), SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(uselib),
    SCMP_SYS(ustat), SCMP_SYS(sysfs), SCMP_SYS(vm86), SCMP_SYS(vm86old), SCMP_SYS(nfsservctl),
    SCMP_SYS(lookup_dcookie), SCMP_SYS(acct), SCMP_SYS(reboot), SCMP_SYS(swapon),
    SCMP_SYS(swapoff), SCMP_SYS(quotactl), SCMP_SYS(quotactl_fd),
    /* keyring */
    SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
    /* other processes */
    SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(kcmp),
    /* clock */
    SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex),
    /* file handles */
    SCMP_SYS(name_to_handle_at), SCMP_SYS(open_by_handle_at),
    /* io_uring */
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
};

/*
 * System calls newer than the libseccomp we build with (2.5.4 knows none of these), by their
 * x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl). Reviewed up to Linux 6.18: these
 * inspect or change mounts and namespaces; the other additions since the profile was first
 * written (cachestat, fchmodat2, map_shadow_stack, futex_wake/wait/requeue, lsm_*_self_attr,
 * lsm_list_modules, mseal, setxattrat/getxattrat/listxattrat/removexattrat, file_getattr,
 * file_setattr) act on the caller's own memory, files or LSM attributes and stay allowed.
 */
static const struct {
  int nr;
  const char *name;
} raw_blocked[] = {
    {457, "statmount"},
    {458, "listmount"},
    {467, "open_tree_attr"},
    {470, "listns"},
};

/* socket() families a sandbox needs; all others get EAFNOSUPPORT. */
static const int allowed_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
/* Family numbers below this are denied one by one, from here up with one comparison. */
#define FAMILY_LIMIT 64
/* Netlink protocols a sandbox needs; all others get EPROTONOSUPPORT. */
static const int allowed_netlink[] = {NETLINK_ROUTE, NETLINK_SOCK_DIAG};

static int listed(const int *list, size_t n, int v) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == v) return 1;
  return 0;
}

static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
    /* CLONE_NEWTIME (0x80) is only valid for unshare/clone3 and overlaps clone's exit-signal
       byte, so it is not tested here (unshare and clone3 are blocked anyway). */
};

static void rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned count,
                 struct scmp_arg_cmp a, struct scmp_arg_cmp b) {
  int rc;
  if (count == 0) rc = seccomp_rule_add(ctx, action, nr, 0);
  else if (count == 1) rc = seccomp_rule_add(ctx, action, nr, 1, a);
  else rc = seccomp_rule_add(ctx, action, nr, 2, a, b);
  /* -EDOM/-EFAULT: the syscall does not exist on this arch (e.g. vm86 on x86_64): fine. */
  if (rc < 0 && rc != -EDOM && rc != -EFAULT) {
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    fprintf(stderr, "atoll-launch: seccomp rule for %s (%d): %s\n", name ? name : "?", nr,
            strerror(-rc));
    exit(LAUNCH_FAIL);
  }
}

scmp_filter_ctx build_filter(void) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  const struct scmp_arg_cmp none = SCMP_A0(SCMP_CMP_EQ, 0);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) die_msg("seccomp_init failed");
  /* Non-native ABIs (i386, x32) kill the whole process. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
    die_msg("seccomp: cannot set bad-arch action");
  /* bwrap sets no_new_privs itself before loading the filter. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) die_msg("seccomp: cannot set NNP");

  for (size_t i = 0; i < sizeof blocked_syscalls / sizeof blocked_syscalls[0]; i++)
    if (blocked_syscalls[i] >= 0) rule(ctx, eperm, blocked_syscalls[i], 0, none, none);

  for (size_t i = 0; i < sizeof clone_ns_flags / sizeof clone_ns_flags[0]; i++) {
    unsigned long f = clone_ns_flags[i];
    rule(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f), none);
  }
  rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, none, none);

  rule(ctx, eperm, SCMP_SYS(mknod), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR), none);
  rule(ctx, eperm, SCMP_SYS(mknod), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK), none);
  rule(ctx, eperm, SCMP_SYS(mknodat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR), none);
  rule(ctx, eperm, SCMP_SYS(mknodat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK), none);

  for (size_t i = 0; i < sizeof raw_blocked / sizeof raw_blocked[0]; i++)
    rule(ctx, eperm, raw_blocked[i].nr, 0, none, none);

  /* Sockets. The rules on one syscall never overlap, so no two actions compete. */
  const uint32_t no_family = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  const size_t nallowed = sizeof allowed_families / sizeof allowed_families[0];
  rule(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET), none);
  for (int f = 0; f < FAMILY_LIMIT; f++)
    if (f != AF_PACKET && !listed(allowed_families, nallowed, f))
      rule(ctx, no_family, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f), none);
  rule(ctx, no_family, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GE, FAMILY_LIMIT), none);
  for (size_t i = 0; i < nallowed; i++)
    if (allowed_families[i] != AF_NETLINK)
      rule(ctx, eperm, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_families[i]),
           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
  const uint32_t no_protocol = SCMP_ACT_ERRNO(EPROTONOSUPPORT);
  const size_t nnetlink = sizeof allowed_netlink / sizeof allowed_netlink[0];
  for (int p = 0; p < MAX_LINKS; p++)
    if (!listed(allowed_netlink, nnetlink, p))
      rule(ctx, no_protocol, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
           SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)p));
  rule(ctx, no_protocol, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
       SCMP_A2(SCMP_CMP_GE, MAX_LINKS));
  rule(ctx, no_family, SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX), none);
  rule(ctx, eperm, SCMP_SYS(socketpair), 2, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
  return ctx;
}

/*
 * personality() allow-list, prepended to the libseccomp program. Classic BPF jumps are
 * relative and forward only, so the libseccomp program that follows is unchanged; every
 * "not personality" path falls through to its first instruction.
 */
#define PERSONALITY_PREFIX_LEN 14
static void personality_prefix(struct sock_filter *p) {
  const unsigned rest = PERSONALITY_PREFIX_LEN; /* index of the first libseccomp insn */
  const unsigned deny = 12, allow = 13;
  struct sock_filter prog[PERSONALITY_PREFIX_LEN] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, rest - 2),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, rest - 4),
      /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4),
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, deny - 6),
      /* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, allow - 8, 0),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, allow - 9, 0),
      /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, allow - 10, 0),
      /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, allow - 11, 0),
      /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, allow - 12, 0),
      /* 12 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      /* 13 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  memcpy(p, prog, sizeof prog);
}

/* Returns a memfd (not close-on-exec) holding the complete BPF program, offset 0. */
int export_filter(scmp_filter_ctx ctx) {
  int tmp = memfd_create("atoll-seccomp-lib", MFD_CLOEXEC);
  if (tmp < 0) die("memfd_create");
  int rc = seccomp_export_bpf(ctx, tmp);
  if (rc < 0) {
    errno = -rc;
    die("seccomp_export_bpf");
  }
  off_t len = lseek(tmp, 0, SEEK_CUR);
  if (len <= 0 || len % (off_t)sizeof(struct sock_filter)) die_msg("bad BPF size");
  size_t total = PERSONALITY_PREFIX_LEN * sizeof(struct sock_filter) + (size_t)len;
  struct sock_filter *prog = malloc(total);
  if (!prog) die("malloc");
  personality_prefix(prog);
  if (pread(tmp, prog + PERSONALITY_PREFIX_LEN, (size_t)len, 0) != len) die("pread BPF");
  close(tmp);
  if (total / sizeof(struct sock_filter) > BPF_MAXINSNS) die_msg("seccomp program too long");

  int fd = memfd_create("atoll-seccomp", 0);
  if (fd < 0) die("memfd_create");
  if (write(fd, prog, total) != (ssize_t)total) die("write BPF");
  if (lseek(fd, 0, SEEK_SET) < 0) die("lseek");
  free(prog);
  return fd;
}

