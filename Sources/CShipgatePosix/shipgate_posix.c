#include "shipgate_posix.h"

#if defined(__linux__)
#include <sys/prctl.h>
int shipgate_become_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int shipgate_set_nondumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
#else
int shipgate_become_child_subreaper(void) { return -1; }
int shipgate_set_nondumpable(void) { return -1; }
#endif
