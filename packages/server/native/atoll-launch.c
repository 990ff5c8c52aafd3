/*
 * atoll-launch: host-side launcher of one sandbox (runs as real root).
 *
 *   atoll-launch --uid-base N [--owner-uid U] [--cgroup-procs FILE ... | --cgroup-dir DIR] [--netns PATH]
 *                [--mount-base NSFILE --attach-tree PATH ...] -- bwrap ARGS...
 *   atoll-launch --wait-args [--cgroup-procs FILE ...]
 *                                     (pooled: joins the cgroups now, reads the other arguments
 *                                      as one record from stdin later; see read_args)
 *   atoll-launch --print-seccomp      (prints the seccomp profile as libseccomp PFC, for review)
 *
 * With --cgroup-dir DIR (cgroup v2) the launcher first forks itself straight into that cgroup
 * (clone3 with CLONE_INTO_CGROUP: no migration, which on v2 waits for an RCU grace period like a
 * v1 cgroup.procs write, 15-20 ms) and the child does all that follows; the parent stays where it
 * was, holds nothing (stdin and stdout go to the child) and exits as the child does, with its
 * status or its signal, so the daemon still sees one process. Kernels without clone3 or
 * CLONE_INTO_CGROUP (before 5.7, or a seccomp filter that refuses clone3) fall back to writing
 * the pid into DIR/cgroup.procs.
 * 0. With --netns PATH (a network namespace the daemon prepared, e.g. /run/netns/atoll-…), joins
 *    it first, while still real root: the namespace stays owned by the host's initial user
 *    namespace, so sandbox root (root only in the sandbox's own user namespace) cannot change
 *    its interfaces, addresses, routes or firewall. Then sets net.ipv4.ip_unprivileged_port_start
 *    to 0 in it (sandbox root lacks CAP_NET_BIND_SERVICE over this namespace, and servers inside
 *    should still be able to listen on port 80). bwrap then runs without --unshare-net.
 * 0b. With --mount-base NSFILE, moves to a private copy of that mount namespace, taking the
 *    --attach-tree subtrees (the sandbox root, lxcfs) along (launch-mntns.c): bwrap then copies
 *    a small mount table instead of the daemon's, which holds every live sandbox's mounts.
 * 1. Creates a user namespace mapping sandbox uid/gid 0..65535 to host N..N+65535: a forked
 *    helper unshare(CLONE_NEWUSER)s, the launcher writes the helper's uid_map/gid_map, joins
 *    the namespace with setns() and kills the helper. Sandbox root is host uid N: unprivileged
 *    on the host. With --owner-uid U the helper first becomes host uid/gid U, so the namespace
 *    is *owned* by U instead of host root: the kernel charges the per-user budgets of everything
 *    inside (inotify instances and watches, POSIX message-queue bytes, fanotify groups, pending
 *    signals, locked memory, namespaces, processes) to U in the host's user namespace, so one
 *    sandbox cannot exhaust host root's budgets or a neighbour's (each sandbox gets its own U).
 *    U owns no file and runs no process; its RLIMIT_NPROC is lifted first (the sandbox's pids
 *    cgroup is the process limit).
 * 2. Writes its own pid into every --cgroup-procs file (before joining the namespace), so bwrap
 *    and everything it starts is accounted to the sandbox's cgroups.
 * 3. Becomes uid/gid 0 of the namespace (full capabilities inside it, none outside).
 * 4. Builds the seccomp filter (launch-seccomp.c) into a memfd and execs bwrap with
 *    `--seccomp FD` inserted as its first option. bwrap loads it right before it execs the
 *    sandbox's pid 1, so bwrap itself can still mount, pivot_root and unshare.
 *
 * Exit status: bwrap's when it runs; 125 when the launcher itself fails (message on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"

#define MAP_COUNT 65536u
#define MAX_CGROUP_FILES 16

void die(const char *what) {
  fprintf(stderr, "atoll-launch: %s: %s\n", what, strerror(errno));
  exit(LAUNCH_FAIL);
}

void die_msg(const char *msg) {
  fprintf(stderr, "atoll-launch: %s\n", msg);
  exit(LAUNCH_FAIL);
}

static void write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  size_t len = strlen(data);
  ssize_t n = write(fd, data, len);
  if (n < 0 || (size_t)n != len) die(path);
  if (close(fd) < 0) die(path);
}

/*
 * Becomes host uid/gid `owner` (no supplementary groups) but keeps its capabilities, so creating
 * the namespace is not an unprivileged unshare (which hosts may forbid or restrict: Debian's
 * unprivileged_userns_clone, Ubuntu's AppArmor userns restriction). The owner is the euid.
 */
