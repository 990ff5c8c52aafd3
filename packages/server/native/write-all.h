/* writev until every byte of an iovec array is written: shared by atoll-fs and atoll-init. */
#ifndef ATOLL_WRITE_ALL_H
#define ATOLL_WRITE_ALL_H

#include <sys/uio.h>

/*
 * Writes all of iov[0..cnt) to fd, retrying short writes and EINTR, and waiting for POLLOUT on
 * EAGAIN (a non-blocking fd). Advances the entries of iov as it goes. Returns 0, or -1 with
 * errno set when the fd fails (the reader is gone).
 */
int writev_all(int fd, struct iovec *iov, int cnt);

#endif
