/* atoll-fs: the record protocol on stdin/stdout, credits, acks, JSON and error reporting. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"
#include "write-all.h"

/* ---------------------------------------------------------------- buffers / JSON -------- */

void buf_put(struct buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      /* Out of memory while building a reply: nothing sensible left to do. */
      _exit(70);
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(struct buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* JSON string: ", \ and control bytes escaped; other bytes as they are (UTF-8 passes through,
   invalid sequences become U+FFFD when the daemon decodes them). */
void buf_json_str(struct buf *b, const char *s) {
  buf_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char e[2] = {'\\', (char)*c};
      buf_put(b, e, 2);
    } else if (*c < 0x20 || *c == 0x7f) {
      buf_printf(b, "\\u%04x", *c);
    } else {
      buf_put(b, c, 1);
    }
  }
  buf_put(b, "\"", 1);
}

void buf_free(struct buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- output ---------------- */

void out_record(uint8_t type, const void *p, size_t n) {
  unsigned char hdr[5] = {type, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};
  struct iovec iov[2] = {{hdr, 5}, {(void *)p, n}};
  if (writev_all(STDOUT_FILENO, iov, n ? 2 : 1) < 0) _exit(3); /* the daemon is gone */
}

static uint64_t credit;

/* Blocks until the daemon granted credit. EOF: the reader went away, stop quietly. */
static void wait_credit(void) {
  while (credit == 0) {
    uint8_t type;
    unsigned char *p;
    uint32_t len;
    if (!in_record(&type, &p, &len)) fail_aborted();
    if (type == REC_CREDIT && len == 4)
      credit += (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
  }
}

void out_data(const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    wait_credit();
    size_t k = n < OUT_CHUNK ? n : OUT_CHUNK;
    if (k > credit) k = (size_t)credit;
    out_record(REC_DATA, c, k);
    credit -= k;
    c += k;
    n -= k;
  }
}

void out_json(uint8_t type, struct buf *b) {
  if (type == REC_JSON) {
    wait_credit();
    credit = credit > b->len ? credit - b->len : 0;
  }
  out_record(type, b->p ? b->p : "{}", b->p ? b->len : 2);
  buf_free(b);
}

void out_ack(uint64_t consumed) {
  unsigned char v[8];
  for (int i = 0; i < 8; i++) v[i] = (unsigned char)(consumed >> (56 - 8 * i));
  out_record(REC_ACK, v, 8);
}

void out_result_empty(void) { out_record(REC_RESULT, "{}", 2); }

/* ---------------------------------------------------------------- errors ---------------- */

#define MAX_CLEANUPS 4
static struct {
  void (*fn)(void *);
  void *arg;
} cleanups[MAX_CLEANUPS];
static int ncleanups;

void on_fail(void (*fn)(void *), void *arg) {
  if (fn == NULL) {
    ncleanups = 0; /* on_fail(NULL, NULL) clears */
    return;
  }
  if (ncleanups < MAX_CLEANUPS) cleanups[ncleanups].fn = fn, cleanups[ncleanups++].arg = arg;
}

static void run_cleanups(void) {
  int saved = errno;
  while (ncleanups > 0) {
    ncleanups--;
    cleanups[ncleanups].fn(cleanups[ncleanups].arg);
  }
  errno = saved;
}

/* ENOSPC means no free blocks or no free inodes. Tells which from the filesystem that holds
   `path` (or its nearest existing ancestor): 1 when it has inodes and none is free. Called
   before the cleanups, which may free some. */
static int out_of_inodes(const char *path) {
  char p[PATH_MAX];
  if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof p) return 0;
  strcpy(p, strchr(path, '/') ? path : ".");
  for (;;) {
    struct statvfs st;
    if (statvfs(p, &st) == 0) return st.f_files > 0 && st.f_ffree == 0;
    if (errno != ENOENT && errno != ENOTDIR) return 0;
    char *slash = strrchr(p, '/');
    if (slash == NULL || (slash == p && p[1] == '\0')) return 0;
    if (slash == p) p[1] = '\0'; /* "/x" -> "/" */
    else *slash = '\0';
  }
}

void fail_msg(int err, const char *syscall, const char *path, const char *msg) {
  int inodes = (err == ENOSPC || err == EDQUOT) && out_of_inodes(path);
  run_cleanups();
  struct buf b = {0};
  buf_printf(&b, "{\"errno\":%d,\"syscall\":", err);
  buf_json_str(&b, syscall ? syscall : "");
  buf_puts(&b, ",\"path\":");
  buf_json_str(&b, path ? path : "");
  if (msg) {
    buf_puts(&b, ",\"message\":");
    buf_json_str(&b, msg);
  }
  if (inodes) buf_puts(&b, ",\"outOfInodes\":true");
  buf_puts(&b, "}");
  out_json(REC_ERROR, &b);
  exit(1);
}

void fail(int err, const char *syscall, const char *path) { fail_msg(err, syscall, path, NULL); }

void fail_aborted(void) { fail_msg(ECANCELED, "read", "", "the transfer was interrupted before it completed"); }

/* ---------------------------------------------------------------- input ----------------- */

static unsigned char *in_buf;

static int read_full(void *dst, size_t n) {
  unsigned char *p = dst;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(STDIN_FILENO, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 && r == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

int in_record(uint8_t *type, unsigned char **payload, uint32_t *len) {
  unsigned char hdr[5];
  int r = read_full(hdr, 5);
  if (r == 0) return 0;
  if (r < 0) fail_aborted();
  uint32_t n = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
  if (n > MAX_IN_RECORD) fail_msg(EPROTO, "read", "", "protocol error: record too large");
  if (!in_buf && !(in_buf = malloc(MAX_IN_RECORD))) fail(ENOMEM, "malloc", "");
  if (n && read_full(in_buf, n) != 1) fail_aborted();
  *type = hdr[0];
  *payload = in_buf;
  *len = n;
  return 1;
}

/* The D record being consumed. */
static unsigned char *cur;
static size_t cur_left;
static int ended;
static uint64_t consumed, acked;

/* Makes sure some input is available; returns 0 at E. */
static int fill(void) {
  while (cur_left == 0 && !ended) {
    uint8_t type;
    unsigned char *p;
    uint32_t len;
    if (!in_record(&type, &p, &len)) fail_aborted();
    if (type == REC_DATA) cur = p, cur_left = len;
    else if (type == REC_END) ended = 1;
  }
  return cur_left > 0;
}

static void account(size_t n) {
  consumed += n;
  if (consumed - acked >= ACK_EVERY) {
    out_ack(consumed);
    acked = consumed;
  }
}

size_t in_read(void *dst, size_t n) {
  unsigned char *d = dst;
  size_t got = 0;
  while (got < n && fill()) {
    size_t k = n - got < cur_left ? n - got : cur_left;
    memcpy(d + got, cur, k);
    cur += k;
    cur_left -= k;
    got += k;
    account(k);
  }
  return got;
}

void in_drain(void) {
  while (fill()) {
    account(cur_left);
    cur_left = 0;
  }
}

uint64_t in_consumed(void) { return consumed; }

/* Exposed for fs-write.c: the next chunk of input without a copy (0 at E). */
size_t in_chunk(const unsigned char **p, size_t max) {
  if (!fill()) return 0;
  size_t k = cur_left < max ? cur_left : max;
  *p = cur;
  cur += k;
  cur_left -= k;
  account(k);
  return k;
}
