/*
 * Encoding of tar headers for atoll-fs tar-out: ustar headers, with a pax 'x' header before
 * them for long names, long link targets, large sizes and far mtimes. Pure functions into a buf
 * (no I/O), so the fuzz harness checks them directly against fs-tar-parse.c.
 */
#include <stdio.h>
#include <string.h>

#include "fs-tar.h"

static void octal(char *field, size_t width, unsigned long long v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%0*llo", (int)width - 1, v);
  memcpy(field, tmp + strlen(tmp) - (width - 1), width - 1); /* callers keep v within width */
  field[width - 1] = '\0';
}

static void copy_field(char *field, size_t width, const char *s) {
  size_t n = strlen(s);
  memcpy(field, s, n < width ? n : width);
}

static void pad_block(struct buf *out, unsigned long long size) {
  static const char zero[BLOCK];
  if (size % BLOCK) buf_put(out, zero, BLOCK - size % BLOCK);
}

void tar_pax_record(struct buf *b, const char *key, const char *value) {
  size_t body = 1 + strlen(key) + 1 + strlen(value) + 1;
  size_t len = body + 1;
  char digits[24];
  while ((size_t)snprintf(digits, sizeof digits, "%zu", len) + body != len) len = body + strlen(digits);
  buf_printf(b, "%zu ", len);
  buf_puts(b, key);
  buf_puts(b, "=");
  buf_puts(b, value);
  buf_puts(b, "\n");
}

void tar_encode_pax(struct buf *out, char type, struct buf *records) {
  struct stat st = {0};
  st.st_mode = 0644;
  tar_encode_header(out, type == 'g' ? "pax_global_header" : "PaxHeader", type, &st, records->len, NULL);
  buf_put(out, records->p, records->len);
  pad_block(out, records->len);
  buf_free(records);
}

/* Splits `name` into ustar prefix/name; 0 when it does not fit. */
static int split_name(const char *name, struct ustar *h) {
  size_t n = strlen(name);
  if (n <= sizeof h->name) {
    memcpy(h->name, name, n);
    return 1;
  }
  for (size_t i = n - 1; i > 0; i--) {
    if (name[i] != '/' || i > sizeof h->prefix || n - i - 1 > sizeof h->name || n - i - 1 == 0) continue;
    memcpy(h->prefix, name, i);
    memcpy(h->name, name + i + 1, n - i - 1);
    return 1;
  }
  return 0;
}

void tar_encode_header(struct buf *out, const char *name, char type, const struct stat *st, unsigned long long size, const char *link) {
  struct ustar h;
  memset(&h, 0, sizeof h);
  struct buf pax = {0};
  if (type != 'x' && type != 'g') {
    if (!split_name(name, &h)) {
      tar_pax_record(&pax, "path", name);
      memset(h.prefix, 0, sizeof h.prefix);
      copy_field(h.name, sizeof h.name, name);
    }
    if (link && strlen(link) > sizeof h.linkname) tar_pax_record(&pax, "linkpath", link);
    if (size > 077777777777ULL) {
      char v[32];
      snprintf(v, sizeof v, "%llu", size);
      tar_pax_record(&pax, "size", v);
    }
    /* An mtime past the 11 octal digits (year 2242: a sandbox can set any) used to leave with
       only its low digits: found by fuzz/tar-write, corpus regress-far-mtime. */
    if (st->st_mtime > 077777777777LL) {
      char v[32];
      snprintf(v, sizeof v, "%lld", (long long)st->st_mtime);
      tar_pax_record(&pax, "mtime", v);
    }
    if (pax.len) tar_encode_pax(out, 'x', &pax);
  } else {
    copy_field(h.name, sizeof h.name, name);
  }
  octal(h.mode, sizeof h.mode, st->st_mode & (type == '5' ? 01777 : 0777));
  octal(h.uid, sizeof h.uid, st->st_uid & 07777777);
  octal(h.gid, sizeof h.gid, st->st_gid & 07777777);
  octal(h.size, sizeof h.size, size > 077777777777ULL ? 0 : size);
  octal(h.mtime, sizeof h.mtime, st->st_mtime > 077777777777LL ? 0 : st->st_mtime > 0 ? (unsigned long long)st->st_mtime : 0);
  h.typeflag = type;
  if (link) copy_field(h.linkname, sizeof h.linkname, link);
  memcpy(h.magic, "ustar", 6);
  memcpy(h.version, "00", 2);
  memset(h.chksum, ' ', sizeof h.chksum);
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof h; i++) sum += ((unsigned char *)&h)[i];
  snprintf(h.chksum, sizeof h.chksum, "%06o", sum);
  h.chksum[7] = ' ';
  buf_put(out, &h, sizeof h);
}
