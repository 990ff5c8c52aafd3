/*
 * libFuzzer target: atoll-fs's tar header encoding (native/fs-tar-encode.c), checked against its
 * decoding (native/fs-tar-parse.c). The input picks an entry as a sandbox's tree can make one
 * (any name and link target bytes but NUL, any size and mtime); what tar-out writes for it must
 * read back as the same entry: whole blocks, valid checksums, same type, name, link target,
 * size, permission bits and mtime.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../native/fs-tar.h"

static uint64_t take_u64(const uint8_t **p, size_t *n) {
  uint64_t v = 0;
  for (int i = 0; i < 8 && *n > 0; i++, (*p)++, (*n)--) v = v << 8 | **p;
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char types[] = {'0', '5', '2'};
  char type = types[data[0] % 3];
  data++, size--;
  unsigned long long esize = type == '0' ? take_u64(&data, &size) >> 1 : 0; /* < 2^63: a file's st_size */
  struct stat st = {0};
  st.st_mode = (mode_t)take_u64(&data, &size);
  st.st_mtime = (time_t)take_u64(&data, &size);
  /* name NUL link: C strings as readdir and readlink give them. */
  char *name = strndup((const char *)data, size);
  const uint8_t *nul = memchr(data, 0, size);
  char *link = type == '2' && nul ? strndup((const char *)nul + 1, size - (size_t)(nul + 1 - data)) : NULL;
  if (!name || (type == '2' && !link && nul)) abort();
  if (name[0] == '\0' || strlen(name) >= PATH_MAX || (link && strlen(link) > PATH_MAX)) goto out;

  struct buf b = {0};
  tar_encode_header(&b, name, type, &st, esize, link);
  if (b.len == 0 || b.len % BLOCK != 0) abort();
  struct tar_ext x = TAR_EXT_INIT;
  struct tar_entry e;
  for (size_t off = 0;;) {
    if (off + BLOCK > b.len) abort(); /* the entry's own header is missing */
    const struct ustar *h = (const struct ustar *)(b.p + off);
    if (!tar_checksum_ok(h)) abort();
    tar_decode(h, &x, &e);
    off += BLOCK;
    if (!tar_is_ext(e.type)) {
      if (off != b.len) abort();
      break;
    }
    if (e.size > b.len - off) abort();
    char *body = malloc((size_t)e.size + 1);
    if (!body) abort();
    memcpy(body, b.p + off, (size_t)e.size);
    body[e.size] = '\0';
    if (tar_apply_ext(&x, e.type, body, (size_t)e.size) != 0) abort();
    off += (size_t)tar_padded(e.size);
  }
  if (e.type != type || e.size != esize || strcmp(e.name, name) != 0) abort();
  if (type == '2' && strcmp(e.link, link ? link : "") != 0) abort();
  if ((e.mode & 0777) != (st.st_mode & 0777)) abort();
  if (e.mtime != (st.st_mtime > 0 ? (long long)st.st_mtime : 0)) abort();
  tar_ext_clear(&x);
  buf_free(&b);
out:
  free(name);
  free(link);
  return 0;
}
