/*
 * atoll-init: pid 1 of every sandbox (bind-mounted read-only at /.atoll/init, started by
 * `bwrap --as-pid-1`). Statically linked so it runs whatever libc the base image has.
 *
 * - Drops every capability outside Docker's default set minus MKNOD and NET_RAW from the
 *   bounding, permitted, effective, inheritable and ambient sets; sets no_new_privs.
 * - Speaks the control-channel protocol of docs/architecture.md on stdin (daemon → init) and
 *   stdout (init → daemon); stderr goes to the daemon's log.
 * - Spawns commands in their own session/process group, with pipes for stdout/stderr and
 *   (optionally) stdin; reaps every child, orphans included.
 * - When the control channel reaches EOF or a KILL_ALL frame arrives it SIGKILLs every process
 *   of the sandbox and exits (pid 1 exiting also makes the kernel kill the pid namespace).
 *
 * One thread, one poll() loop. SIGCHLD arrives on a signalfd. Writes to the control channel
 * block (the daemon always reads); writes to a child's stdin never block: STDIN bytes are
 * queued per process and written when the pipe accepts them, and acknowledged (STDIN_ACK) once
 * written, so the daemon never sends more than a window ahead and the queue stays small.
 *
 * Flow control: a child's stdout/stderr pipe is read only while the daemon's credit for it
 * (CREDIT frames, granted as the daemon's consumer takes the bytes) is positive, and never more
 * than the credit. A child writing faster than its reader therefore blocks on its own full pipe,
 * inside the sandbox; nothing piles up in init or in the daemon.
 *
 * When EXIT is sent: as soon as the direct child has been reaped and both of its output pipes
 * reached EOF. If the pipes are still open EXIT_GRACE_MS after the child was reaped (a
 * background process inherited them, e.g. `sh -c 'server &'`), init forwards what they hold at
 * that moment (as credit allows), sends EXIT and from then on reads and discards what those
 * pipes carry until EOF, so the background process neither blocks on a full pipe nor dies of
 * SIGPIPE.
 *
 * Nothing in the sandbox can reach the control channel: init makes itself non-dumpable (and
 * its binary is not readable by sandbox users, so it is non-dumpable from its first
 * instruction), which puts /proc/1/mem, /proc/1/fd, pidfd_getfd and ptrace behind
 * CAP_SYS_PTRACE in the host's user namespace; as pid 1 of its pid namespace it receives no
 * signal from inside it that it has no handler for (it has none; SIGCHLD is blocked and read
 * from a signalfd).
 *
 * `atoll-init --host-spawner` runs the same protocol on the host, started by the daemon to run
 * its short host commands (mount, losetup, ip, nft, mkfs): a fork from this small process costs
 * far less than one from the daemon's large Node.js process, and does not block the daemon's
 * event loop. In that mode it keeps its capabilities, and on shutdown it kills only the process
 * groups it started. Without the flag it refuses to run unless it is pid 1 (of a sandbox).
 *
 * Sources: atoll-init.c (control channel, main loop), init-io.c (frame output, helpers),
 * init-caps.c (capabilities), init-procs.c (process table, output, EXIT, stdin), init-spawn.c,
 * init-state.c (HELLO → STATE, for a daemon that adopts a running sandbox).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static unsigned char *ctl_buf;
static size_t ctl_len, ctl_cap;

/* ---------------------------------------------------------------- control channel ------- */

static void handle_frame(uint8_t type, uint32_t id, unsigned char *payload, size_t len) {
  struct proc *p;
  switch (type) {
  case F_SPAWN:
    do_spawn(id, (char *)payload, len);
    break;
  case F_STDIN:
    if ((p = find_proc(id))) stdin_queue(p, payload, len);
    break;
  case F_STDIN_CLOSE:
    if ((p = find_proc(id))) {
      p->in_close = 1;
      stdin_flush(p);
    }
    break;
  case F_SIGNAL:
    if (len == 4 && (p = find_proc(id))) {
      /* The group outlives its leader while background members remain; once reaped the
         leader's pid may be reused, so only the group is signalled then. */
      int sig = (int)get_u32(payload);
      if (kill(-p->pid, sig) < 0 && errno == ESRCH && !p->reaped) kill(p->pid, sig);
    }
    break;
  case F_CREDIT:
    if (len == 8 && (p = find_proc(id))) add_credit(p, get_u32(payload), get_u32(payload + 4));
    break;
  case F_HELLO:
    /* An adopting daemon: it discards what we sent before, until our STATE with its nonce. */
    if (id == 0 && len == 8) send_state(payload, len);
    break;
  case F_KILL_ALL:
    shutdown_all(0);
  default:
    logmsg("ignoring unknown frame type %u", type);
  }
}

/* Reads what the control channel has and handles every complete frame. */
static void read_control(void) {
  if (ctl_cap - ctl_len < READ_CHUNK) {
    size_t cap = ctl_cap ? ctl_cap : READ_CHUNK * 2;
    while (cap - ctl_len < READ_CHUNK) cap *= 2;
    unsigned char *nb = realloc(ctl_buf, cap);
    if (!nb) {
      logmsg("out of memory reading the control channel");
      shutdown_all(1);
    }
    ctl_buf = nb;
    ctl_cap = cap;
  }
  ssize_t n = read(CTL_IN, ctl_buf + ctl_len, ctl_cap - ctl_len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) shutdown_all(0); /* the daemon closed the channel (or died) */
  ctl_len += (size_t)n;
  size_t off = 0;
  while (ctl_len - off >= 4) {
    uint32_t flen = get_u32(ctl_buf + off);
    if (flen < 5 || flen > MAX_FRAME + 5) {
      logmsg("bad frame length %u on the control channel", flen);
      shutdown_all(1);
    }
    if (ctl_len - off - 4 < flen) break;
    unsigned char *f = ctl_buf + off + 4;
    handle_frame(f[0], get_u32(f + 1), f + 5, flen - 5);
    off += 4 + flen;
  }
  memmove(ctl_buf, ctl_buf + off, ctl_len - off);
  ctl_len -= off;
}

