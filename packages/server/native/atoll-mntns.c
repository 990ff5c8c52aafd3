/*
 * atoll-mntns: the base mount namespace sandboxes start from (docs/architecture.md, "Mount
 * namespaces").
 *
 *   atoll-mntns base NSFILE RUNDIR
 *
 * Makes a new mount namespace: a copy of the caller's, every mount private (nothing made in it
 * propagates back, nothing made later on the host propagates in), with the mounts under RUNDIR
 * (every live sandbox's scratch, overlay root, volumes) left out: RUNDIR's own mount is kept
 * without its children. Every other loop-backed filesystem, overlay and lxcfs mount is left out
 * too (another daemon's sandboxes and volumes): a copy kept here would hold that filesystem
 * mounted after its owner unmounted it and detached its loop device, and the owner's next
 * attach of the same image would then put it on two loop devices. The namespace is pinned by a bind mount of its nsfs file on NSFILE (an
 * existing regular file on a private mount, e.g. under RUNDIR itself; an earlier pin there is
 * replaced). atoll-launch --mount-base NSFILE starts each sandbox from a private copy of it, so
 * bwrap copies a table of the host's few mounts and its own sandbox's, not every other
 * sandbox's.
 *
 * Exit status: 0 ok, 1 failure (reason on stderr).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "mntns-syscalls.h"

static void __attribute__((noreturn)) die(const char *what) {
  fprintf(stderr, "atoll-mntns: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Undoes mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s) {
  char *out = s;
  for (char *in = s; *in; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
}

/* true when `mnt` is `/` or holds `path` (a host whose root or state directory is on a loop device). */
static int holds(const char *mnt, const char *path) {
  size_t n = strlen(mnt);
  return strcmp(mnt, "/") == 0 || (strncmp(path, mnt, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

/* Detaches every loop-backed, overlay and lxcfs mount of this namespace (see the top), except
   those that hold the run directory. */
static void drop_pinning_mounts(const char *run_dir) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die("/proc/self/mountinfo");
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    /* id parent major:minor root MOUNTPOINT options [optional...] - FSTYPE SOURCE superoptions */
    char *fields[5], *save = NULL, *tok = strtok_r(line, " ", &save);
    int n = 0;
    for (; tok && n < 5; tok = strtok_r(NULL, " ", &save)) fields[n++] = tok;
    if (n < 5) continue;
    while (tok && strcmp(tok, "-") != 0) tok = strtok_r(NULL, " ", &save);
    char *fstype = tok ? strtok_r(NULL, " ", &save) : NULL;
    char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
    if (!fstype || !source) continue;
    if (strcmp(fstype, "overlay") != 0 && strcmp(fstype, "fuse.lxcfs") != 0 && strncmp(source, "/dev/loop", 9) != 0) continue;
    unescape(fields[4]);
    if (holds(fields[4], run_dir)) continue;
    /* EINVAL/ENOENT: gone already, with a parent detached before it. */
    if (umount2(fields[4], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) die(fields[4]);
  }
  free(line);
  fclose(f);
}

/* In the new namespace: everything private, RUNDIR without the mounts under it. */
static void prepare(const char *run_dir) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making the namespace private");
  /* RUNDIR's own mount, without its children (no AT_RECURSIVE) ... */
  int fd = clone_tree(run_dir, 0);
  if (fd < 0) die(run_dir);
  /* ... replaces RUNDIR and everything mounted under it. */
  if (umount2(run_dir, MNT_DETACH) < 0) die("detaching the run directory");
  if (attach_tree(fd, run_dir) < 0) die("re-attaching the run directory");
  close(fd);
  drop_pinning_mounts(run_dir);
}

int main(int argc, char **argv) {
  if (argc != 4 || strcmp(argv[1], "base") != 0) {
    fprintf(stderr, "usage: atoll-mntns base NSFILE RUNDIR\n");
    return 1;
  }
  const char *ns_file = argv[2], *run_dir = argv[3];
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(ready[0]);
    close(done[1]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNS) < 0) die("unshare(CLONE_NEWNS)");
    prepare(run_dir);
    if (write(ready[1], "y", 1) != 1) _exit(1);
    char b;
    while (read(done[0], &b, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char ok = 0;
  ssize_t n;
  while ((n = read(ready[0], &ok, 1)) < 0 && errno == EINTR) {
  }
  int status = 1;
  if (n == 1 && ok == 'y') {
    char src[64];
    snprintf(src, sizeof src, "/proc/%d/ns/mnt", (int)pid);
    umount2(ns_file, MNT_DETACH); /* an earlier daemon's pin, if any */
    if (mount(src, ns_file, NULL, MS_BIND, NULL) < 0) {
      fprintf(stderr, "atoll-mntns: pinning the namespace on %s: %s\n", ns_file, strerror(errno));
    } else {
      status = 0;
    }
  }
  close(done[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  return status;
}
