/*
 * libFuzzer target: atoll-fs's whole tar-in (native/fs-tar-in.c) extracting arbitrary bytes
 * into a fresh directory per run, with the real filesystem calls. The record input and the
 * failure exit of fs-io.c are replaced at link time (-Wl,--wrap): the archive comes from the
 * fuzzer's buffer, and fail() unwinds back here instead of exiting.
 *
 * Checks, besides ASan/UBSan: whatever the archive holds (absolute names, "..", symlinks or
 * hard links planted to lead out, then used as parents), nothing appears outside the target:
 * the target's parent holds only the target and an empty sibling directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../native/fs.h"

/* A failed run unwinds past its frees (tar-in's process would exit there): no leak reports. */
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static const uint8_t *in_p;
static size_t in_left;
static jmp_buf failed;
static void (*cleanup_fn)(void *);
static void *cleanup_arg;

size_t __wrap_in_read(void *dst, size_t n) {
  size_t k = n < in_left ? n : in_left;
  memcpy(dst, in_p, k);
  in_p += k, in_left -= k;
  return k;
}

size_t __wrap_in_chunk(const unsigned char **p, size_t max) {
  size_t k = max < in_left ? max : in_left;
  *p = in_p;
  in_p += k, in_left -= k;
  return k;
}

void __wrap_in_drain(void) { in_left = 0; }
void __wrap_on_fail(void (*fn)(void *), void *arg) { cleanup_fn = fn, cleanup_arg = arg; }
void __wrap_out_record(uint8_t type, const void *p, size_t n) { (void)type, (void)p, (void)n; }
void __wrap_out_json(uint8_t type, struct buf *b) { (void)type, buf_free(b); }

void __wrap_fail_msg(int err, const char *syscall, const char *path, const char *msg) {
  (void)err, (void)syscall, (void)path, (void)msg;
  if (cleanup_fn) cleanup_fn(cleanup_arg);
  cleanup_fn = NULL;
  longjmp(failed, 1);
}

void __wrap_fail(int err, const char *syscall, const char *path) { __wrap_fail_msg(err, syscall, path, NULL); }

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Closes what a failed run left open (fail() unwound past its close calls). */
static void close_fds_from(int first) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) abort();
  int self = dirfd(d);
  for (struct dirent *e; (e = readdir(d));) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= first && fd != self) close(fd);
  }
  closedir(d);
}

static size_t entries(const char *path) {
  DIR *d = opendir(path);
  if (!d) abort();
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int first_fd = -1;
  if (first_fd < 0) first_fd = dup(0), close(first_fd); /* the lowest fd free before any run */
  char base[PATH_MAX / 2], root[PATH_MAX], outside[PATH_MAX];
  const char *tmp = getenv("TMPDIR");
  snprintf(base, sizeof base, "%s/atoll-fuzz-extract-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(base)) abort();
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(outside, sizeof outside, "%s/outside", base);
  if (mkdir(outside, 0755) < 0) abort();
  in_p = data, in_left = size, cleanup_fn = NULL;
  if (setjmp(failed) == 0) op_tar_in(root);
  close_fds_from(first_fd);
  if (entries(outside) != 0 || entries(base) > 2) abort(); /* something landed outside */
  /* Directories the archive made unreadable (mode 0) come back readable, then all goes. */
  if (nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) abort();
  return 0;
}