static int become_owner(long long owner) {
  struct rlimit nproc;
  /* The namespace's process budget at the owner's level comes from the creator's RLIMIT_NPROC
     soft limit: raise it to the hard one (the sandbox's pids cgroup is the real process limit). */
  if (getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != nproc.rlim_max) {
    nproc.rlim_cur = nproc.rlim_max;
    if (setrlimit(RLIMIT_NPROC, &nproc) < 0) return -1;
  }
  if (prctl(PR_SET_KEEPCAPS, 1) < 0) return -1;
  if (setgroups(0, NULL) < 0) return -1;
  if (setresgid((gid_t)owner, (gid_t)owner, (gid_t)owner) < 0) return -1;
  if (setresuid((uid_t)owner, (uid_t)owner, (uid_t)owner) < 0) return -1;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];
  if (syscall(SYS_capget, &hdr, caps) < 0) return -1;
  caps[0].effective = caps[0].permitted;
  caps[1].effective = caps[1].permitted;
  return (int)syscall(SYS_capset, &hdr, caps);
}

/*
 * Forks a helper that creates a user namespace (owned by host uid `owner`, or by root when
 * owner < 0) and waits (reading `hold`) until killed.
 */
static pid_t fork_userns_helper(int *hold_write, long long owner) {
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(ready[0]);
    close(hold[1]);
    char ok = 'y';
    int err = 0;
    if (owner >= 0 && become_owner(owner) < 0) {
      ok = 'n';
      err = errno;
    }
    /* After the uid change, which clears the parent-death signal. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ok == 'y' && unshare(CLONE_NEWUSER) < 0) {
      ok = 'n';
      err = errno;
    }
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    if (ok != 'y') {
      if (write(ready[1], &err, sizeof err) < 0) _exit(1);
      _exit(1);
    }
    char b;
    while (read(hold[0], &b, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char ok = 0;
  if (read(ready[0], &ok, 1) != 1 || ok != 'y') {
    int err = 0;
    if (read(ready[0], &err, sizeof err) == sizeof err) errno = err;
    die(owner >= 0 ? "creating the user namespace as its owner uid" : "unshare(CLONE_NEWUSER)");
  }
  close(ready[0]);
  *hold_write = hold[1];
  return pid;
}

/* Joins the network namespace at `path` (see step 0 above). */
static void join_netns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  if (setns(fd, CLONE_NEWNET) < 0) die("setns(net)");
  close(fd);
  /* /proc/sys/net shows the namespace of the process that opens it: this one now. */
  write_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n");
}

static void usage(void) {
  die_msg("usage: atoll-launch --uid-base N [--owner-uid U] [--cgroup-procs FILE ... | --cgroup-dir DIR] [--netns PATH]\n"
          "                    [--mount-base NSFILE --attach-tree PATH ...] -- bwrap ARGS...\n"
          "       atoll-launch --wait-args [--cgroup-procs FILE ...]   (the rest as a record on stdin)\n"
          "       atoll-launch --print-seccomp");
}

/* Options of one launch. */
struct opts {
  long long uid_base;
  long long owner_uid; /* -1: the user namespace is owned by root */
  const char *cgroup_files[MAX_CGROUP_FILES];
  int ncgroup;
  const char *cgroup_dir; /* cgroup v2: clone into it (see the top of this file) */
  const char *netns;
  const char *mount_base;
  char *trees[MAX_ATTACH_TREES];
  int ntrees;
  int wait_args;
  char **cmd; /* bwrap argv, NULL-terminated */
  int ncmd;
};

