/*
 * atoll-probe: asks the kernel for features Node.js cannot ask for itself (`atoll doctor`,
 * packages/server/src/doctor/).
 *
 *   atoll-probe pidfd     pidfd_open(2) on itself, then pidfd_send_signal(2) with signal 0
 *   atoll-probe true      exits 0: the program the doctor's test sandbox runs (static, so it
 *                         needs nothing else inside that sandbox's empty root)
 *
 * Prints "ok" and exits 0 when the feature works; prints "<syscall>: <error>" on stderr and
 * exits 1 when it does not; exits 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static int probe_pidfd(void) {
  long fd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
  if (fd < 0) {
    fprintf(stderr, "pidfd_open: %s\n", strerror(errno));
    return 1;
  }
  if (syscall(SYS_pidfd_send_signal, fd, 0L, NULL, 0L) < 0) {
    fprintf(stderr, "pidfd_send_signal: %s\n", strerror(errno));
    close((int)fd);
    return 1;
  }
  close((int)fd);
  puts("ok");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "pidfd") == 0) return probe_pidfd();
  if (argc == 2 && strcmp(argv[1], "true") == 0) return 0;
  fprintf(stderr, "usage: atoll-probe pidfd|true\n");
  return 2;
}