/* ---------------------------------------------------------------- main loop ------------- */

static void close_extra_fds(void) {
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
  for (int fd = 3; fd < 1024; fd++) close(fd);
}

int main(int argc, char **argv) {
  host_mode = argc == 2 && strcmp(argv[1], "--host-spawner") == 0;
  if (!host_mode && (argc != 1 || getpid() != 1)) {
    /* Its shutdown kills every process it can see: only ever as pid 1 of a pid namespace. */
    logmsg("must run as pid 1 of a sandbox (or with --host-spawner)");
    return 2;
  }
  /* Before anything else: no process of the sandbox (same uid) may read or write our memory or
     take our file descriptors (the control channel) with /proc/1/mem, /proc/1/fd, pidfd_getfd
     or process_vm_writev. */
  if (prctl(PR_SET_DUMPABLE, DUMPABLE, 0, 0, 0) < 0) {
    logmsg("PR_SET_DUMPABLE: %s", strerror(errno));
    return 1;
  }
  close_extra_fds();
  if (!host_mode) drop_capabilities();
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    logmsg("signalfd: %s", strerror(errno));
    return 1;
  }
  send_frame(F_READY, 0, NULL, 0, NULL, 0);

  struct pollfd *pfd = NULL;
  struct proc **pref = NULL;
  size_t pcap = 0;
  for (;;) {
    /* slots: control, signalfd, then per process up to 3, then drains */
    size_t nprocs = 0;
    for (struct proc *p = procs; p; p = p->next) nprocs++;
    size_t need = 2 + nprocs * 3 + drain_n;
    if (need > pcap) {
      pcap = need * 2;
      pfd = realloc(pfd, pcap * sizeof *pfd);
      pref = realloc(pref, pcap * sizeof *pref);
      if (!pfd || !pref) {
        logmsg("out of memory");
        shutdown_all(1);
      }
    }
    size_t k = 0;
    pfd[k] = (struct pollfd){CTL_IN, POLLIN, 0};
    pref[k++] = NULL;
    pfd[k] = (struct pollfd){sfd, POLLIN, 0};
    pref[k++] = NULL;
    int timeout = -1;
    int64_t now = now_ms();
    for (struct proc *p = procs; p; p = p->next) {
      /* Without credit a pipe is left alone: its writer blocks once the pipe is full. */
      if (p->out_fd >= 0 && p->out_credit > 0) pfd[k] = (struct pollfd){p->out_fd, POLLIN, 0}, pref[k++] = p;
      if (p->err_fd >= 0 && p->err_credit > 0) pfd[k] = (struct pollfd){p->err_fd, POLLIN, 0}, pref[k++] = p;
      if (p->in_fd >= 0 && p->in_off < p->in_len)
        pfd[k] = (struct pollfd){p->in_fd, POLLOUT, 0}, pref[k++] = p;
      /* Wake up at the end of the grace period, until the pipes' tails are counted. */
      int uncounted = (p->out_fd >= 0 && p->out_tail < 0) || (p->err_fd >= 0 && p->err_tail < 0);
      if (p->reaped && uncounted) {
        int64_t left = p->reaped_ms + EXIT_GRACE_MS - now;
        if (left < 0) left = 0;
        if (timeout < 0 || left < timeout) timeout = (int)left;
      }
    }
    size_t drain_start = k;
    for (size_t i = 0; i < drain_n; i++) pfd[k] = (struct pollfd){drain_fds[i], POLLIN, 0}, pref[k++] = NULL;

    int rc = poll(pfd, k, timeout);
    if (rc < 0 && errno != EINTR) {
      logmsg("poll: %s", strerror(errno));
      shutdown_all(1);
    }
    if (rc > 0) {
      /* Output first: a process's bytes go out before its EXIT. */
      for (size_t i = 2; i < drain_start; i++) {
        struct proc *p = pref[i];
        if (!pfd[i].revents) continue;
        if (pfd[i].fd == p->out_fd) forward_output(p, &p->out_fd, F_STDOUT);
        else if (pfd[i].fd == p->err_fd) forward_output(p, &p->err_fd, F_STDERR);
        else if (pfd[i].fd == p->in_fd) {
          if (pfd[i].revents & (POLLERR | POLLHUP)) close_fd(&p->in_fd);
          stdin_flush(p); /* (a closed pipe: acknowledges what is dropped) */
        }
      }
      for (size_t i = drain_start, j = 0; i < k; i++, j++) {
        if (!pfd[i].revents) continue;
        static char junk[READ_CHUNK];
        ssize_t n = read(drain_fds[j], junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          close(drain_fds[j]);
          drain_fds[j] = -1;
        }
      }
      size_t w = 0;
      for (size_t j = 0; j < drain_n; j++)
        if (drain_fds[j] >= 0) drain_fds[w++] = drain_fds[j];
      drain_n = w;
      if (pfd[1].revents) reap_children(sfd);
      if (pfd[0].revents) read_control();
    }
    finish_procs();
  }
}
