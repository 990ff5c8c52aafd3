/*
 * atoll-nsconnect: a TCP connection made from inside a sandbox's network namespace (runs as
 * real root, then drops to nobody).
 *
 *   atoll-nsconnect NETNS_PATH PORT ADDRESS [ADDRESS ...]
 *
 * Joins the network namespace at NETNS_PATH (e.g. /run/netns/atoll-…), drops to uid/gid 65534,
 * connects to the first ADDRESS (numeric IPv4 or IPv6) that accepts on PORT, prints "OK\n" on
 * stderr and then relays bytes: stdin → socket, socket → stdout. EOF on stdin half-closes the
 * socket; EOF on the socket closes stdout and ends the relay. The daemon uses it for exposeHttp (the sandbox's own
 * 127.0.0.1 / ::1) and sandbox.fetch (requests that must leave from the sandbox's network).
 *
 * Exit status: 0 after a clean relay; 3 connection refused; 4 unreachable or timed out;
 * 125 usage or system error. Messages go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL 125
#define NOBODY 65534
#define CONNECT_TIMEOUT_S 10

static void die(const char *what) {
  fprintf(stderr, "atoll-nsconnect: %s: %s\n", what, strerror(errno));
  exit(FAIL);
}

static int connect_one(const char *address, int port, int *err) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((unsigned short)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((unsigned short)port);
    len = sizeof *v6;
  } else {
    fprintf(stderr, "atoll-nsconnect: not a numeric address: %s\n", address);
    exit(FAIL);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
    struct timeval none = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
    return fd;
  }
  *err = errno == EINPROGRESS ? ETIMEDOUT : errno;
  close(fd);
  return -1;
}

/* Copies `from` to `to` until EOF or an error. */
static void copy_all(int from, int to) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(to, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return;
      off += w;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: atoll-nsconnect NETNS_PATH PORT ADDRESS [ADDRESS ...]\n");
    return FAIL;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  char *end;
  long port = strtol(argv[2], &end, 10);
  if (*end || port < 1 || port > 65535) {
    fprintf(stderr, "atoll-nsconnect: bad port %s\n", argv[2]);
    return FAIL;
  }

  int nsfd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(argv[1]);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns(net)");
  close(nsfd);
  if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
    die("dropping privileges");

  int sock = -1, err = 0;
  for (int i = 3; i < argc && sock < 0; i++) sock = connect_one(argv[i], (int)port, &err);
  if (sock < 0) {
    fprintf(stderr, "atoll-nsconnect: connect: %s\n", strerror(err));
    return err == ECONNREFUSED ? 3 : 4;
  }
  if (write(STDERR_FILENO, "OK\n", 3) != 3) return FAIL;

  /* One process per direction, each blocking on its own: neither can stall the other. */
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(STDOUT_FILENO);
    copy_all(STDIN_FILENO, sock);
    shutdown(sock, SHUT_WR);
    _exit(0);
  }
  close(STDIN_FILENO);
  copy_all(sock, STDOUT_FILENO);
  close(STDOUT_FILENO);
  /* The peer closed: stop the other direction too (its reads of stdin may never end). */
  kill(child, SIGKILL);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  close(sock);
  return 0;
}
