/* atoll-init: the process table, output forwarding, EXIT, reaping and stdin queues. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

struct proc *procs;
/* Output pipes of processes whose EXIT was sent but that background processes still hold. */
int *drain_fds;
size_t drain_n;
static size_t drain_cap;


struct proc *find_proc(uint32_t id) {
  for (struct proc *p = procs; p; p = p->next)
    if (p->id == id) return p;
  return NULL;
}

static void remove_proc(struct proc *p) {
  for (struct proc **pp = &procs; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  close_fd(&p->in_fd);
  close_fd(&p->out_fd);
  close_fd(&p->err_fd);
  free(p->in_buf);
  free(p);
}

static void add_drain(int *fd) {
  if (*fd < 0) return;
  if (drain_n == drain_cap) {
    size_t cap = drain_cap ? drain_cap * 2 : 16;
    int *n = realloc(drain_fds, cap * sizeof *n);
    if (!n) {
      close_fd(fd); /* out of memory: closing is the lesser evil */
      return;
    }
    drain_fds = n;
    drain_cap = cap;
  }
  drain_fds[drain_n++] = *fd;
  *fd = -1;
}

/* The credit and tail counters of one of p's output pipes. */
static void stream_of(struct proc *p, uint8_t type, uint64_t **credit, int64_t **tail) {
  *credit = type == F_STDOUT ? &p->out_credit : &p->err_credit;
  *tail = type == F_STDOUT ? &p->out_tail : &p->err_tail;
}

/* Reads one chunk from an output pipe, at most its credit (and its tail, once counted), and
   forwards it. Returns 0 on EAGAIN or without credit, 1 on data, -1 on EOF (fd closed). */
int forward_output(struct proc *p, int *fd, uint8_t type) {
  static unsigned char buf[OUTPUT_CHUNK];
  uint64_t *credit;
  int64_t *tail;
  stream_of(p, type, &credit, &tail);
  size_t want = sizeof buf;
  if (*credit < want) want = (size_t)*credit;
  if (*tail >= 0 && (uint64_t)*tail < want) want = (size_t)*tail;
  if (want == 0) return 0;
  ssize_t n = read(*fd, buf, want);
  if (n > 0) {
    *credit -= (uint64_t)n;
    if (*tail >= 0) *tail -= n;
    send_frame(type, p->id, buf, (size_t)n, NULL, 0);
    if (type == F_STDOUT) p->out_sent += (uint64_t)n;
    else p->err_sent += (uint64_t)n;
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  close_fd(fd);
  return -1;
}

/* A CREDIT frame: the daemon took `out` and `err` more bytes of p's output. */
void add_credit(struct proc *p, uint32_t out, uint32_t err) {
  p->out_credit += out;
  p->err_credit += err;
}

static void send_exit(struct proc *p) {
  unsigned char payload[8];
  int32_t code = -1;
  uint32_t sig = 0;
  if (WIFEXITED(p->status)) code = WEXITSTATUS(p->status);
  else if (WIFSIGNALED(p->status)) sig = (uint32_t)WTERMSIG(p->status);
  put_u32(payload, (uint32_t)code);
  put_u32(payload + 4, sig);
  send_frame(F_EXIT, p->id, payload, sizeof payload, NULL, 0);
  note_ended(p);
  add_drain(&p->out_fd);
  add_drain(&p->err_fd);
  remove_proc(p);
}

/* Once the grace period is over, an output pipe still open (a background process holds it)
   owes only what is buffered in it right now: count it once; when it is forwarded the pipe
   moves to the drains. Returns 1 when the pipe is done. */
static int tail_done(int *fd, int64_t *tail) {
  if (*fd < 0) return 1;
  if (*tail < 0) {
    int queued = 0;
    *tail = ioctl(*fd, FIONREAD, &queued) == 0 && queued > 0 ? queued : 0;
  }
  if (*tail > 0) return 0;
  add_drain(fd);
  return 1;
}

/*
 * Sends EXIT for every reaped process whose pipes are done: at EOF, or, after the grace period,
 * once what they held at its end was forwarded (as credit allows: EXIT follows every byte the
 * process wrote before it exited, even when its reader is slow).
 */
void finish_procs(void) {
  int64_t now = now_ms();
  struct proc *p = procs;
  while (p) {
    struct proc *next = p->next;
    if (p->reaped) {
      int done = p->out_fd < 0 && p->err_fd < 0;
      if (!done && now - p->reaped_ms >= EXIT_GRACE_MS) {
        int out_done = tail_done(&p->out_fd, &p->out_tail);
        int err_done = tail_done(&p->err_fd, &p->err_tail);
        done = out_done && err_done;
      }
      if (done) send_exit(p);
    }
    p = next;
  }
}

void reap_children(int sfd) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == sizeof si) {
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    for (struct proc *p = procs; p; p = p->next)
      if (p->pid == pid && !p->reaped) {
        p->reaped = 1;
        p->status = status;
        p->reaped_ms = now_ms();
        break;
      }
  }
}
/* ---------------------------------------------------------------- stdin ----------------- */

