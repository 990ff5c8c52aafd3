/* The new mount API by syscall number (glibc's <sys/mount.h> wrappers clash with <linux/mount.h>). */
#ifndef ATOLL_MNTNS_SYSCALLS_H
#define ATOLL_MNTNS_SYSCALLS_H
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/* A detached copy of the mount at `path` (and, with AT_RECURSIVE, every mount under it). */
static inline int clone_tree(const char *path, unsigned flags) {
  return (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | flags);
}

/* Attaches the detached tree `fd` at `path` in the caller's mount namespace. */
static inline int attach_tree(int fd, const char *path) {
  return (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
}
#endif
