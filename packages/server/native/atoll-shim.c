/*
 * atoll-shim: the per-sandbox supervisor that lets a sandbox outlive its daemon (issue 13,
 * docs/architecture.md "Live restore"). Host side, runs as root.
 *
 *   atoll-shim --sock-dir DIR -- LAUNCHER ARGS...
 *
 * The daemon spawns the shim (in a session of its own) with pipes on stdin/stdout/stderr; the
 * shim forks LAUNCHER (atoll-launch, pooled or not) with pipes of its own and relays between the
 * two sides:
 *   upstream (the daemon) → launcher stdin: u32-BE-length-prefixed records (the pooled launcher's
 *     argument record, then control-channel frames), each at most DOWN_MAX bytes;
 *   launcher stdout (atoll-init) → upstream: control-channel frames, each at most UP_MAX bytes
 *     (64 KiB payload + 5): init is inside the sandbox, so a longer length ends the sandbox.
 * Only whole records are forwarded, one in flight per direction, so when an upstream goes away
 * mid-record the partial record is dropped and neither init nor the next daemon is misaligned.
 * The launcher's stderr is relayed to the shim's stderr while the first daemon is connected,
 * and dropped afterwards.
 *
 * The shim listens on DIR/<its pid>.sock (DIR is the daemon's root-only 0700 directory; the
 * socket is 0600). When the upstream reaches EOF (the daemon stopped or died):
 *   - before init sent READY (a pooled launcher, a launch still starting) the shim SIGKILLs its
 *     launcher and exits: a dead daemon's pool does not survive it;
 *   - after READY it keeps the launcher running and waits for a connection; the next daemon
 *     connects and becomes the upstream (a newer connection replaces an older one). While no
 *     daemon is connected the shim does not read init's output: init blocks on its full pipe as
 *     with any slow reader, and processes that do not write to the channel keep running.
 * When init's channel reaches EOF (init exited), the shim exits with its launcher's status. A
 * shim that dies closes init's channel, and init then kills its sandbox: a sandbox is never left
 * running unsupervised (bwrap --die-with-parent also refers to the shim).
 *
 * Nothing from init is parsed beyond the record length (checked before buffering) and, for the
 * first record, its type byte (READY). The shim is non-dumpable, sets no_new_privs and keeps no
 * capability but CAP_KILL (to end its launcher) once it has started.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define UP_MAX (256u * 1024 + 5)        /* init → daemon: a frame of at most 256 KiB payload (OUTPUT_CHUNK) */
#define DOWN_MAX (16u * 1024 * 1024 + 5) /* daemon → init: as init's own limit (the daemon is trusted) */
#define PIPE_BYTES (1024 * 1024)
#define F_READY 64

/* One direction's record in flight: its 4-byte length, then its body, then written out. */
struct rec {
  unsigned char hdr[4];
  size_t hdr_have;
  unsigned char *body;
  size_t len, have; /* body length and bytes received */
  size_t sent;      /* bytes of hdr+body written out (once complete) */
  int complete;
};