static void parse_opts(int argc, char **argv, struct opts *o) {
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      o->cmd = argv + i + 1;
      o->ncmd = argc - i - 1;
      return;
    } else if (strcmp(argv[i], "--print-seccomp") == 0) {
      scmp_filter_ctx ctx = build_filter();
      printf("# personality(): allowed only for 0, 0x8, 0x20000, 0x20008, 0xffffffff "
             "(BPF prefix, not shown below)\n");
      fflush(stdout);
      seccomp_export_pfc(ctx, STDOUT_FILENO);
      seccomp_release(ctx);
      exit(0);
    } else if (strcmp(argv[i], "--wait-args") == 0) {
      o->wait_args = 1;
    } else if (strcmp(argv[i], "--uid-base") == 0 && i + 1 < argc) {
      char *end;
      o->uid_base = strtoll(argv[++i], &end, 10);
      if (*end || o->uid_base < 1 || o->uid_base > 4294967295LL - MAP_COUNT) usage();
    } else if (strcmp(argv[i], "--owner-uid") == 0 && i + 1 < argc) {
      char *end;
      o->owner_uid = strtoll(argv[++i], &end, 10);
      if (*end || o->owner_uid < 1 || o->owner_uid > 4294967294LL) usage();
    } else if (strcmp(argv[i], "--netns") == 0 && i + 1 < argc) {
      o->netns = argv[++i];
    } else if (strcmp(argv[i], "--mount-base") == 0 && i + 1 < argc) {
      o->mount_base = argv[++i];
    } else if (strcmp(argv[i], "--attach-tree") == 0 && i + 1 < argc) {
      if (o->ntrees == MAX_ATTACH_TREES) die_msg("too many --attach-tree");
      o->trees[o->ntrees++] = argv[++i];
    } else if (strcmp(argv[i], "--cgroup-procs") == 0 && i + 1 < argc) {
      if (o->ncgroup == MAX_CGROUP_FILES) die_msg("too many --cgroup-procs");
      o->cgroup_files[o->ncgroup++] = argv[++i];
    } else if (strcmp(argv[i], "--cgroup-dir") == 0 && i + 1 < argc) {
      o->cgroup_dir = argv[++i];
    } else {
      usage();
    }
  }
}

