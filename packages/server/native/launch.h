/* Shared between atoll-launch.c and launch-seccomp.c. */
#ifndef ATOLL_LAUNCH_H
#define ATOLL_LAUNCH_H
#include <seccomp.h>

/* Exit status when the launcher itself fails (bwrap's own status otherwise). */
#define LAUNCH_FAIL 125

/* Print "atoll-launch: WHAT: strerror(errno)" / "atoll-launch: MSG" and exit 125. */
void die(const char *what) __attribute__((noreturn));
void die_msg(const char *msg) __attribute__((noreturn));

/* The default profile (allow by default, EPERM for the listed calls, SIGSYS for other ABIs). */
scmp_filter_ctx build_filter(void);
/* A memfd (not close-on-exec) holding the complete BPF program at offset 0. */
int export_filter(scmp_filter_ctx ctx);

/* launch-mntns.c: clone `trees` here, join the base mount namespace `base` (a private copy of
   it) and attach them there at the same paths. */
#define MAX_ATTACH_TREES 8
void enter_base_mntns(const char *base, char *const *trees, int ntrees);

#endif
