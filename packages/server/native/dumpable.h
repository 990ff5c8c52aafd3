/* Shared by atoll-init and atoll-fs: the value they give prctl(PR_SET_DUMPABLE). */
#ifndef ATOLL_DUMPABLE_H
#define ATOLL_DUMPABLE_H

/* 0: nobody else of the sandbox may read our memory or take our fds (see atoll-init.c). Only the
   attack suite builds with ATOLL_UNSAFE_DUMPABLE_FOR_TESTS, to switch this defence off and prove
   that the daemon contains hostile bytes on the channel anyway (attack-channel.itest.ts). */
#ifdef ATOLL_UNSAFE_DUMPABLE_FOR_TESTS
#define DUMPABLE 1
#else
#define DUMPABLE 0
#endif

#endif
