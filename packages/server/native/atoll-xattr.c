/*
 * atoll-xattr PATH NAME HEX [NAME HEX]...
 *
 * Sets extended attributes on one file of an image being unpacked (src/image/oci-xattrs.ts),
 * without following a symlink (lsetxattr): Node.js has no xattr call. Values come as hex so
 * binary ones (security.capability) pass through argv intact. Exit 0 when all were set; else
 * 1 with the failing attribute on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#define XATTR_MAX 65536

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  static unsigned char value[XATTR_MAX];
  if (argc < 4 || (argc - 2) % 2 != 0) {
    fprintf(stderr, "usage: atoll-xattr PATH NAME HEX [NAME HEX]...\n");
    return 2;
  }
  const char *path = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const char *name = argv[i], *hex = argv[i + 1];
    size_t len = strlen(hex);
    if (len % 2 != 0 || len / 2 > XATTR_MAX) {
      fprintf(stderr, "atoll-xattr: %s: bad value\n", name);
      return 1;
    }
    for (size_t j = 0; j < len / 2; j++) {
      int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
      if (hi < 0 || lo < 0) {
        fprintf(stderr, "atoll-xattr: %s: bad value\n", name);
        return 1;
      }
      value[j] = (unsigned char)(hi << 4 | lo);
    }
    if (lsetxattr(path, name, value, len / 2, 0) < 0) {
      fprintf(stderr, "atoll-xattr: %s on %s: %s\n", name, path, strerror(errno));
      return 1;
    }
  }
  return 0;
}
