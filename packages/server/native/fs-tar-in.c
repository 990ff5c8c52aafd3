/*
 * atoll-fs tar-in: extracts a tar stream (ustar, pax and GNU long names) into a directory.
 * Headers are decoded by fs-tar-parse.c; this file reads the stream and writes the tree.
 *
 * - Entry names are relative to the target directory: a leading "/" or "./" is dropped, and a
 *   name with a ".." component is refused. Parent directories are opened with
 *   openat2(RESOLVE_BENEATH), so neither a name nor a symlink already in the tree (or planted by
 *   an earlier entry) can lead outside the target directory.
 * - Each regular file is written to a temp name in its directory and renamed over the final
 *   name once complete: an interrupted upload leaves no partial file under a final name.
 *   Symlinks and hard links are made under a temp name and renamed too.
 * - Files belong to the extracting user; modes and mtimes come from the archive. Directories
 *   that exist are merged into; an existing directory keeps its mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs-tar.h"
#include "fs.h"

static int rootfd;
static unsigned long long n_files, n_dirs, n_links, n_bytes;

/* ---------------------------------------------------------------- directories ----------- */

static int open_beneath_flags(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (unsigned)flags | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return fd;
  /* Kernels before 5.6: refuse symlinks on the way instead. */
  char *copy = strdup(path), *save = NULL;
  if (!copy) return -1;
  int cur = dirfd;
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    int next = openat(cur, c, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cur != dirfd) close(cur);
    if (next < 0) {
      free(copy);
      return -1;
    }
    cur = next;
  }
  free(copy);
  return cur == dirfd ? dup(dirfd) : cur;
}

static int open_beneath(int dirfd, const char *path) { return open_beneath_flags(dirfd, path, O_PATH); }

/* Opens (creating missing directories) the directory `rel` beneath the target. */
static int open_dir_rel(const char *rel, int create) {
  if (*rel == '\0') return dup(rootfd);
  int fd = open_beneath(rootfd, rel);
  if (fd >= 0 || errno != ENOENT || !create) return fd;
  char *copy = strdup(rel), *save = NULL;
  if (!copy) return -1;
  int cur = dup(rootfd);
  for (char *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
    int next = open_beneath(cur, c);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(cur, c, 0755) == 0) n_dirs++;
      else if (errno != EEXIST) {
        close(cur);
        free(copy);
        return -1;
      }
      next = open_beneath(cur, c);
    }
    close(cur);
    cur = next;
  }
  free(copy);
  return cur;
}

/* The parent directory of the last entry, kept open: archives list a directory's files together. */
static char cached_rel[PATH_MAX];
static int cached_fd = -1;

static int parent_fd(const char *rel, const char **base, const char *display) {
  const char *slash = strrchr(rel, '/');
  char parent[PATH_MAX];
  size_t plen = slash ? (size_t)(slash - rel) : 0;
  memcpy(parent, rel, plen);
  parent[plen] = '\0';
  *base = slash ? slash + 1 : rel;
  if (cached_fd >= 0 && strcmp(parent, cached_rel) == 0) return cached_fd;
  if (cached_fd >= 0) close(cached_fd);
  cached_fd = open_dir_rel(parent, 1);
  if (cached_fd < 0) {
    int err = errno;
    fail_msg(err == EXDEV ? EACCES : err, "open", display,
             err == EXDEV ? "the entry's directory leads outside the target directory" : NULL);
  }
  strcpy(cached_rel, parent);
  return cached_fd;
}

/* ---------------------------------------------------------------- temp names ------------ */

struct pending {
  int dirfd;
  char name[64];
};
static struct pending tmp;

static void remove_tmp(void *arg) {
  struct pending *t = arg;
  unlinkat(t->dirfd, t->name, 0);
}

static void random_tmp_name(char *out, size_t cap) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char rnd[12];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) fail(errno, "getrandom", "");
  char s[13];
  for (int i = 0; i < 12; i++) s[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
  s[12] = '\0';
  snprintf(out, cap, "%s%s", TMP_PREFIX, s);
}

static void commit_tmp(int dirfd, const char *base, const char *display) {
  if (renameat(dirfd, tmp.name, dirfd, base) < 0) fail(errno, "rename", display);
  on_fail(NULL, NULL);
}

