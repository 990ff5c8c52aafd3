/*
 * atoll-launch --mount-base NSFILE --attach-tree PATH ...: starts the sandbox from the base mount
 * namespace (atoll-mntns.c) instead of the daemon's.
 *
 * Every new mount namespace starts as a copy of its creator's, and bwrap makes one per sandbox:
 * started from the daemon's namespace, it copies (and then walks and unmounts) every live
 * sandbox's scratch, overlay, volume and cgroup-view mounts, so a create slows down with each
 * sandbox that runs. Here the launcher, still real root in the daemon's namespace, clones each
 * PATH's subtree (open_tree OPEN_TREE_CLONE | AT_RECURSIVE: a detached copy of that subtree
 * only; the sandbox root's clone stays a peer of the daemon's shared root, so later host-side
 * mounts under it — hot attach — still propagate in), joins NSFILE, unshares a private copy of
 * it (a few host mounts) and attaches each clone at the same path (move_mount). bwrap's own
 * unshare then copies this small table. The copy lives as long as the launcher/bwrap process.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"
#include "mntns-syscalls.h"

void enter_base_mntns(const char *base, char *const *trees, int ntrees) {
  int fds[MAX_ATTACH_TREES];
  if (ntrees > MAX_ATTACH_TREES) die_msg("too many --attach-tree");
  for (int i = 0; i < ntrees; i++) {
    fds[i] = clone_tree(trees[i], AT_RECURSIVE);
    if (fds[i] < 0) die(trees[i]);
  }
  int nsfd = open(base, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(base);
  if (setns(nsfd, CLONE_NEWNS) < 0) die("setns(mnt) into the base mount namespace");
  close(nsfd);
  /* A private copy: what is attached here never reaches the base or the host. */
  if (unshare(CLONE_NEWNS) < 0) die("unshare(CLONE_NEWNS)");
  for (int i = 0; i < ntrees; i++) {
    if (attach_tree(fds[i], trees[i]) < 0) die(trees[i]);
    close(fds[i]);
  }
}
