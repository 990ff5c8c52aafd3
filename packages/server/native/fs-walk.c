/* atoll-fs: directory listings (readdir) and recursive walks, as J records within the credit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* Reads every entry of a directory (without . and ..) and closes it again, so a deep walk does
   not hold one open directory per level. Returns -1 with errno on failure. */
ssize_t list_dir(const char *path, struct name **out) {
  DIR *d = opendir(path);
  if (!d) return -1;
  size_t n = 0, cap = 0;
  struct name *v = NULL;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      struct name *nv = realloc(v, cap * sizeof *v);
      if (!nv) {
        closedir(d);
        errno = ENOMEM;
        return -1;
      }
      v = nv;
    }
    unsigned char t = e->d_type;
    if (t == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    v[n].name = strdup(e->d_name);
    if (!v[n].name) {
      closedir(d);
      errno = ENOMEM;
      return -1;
    }
    v[n++].type = t;
    errno = 0;
  }
  int err = errno;
  closedir(d);
  if (err) {
    errno = err;
    return -1;
  }
  *out = v;
  return (ssize_t)n;
}

static size_t read_names(const char *path, struct name **out) {
  ssize_t n = list_dir(path, out);
  if (n < 0) fail(errno, "opendir", path);
  return (size_t)n;
}

static const char *dt_name(unsigned char t) {
  return t == DT_REG ? "file" : t == DT_DIR ? "dir" : t == DT_LNK ? "symlink" : "other";
}

void op_readdir(const char *path) {
  struct name *v;
  size_t n = read_names(path, &v);
  out_record(REC_OPENED, "{}", 2);
  for (size_t i = 0; i < n; i++) {
    struct buf b = {0};
    buf_puts(&b, "{\"name\":");
    buf_json_str(&b, v[i].name);
    buf_printf(&b, ",\"type\":\"%s\"}", dt_name(v[i].type));
    out_json(REC_JSON, &b);
    free(v[i].name);
  }
  free(v);
  out_result_empty();
}

static void emit(const char *path, const char *name, const char *type, long depth) {
  struct buf b = {0};
  buf_puts(&b, "{\"path\":");
  buf_json_str(&b, path);
  buf_puts(&b, ",\"name\":");
  buf_json_str(&b, name);
  buf_printf(&b, ",\"type\":\"%s\",\"depth\":%ld}", type, depth);
  out_json(REC_JSON, &b);
}

#define MAX_CHAIN 4096
static struct {
  dev_t dev;
  ino_t ino;
} chain[MAX_CHAIN]; /* directories on the current path (loop detection when following links) */
static long walk_max;
static int walk_follow;
static unsigned long long walked;

static void walk_dir(const char *path, long depth, dev_t dev, ino_t ino) {
  if (walk_max >= 0 && depth >= walk_max) return;
  if (depth >= MAX_CHAIN) fail(ELOOP, "walk", path);
  for (long i = 0; i < depth; i++)
    if (chain[i].dev == dev && chain[i].ino == ino) return; /* a link back up: do not loop */
  chain[depth].dev = dev, chain[depth].ino = ino;
  struct name *v;
  ssize_t got = list_dir(path, &v);
  /* A directory this user may not list (lost+found of a volume) is shown, not entered. */
  if (got < 0 && depth > 0 && (errno == EACCES || errno == EPERM)) return;
  if (got < 0) fail(errno, "opendir", path);
  size_t n = (size_t)got;
  size_t plen = strlen(path);
  for (size_t i = 0; i < n; i++) {
    size_t len = plen + 1 + strlen(v[i].name) + 1;
    if (len > PATH_MAX) fail(ENAMETOOLONG, "walk", path);
    char *child = malloc(len);
    if (!child) fail(ENOMEM, "malloc", path);
    strcpy(child, path);
    if (plen == 0 || path[plen - 1] != '/') strcat(child, "/");
    strcat(child, v[i].name);
    unsigned char t = v[i].type;
    struct stat st;
    int is_dir = t == DT_DIR;
    if ((t == DT_LNK && walk_follow) || is_dir) {
      if ((walk_follow ? stat(child, &st) : lstat(child, &st)) == 0) {
        if (S_ISDIR(st.st_mode)) is_dir = 1, t = DT_DIR;
        else if (walk_follow && S_ISREG(st.st_mode)) t = DT_REG;
      } else if (t == DT_DIR) {
        fail(errno, "stat", child);
      }
    }
    emit(child, v[i].name, dt_name(t), depth + 1);
    walked++;
    if (is_dir) walk_dir(child, depth + 1, st.st_dev, st.st_ino);
    free(child);
    free(v[i].name);
  }
  free(v);
}

void op_walk(const char *root, long max_depth, int follow) {
  walk_max = max_depth;
  walk_follow = follow;
  struct stat st;
  if (stat(root, &st) < 0) fail(errno, "stat", root);
  const char *slash = strrchr(root, '/');
  const char *name = slash && slash[1] ? slash + 1 : root;
  out_record(REC_OPENED, "{}", 2);
  emit(root, name, type_name(st.st_mode), 0);
  if (S_ISDIR(st.st_mode)) walk_dir(root, 0, st.st_dev, st.st_ino);
  struct buf b = {0};
  buf_printf(&b, "{\"entries\":%llu}", walked + 1);
  out_json(REC_RESULT, &b);
}
