/*
 * atoll-fs: read, write and copy file contents. Writes that replace a file go to a temp file in
 * the same directory that is renamed over the final name only once every byte arrived, so an
 * interrupted or failed write never leaves a partial file under that name. Appends write in
 * place and truncate back to the old size on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

int make_temp_at(int dirfd, char *tmpname, size_t size) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) return -1;
    char suffix[13];
    for (int i = 0; i < 12; i++) suffix[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
    suffix[12] = '\0';
    snprintf(tmpname, size, "%s%s", TMP_PREFIX, suffix);
    int fd = openat(dirfd, tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

static void write_all(int fd, const unsigned char *p, size_t n, const char *path) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail(errno, "write", path);
    p += w;
    n -= (size_t)w;
  }
}

/* Where open(O_CREAT) through a symlink chain that ends nowhere would create the file: the last
   link's target, relative to that link's directory. NULL if it cannot be worked out. */
static char *dangling_target(const char *path) {
  char *cur = strdup(path);
  for (int hops = 0; cur && hops < 40; hops++) {
    char link[PATH_MAX + 1];
    ssize_t n = readlink(cur, link, PATH_MAX);
    if (n < 0) return cur; /* not a link (any more): this is where the file goes */
    link[n] = '\0';
    char *next;
    if (link[0] == '/') next = strdup(link);
    else {
      char *slash = strrchr(cur, '/');
      size_t dlen = slash ? (size_t)(slash - cur) + 1 : 0;
      next = malloc(dlen + (size_t)n + 1);
      if (next) memcpy(next, cur, dlen), memcpy(next + dlen, link, (size_t)n + 1);
    }
    free(cur);
    cur = next;
  }
  free(cur);
  return NULL;
}

/* A file being replaced: data goes to `fd`, a temp file in the target's directory. */
struct replace {
  const char *path; /* as the caller gave it, for errors */
  char *target;     /* symlinks resolved */
  const char *base;
  int dirfd, fd, exists, inplace, create_new;
  struct stat st;
  char tmp[64];
};

static void remove_tmp(void *arg) {
  struct replace *r = arg;
  unlinkat(r->dirfd, r->tmp, 0);
}

/* Checks the target like open(O_WRONLY|O_CREAT) would, then creates the temp file. */
static void replace_open(struct replace *r, const char *path, int create, int create_new) {
  memset(r, 0, sizeof *r);
  r->path = path;
  r->create_new = create_new;
  r->target = strdup(path);
  if (!r->target) fail(ENOMEM, "malloc", path);
  struct stat lst;
  if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
    if (create_new) fail(EEXIST, "open", path);
    char *real = realpath(path, NULL); /* a process writing through the link reaches this */
    if (!real && errno == ENOENT) real = dangling_target(path);
    if (real) free(r->target), r->target = real;
  }
  r->exists = stat(r->target, &r->st) == 0;
  if (!r->exists && errno != ENOENT) fail(errno, "stat", path);
  if (r->exists && create_new) fail(EEXIST, "open", path);
  if (!r->exists && !create && !create_new) fail(ENOENT, "open", path);
  if (r->exists && S_ISDIR(r->st.st_mode)) fail(EISDIR, "open", path);
  if (r->exists && !S_ISREG(r->st.st_mode)) {
    /* A device or fifo: no rename, write to it as a process would. */
    r->inplace = 1;
    r->fd = open(r->target, O_WRONLY | O_CLOEXEC);
    if (r->fd < 0) fail(errno, "open", path);
    return;
  }
  if (r->exists && faccessat(AT_FDCWD, r->target, W_OK, AT_EACCESS) < 0) fail(errno, "open", path);
  char *slash = strrchr(r->target, '/');
  const char *dir = ".";
  r->base = r->target;
  if (slash) {
    *slash = '\0';
    dir = slash == r->target ? "/" : r->target;
    r->base = slash + 1;
  }
  if (*r->base == '\0') fail(EISDIR, "open", path);
  r->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->dirfd < 0) fail(errno, "open", path);
  r->fd = make_temp_at(r->dirfd, r->tmp, sizeof r->tmp);
  if (r->fd < 0) fail(errno, "open", path);
  on_fail(remove_tmp, r);
}

/* Sets mode (and owner, best effort) and renames the temp file over the target. */
static void replace_commit(struct replace *r, int mode) {
  if (r->inplace) {
    if (close(r->fd) < 0) fail(errno, "close", r->path);
    return;
  }
  mode_t m = mode >= 0 ? (mode_t)mode : r->exists ? (r->st.st_mode & 07777) : 0644;
  if (fchmod(r->fd, m) < 0) fail(errno, "chmod", r->path);
  if (r->exists && (r->st.st_uid != geteuid() || r->st.st_gid != getegid()))
    if (fchown(r->fd, r->st.st_uid, r->st.st_gid) < 0) { /* keep ours: we may not give files away */
    }
  if (close(r->fd) < 0) fail(errno, "close", r->path);
  if (r->create_new) {
    if (renameat2(r->dirfd, r->tmp, r->dirfd, r->base, RENAME_NOREPLACE) < 0) {
      if (errno != EINVAL && errno != ENOSYS) fail(errno, "rename", r->path);
      if (linkat(r->dirfd, r->tmp, r->dirfd, r->base, 0) < 0) fail(errno, "link", r->path);
      unlinkat(r->dirfd, r->tmp, 0);
    }
  } else if (renameat(r->dirfd, r->tmp, r->dirfd, r->base) < 0) {
    fail(errno, "rename", r->path);
  }
  on_fail(NULL, NULL);
  close(r->dirfd);
}

