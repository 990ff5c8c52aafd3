/*
 * atoll-idshift FROM TO COUNT DIR
 *
 * Moves a tree of sandbox files from one host id range to another, offline (nothing may use
 * the tree meanwhile): every owner uid and gid in [FROM, FROM+COUNT) under DIR (DIR included)
 * becomes the same offset in [TO, TO+COUNT). Used when a state directory's sandbox id range
 * moves (volumes) and to derive a base image for another range (docs/operations.md).
 *
 * Per inode, besides the owner and group:
 * - chown clears setuid/setgid on non-directories: the mode is put back;
 * - chown drops `security.capability`: it is read first and written back, with the root id of a
 *   v3 (namespaced) capability moved too;
 * - POSIX ACL entries (`system.posix_acl_access`, `system.posix_acl_default`) naming a user or
 *   group of the range are moved.
 * Ids outside [FROM, FROM+COUNT) are left alone. The ranges must not overlap, which makes a
 * second run over a half-moved tree finish the job (an interrupted move is resumed this way).
 * Symlinks are never followed and the walk stays on DIR's filesystem.
 *
 * Prints `entries N moved M` on success (a hard link counts once per name). Exit status 0, or 1
 * with a message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ACL_XATTR_VERSION 2
#define ACL_USER 0x02
#define ACL_GROUP 0x08
#define VFS_CAP_REVISION_MASK 0xFF000000u
#define VFS_CAP_REVISION_3 0x03000000u
#define XATTR_CAPS_SZ_3 24
#define XATTR_MAX 65536

static uint64_t from, to, count;

static int in_range(uint64_t id) { return id >= from && id < from + count; }
static uint32_t moved(uint32_t id) { return in_range(id) ? (uint32_t)(id - from + to) : id; }

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static void fail(const char *what, const char *path) {
  fprintf(stderr, "atoll-idshift: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

/* Reads xattr `name` of `path` into buf; returns its size, or -1 when the file has none. */
static ssize_t read_xattr(const char *path, const char *name, unsigned char *buf, const char *shown) {
  ssize_t n = lgetxattr(path, name, buf, XATTR_MAX);
  if (n >= 0) return n;
  if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP) return -1;
  fail(name, shown);
  return -1;
}

/* Moves the ids of user and group entries of one ACL xattr. */
static void shift_acl(const char *path, const char *name, const char *shown) {
  static unsigned char buf[XATTR_MAX];
  ssize_t n = read_xattr(path, name, buf, shown);
  if (n < 4 || le32(buf) != ACL_XATTR_VERSION || (n - 4) % 8 != 0) return;
  int changed = 0;
  for (ssize_t off = 4; off + 8 <= n; off += 8) {
    unsigned tag = buf[off] | buf[off + 1] << 8;
    if (tag != ACL_USER && tag != ACL_GROUP) continue;
    uint32_t id = le32(buf + off + 4);
    if (!in_range(id)) continue;
    put_le32(buf + off + 4, moved(id));
    changed = 1;
  }
  if (changed && lsetxattr(path, name, buf, (size_t)n, 0) < 0) fail(name, shown);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: atoll-idshift FROM TO COUNT DIR\n");
    return 1;
  }
  char *end;
  from = strtoull(argv[1], &end, 10);
  if (*end) goto bad;
  to = strtoull(argv[2], &end, 10);
  if (*end) goto bad;
  count = strtoull(argv[3], &end, 10);
  if (*end || count == 0 || from + count > 0xfffffffeull || to + count > 0xfffffffeull) goto bad;
  if (from < to + count && to < from + count) {
    fprintf(stderr, "atoll-idshift: the ranges [%s, +%s) and [%s, +%s) overlap\n", argv[1], argv[3], argv[2], argv[3]);
    return 1;
  }

  char *roots[] = {argv[4], NULL};
  FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_XDEV, NULL);
  if (!fts) fail("cannot walk", argv[4]);
  static unsigned char caps[XATTR_MAX];
  uint64_t entries = 0, changed = 0;
  dev_t dev = 0;
  for (;;) {
    errno = 0;
    FTSENT *e = fts_read(fts);
    if (!e) break;
    switch (e->fts_info) {
    case FTS_DP:
      continue; /* directories are handled on the way down */
    case FTS_DNR:
    case FTS_ERR:
    case FTS_NS:
      errno = e->fts_errno;
      fail("cannot read", e->fts_path);
      break;
    default:
      break;
    }
    const struct stat *st = e->fts_statp;
    const char *p = e->fts_accpath;
    if (e->fts_level == FTS_ROOTLEVEL) dev = st->st_dev;
    else if (st->st_dev != dev) continue; /* a mount point below DIR: not ours */
    entries++;
    int link = S_ISLNK(st->st_mode);
    if (!link) {
      shift_acl(p, "system.posix_acl_access", e->fts_path);
      if (S_ISDIR(st->st_mode)) shift_acl(p, "system.posix_acl_default", e->fts_path);
    }
    ssize_t ncaps = S_ISREG(st->st_mode) ? read_xattr(p, "security.capability", caps, e->fts_path) : -1;
    int caps_moved = 0;
    if (ncaps == XATTR_CAPS_SZ_3 && (le32(caps) & VFS_CAP_REVISION_MASK) == VFS_CAP_REVISION_3 && in_range(le32(caps + 20))) {
      put_le32(caps + 20, moved(le32(caps + 20)));
      caps_moved = 1;
    }
    uid_t uid = moved(st->st_uid);
    gid_t gid = moved(st->st_gid);
    if (uid == st->st_uid && gid == st->st_gid && !caps_moved) continue;
    if (uid != st->st_uid || gid != st->st_gid) {
      if (lchown(p, uid, gid) < 0) fail("chown", e->fts_path);
      if (!link && !S_ISDIR(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) && chmod(p, st->st_mode & 07777) < 0)
        fail("chmod", e->fts_path);
    }
    if (ncaps > 0 && lsetxattr(p, "security.capability", caps, (size_t)ncaps, 0) < 0) fail("restore capabilities of", e->fts_path);
    changed++;
  }
  if (errno != 0) fail("walk", argv[4]);
  fts_close(fts);
  printf("entries %" PRIu64 " moved %" PRIu64 "\n", entries, changed);
  return 0;

bad:
  fprintf(stderr, "atoll-idshift: FROM, TO and COUNT must be decimal ids (COUNT > 0, ids below 4294967295)\n");
  return 1;
}
