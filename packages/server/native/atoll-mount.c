/*
 * atoll-mount: bind a host directory at a path inside a (possibly live, hostile) sandbox root.
 *
 *   atoll-mount bind SRC ROOT TARGET [ro]   mount SRC at ROOT/TARGET (nosuid, nodev; ro: read-only)
 *   atoll-mount unbind ROOT TARGET          detach the mount at ROOT/TARGET (MNT_DETACH)
 *   atoll-mount bind-ro ROOT SRC TARGET [SRC TARGET]...
 *                                           several read-only, private binds in one run (cgroup view)
 *
 * ROOT is trusted (the host path of the sandbox root); TARGET is a path inside the sandbox and
 * every component of it is resolved with openat(O_PATH|O_NOFOLLOW|O_DIRECTORY) starting from
 * ROOT, so a symlink the sandbox planted cannot redirect the mount outside its root. `..` is
 * rejected. Missing directories are created (mode 0755, owned like their parent directory).
 * The mount is then made on the resolved descriptor itself, never on a path string.
 *
 * `bind` prefers the new mount API (open_tree + mount_setattr + move_mount): the read-only
 * mount appears in the sandbox already read-only, with no window in which it is writable.
 * On kernels without it, it falls back to mount(MS_BIND) + remount on /proc/self/fd/N.
 *
 * Exit status: 0 ok, 2 bad target (symlink, `..`, not a directory, missing for unbind),
 * 1 any other failure. The reason is printed on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#endif

/* Local copy: struct mount_attr may be missing from older headers. */
struct atoll_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

#define EXIT_BAD_TARGET 2
#define EXIT_FAIL 1

static const char *g_target;

static void __attribute__((noreturn)) fail(int code, const char *fmt, const char *arg, int err) {
  fprintf(stderr, "atoll-mount: ");
  fprintf(stderr, fmt, arg);
  if (err) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
  exit(code);
}

static void __attribute__((noreturn)) bad_target(void) {
  fail(EXIT_BAD_TARGET, "mount point %s is a symlink or escapes the sandbox", g_target, 0);
}

/*
 * Resolves TARGET below root_fd one component at a time. With `create`, missing directories
 * are made. Returns an O_PATH descriptor of the final directory; *parent_fd (if not NULL)
 * receives one of its parent and *last its final component (NULL when TARGET is the root).
 */
static int resolve(int root_fd, const char *target, int create, int *parent_fd, char **last) {
  char *copy = strdup(target);
  if (!copy) fail(EXIT_FAIL, "%s", "out of memory", 0);
  int fd = dup(root_fd), parent = -1;
  char *save = NULL, *name = NULL;
  if (fd < 0) fail(EXIT_FAIL, "dup %s", target, errno);
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) bad_target();
    int next = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      struct stat pst;
      if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
        fail(EXIT_FAIL, "cannot create directories for mount point %s", target, errno);
      /* Owned like its parent, so `/mnt/new` belongs to sandbox root rather than to an
         unmapped host uid. fchownat with AT_SYMLINK_NOFOLLOW never follows a swapped-in
         symlink; the openat below rejects one anyway. */
      if (fstat(fd, &pst) == 0) fchownat(fd, c, pst.st_uid, pst.st_gid, AT_SYMLINK_NOFOLLOW);
      next = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR) bad_target();
      if (errno == ENOENT) fail(EXIT_BAD_TARGET, "mount point %s does not exist", target, 0);
      fail(EXIT_FAIL, "cannot resolve mount point %s", target, errno);
    }
    if (parent >= 0) close(parent);
    parent = fd;
    fd = next;
    name = c;
  }
  if (parent_fd) *parent_fd = parent;
  else if (parent >= 0) close(parent);
  if (last) *last = name; /* points into `copy`, which lives until exit */
  return fd;
}

static void fd_path(char *buf, size_t len, int fd) { snprintf(buf, len, "/proc/self/fd/%d", fd); }

/* Classic API fallback: bind, then reopen the now-mounted directory and remount it. */
static void bind_classic(const char *src, int parent, const char *last, int fd, int ro) {
  char p[64];
  fd_path(p, sizeof p, fd);
  if (mount(src, p, NULL, MS_BIND | MS_REC, NULL) < 0)
    fail(EXIT_FAIL, "cannot bind %s", src, errno);
  /* The descriptor still names the directory underneath; a fresh lookup crosses into the
     new mount. Check it really is the mount we made before remounting it. */
  int top = last ? openat(parent, last, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC) : -1;
  struct stat a, b;
  if (top < 0 || stat(src, &a) < 0 || fstat(top, &b) < 0 || a.st_dev != b.st_dev ||
      a.st_ino != b.st_ino) {
    umount2(p, MNT_DETACH);
    fail(EXIT_BAD_TARGET, "mount point %s changed while mounting", g_target, 0);
  }
  fd_path(p, sizeof p, top);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0);
  if (mount(NULL, p, NULL, flags, NULL) < 0) {
    int err = errno;
    umount2(p, MNT_DETACH);
    fail(EXIT_FAIL, "cannot set flags on mount %s", g_target, err);
  }
}