/* Reads exactly n bytes from stdin (no buffering: what follows belongs to the sandbox's init). */
static int read_exact(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(STDIN_FILENO, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/*
 * --wait-args: the rest of the arguments arrive on stdin as one record (u32 length, big endian,
 * then NUL-terminated strings). A pooled launcher has already joined its cgroups by then: on
 * cgroup v1 the first cgroup.procs write of a process waits for an RCU grace period (about
 * 16 ms), which the daemon takes off the sandbox-creation path this way. EOF before the record
 * (the pool closing) exits quietly.
 */
static void read_args(struct opts *o) {
  unsigned char hdr[4];
  if (read_exact(hdr, 4) < 0) exit(0);
  uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (len == 0 || len > (1u << 20)) die_msg("bad argument record on stdin");
  char *buf = malloc(len);
  if (!buf || read_exact((unsigned char *)buf, len) < 0) die_msg("short argument record on stdin");
  if (buf[len - 1] != '\0') die_msg("argument record must end with NUL");
  int n = 0;
  for (uint32_t i = 0; i < len; i++)
    if (buf[i] == '\0') n++;
  char **av = calloc((size_t)n + 1, sizeof *av);
  if (!av) die("calloc");
  for (int i = 0, k = 0; k < n; k++) {
    av[k] = buf + i;
    i += (int)strlen(buf + i) + 1;
  }
  parse_opts(n, av, o);
}

static void join_cgroups(const struct opts *o) {
  char self[32];
  snprintf(self, sizeof self, "%d\n", getpid());
  for (int i = 0; i < o->ncgroup; i++) write_file(o->cgroup_files[i], self);
}

/*
 * --cgroup-dir: continues in a child created inside `dir` (clone3 CLONE_INTO_CGROUP); this
 * process only waits for it and exits the same way. Returns in the child (or, without
 * CLONE_INTO_CGROUP, in this process after moving it into `dir`).
 */
static void enter_cgroup_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die(dir);
  pid_t parent = getpid();
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)fd;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
    char procs[4096], self[32];
    if (snprintf(procs, sizeof procs, "%s/cgroup.procs", dir) >= (int)sizeof procs) die_msg("--cgroup-dir is too long");
    snprintf(self, sizeof self, "%d\n", getpid());
    write_file(procs, self);
    close(fd);
    return;
  }
  if (pid < 0) die("clone3(CLONE_INTO_CGROUP)");
  if (pid == 0) {
    close(fd);
    /* The daemon ends a launch by killing this pair's parent: the child must not outlive it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) die_msg("the launcher's parent is gone");
    return;
  }
  close(fd);
  /* The child holds the control channel now; this process keeps only stderr. */
  close(STDIN_FILENO);
  close(STDOUT_FILENO);
  int status;
  while (waitpid((pid_t)pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (WIFEXITED(status)) exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  signal(sig, SIG_DFL);
  raise(sig);
  exit(128 + sig);
}

int main(int argc, char **argv) {
  struct opts o = {.uid_base = -1, .owner_uid = -1};
  parse_opts(argc - 1, argv + 1, &o);
  if (o.wait_args && o.cmd) usage();

  /* Build the filter first: a bad profile fails before anything is created (and a pooled
     launcher has it ready before its arguments arrive). */
  scmp_filter_ctx ctx = build_filter();
  int seccomp_fd = export_filter(ctx);
  seccomp_release(ctx);

  if (o.wait_args) {
    join_cgroups(&o);
    read_args(&o);
  }
  if (!o.cmd || o.ncmd < 1 || o.uid_base < 0) usage();
  if (o.cgroup_dir && o.ncgroup > 0) die_msg("--cgroup-dir and --cgroup-procs exclude each other");
  /* First: the user-namespace helper and everything after run (and are charged) inside. */
  if (o.cgroup_dir) enter_cgroup_dir(o.cgroup_dir);
  long long uid_base = o.uid_base;
  const char *netns = o.netns;

  if (netns) join_netns(netns);
  if (o.ntrees > 0 && !o.mount_base) die_msg("--attach-tree needs --mount-base");
  if (o.mount_base) enter_base_mntns(o.mount_base, o.trees, o.ntrees);

  int hold;
  if (o.owner_uid >= uid_base && o.owner_uid < uid_base + MAP_COUNT) die_msg("--owner-uid must be outside the mapped range");
  pid_t helper = fork_userns_helper(&hold, o.owner_uid);

  char path[64], map[64];
  snprintf(map, sizeof map, "0 %lld %u\n", uid_base, MAP_COUNT);
  snprintf(path, sizeof path, "/proc/%d/uid_map", helper);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", helper);
  write_file(path, map);

  if (!o.wait_args) join_cgroups(&o);

  snprintf(path, sizeof path, "/proc/%d/ns/user", helper);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(path);
  if (setns(nsfd, CLONE_NEWUSER) < 0) die("setns(user)");
  close(nsfd);
  close(hold);
  kill(helper, SIGKILL);
  while (waitpid(helper, NULL, 0) < 0 && errno == EINTR) {
  }

  if (setgroups(0, NULL) < 0) die("setgroups");
  if (setresgid(0, 0, 0) < 0) die("setresgid");
  if (setresuid(0, 0, 0) < 0) die("setresuid");

  /* argv for bwrap: cmd[0], "--seccomp", FD, cmd[1..] */
  int n = o.ncmd;
  char **av = calloc((size_t)n + 3, sizeof *av);
  if (!av) die("calloc");
  char fdstr[16];
  snprintf(fdstr, sizeof fdstr, "%d", seccomp_fd);
  av[0] = o.cmd[0];
  av[1] = "--seccomp";
  av[2] = fdstr;
  for (int i = 1; i < n; i++) av[i + 2] = o.cmd[i];
  av[n + 2] = NULL;
  execvp(av[0], av);
  die(av[0]);
}
