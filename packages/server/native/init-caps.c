/* atoll-init: the capability sets and no_new_privs of the sandbox. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* Capabilities a sandbox keeps (Docker's default set without MKNOD and NET_RAW). */
static const int keep_caps[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,           CAP_FSETID,      CAP_KILL,
    CAP_SETGID, CAP_SETUID,       CAP_SETPCAP,          CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP,
};

/* ---------------------------------------------------------------- capabilities ---------- */

static int cap_is_kept(int cap) {
  for (size_t i = 0; i < sizeof keep_caps / sizeof keep_caps[0]; i++)
    if (keep_caps[i] == cap) return 1;
  return 0;
}

void drop_capabilities(void) {
  uint64_t keep = 0;
  for (int cap = 0; cap < 64; cap++) {
    if (cap_is_kept(cap)) {
      keep |= 1ull << cap;
      continue;
    }
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      logmsg("cannot drop capability %d from the bounding set: %s", cap, strerror(errno));
      _exit(1);
    }
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) {
    logmsg("capget: %s", strerror(errno));
    _exit(1);
  }
  for (int i = 0; i < 2; i++) {
    uint32_t k = (uint32_t)(keep >> (32 * i));
    data[i].effective &= k;
    data[i].permitted &= k;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) {
    logmsg("capset: %s", strerror(errno));
    _exit(1);
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    logmsg("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    _exit(1);
  }
}