/* ---------------------------------------------------------------- input ----------------- */

static void read_exact(void *dst, size_t n, const char *display) {
  if (in_read(dst, n) != n) fail_msg(EPROTO, "read", display, "the archive ended in the middle of an entry");
}

static void skip(unsigned long long n, const char *display) {
  unsigned char junk[4096];
  while (n > 0) {
    size_t k = n < sizeof junk ? (size_t)n : sizeof junk;
    read_exact(junk, k, display);
    n -= k;
  }
}

/* Reads a small entry body (long name, pax records) into a NUL-terminated string. */
static char *read_body(unsigned long long size, const char *display) {
  if (size > TAR_MAX_EXT) fail_msg(EPROTO, "read", display, "an extended header is larger than 1 MiB");
  char *s = malloc((size_t)size + 1);
  if (!s) fail(ENOMEM, "malloc", display);
  read_exact(s, (size_t)size, display);
  s[size] = '\0';
  skip(tar_padded(size) - size, display);
  return s;
}

/* ---------------------------------------------------------------- entries --------------- */

struct deferred {
  char *rel;
  mode_t mode;
  struct deferred *next;
};
static struct deferred *deferred_modes;

static void extract_dir(const char *rel, mode_t mode, const char *display) {
  if (*rel == '\0') return; /* the target itself */
  const char *base;
  int pfd = parent_fd(rel, &base, display);
  if (mkdirat(pfd, base, (mode & 07777) | 0700) == 0) {
    n_dirs++;
    if ((mode & 0700) != 0700) {
      struct deferred *d = malloc(sizeof *d);
      if (d && (d->rel = strdup(rel))) d->mode = mode & 07777, d->next = deferred_modes, deferred_modes = d;
    }
    return;
  }
  if (errno != EEXIST) fail(errno, "mkdir", display);
  int fd = open_beneath(pfd, base);
  if (fd < 0) fail(errno == ENOTDIR ? EEXIST : errno, "mkdir", display);
  close(fd);
}

static void extract_file(const char *rel, mode_t mode, unsigned long long size, long long mtime, const char *display) {
  const char *base;
  int pfd = parent_fd(rel, &base, display);
  if (*base == '\0') fail(EISDIR, "open", display);
  tmp.dirfd = pfd;
  int fd = make_temp_at(pfd, tmp.name, sizeof tmp.name);
  if (fd < 0) fail(errno, "open", display);
  on_fail(remove_tmp, &tmp);
  unsigned long long left = size;
  while (left > 0) {
    const unsigned char *p;
    size_t k = in_chunk(&p, left < MAX_IN_RECORD ? (size_t)left : MAX_IN_RECORD);
    if (k == 0) fail_msg(EPROTO, "read", display, "the archive ended in the middle of a file");
    while (k > 0) {
      ssize_t w = write(fd, p, k);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(errno, "write", display);
      p += w, k -= (size_t)w, left -= (unsigned long long)w;
    }
  }
  if (fchmod(fd, mode & 07777) < 0) fail(errno, "chmod", display);
  struct timespec times[2] = {{0, UTIME_OMIT}, {mtime, 0}};
  futimens(fd, times);
  if (close(fd) < 0) fail(errno, "close", display);
  skip(tar_padded(size) - size, display);
  commit_tmp(pfd, base, display);
  n_files++;
  n_bytes += size;
}

static void extract_link(const char *rel, const char *target, int hard, const char *display) {
  const char *base;
  int pfd = parent_fd(rel, &base, display);
  char lclean[PATH_MAX];
  int lfd = -1;
  const char *lbase = NULL;
  if (hard) {
    if (tar_clean_name(target, lclean, sizeof lclean) <= 0) fail_msg(EINVAL, "link", display, "hard link target leaves the target directory");
    char *slash = strrchr(lclean, '/');
    if (slash) *slash = '\0', lbase = slash + 1;
    else lbase = lclean;
    lfd = open_dir_rel(slash ? lclean : "", 0);
    if (lfd < 0) fail(errno, "link", display);
  }
  tmp.dirfd = pfd;
  for (int attempt = 0;; attempt++) {
    random_tmp_name(tmp.name, sizeof tmp.name);
    int r = hard ? linkat(lfd, lbase, pfd, tmp.name, 0) : symlinkat(target, pfd, tmp.name);
    if (r == 0) break;
    if (errno != EEXIST || attempt > 50) fail(errno, hard ? "link" : "symlink", display);
  }
  if (lfd >= 0) close(lfd);
  on_fail(remove_tmp, &tmp);
  commit_tmp(pfd, base, display);
  n_links++;
}

