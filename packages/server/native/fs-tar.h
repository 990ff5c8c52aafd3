/* USTAR/PAX layout shared by fs-tar-out.c and fs-tar-in.c. */
#ifndef ATOLL_FS_TAR_H
#define ATOLL_FS_TAR_H

#define BLOCK 512

struct ustar {
  char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag;
  char linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8], devminor[8];
  char prefix[155], pad[12];
};

/* pax keyword carrying an error in a download (docs/files.md): value is the X record's JSON. */
#define PAX_ERROR_KEY "ATOLL.error"

#endif