static void result_bytes(uint64_t n) {
  struct buf b = {0};
  buf_printf(&b, "{\"bytes\":%llu}", (unsigned long long)n);
  out_json(REC_RESULT, &b);
}

static void opened(void) { out_record(REC_OPENED, "{}", 2); }

static uint64_t stream_input(int fd, const char *path) {
  const unsigned char *p;
  size_t k;
  uint64_t total = 0;
  while ((k = in_chunk(&p, MAX_IN_RECORD)) > 0) {
    write_all(fd, p, k, path);
    total += k;
  }
  return total;
}

struct append {
  const char *path;
  int fd, created;
  off_t orig;
};

static void undo_append(void *arg) {
  struct append *a = arg;
  if (a->created) unlink(a->path);
  else if (ftruncate(a->fd, a->orig) < 0) { /* nothing more we can do */
  }
}

static void op_write(const char *path, int mode, const char *flags) {
  int append = strchr(flags, 'a') != NULL, create = strchr(flags, 'c') != NULL, create_new = strchr(flags, 'n') != NULL;
  if (!append) {
    struct replace r;
    replace_open(&r, path, create, create_new);
    opened();
    uint64_t n = stream_input(r.fd, path);
    replace_commit(&r, mode);
    result_bytes(n);
    return;
  }
  static struct append a;
  a.path = path;
  a.fd = create_new ? -1 : open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (a.fd < 0 && (create_new || (errno == ENOENT && create))) {
    a.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, mode >= 0 ? (mode_t)mode : 0666);
    a.created = a.fd >= 0;
  }
  if (a.fd < 0) fail(errno, "open", path);
  struct stat st;
  if (fstat(a.fd, &st) < 0) fail(errno, "fstat", path);
  a.orig = st.st_size;
  on_fail(undo_append, &a);
  opened();
  uint64_t n = stream_input(a.fd, path);
  if (mode >= 0 && fchmod(a.fd, (mode_t)mode) < 0) fail(errno, "chmod", path);
  if (close(a.fd) < 0) fail(errno, "close", path);
  on_fail(NULL, NULL);
  result_bytes(n);
}

static void op_read(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open", path);
  struct stat st;
  if (fstat(fd, &st) < 0) fail(errno, "fstat", path);
  if (S_ISDIR(st.st_mode)) fail(EISDIR, "read", path);
  struct buf b = {0};
  buf_printf(&b, "{\"size\":%lld,\"regular\":%s}", (long long)st.st_size, S_ISREG(st.st_mode) ? "true" : "false");
  out_json(REC_OPENED, &b);
  static unsigned char chunk[OUT_CHUNK];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "read", path);
    if (n == 0) break;
    out_data(chunk, (size_t)n);
    total += (uint64_t)n;
  }
  close(fd);
  result_bytes(total);
}

static void op_copy(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) fail(errno, "open", from);
  struct stat st;
  if (fstat(in, &st) < 0) fail(errno, "fstat", from);
  if (S_ISDIR(st.st_mode)) fail(EISDIR, "copy", from);
  struct replace r;
  replace_open(&r, to, 1, 0);
  uint64_t total = 0;
  int fallback = 0;
  static unsigned char chunk[OUT_CHUNK];
  for (;;) {
    ssize_t n;
    if (!fallback) {
      n = copy_file_range(in, NULL, r.fd, NULL, 1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        fallback = 1;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(errno, "copy_file_range", to);
    } else {
      n = read(in, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(errno, "read", from);
      write_all(r.fd, chunk, (size_t)n, to);
    }
    if (n == 0) break;
    total += (uint64_t)n;
  }
  close(in);
  replace_commit(&r, (int)(st.st_mode & 0777));
  result_bytes(total);
}

static int parse_mode_arg(const char *s) {
  if (strcmp(s, "-") == 0) return -1;
  char *end;
  long v = strtol(s, &end, 8);
  if (*s == '\0' || *end || v < 0 || v > 07777) fail_msg(EINVAL, "argv", s, "bad mode");
  return (int)v;
}

int op_file(int argc, char **a) {
  if (strcmp(a[0], "read") == 0 && argc == 2) op_read(a[1]);
  else if (strcmp(a[0], "write") == 0 && argc == 4) op_write(a[1], parse_mode_arg(a[2]), a[3]);
  else if (strcmp(a[0], "copy") == 0 && argc == 3) op_copy(a[1], a[2]);
  else return 0;
  return 1;
}