/* ---------------------------------------------------------------- main loop ------------- */

static void mkdir_p(const char *path) {
  char *p = strdup(path);
  if (!p) fail(ENOMEM, "malloc", path);
  size_t n = strlen(p);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    struct stat st;
    if (mkdir(p, 0777) < 0 && errno != EEXIST) fail(errno, "mkdir", p);
    if (stat(p, &st) < 0) fail(errno, "stat", p);
    if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdir", p);
    p[i] = c;
  }
  free(p);
}

void op_tar_in(const char *dir) {
  /* From a clean state: the fuzz harness (fuzz/tar-extract.c) runs tar-in many times. */
  cached_fd = -1, cached_rel[0] = '\0', deferred_modes = NULL;
  n_files = n_dirs = n_links = n_bytes = 0;
  mkdir_p(dir);
  rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(errno, "open", dir);
  /* Writable? Fail now with the target's name rather than at the first entry. */
  if (faccessat(rootfd, ".", W_OK | X_OK, AT_EACCESS) < 0) fail(errno, "open", dir);
  out_record(REC_OPENED, "{}", 2);
  struct tar_ext x = TAR_EXT_INIT;
  int zero_blocks = 0;
  for (;;) {
    struct ustar h;
    size_t got = in_read(&h, sizeof h);
    if (got == 0) break; /* E right after an entry: an archive without end blocks */
    if (got != sizeof h) fail_msg(EPROTO, "read", dir, "the archive ended in the middle of a header");
    if (tar_zero_block(&h)) {
      if (++zero_blocks == 2) break;
      continue;
    }
    zero_blocks = 0;
    if (!tar_checksum_ok(&h)) fail_msg(EPROTO, "read", dir, "not a tar archive (bad header checksum)");

    struct tar_entry e;
    tar_decode(&h, &x, &e);
    if (tar_is_ext(e.type)) {
      int err = tar_apply_ext(&x, e.type, read_body(e.size, dir), (size_t)e.size);
      if (err) fail_msg(err, "tar", "", x.error);
      continue;
    }
    tar_ext_clear(&x);

    char rel[PATH_MAX];
    int len = tar_clean_name(e.name, rel, sizeof rel);
    char display[PATH_MAX * 2];
    snprintf(display, sizeof display, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
    if (len == -1) fail_msg(EINVAL, "tar", e.name, "an entry name climbs out of the target directory with '..'");
    if (len < 0) fail(ENAMETOOLONG, "tar", e.name);
    switch (e.type) {
    case '5':
      extract_dir(rel, e.mode, display);
      skip(tar_padded(e.size), display);
      break;
    case '0':
    case '\0':
    case '7':
      if (len == 0) fail(EISDIR, "open", dir);
      extract_file(rel, e.mode, e.size, e.mtime, display);
      break;
    case '2':
    case '1':
      if (len == 0) fail(EISDIR, "open", dir);
      extract_link(rel, e.link, e.type == '1', display);
      skip(tar_padded(e.size), display);
      break;
    default: /* devices, fifos, unknown: skipped */
      skip(tar_padded(e.size), display);
    }
  }
  in_drain();
  for (struct deferred *d = deferred_modes; d; d = d->next) {
    int fd = open_beneath_flags(rootfd, d->rel, O_RDONLY);
    if (fd >= 0) {
      if (fchmod(fd, d->mode) < 0) { /* best effort, like tar */
      }
      close(fd);
    }
  }
  struct buf b = {0};
  buf_printf(&b, "{\"files\":%llu,\"dirs\":%llu,\"links\":%llu,\"bytes\":%llu}", n_files, n_dirs, n_links, n_bytes);
  out_json(REC_RESULT, &b);
}
