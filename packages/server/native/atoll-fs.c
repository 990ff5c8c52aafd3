/*
 * atoll-fs: performs one file operation for the daemon (docs/files.md). Statically linked and
 * bind-mounted read-only at /.atoll/fs in every sandbox, where the daemon spawns it through
 * atoll-init as the sandbox user: the kernel then resolves every path in the sandbox's own
 * mount namespace and root, with that user's rights, exactly as for any process in it.
 *
 *   atoll-fs OP ARGS...                          (in a sandbox, already the right user)
 *   atoll-fs --jail-fd N --uid U --gid G OP ARGS... (volume without a sandbox: started as root of
 *                                                  a throwaway bwrap namespace, with the volume's
 *                                                  root directory open as fd N; chroots there,
 *                                                  then becomes U:G)
 *
 * Operations (paths are used as given; the daemon makes relative paths absolute):
 *   stat PATH | lstat PATH | realpath PATH | readlink PATH
 *   mkdir PATH MODE|- RECURSIVE(0|1) | remove PATH RECURSIVE(0|1) | rename FROM TO
 *   symlink TARGET PATH | chmod PATH MODE | chown PATH UID GID (-1 keeps) | truncate PATH LEN
 *   mktemp d|f DIR PREFIX SUFFIX
 *   read PATH | write PATH MODE|- FLAGS (a=append c=create n=createNew, or -) | copy FROM TO
 *   readdir PATH | walk ROOT MAXDEPTH FOLLOW(0|1)
 *   tar-out PATH | tar-in DIR
 *
 * stdin/stdout carry records (`u8 type | u32 length BE | payload`, see fs.h). Every run ends with
 * one R (JSON result, exit 0) or X (JSON error with errno, exit 1) record.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"

static long parse_id(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end || v < 0 || v > 65535) fail_msg(EINVAL, "argv", s, "bad uid/gid");
  return v;
}

/* chroot into the volume (the directory open as fd), then drop to the given user: every
   capability goes with uid 0. The fd was opened by the daemon on its own mount of the volume;
   after this the process sees nothing but the volume ("/.." is "/"). */
static void enter_jail(const char *fdstr, long uid, long gid) {
  gid_t g = (gid_t)gid;
  char *end;
  long fd = strtol(fdstr, &end, 10);
  if (*fdstr == '\0' || *end || fd < 3 || fd > 1024) fail_msg(EINVAL, "argv", fdstr, "bad --jail-fd");
  if (fchdir((int)fd) < 0) fail(errno, "fchdir", fdstr);
  if (chroot(".") < 0) fail(errno, "chroot", fdstr);
  if (chdir("/") < 0) fail(errno, "chdir", "/");
  close((int)fd);
  if (setgroups(1, &g) < 0) fail(errno, "setgroups", "");
  if (setresgid(g, g, g) < 0) fail(errno, "setresgid", "");
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) fail(errno, "setresuid", "");
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) fail(errno, "capget", "");
  if (uid != 0 && (data[0].effective || data[1].effective || data[0].permitted || data[1].permitted))
    fail_msg(EPERM, "capget", "", "capabilities survived the switch to the volume user");
}

int main(int argc, char **argv) {
  /* Other processes of the same sandbox user must not take our stdout (pidfd_getfd,
     /proc/PID/fd) nor write our memory: what we print is what the daemon believes. The binary
     is also unreadable to sandbox users, which makes the kernel mark us non-dumpable from exec. */
  if (prctl(PR_SET_DUMPABLE, DUMPABLE, 0, 0, 0) < 0) fail(errno, "prctl", "PR_SET_DUMPABLE");
  signal(SIGPIPE, SIG_IGN);
  umask(022);
  /* Larger pipes: fewer, larger reads and writes on both sides. Refused when the user's pipe
     quota is used up (fs.pipe-user-pages-soft); the default size then works the same, slower. */
  fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_SIZE);
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_SIZE);
  int i = 1;
  if (i < argc && strcmp(argv[i], "--jail-fd") == 0) {
    if (argc < i + 6 || strcmp(argv[i + 2], "--uid") || strcmp(argv[i + 4], "--gid"))
      fail_msg(EINVAL, "argv", "", "usage: atoll-fs --jail-fd N --uid U --gid G OP ARGS...");
    enter_jail(argv[i + 1], parse_id(argv[i + 3]), parse_id(argv[i + 5]));
    i += 6;
  }
  if (i >= argc) fail_msg(EINVAL, "argv", "", "no operation given");
  int n = argc - i;
  char **a = argv + i;
  const char *op = a[0];
  if (op_meta(n, a) || op_file(n, a)) return 0;
  if (strcmp(op, "readdir") == 0 && n == 2) op_readdir(a[1]);
  else if (strcmp(op, "walk") == 0 && n == 4) op_walk(a[1], strtol(a[2], NULL, 10), a[3][0] == '1');
  else if (strcmp(op, "tar-out") == 0 && n == 2) op_tar_out(a[1]);
  else if (strcmp(op, "tar-in") == 0 && n == 2) op_tar_in(a[1]);
  else fail_msg(EINVAL, "argv", op, "unknown operation or wrong number of arguments");
  return 0;
}
