/* writev until every byte is written (see write-all.h). */
#include <errno.h>
#include <poll.h>

#include "write-all.h"

int writev_all(int fd, struct iovec *iov, int cnt) {
  int idx = 0;
  while (idx < cnt) {
    ssize_t n = writev(fd, iov + idx, cnt - idx);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    while (idx < cnt && (size_t)n >= iov[idx].iov_len) {
      n -= (ssize_t)iov[idx].iov_len;
      idx++;
    }
    if (idx < cnt) {
      iov[idx].iov_base = (char *)iov[idx].iov_base + n;
      iov[idx].iov_len -= (size_t)n;
    }
  }
  return 0;
}