static int do_bind(const char *src, const char *root, const char *target, int ro) {
  int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) fail(EXIT_FAIL, "cannot open root %s", root, errno);
  int parent = -1;
  char *last = NULL;
  int fd = resolve(root_fd, target, 1, &parent, &last);
  if (!last) fail(EXIT_BAD_TARGET, "cannot mount over the sandbox root (%s)", target, 0);

  /* ATOLL_MOUNT_CLASSIC=1 forces the fallback (tests exercise both paths). */
  const char *classic = getenv("ATOLL_MOUNT_CLASSIC");
  if (classic && strcmp(classic, "1") == 0) {
    bind_classic(src, parent, last, fd, ro);
    return 0;
  }
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
                          OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
  if (tree < 0 && (errno == ENOSYS || errno == EPERM)) {
    bind_classic(src, parent, last, fd, ro);
    return 0;
  }
  if (tree < 0) fail(EXIT_FAIL, "cannot open source %s", src, errno);
  struct atoll_mount_attr attr = {0};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0);
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
    if (errno == ENOSYS) {
      close(tree);
      bind_classic(src, parent, last, fd, ro);
      return 0;
    }
    fail(EXIT_FAIL, "cannot set mount attributes for %s", src, errno);
  }
  if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    fail(EXIT_FAIL, "cannot attach mount at %s", target, errno);
  return 0;
}

static int do_unbind(const char *root, const char *target) {
  int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) fail(EXIT_FAIL, "cannot open root %s", root, errno);
  char *last = NULL;
  /* The final lookup crosses into the mounted filesystem: fd names the mount's root. */
  int fd = resolve(root_fd, target, 0, NULL, &last);
  if (!last) fail(EXIT_BAD_TARGET, "cannot unmount the sandbox root (%s)", target, 0);
  char p[64];
  fd_path(p, sizeof p, fd);
  if (umount2(p, MNT_DETACH) < 0) {
    if (errno == EINVAL) fail(EXIT_FAIL, "%s is not a mount point", target, 0);
    fail(EXIT_FAIL, "cannot unmount %s", target, errno);
  }
  return 0;
}

/*
 * Marks the mount at ROOT/TARGET private. A mount attached under the sandbox root (shared, for
 * hot attach) becomes shared too; one that never needs to propagate (the cgroup view) is made
 * private, so it joins no peer group that every later sandbox's mount namespace copy would join.
 */
static void make_private(const char *root, const char *target) {
  int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) fail(EXIT_FAIL, "cannot open root %s", root, errno);
  char *last = NULL;
  int fd = resolve(root_fd, target, 0, NULL, &last);
  char p[64];
  fd_path(p, sizeof p, fd);
  if (mount(NULL, p, NULL, MS_PRIVATE, NULL) < 0) fail(EXIT_FAIL, "cannot make mount %s private", target, errno);
  close(fd);
  close(root_fd);
}

static void __attribute__((noreturn)) usage(void) {
  fprintf(stderr, "usage: atoll-mount bind SRC ROOT TARGET [ro]\n"
                  "       atoll-mount unbind ROOT TARGET\n"
                  "       atoll-mount bind-ro ROOT SRC TARGET [SRC TARGET]...\n");
  exit(EXIT_FAIL);
}

int main(int argc, char **argv) {
  if (argc >= 5 && argc <= 6 && strcmp(argv[1], "bind") == 0) {
    int ro = 0;
    if (argc == 6) {
      if (strcmp(argv[5], "ro") == 0) ro = 1;
      else if (strcmp(argv[5], "rw") != 0) usage();
    }
    g_target = argv[4];
    return do_bind(argv[2], argv[3], argv[4], ro);
  }
  if (argc >= 5 && argc % 2 == 1 && strcmp(argv[1], "bind-ro") == 0) {
    /* Stops at the first failure; the caller's teardown unmounts the binds already made. */
    for (int i = 3; i + 1 < argc; i += 2) {
      g_target = argv[i + 1];
      do_bind(argv[i], argv[2], argv[i + 1], 1);
      make_private(argv[2], argv[i + 1]);
    }
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "unbind") == 0) {
    g_target = argv[3];
    return do_unbind(argv[2], argv[3]);
  }
  usage();
}
