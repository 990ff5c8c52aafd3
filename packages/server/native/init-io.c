/* atoll-init: logging, time, frame output and small fd helpers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "write-all.h"

void logmsg(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "atoll-init: %s\n", buf);
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_mode;

/*
 * Kills every process of the sandbox and exits. As the host's spawner it kills only the process
 * groups it started: kill(-1) there would reach every process of the host.
 */
void __attribute__((noreturn)) shutdown_all(int code) {
  if (host_mode) {
    for (struct proc *p = procs; p; p = p->next) kill(-p->pid, SIGKILL);
  } else {
    kill(-1, SIGKILL);
  }
  _exit(code);
}

void put_u32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes a whole frame to the control channel (blocking). The daemon gone → shut down. */
void send_frame(uint8_t type, uint32_t id, const void *a, size_t alen, const void *b,
                       size_t blen) {
  unsigned char hdr[9];
  put_u32(hdr, (uint32_t)(5 + alen + blen));
  hdr[4] = type;
  put_u32(hdr + 5, id);
  struct iovec iov[3] = {{hdr, sizeof hdr}, {(void *)a, alen}, {(void *)b, blen}};
  if (writev_all(CTL_OUT, iov, 3) < 0) shutdown_all(0);
}

void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}
