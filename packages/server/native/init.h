/* Shared declarations of atoll-init's source files (see atoll-init.c). */
#ifndef ATOLL_INIT_H
#define ATOLL_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dumpable.h"

/* Frame types of the control channel (docs/architecture.md). */
enum {
  F_SPAWN = 1,
  F_STDIN = 2,
  F_STDIN_CLOSE = 3,
  F_SIGNAL = 4,
  F_KILL_ALL = 5,
  F_CREDIT = 6,
  F_HELLO = 7,
  F_READY = 64,
  F_STARTED = 65,
  F_SPAWN_FAILED = 66,
  F_STDOUT = 67,
  F_STDERR = 68,
  F_EXIT = 69,
  F_STDIN_ACK = 70,
  F_STATE = 71,
};

#define CTL_IN 0
#define CTL_OUT 1
#define MAX_FRAME (16u * 1024 * 1024) /* length field limit: a daemon bug, not a sandbox one */
#define READ_CHUNK 65536
/* One read of a child's output pipe: the largest STDOUT/STDERR payload (MAX_INIT_PAYLOAD in
   runtime/agent-protocol.ts, UP_MAX in atoll-shim.c). Large, so bulk output (file transfers)
   costs few frames; the buffer's pages are only touched by a process that prints that much. */
#define OUTPUT_CHUNK (256 * 1024)
#define STDIN_ACK_EVERY 65536 /* report consumed stdin at least this often (and when the queue empties) */
#define EXIT_GRACE_MS 50

/* One spawned process (its procId is chosen by the daemon). */
struct proc {
  uint32_t id;
  pid_t pid;
  int in_fd, out_fd, err_fd; /* our ends; -1 once closed */
  /* Output bytes the daemon granted and we did not read yet (CREDIT frames): a pipe is read
     only while its credit is positive, so a child whose reader is slow blocks on a full pipe. */
  uint64_t out_credit, err_credit;
  /* After the grace period: bytes still to forward before EXIT (-1 = not counted yet). */
  int64_t out_tail, err_tail;
  char *in_buf;              /* queued stdin bytes [in_off, in_len) */
  size_t in_off, in_len, in_cap;
  int in_close; /* STDIN_CLOSE received: close in_fd once the queue is empty */
  uint64_t in_unreported; /* stdin bytes written to the pipe (or dropped) not yet in a STDIN_ACK */
  uint64_t out_sent, err_sent; /* bytes forwarded in STDOUT/STDERR frames (STATE) */
  int reaped, status;
  int64_t reaped_ms;
  struct proc *next;
};

/* init-procs.c: the process table and the output pipes still drained after EXIT. */
extern struct proc *procs;
/* 1 when run by the daemon on the host as its process spawner (atoll-init --host-spawner). */
extern int host_mode;
extern int *drain_fds;
extern size_t drain_n;

/* init-io.c */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t now_ms(void);
void shutdown_all(int code) __attribute__((noreturn));
void put_u32(unsigned char *p, uint32_t v);
uint32_t get_u32(const unsigned char *p);
void send_frame(uint8_t type, uint32_t id, const void *a, size_t alen, const void *b, size_t blen);
void close_fd(int *fd);
void set_nonblock(int fd);

/* init-caps.c */
void drop_capabilities(void);

/* init-procs.c */
struct proc *find_proc(uint32_t id);
int forward_output(struct proc *p, int *fd, uint8_t type);
void add_credit(struct proc *p, uint32_t out, uint32_t err);
void finish_procs(void);
void reap_children(int sfd);
void stdin_flush(struct proc *p);
void stdin_queue(struct proc *p, const unsigned char *data, size_t len);

/* init-state.c: resynchronisation with an adopting daemon (HELLO → STATE). */
void note_proc_id(uint32_t id);
void note_ended(const struct proc *p);
void send_state(const unsigned char *nonce, size_t len);

/* init-spawn.c */
void do_spawn(uint32_t id, char *payload, size_t len);

#endif
