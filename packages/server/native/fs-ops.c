/* atoll-fs: metadata operations (stat, mkdir, remove, rename, links, modes, temp names). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"

const char *type_name(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISLNK(mode)) return "symlink";
  return "other";
}

static void put_time(struct buf *b, const char *key, struct statx_timestamp t) {
  long long ms = (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  buf_printf(b, ",\"%s\":%lld.%06u", key, ms, (unsigned)(t.tv_nsec % 1000000));
}

/* FileInfo JSON of `path` (statx; follows the last symlink unless follow is 0). Fails on error. */
void json_stat(struct buf *b, const char *path, int follow) {
  struct statx st;
  if (statx(AT_FDCWD, path, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &st) < 0)
    fail(errno, follow ? "stat" : "lstat", path);
  buf_puts(b, "{\"type\":");
  buf_json_str(b, type_name(st.stx_mode));
  buf_printf(b, ",\"size\":%llu,\"mode\":%u,\"uid\":%u,\"gid\":%u,\"nlink\":%u,\"ino\":%llu",
             (unsigned long long)st.stx_size, st.stx_mode, st.stx_uid, st.stx_gid, st.stx_nlink,
             (unsigned long long)st.stx_ino);
  buf_printf(b, ",\"dev\":%llu,\"rdev\":%llu,\"blksize\":%u,\"blocks\":%llu",
             (unsigned long long)makedev(st.stx_dev_major, st.stx_dev_minor),
             (unsigned long long)makedev(st.stx_rdev_major, st.stx_rdev_minor), st.stx_blksize,
             (unsigned long long)st.stx_blocks);
  put_time(b, "atimeMs", st.stx_atime);
  put_time(b, "mtimeMs", st.stx_mtime);
  put_time(b, "ctimeMs", st.stx_ctime);
  if (st.stx_mask & STATX_BTIME) put_time(b, "birthtimeMs", st.stx_btime);
  else buf_puts(b, ",\"birthtimeMs\":null");
  buf_puts(b, "}");
}

static mode_t parse_mode(const char *s, mode_t dflt) {
  if (strcmp(s, "-") == 0) return dflt;
  char *end;
  long v = strtol(s, &end, 8);
  if (*s == '\0' || *end || v < 0 || v > 07777) fail_msg(EINVAL, "argv", s, "bad mode");
  return (mode_t)v;
}

static void result_path(const char *key, const char *value) {
  struct buf b = {0};
  buf_printf(&b, "{\"%s\":", key);
  buf_json_str(&b, value);
  buf_puts(&b, "}");
  out_json(REC_RESULT, &b);
}

static void mkdir_one(const char *path, mode_t mode, int exist_ok) {
  if (mkdir(path, mode) == 0) return;
  int err = errno;
  struct stat st;
  if (err == EEXIST && exist_ok && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return;
  if (err == EEXIST && exist_ok) err = ENOTDIR;
  fail(err, "mkdir", path);
}

static void op_mkdir(const char *path, mode_t mode, int recursive) {
  if (recursive) {
    size_t n = strlen(path);
    char *p = strdup(path);
    if (!p) fail(ENOMEM, "malloc", path);
    for (size_t i = 1; i < n; i++) {
      if (p[i] != '/') continue;
      p[i] = '\0';
      mkdir_one(p, 0777, 1);
      p[i] = '/';
    }
    free(p);
  }
  mkdir_one(path, mode, recursive);
  out_result_empty();
}

static int rm_err;
static char rm_path[PATH_MAX];
static const char *rm_call;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  int r;
  if (flag == FTW_DP) r = rmdir(path), rm_call = "rmdir";
  else if (flag == FTW_DNR) r = -1, errno = EACCES, rm_call = "opendir";
  else if (flag == FTW_NS) r = -1, rm_call = "lstat";
  else r = unlink(path), rm_call = "unlink";
  if (r < 0 && errno != ENOENT) {
    rm_err = errno;
    strncpy(rm_path, path, sizeof rm_path - 1);
    return 1;
  }
  return 0;
}

