/*
 * atoll-init: resynchronisation with a daemon that adopts a running sandbox (docs/architecture.md,
 * "Live restore"). The adopting daemon sends HELLO with a nonce and discards every frame until
 * STATE carries that nonce back; STATE tells it the highest procId seen (it continues above),
 * the live processes with the bytes of output forwarded so far and the credit init still holds,
 * and the last processes that ended (their EXIT may have gone to the old daemon, or nowhere).
 *
 * STATE payload (big endian): nonce[8] | u32 max procId | u16 live count | u16 ended count |
 *   live × { u32 procId, u32 pid, u8 reaped, u8 stdin open, u32 stdin bytes unacknowledged,
 *            u64 stdout sent, u64 stderr sent, u32 stdout credit, u32 stderr credit }  (38 bytes)
 *   ended × { u32 procId, i32 exit code (-1 if signalled), u32 signal, u64 stdout sent,
 *             u64 stderr sent }  (28 bytes)
 * At most STATE_MAX_LIVE live and STATE_MAX_ENDED ended processes are listed, so the payload
 * stays below 64 KiB: a daemon that then hears of a process it was not told about ends the
 * sandbox (a protocol error), which only a sandbox with more live processes than that can cause.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "init.h"

#define STATE_MAX_LIVE 1600
#define STATE_MAX_ENDED 64
#define LIVE_BYTES 38
#define ENDED_BYTES 28

struct ended {
  uint32_t id;
  int32_t code;
  uint32_t sig;
  uint64_t out_sent, err_sent;
};

static uint32_t max_id;
static struct ended ended_ring[STATE_MAX_ENDED];
static size_t ended_n, ended_next;

void note_proc_id(uint32_t id) {
  if (id > max_id) max_id = id;
}

void note_ended(const struct proc *p) {
  struct ended *e = &ended_ring[ended_next];
  e->id = p->id;
  e->code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
  e->sig = WIFSIGNALED(p->status) ? (uint32_t)WTERMSIG(p->status) : 0;
  e->out_sent = p->out_sent;
  e->err_sent = p->err_sent;
  ended_next = (ended_next + 1) % STATE_MAX_ENDED;
  if (ended_n < STATE_MAX_ENDED) ended_n++;
}

static unsigned char *put_u64(unsigned char *b, uint64_t v) {
  put_u32(b, (uint32_t)(v >> 32));
  put_u32(b + 4, (uint32_t)v);
  return b + 8;
}

static uint32_t clamp32(uint64_t v) {
  return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
}

void send_state(const unsigned char *nonce, size_t len) {
  static unsigned char buf[16 + STATE_MAX_LIVE * LIVE_BYTES + STATE_MAX_ENDED * ENDED_BYTES];
  (void)len;
  memcpy(buf, nonce, 8);
  put_u32(buf + 8, max_id);
  unsigned char *b = buf + 16;
  uint16_t live = 0;
  for (struct proc *p = procs; p && live < STATE_MAX_LIVE; p = p->next, live++) {
    put_u32(b, p->id);
    put_u32(b + 4, (uint32_t)p->pid);
    b[8] = p->reaped ? 1 : 0;
    b[9] = (p->in_fd >= 0 && !p->in_close) ? 1 : 0;
    put_u32(b + 10, clamp32((uint64_t)(p->in_len - p->in_off) + p->in_unreported));
    b = put_u64(b + 14, p->out_sent);
    b = put_u64(b, p->err_sent);
    put_u32(b, clamp32(p->out_credit));
    put_u32(b + 4, clamp32(p->err_credit));
    b += 8;
  }
  /* Oldest first. */
  for (size_t i = 0; i < ended_n; i++) {
    const struct ended *e = &ended_ring[(ended_next + STATE_MAX_ENDED - ended_n + i) % STATE_MAX_ENDED];
    put_u32(b, e->id);
    put_u32(b + 4, (uint32_t)e->code);
    put_u32(b + 8, e->sig);
    b = put_u64(b + 12, e->out_sent);
    b = put_u64(b, e->err_sent);
  }
  buf[12] = (unsigned char)(live >> 8);
  buf[13] = (unsigned char)live;
  buf[14] = 0;
  buf[15] = (unsigned char)ended_n;
  send_frame(F_STATE, 0, buf, (size_t)(b - buf), NULL, 0);
}