static pid_t child = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void msg(const char *fmt, const char *arg) {
  fprintf(stderr, "atoll-shim: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
}

static void finish(int code) {
  if (sock_path[0]) unlink(sock_path);
  exit(code);
}

/* Ends the launcher (and with it, through --die-with-parent and pid 1's exit, the sandbox). */
static void __attribute__((noreturn)) kill_and_exit(int code) {
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  finish(code);
  _exit(code);
}

static void rec_reset(struct rec *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

/*
 * Reads what is missing of the record in flight from fd (never past its end). Returns 1 when
 * something was read or the record is complete, 0 at EOF, -1 on an error, -2 when the length is
 * out of bounds.
 */
static int rec_read(struct rec *r, int fd, size_t max) {
  ssize_t n;
  if (r->hdr_have < 4) {
    n = read(fd, r->hdr + r->hdr_have, 4 - r->hdr_have);
    if (n <= 0) return n == 0 ? 0 : (errno == EINTR || errno == EAGAIN) ? 1 : -1;
    r->hdr_have += (size_t)n;
    if (r->hdr_have < 4) return 1;
    uint32_t len = ((uint32_t)r->hdr[0] << 24) | ((uint32_t)r->hdr[1] << 16) | ((uint32_t)r->hdr[2] << 8) | r->hdr[3];
    if (len == 0 || len > max) return -2; /* checked before anything is buffered */
    r->len = len;
    r->body = malloc(len);
    if (!r->body) return -1;
    return 1;
  }
  n = read(fd, r->body + r->have, r->len - r->have);
  if (n <= 0) return n == 0 ? 0 : (errno == EINTR || errno == EAGAIN) ? 1 : -1;
  r->have += (size_t)n;
  if (r->have == r->len) r->complete = 1;
  return 1;
}

/* Writes what is left of a complete record to fd. 1: all written, 0: more to write, -1: error. */
static int rec_write(struct rec *r, int fd) {
  while (r->sent < 4 + r->len) {
    ssize_t n;
    if (r->sent < 4) n = write(fd, r->hdr + r->sent, 4 - r->sent);
    else n = write(fd, r->body + (r->sent - 4), r->len - (r->sent - 4));
    if (n < 0) return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
    r->sent += (size_t)n;
  }
  return 1;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int listen_socket(const char *dir) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  int len = snprintf(a.sun_path, sizeof a.sun_path, "%s/%d.sock", dir, (int)getpid());
  if (len < 0 || (size_t)len >= sizeof a.sun_path) {
    msg("socket directory path too long: %s", dir);
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  unlink(a.sun_path);
  mode_t old = umask(0177); /* the socket is 0600 */
  int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (rc < 0 || listen(fd, 4) < 0) {
    close(fd);
    return -1;
  }
  memcpy(sock_path, a.sun_path, sizeof sock_path);
  return fd;
}

/* Keeps only CAP_KILL (to end the launcher, which runs as the sandbox's host uid). */
static void drop_caps(void) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {{0}};
  d[0].effective = d[0].permitted = 1u << CAP_KILL;
  if (syscall(SYS_capset, &h, d) < 0) msg("capset: %s", strerror(errno));
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--sock-dir") == 0 && i + 1 < argc) dir = argv[++i];
    else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else break;
  }
  if (!dir || i >= argc) {
    fprintf(stderr, "usage: atoll-shim --sock-dir DIR -- LAUNCHER ARGS...\n");
    return 125;
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    msg("prctl: %s", strerror(errno));
    return 125;
  }
  signal(SIGPIPE, SIG_IGN);
  int lsock = listen_socket(dir);
  if (lsock < 0) {
    msg("cannot listen in %s", dir);
    return 125;
  }
  int in_p[2], out_p[2], err_p[2];
  if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
    msg("pipe: %s", strerror(errno));
    finish(125);
  }
  /* Room for init to write while no daemon reads (best effort: the host may cap it lower). */
  fcntl(out_p[1], F_SETPIPE_SZ, PIPE_BYTES);
  fcntl(in_p[1], F_SETPIPE_SZ, PIPE_BYTES);
  child = fork();
  if (child < 0) {
    msg("fork: %s", strerror(errno));
    finish(125);
  }
  if (child == 0) {
    if (dup2(in_p[0], 0) < 0 || dup2(out_p[1], 1) < 0 || dup2(err_p[1], 2) < 0) _exit(125);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[i], argv + i);
    fprintf(stderr, "atoll-shim: exec %s: %s\n", argv[i], strerror(errno));
    _exit(125);
  }
  close(in_p[0]);
  close(out_p[1]);
  close(err_p[1]);
  int to_l = in_p[1], from_l = out_p[0], err_l = err_p[0];
  set_nonblock(to_l);
  set_nonblock(from_l);
  set_nonblock(err_l);
  drop_caps();

  int up_in = 0, up_out = 1; /* the daemon that spawned us; later a socket connection */
  int first_daemon = 1;      /* its stderr still takes the launcher's */
  int ready = 0;             /* init sent READY: from now on the shim outlives its daemon */
  struct rec down = {0}, up = {0};
  set_nonblock(up_in);
  set_nonblock(up_out);
  set_nonblock(2);

  for (;;) {
    struct pollfd p[6];
    int n = 0, i_up_in = -1, i_up_out = -1, i_to_l = -1, i_from_l = -1, i_err = -1, i_lsock;
    int connected = up_in >= 0;
    if (connected && !down.complete) p[i_up_in = n++] = (struct pollfd){up_in, POLLIN, 0};
    if (down.complete) p[i_to_l = n++] = (struct pollfd){to_l, POLLOUT, 0};
    /* Without a daemon init's output is not read; its hang-up (init gone) is still seen. */
    if (!up.complete) p[i_from_l = n++] = (struct pollfd){from_l, connected ? POLLIN : 0, 0};
    if (connected && up.complete) p[i_up_out = n++] = (struct pollfd){up_out, POLLOUT, 0};
    if (err_l >= 0) p[i_err = n++] = (struct pollfd){err_l, POLLIN, 0};
    p[i_lsock = n++] = (struct pollfd){lsock, POLLIN, 0};
    if (poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      kill_and_exit(1);
    }
    int lost = 0; /* the upstream went away */
    if (i_err >= 0 && p[i_err].revents) {
      char buf[4096];
      ssize_t r = read(err_l, buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close(err_l);
        err_l = -1;
      } else if (r > 0 && first_daemon && write(2, buf, (size_t)r) < 0) {
        /* a full or closed stderr: the line is dropped */
      }
    }
    if (i_up_in >= 0 && p[i_up_in].revents) {
      int r = rec_read(&down, up_in, DOWN_MAX);
      if (r <= 0) lost = 1; /* EOF, error or a bad length: this upstream is done */
    }
    if (i_to_l >= 0 && p[i_to_l].revents) {
      int r = rec_write(&down, to_l);
      if (r < 0) kill_and_exit(1); /* init's channel broke: the sandbox is ending */
      if (r == 1) rec_reset(&down);
    }
    if (i_from_l >= 0 && p[i_from_l].revents) {
      int r = connected ? rec_read(&up, from_l, UP_MAX) : 0;
      if (r == 0) {
        /* init exited: pass on the last complete record if an upstream takes it, then its status */
        int status = 0;
        if (up.complete && up_out >= 0) {
          int fl = fcntl(up_out, F_GETFL);
          fcntl(up_out, F_SETFL, fl & ~O_NONBLOCK);
          rec_write(&up, up_out);
        }
        close(to_l);
        waitpid(child, &status, 0);
        child = -1;
        if (err_l >= 0 && first_daemon) {
          char buf[4096];
          ssize_t r2;
          while ((r2 = read(err_l, buf, sizeof buf)) > 0)
            if (write(2, buf, (size_t)r2) < 0) break;
        }
        if (WIFSIGNALED(status)) {
          if (sock_path[0]) unlink(sock_path);
          signal(WTERMSIG(status), SIG_DFL);
          raise(WTERMSIG(status));
        }
        finish(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
      }
      if (r == -2 && up_out >= 0) {
        /* A hostile length: the daemon gets it too (its decoder reports the protocol error that
           ends the sandbox), then the sandbox ends here. */
        if (write(up_out, up.hdr, 4) < 0) { /* gone or full: it sees init exit instead */
        }
      }
      if (r < 0) kill_and_exit(1); /* a hostile length (or no memory): the sandbox ends */
      if (up.complete && !ready) {
        if (up.body[0] != F_READY) kill_and_exit(1);
        ready = 1;
      }
    }
    if (i_up_out >= 0 && p[i_up_out].revents && !lost) {
      int r = rec_write(&up, up_out);
      if (r < 0) lost = 1;
      if (r == 1) rec_reset(&up);
    }
    if (p[i_lsock].revents) {
      int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        /* A newer daemon replaces an older one. */
        if (up_in >= 0) close(up_in);
        if (up_out >= 0 && up_out != up_in) close(up_out);
        /* Partial records belong to the old daemon: dropped (a complete one for init goes on). */
        if (!down.complete) rec_reset(&down);
        rec_reset(&up);
        up_in = up_out = c;
        first_daemon = 0;
        continue;
      }
    }
    if (lost) {
      if (!ready) kill_and_exit(1); /* a dead daemon's pool or launch does not survive it */
      close(up_in);
      if (up_out != up_in) close(up_out);
      up_in = up_out = -1;
      first_daemon = 0;
      if (!down.complete) rec_reset(&down);
      rec_reset(&up);
    }
  }
}
