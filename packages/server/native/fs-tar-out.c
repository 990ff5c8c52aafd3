/*
 * atoll-fs tar-out: streams a file or a directory tree as a POSIX tar (ustar headers, pax
 * records for long names, long link targets, large sizes and far mtimes). Directories become "./" and
 * "./rel/path/"; symlinks are stored as links, never followed; fifos, sockets and devices are
 * skipped; hard links are stored as separate copies. Modes leave without setuid and setgid (and
 * files without the sticky bit): what a sandbox hands out must not become a setuid program
 * wherever the archive is unpacked.
 *
 * A failure after the archive started (an unreadable file, a directory that vanished) is written
 * into the archive itself, so every reader learns of it: the entry being written is completed
 * with zeros, then a pax header with the keyword ATOLL.error (the JSON of the error) on a
 * "./" directory entry, and the end-of-archive blocks follow, then the X record.
 * Headers are encoded by fs-tar-encode.c; this file walks the tree and streams the archive.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-tar.h"
#include "fs.h"

static unsigned char obuf[OUT_CHUNK];
static size_t olen;
static unsigned long long entries, content_bytes;
static struct stat root_st; /* mode/mtime for the entry that carries an error */

static void flush(void) {
  if (olen) out_data(obuf, olen);
  olen = 0;
}

static void put(const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    size_t k = sizeof obuf - olen < n ? sizeof obuf - olen : n;
    memcpy(obuf + olen, c, k);
    olen += k, c += k, n -= k;
    if (olen == sizeof obuf) flush();
  }
}

static void put_zeros(unsigned long long n) {
  static const unsigned char zero[BLOCK];
  while (n > 0) {
    size_t k = n < BLOCK ? (size_t)n : BLOCK;
    put(zero, k);
    n -= k;
  }
}

static void pad_block(unsigned long long size) {
  if (size % BLOCK) put_zeros(BLOCK - size % BLOCK);
}

/* One entry's header block(s), encoded by fs-tar-encode.c. */
static void header(const char *name, char type, const struct stat *st, unsigned long long size, const char *link) {
  struct buf b = {0};
  tar_encode_header(&b, name, type, st, size, link);
  put(b.p, b.len);
  buf_free(&b);
}

static void finish_archive(void) { put_zeros(2 * BLOCK); }

/* The archive is under way: record the error in it, end it, and fail. */
static void __attribute__((noreturn)) fail_inband(int err, const char *syscall, const char *path) {
  struct buf json = {0};
  buf_printf(&json, "{\"errno\":%d,\"syscall\":", err);
  buf_json_str(&json, syscall);
  buf_puts(&json, ",\"path\":");
  buf_json_str(&json, path);
  buf_puts(&json, "}");
  struct buf rec = {0};
  tar_pax_record(&rec, PAX_ERROR_KEY, json.p);
  buf_free(&json);
  /* Carried by a "./" entry (as the archive started with): readers that merge pax headers into
     the next entry see it there, GNU tar only warns about an unknown keyword. */
  struct buf pax = {0};
  tar_encode_pax(&pax, 'x', &rec);
  put(pax.p, pax.len);
  buf_free(&pax);
  header("./", '5', &root_st, 0, NULL);
  finish_archive();
  flush();
  fail(err, syscall, path);
}

static void add_file(int fd, const char *name, const char *path) {
  struct stat st;
  if (fstat(fd, &st) < 0) fail_inband(errno, "fstat", path);
  unsigned long long size = (unsigned long long)st.st_size, left = size;
  header(name, '0', &st, size, NULL);
  static unsigned char chunk[OUT_CHUNK];
  while (left > 0) {
    ssize_t n = read(fd, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      put_zeros(left);
      pad_block(size);
      fail_inband(err, "read", path);
    }
    if (n == 0) {
      put_zeros(left); /* the file shrank while we read it: keep the archive well formed */
      break;
    }
    put(chunk, (size_t)n);
    left -= (unsigned long long)n;
  }
  pad_block(size);
  entries++;
  content_bytes += size;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const struct name *)a)->name, ((const struct name *)b)->name);
}

static char *join(const char *a, const char *b, const char *tail) {
  size_t n = strlen(a) + strlen(b) + strlen(tail) + 2;
  char *s = malloc(n);
  if (!s) fail(ENOMEM, "malloc", a);
  snprintf(s, n, "%s%s%s%s", a, (a[0] && a[strlen(a) - 1] != '/') ? "/" : "", b, tail);
  return s;
}

static void add_tree(const char *path, const char *rel) {
  struct name *v;
  ssize_t n = list_dir(path, &v);
  /* A directory this user may not list (lost+found of a volume) is archived empty. */
  if (n < 0 && (errno == EACCES || errno == EPERM) && strcmp(rel, "./") != 0) return;
  if (n < 0) fail_inband(errno, "opendir", path);
  qsort(v, (size_t)n, sizeof *v, by_name);
  for (ssize_t i = 0; i < n; i++) {
    char *child = join(path, v[i].name, "");
    struct stat st;
    if (lstat(child, &st) < 0) {
      if (errno != ENOENT) fail_inband(errno, "lstat", child);
    } else if (S_ISDIR(st.st_mode)) {
      char *r = join(rel, v[i].name, "/");
      header(r, '5', &st, 0, NULL);
      entries++;
      add_tree(child, r);
      free(r);
    } else if (S_ISREG(st.st_mode)) {
      int fd = open(child, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno != ENOENT && errno != ELOOP) fail_inband(errno, "open", child);
      if (fd >= 0) {
        char *r = join(rel, v[i].name, "");
        add_file(fd, r, child);
        free(r);
        close(fd);
      }
    } else if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX + 1];
      ssize_t k = readlink(child, target, PATH_MAX);
      if (k >= 0) {
        target[k] = '\0';
        char *r = join(rel, v[i].name, "");
        header(r, '2', &st, 0, target);
        entries++;
        free(r);
      }
    }
    free(child);
    free(v[i].name);
  }
  free(v);
}

void op_tar_out(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) fail(errno, "stat", path);
  root_st = st;
  if (!S_ISDIR(root_st.st_mode)) root_st.st_mode = S_IFDIR | 0755;
  if (S_ISDIR(st.st_mode)) {
    if (access(path, R_OK | X_OK) < 0) fail(errno, "opendir", path);
    out_record(REC_OPENED, "{\"type\":\"dir\"}", 14);
    header("./", '5', &st, 0, NULL);
    entries++;
    add_tree(path, "./");
  } else if (S_ISREG(st.st_mode)) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(errno, "open", path);
    out_record(REC_OPENED, "{\"type\":\"file\"}", 15);
    const char *slash = strrchr(path, '/');
    add_file(fd, slash && slash[1] ? slash + 1 : path, path);
    close(fd);
  } else {
    fail_msg(EINVAL, "tar", path, "only files and directories can be archived");
  }
  finish_archive();
  flush();
  struct buf b = {0};
  buf_printf(&b, "{\"entries\":%llu,\"bytes\":%llu}", entries, content_bytes);
  out_json(REC_RESULT, &b);
}