static void op_remove(const char *path, int recursive) {
  struct stat st;
  if (lstat(path, &st) < 0) fail(errno, "lstat", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) < 0) fail(errno, "unlink", path);
  } else if (!recursive) {
    if (rmdir(path) < 0) fail(errno, "rmdir", path);
  } else if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) {
    fail(rm_err ? rm_err : errno, rm_call ? rm_call : "nftw", rm_err ? rm_path : path);
  }
  out_result_empty();
}

static void op_mktemp(int dir, const char *parent, const char *prefix, const char *suffix) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  char path[PATH_MAX];
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned char rnd[10];
    char name[11];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) fail(errno, "getrandom", "");
    for (int i = 0; i < 10; i++) name[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
    name[10] = '\0';
    int n = snprintf(path, sizeof path, "%s%s%s%s%s", parent, parent[strlen(parent) - 1] == '/' ? "" : "/",
                     prefix, name, suffix);
    if (n < 0 || (size_t)n >= sizeof path) fail(ENAMETOOLONG, "mktemp", parent);
    int r;
    if (dir) r = mkdir(path, 0700);
    else {
      r = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (r >= 0) close(r), r = 0;
    }
    if (r == 0) {
      result_path("path", path);
      return;
    }
    if (errno != EEXIST) fail(errno, dir ? "mkdir" : "open", path);
  }
  fail(EEXIST, "mktemp", parent);
}

static long long parse_ll(const char *s, long long min) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *s == '\0' || *end || v < min) fail_msg(EINVAL, "argv", s, "bad number");
  return v;
}

int op_meta(int argc, char **a) {
  const char *op = a[0];
  struct buf b = {0};
  if ((strcmp(op, "stat") == 0 || strcmp(op, "lstat") == 0) && argc == 2) {
    json_stat(&b, a[1], op[0] == 's');
    out_json(REC_RESULT, &b);
  } else if (strcmp(op, "mkdir") == 0 && argc == 4) {
    op_mkdir(a[1], parse_mode(a[2], 0777), a[3][0] == '1');
  } else if (strcmp(op, "remove") == 0 && argc == 3) {
    op_remove(a[1], a[2][0] == '1');
  } else if (strcmp(op, "rename") == 0 && argc == 3) {
    if (rename(a[1], a[2]) < 0) fail(errno, "rename", a[1]);
    out_result_empty();
  } else if (strcmp(op, "realpath") == 0 && argc == 2) {
    char *r = realpath(a[1], NULL);
    if (!r) fail(errno, "realpath", a[1]);
    result_path("path", r);
    free(r);
  } else if (strcmp(op, "symlink") == 0 && argc == 3) {
    if (symlink(a[1], a[2]) < 0) fail(errno, "symlink", a[2]);
    out_result_empty();
  } else if (strcmp(op, "readlink") == 0 && argc == 2) {
    char target[PATH_MAX + 1];
    ssize_t n = readlink(a[1], target, PATH_MAX);
    if (n < 0) fail(errno, "readlink", a[1]);
    target[n] = '\0';
    result_path("target", target);
  } else if (strcmp(op, "chmod") == 0 && argc == 3) {
    if (chmod(a[1], parse_mode(a[2], 0)) < 0) fail(errno, "chmod", a[1]);
    out_result_empty();
  } else if (strcmp(op, "chown") == 0 && argc == 4) {
    if (chown(a[1], (uid_t)parse_ll(a[2], -1), (gid_t)parse_ll(a[3], -1)) < 0) fail(errno, "chown", a[1]);
    out_result_empty();
  } else if (strcmp(op, "truncate") == 0 && argc == 3) {
    if (truncate(a[1], (off_t)parse_ll(a[2], 0)) < 0) fail(errno, "truncate", a[1]);
    out_result_empty();
  } else if (strcmp(op, "mktemp") == 0 && argc == 5) {
    op_mktemp(a[1][0] == 'd', a[2], a[3], a[4]);
  } else {
    return 0;
  }
  return 1;
}
