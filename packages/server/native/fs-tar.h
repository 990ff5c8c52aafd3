/* USTAR/PAX layout shared by fs-tar-out.c and fs-tar-in.c, and the pure encoding and decoding
   functions of fs-tar-encode.c and fs-tar-parse.c (no I/O: the fuzz harnesses in
   packages/server/fuzz/ call them directly). */
#ifndef ATOLL_FS_TAR_H
#define ATOLL_FS_TAR_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fs.h"

#define BLOCK 512

struct ustar {
  char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag;
  char linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8], devminor[8];
  char prefix[155], pad[12];
};

/* pax keyword carrying an error in a download (docs/files.md): value is the X record's JSON. */
#define PAX_ERROR_KEY "ATOLL.error"

/* Largest extended header body (pax records, GNU long name) a reader accepts. */
#define TAR_MAX_EXT (1u << 20)

/* ---- fs-tar-encode.c: headers as tar-out writes them -------------------------------------- */

/* Appends one "LEN key=value\n" pax record (LEN counts the whole record). */
void tar_pax_record(struct buf *b, const char *key, const char *value);
/* Appends a pax header of `type` ('x' or 'g') carrying `records`, padded to a block; frees records. */
void tar_encode_pax(struct buf *out, char type, struct buf *records);
/* Appends the header block(s) of one entry: a pax 'x' header first when the name, the link
   target, the size or the mtime do not fit the ustar fields. Mode, ids and mtime come from st. */
void tar_encode_header(struct buf *out, const char *name, char type, const struct stat *st, unsigned long long size, const char *link);

/* ---- fs-tar-parse.c: headers as tar-in reads them ----------------------------------------- */

/* What extended headers (pax 'x', GNU 'L'/'K') set for the next entry; TAR_EXT_INIT when none. */
struct tar_ext {
  char *path, *linkpath, *longname, *longlink;
  long long size, mtime; /* -1: not set */
  char *error;           /* an ATOLL.error record's value: the archive's source failed */
  int error_errno;
};
#define TAR_EXT_INIT {NULL, NULL, NULL, NULL, -1, -1, NULL, 0}

/* One header decoded with the extended headers before it. */
struct tar_entry {
  char type;
  char name[PATH_MAX * 2];
  char link[PATH_MAX + 1];
  unsigned long long size; /* body bytes that follow the header */
  long long mtime;
  mode_t mode;
};

/* A numeric field: octal (leading spaces/NULs skipped) or GNU base-256. */
unsigned long long tar_num(const char *f, size_t n);
/* n rounded up to whole blocks. */
unsigned long long tar_padded(unsigned long long n);
int tar_zero_block(const struct ustar *h);
int tar_checksum_ok(const struct ustar *h);
/* Normalises an entry name into out ("a/b/c"): its length, -1 if it climbs with "..", -2 if
   it does not fit cap. */
int tar_clean_name(const char *in, char *out, size_t cap);
/* Decodes h with the pending extended headers x (x is left as it is). */
void tar_decode(const struct ustar *h, const struct tar_ext *x, struct tar_entry *e);
/* 1 for the types whose body is an extended header for the next entry ('x', 'g', 'L', 'K'). */
int tar_is_ext(char type);
/* Applies the body of an extended header of `type` (len bytes, NUL-terminated) to x and frees
   it. Returns 0, or the errno of an ATOLL.error record (then x->error holds its value). */
int tar_apply_ext(struct tar_ext *x, char type, char *body, size_t len);
/* Frees what x holds and resets it to TAR_EXT_INIT. */
void tar_ext_clear(struct tar_ext *x);

#endif
