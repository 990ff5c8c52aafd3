/*
 * Decoding of tar headers for atoll-fs tar-in: ustar fields, GNU base-256 numbers and long
 * names ('L', 'K'), pax records ('x'; 'g' only for ATOLL.error), entry names. Pure functions
 * over bytes already read (no I/O, no exit), so the fuzz harness calls them directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs-tar.h"

unsigned long long tar_num(const char *f, size_t n) {
  const unsigned char *u = (const unsigned char *)f;
  unsigned long long v = 0;
  if (u[0] & 0x80) { /* GNU base-256 */
    v = u[0] & 0x3f;
    for (size_t i = 1; i < n; i++) v = v << 8 | u[i];
    return v;
  }
  size_t i = 0;
  while (i < n && (f[i] == ' ' || f[i] == '\0')) i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) v = v * 8 + (unsigned long long)(f[i] - '0');
  return v;
}

unsigned long long tar_padded(unsigned long long n) { return (n + BLOCK - 1) / BLOCK * BLOCK; }

int tar_zero_block(const struct ustar *h) {
  const unsigned char *raw = (const unsigned char *)h;
  for (size_t i = 0; i < sizeof *h; i++)
    if (raw[i]) return 0;
  return 1;
}

int tar_checksum_ok(const struct ustar *h) {
  const unsigned char *raw = (const unsigned char *)h;
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof *h; i++) sum += (i >= 148 && i < 156) ? ' ' : raw[i];
  return sum == tar_num(h->chksum, sizeof h->chksum);
}

int tar_clean_name(const char *in, char *out, size_t cap) {
  size_t len = 0;
  const char *p = in;
  while (*p) {
    while (*p == '/') p++;
    const char *start = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - start);
    if (n == 0 || (n == 1 && start[0] == '.')) continue;
    if (n == 2 && start[0] == '.' && start[1] == '.') return -1;
    if (len + n + 2 > cap) return -2;
    if (len) out[len++] = '/';
    memcpy(out + len, start, n);
    len += n;
  }
  out[len] = '\0';
  return (int)len;
}

void tar_decode(const struct ustar *h, const struct tar_ext *x, struct tar_entry *e) {
  if (x->longname) snprintf(e->name, sizeof e->name, "%s", x->longname);
  else if (x->path) snprintf(e->name, sizeof e->name, "%s", x->path);
  else if (h->prefix[0] && memcmp(h->magic, "ustar", 5) == 0)
    snprintf(e->name, sizeof e->name, "%.155s/%.100s", h->prefix, h->name);
  else snprintf(e->name, sizeof e->name, "%.100s", h->name);
  if (x->longlink) snprintf(e->link, sizeof e->link, "%s", x->longlink);
  else if (x->linkpath) snprintf(e->link, sizeof e->link, "%s", x->linkpath);
  else snprintf(e->link, sizeof e->link, "%.100s", h->linkname);
  e->size = x->size >= 0 ? (unsigned long long)x->size : tar_num(h->size, sizeof h->size);
  e->mtime = x->mtime >= 0 ? x->mtime : (long long)tar_num(h->mtime, sizeof h->mtime);
  e->mode = (mode_t)tar_num(h->mode, sizeof h->mode);
  e->type = h->typeflag;
}

int tar_is_ext(char type) { return type == 'x' || type == 'g' || type == 'L' || type == 'K'; }

/* "LEN key=value\n" records; 'g' (global) headers are read only for ATOLL.error. */
static int parse_pax(char *body, size_t len, struct tar_ext *x, int global) {
  char *p = body, *end = body + len;
  while (p < end) {
    char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp) break;
    long rec = strtol(p, NULL, 10);
    if (rec <= 0 || rec > end - p) break;
    char *kv = sp + 1, *rec_end = p + rec - 1; /* points at the '\n' */
    /* A length that ends before "LEN " does: malformed. (It used to make the '=' search below
       run past the record and the body: found by fuzz/tar-read, corpus regress-pax-short-len.) */
    if (kv > rec_end) break;
    char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
    if (eq) {
      *eq = '\0';
      *rec_end = '\0';
      char *value = eq + 1;
      if (strcmp(kv, PAX_ERROR_KEY) == 0) { /* the source of this tar failed part way */
        const char *e = strstr(value, "\"errno\":");
        int err = e ? atoi(e + 8) : EIO;
        free(x->error);
        x->error = strdup(value);
        x->error_errno = err > 0 ? err : EIO;
        return x->error_errno;
      }
      if (!global) {
        if (strcmp(kv, "path") == 0) free(x->path), x->path = strdup(value);
        else if (strcmp(kv, "linkpath") == 0) free(x->linkpath), x->linkpath = strdup(value);
        else if (strcmp(kv, "size") == 0) x->size = strtoll(value, NULL, 10);
        else if (strcmp(kv, "mtime") == 0) x->mtime = strtoll(value, NULL, 10);
      }
    }
    p += rec;
  }
  return 0;
}

int tar_apply_ext(struct tar_ext *x, char type, char *body, size_t len) {
  if (type == 'L') {
    free(x->longname), x->longname = body;
    return 0;
  }
  if (type == 'K') {
    free(x->longlink), x->longlink = body;
    return 0;
  }
  int err = parse_pax(body, len, x, type == 'g');
  free(body);
  return err;
}

void tar_ext_clear(struct tar_ext *x) {
  free(x->path), free(x->linkpath), free(x->longname), free(x->longlink), free(x->error);
  *x = (struct tar_ext)TAR_EXT_INIT;
}
