/* atoll-init: SPAWN — fork, set up and exec a command; report STARTED or SPAWN_FAILED. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "init.h"

enum { STAGE_SETUP = 1, STAGE_IDS, STAGE_CHDIR, STAGE_EXEC };

struct spawn_error {
  int stage;
  int err;
};

static void __attribute__((noreturn))
child_fail(int errpipe, int stage) {
  struct spawn_error e = {stage, errno};
  ssize_t n = write(errpipe, &e, sizeof e);
  (void)n;
  _exit(127);
}

static void __attribute__((noreturn))
run_child(int errpipe, int in_r, int out_w, int err_w, uid_t uid, gid_t gid, const char *cwd,
          char **argv, char **envp) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (setsid() < 0) child_fail(errpipe, STAGE_SETUP);
  if (in_r < 0) in_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_r < 0) child_fail(errpipe, STAGE_SETUP);
  if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
    child_fail(errpipe, STAGE_SETUP);
  if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
    child_fail(errpipe, STAGE_IDS);
  if (chdir(cwd) < 0) child_fail(errpipe, STAGE_CHDIR);
  environ = envp; /* execvpe looks PATH up in environ */
  execvpe(argv[0], argv, envp);
  child_fail(errpipe, STAGE_EXEC);
}

static void spawn_failed(uint32_t id, int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  unsigned char e[4];
  put_u32(e, (uint32_t)err);
  send_frame(F_SPAWN_FAILED, id, e, 4, msg, strlen(msg));
}

/* Splits a SPAWN payload into its NUL-terminated strings. Returns the count or -1. */
static int split_strings(char *p, size_t len, char ***out) {
  if (len == 0 || p[len - 1] != '\0') return -1;
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] == '\0') n++;
  char **v = calloc(n + 1, sizeof *v);
  if (!v) return -1;
  size_t k = 0;
  for (size_t i = 0; i < len; i += strlen(p + i) + 1) v[k++] = p + i;
  *out = v;
  return (int)n;
}

static int parse_num(const char *s, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < 0 || v > max) return -1;
  *out = v;
  return 0;
}

void do_spawn(uint32_t id, char *payload, size_t len) {
  note_proc_id(id);
  char **s = NULL;
  int n = split_strings(payload, len, &s);
  long long uid, gid, argc, envc, flags;
  /* uid gid cwd argc argv... envc env... flags */
  if (n < 6 || parse_num(s[0], 0x7fffffff, &uid) || parse_num(s[1], 0x7fffffff, &gid) ||
      parse_num(s[3], n, &argc) || argc < 1 || 4 + argc + 2 > n ||
      parse_num(s[4 + argc], n, &envc) || 4 + argc + 1 + envc + 1 != n ||
      parse_num(s[n - 1], 0xffff, &flags)) {
    free(s);
    spawn_failed(id, EINVAL, "malformed SPAWN frame");
    return;
  }
  if (find_proc(id)) {
    free(s);
    spawn_failed(id, EEXIST, "procId %u is already running", id);
    return;
  }
  const char *cwd = s[2];
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!argv || !envp) {
    free(s), free(argv), free(envp);
    spawn_failed(id, ENOMEM, "out of memory");
    return;
  }
  memcpy(argv, s + 4, (size_t)argc * sizeof *argv);
  memcpy(envp, s + 5 + argc, (size_t)envc * sizeof *envp);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1};
  int ok = pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0 &&
           pipe2(ep, O_CLOEXEC) == 0 && (!(flags & 1) || pipe2(in, O_CLOEXEC) == 0);
  int saved = errno;
  pid_t pid = ok ? fork() : -1;
  if (pid == 0)
    run_child(ep[1], in[0], out[1], err[1], (uid_t)uid, (gid_t)gid, cwd, argv, envp);
  if (pid < 0) saved = errno;
  close_fd(&in[0]);
  close_fd(&out[1]);
  close_fd(&err[1]);
  close_fd(&ep[1]);

  struct spawn_error se = {0, 0};
  ssize_t got = 0;
  if (pid > 0) {
    do got = read(ep[0], &se, sizeof se);
    while (got < 0 && errno == EINTR);
  }
  close_fd(&ep[0]);

  if (pid < 0 || got == (ssize_t)sizeof se) {
    if (pid > 0)
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&err[0]);
    if (pid < 0) spawn_failed(id, saved, "cannot start process: %s", strerror(saved));
    else if (se.stage == STAGE_CHDIR)
      spawn_failed(id, se.err, "cannot change directory to '%s': %s", cwd, strerror(se.err));
    else if (se.stage == STAGE_EXEC)
      spawn_failed(id, se.err, "cannot execute '%s': %s", argv[0], strerror(se.err));
    else if (se.stage == STAGE_IDS)
      spawn_failed(id, se.err, "cannot switch to uid %lld gid %lld: %s", uid, gid,
                   strerror(se.err));
    else spawn_failed(id, se.err, "cannot set up process: %s", strerror(se.err));
    free(s), free(argv), free(envp);
    return;
  }
  free(s), free(argv), free(envp);

  struct proc *p = calloc(1, sizeof *p);
  if (!p) {
    /* Cannot track it: kill it, the daemon gets a failure. */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&err[0]);
    spawn_failed(id, ENOMEM, "out of memory");
    return;
  }
  p->id = id;
  p->pid = pid;
  p->in_fd = in[1];
  p->out_fd = out[0];
  p->err_fd = err[0];
  p->out_tail = p->err_tail = -1;
  if (p->in_fd >= 0) set_nonblock(p->in_fd);
  set_nonblock(p->out_fd);
  set_nonblock(p->err_fd);
  p->next = procs;
  procs = p;
  unsigned char b[4];
  put_u32(b, (uint32_t)pid);
  send_frame(F_STARTED, id, b, 4, NULL, 0);
}