/*
 * Flow control of stdin: the daemon sends at most a window of STDIN bytes that init did not
 * acknowledge; init acknowledges (STDIN_ACK) what it wrote into the child's pipe, or dropped
 * because the child closed its stdin, every STDIN_ACK_EVERY bytes and whenever its queue empties.
 * So a child that does not read its stdin holds the writer back, not init's memory.
 */
static void stdin_report(struct proc *p) {
  if (p->in_unreported == 0) return;
  if (p->in_unreported < STDIN_ACK_EVERY && p->in_fd >= 0 && p->in_off < p->in_len) return;
  unsigned char b[4];
  put_u32(b, (uint32_t)p->in_unreported);
  send_frame(F_STDIN_ACK, p->id, b, 4, NULL, 0);
  p->in_unreported = 0;
}

void stdin_flush(struct proc *p) {
  while (p->in_fd >= 0 && p->in_off < p->in_len) {
    ssize_t n = write(p->in_fd, p->in_buf + p->in_off, p->in_len - p->in_off);
    if (n > 0) {
      p->in_off += (size_t)n;
      p->in_unreported += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    /* EPIPE: the process closed its stdin; what it did not read is dropped. */
    close_fd(&p->in_fd);
  }
  if (p->in_fd < 0 || p->in_off == p->in_len) {
    p->in_unreported += p->in_len - p->in_off; /* dropped */
    p->in_off = p->in_len = 0;
    if (p->in_close) close_fd(&p->in_fd);
  }
  stdin_report(p);
}

void stdin_queue(struct proc *p, const unsigned char *data, size_t len) {
  if (len == 0) return;
  if (p->in_fd < 0 || p->in_close) {
    p->in_unreported += len; /* nobody reads it any more: dropped, but acknowledged */
    stdin_report(p);
    return;
  }
  if (p->in_off > 0 && p->in_off == p->in_len) p->in_off = p->in_len = 0;
  if (p->in_len + len > p->in_cap) {
    /* compact, then grow */
    memmove(p->in_buf, p->in_buf + p->in_off, p->in_len - p->in_off);
    p->in_len -= p->in_off;
    p->in_off = 0;
    if (p->in_len + len > p->in_cap) {
      size_t cap = p->in_cap ? p->in_cap : 65536;
      while (cap < p->in_len + len) cap *= 2;
      char *nb = realloc(p->in_buf, cap);
      if (!nb) {
        logmsg("out of memory queueing stdin of procId %u; closing its stdin", p->id);
        close_fd(&p->in_fd);
        p->in_unreported += len;
        stdin_flush(p);
        return;
      }
      p->in_buf = nb;
      p->in_cap = cap;
    }
  }
  memcpy(p->in_buf + p->in_len, data, len);
  p->in_len += len;
  stdin_flush(p);
}
