/*
 * libFuzzer target: atoll-fs's tar header decoding (native/fs-tar-parse.c) on arbitrary bytes,
 * walked the way fs-tar-in.c walks a stream: header blocks, extended headers (pax, GNU long
 * names) applied to the next entry, bodies skipped. A header whose checksum is wrong is
 * repaired first, so the fuzzer gets past the checksum to the fields behind it.
 *
 * Checks, besides ASan/UBSan: every entry name that tar-in would extract is relative, has no
 * "." or ".." component and no empty one, and cleaning it again changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../native/fs-tar.h"

static void repair_checksum(struct ustar *h) {
  memset(h->chksum, ' ', sizeof h->chksum);
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof *h; i++) sum += ((unsigned char *)h)[i];
  snprintf(h->chksum, sizeof h->chksum, "%06o", sum & 0777777);
}

static void check_clean(const char *name) {
  char rel[PATH_MAX], again[PATH_MAX];
  int len = tar_clean_name(name, rel, sizeof rel);
  if (len < 0) return;
  if ((size_t)len != strlen(rel) || (len > 0 && (rel[0] == '/' || rel[len - 1] == '/'))) abort();
  for (const char *c = rel; *c;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) abort();
    c += n + (end ? 1 : 0);
  }
  if (tar_clean_name(rel, again, sizeof again) != len || strcmp(rel, again) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct tar_ext x = TAR_EXT_INIT;
  size_t off = 0;
  int zeros = 0;
  while (size - off >= BLOCK) {
    struct ustar h;
    memcpy(&h, data + off, BLOCK);
    off += BLOCK;
    if (tar_zero_block(&h)) {
      if (++zeros == 2) break;
      continue;
    }
    zeros = 0;
    if (!tar_checksum_ok(&h)) repair_checksum(&h);
    if (!tar_checksum_ok(&h)) abort();
    struct tar_entry e;
    tar_decode(&h, &x, &e);
    size_t left = size - off;
    if (tar_is_ext(e.type)) {
      if (e.size > TAR_MAX_EXT || e.size > left) break; /* tar-in fails here */
      char *body = malloc((size_t)e.size + 1);
      if (!body) abort();
      memcpy(body, data + off, (size_t)e.size);
      body[e.size] = '\0';
      off += tar_padded(e.size) < left ? (size_t)tar_padded(e.size) : left;
      if (tar_apply_ext(&x, e.type, body, (size_t)e.size) != 0) {
        if (!x.error) abort(); /* an ATOLL.error record: tar-in fails with its value */
        break;
      }
      continue;
    }
    tar_ext_clear(&x);
    check_clean(e.name);
    if (e.type == '1') check_clean(e.link);
    if (e.size >= left || tar_padded(e.size) >= left) break;
    off += (size_t)tar_padded(e.size);
  }
  tar_ext_clear(&x);
  return 0;
}
