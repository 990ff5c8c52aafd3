/* Shared declarations of atoll-fs's source files (see atoll-fs.c and docs/files.md). */
#ifndef ATOLL_FS_H
#define ATOLL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "dumpable.h"

/* Record types: `u8 type | u32 length (BE) | payload` on stdin and stdout. */
enum {
  /* daemon -> helper */
  REC_DATA = 'D',   /* bytes of the file or tar being written */
  REC_END = 'E',    /* all data sent: commit */
  REC_CREDIT = 'C', /* u32 BE: the helper may send this many more D/J payload bytes */
  /* helper -> daemon (REC_DATA too) */
  REC_ACK = 'A',    /* u64 BE: D payload bytes consumed so far */
  REC_JSON = 'J',   /* one JSON object of a listing */
  REC_OPENED = 'O', /* JSON: the operation started (target checked); data follows */
  REC_RESULT = 'R', /* JSON: success, last record */
  REC_ERROR = 'X',  /* JSON {errno, syscall, path, message?, outOfInodes?}: failure, last record */
};

#define MAX_IN_RECORD (1u << 20) /* largest record the daemon may send */
/* Largest D payload the helper sends: with its 5-byte header a record fills exactly one read of
   init's (OUTPUT_CHUNK in init.h), so records travel one per frame and the daemon decodes them
   without joining chunks. */
#define OUT_CHUNK (256u * 1024 - 5)
#define PIPE_SIZE (1u << 20) /* asked for stdin and stdout (best effort): a whole window in flight */
#define ACK_EVERY (256u * 1024)  /* bytes consumed between two ACKs */
#define TMP_PREFIX ".atoll-tmp-"

/* A growable byte buffer used to build JSON. */
struct buf {
  char *p;
  size_t len, cap;
};

/* fs-io.c: records, credits, JSON, errors */
void buf_put(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_str(struct buf *b, const char *s); /* quoted, escaped */
void buf_free(struct buf *b);
void out_record(uint8_t type, const void *p, size_t n);
void out_json(uint8_t type, struct buf *b); /* sends and frees b; J consumes credit */
void out_data(const void *p, size_t n);     /* D records within the credit */
void out_ack(uint64_t consumed);
void out_result_empty(void);
/* Reads the next record; returns 0 at EOF. *payload stays valid until the next call. */
int in_record(uint8_t *type, unsigned char **payload, uint32_t *len);
/* Fails the operation: sends X and exits 1. */
void fail(int err, const char *syscall, const char *path) __attribute__((noreturn));
void fail_msg(int err, const char *syscall, const char *path, const char *msg) __attribute__((noreturn));
/* An upload that ended without E (the client went away): exit quietly. */
void fail_aborted(void) __attribute__((noreturn));
/* Cleanup to run before fail() exits (remove a temp file, truncate an append). */
void on_fail(void (*fn)(void *), void *arg);

/* Byte-wise input from D records: returns bytes read (< n only at E). EOF without E aborts. */
size_t in_read(void *dst, size_t n);
/* Data after the payload the operation needed: read and drop until E. */
void in_drain(void);
/* D payload bytes consumed so far. */
uint64_t in_consumed(void);
/* The next chunk of input without a copy, at most max bytes; 0 at E. */
size_t in_chunk(const unsigned char **p, size_t max);

/* fs-ops.c */
const char *type_name(mode_t mode);
void json_stat(struct buf *b, const char *path, int follow);
int op_meta(int argc, char **argv); /* returns 1 when argv[0] was one of its ops */

/* fs-write.c */
int op_file(int argc, char **argv);
/* Creates a temp file next to `target` (dirfd + name), mode 0600. Returns fd, fills tmpname. */
int make_temp_at(int dirfd, char *tmpname, size_t size);

/* fs-tar-out.c / fs-tar-in.c */
void op_tar_out(const char *path);
void op_tar_in(const char *path);

/* fs-walk.c */
struct name {
  char *name;
  unsigned char type; /* DT_* */
};
ssize_t list_dir(const char *path, struct name **out);
void op_readdir(const char *path);
void op_walk(const char *root, long max_depth, int follow);

#endif
