#ifndef SHIPGATE_POSIX_H
#define SHIPGATE_POSIX_H

/// Makes this process the reaper of orphaned descendants (Linux PR_SET_CHILD_SUBREAPER): a step
/// that detaches a daemon (double fork, setsid) leaves it as our child instead of init's, so the
/// run can stop it. Returns 0 on success, -1 where unsupported.
int shipgate_become_child_subreaper(void);

/// Marks this process non-dumpable (Linux PR_SET_DUMPABLE 0): its /proc files (environ, mem,
/// cmdline aside) become root's, and a process of the same user that is not privileged can
/// neither read its memory nor ptrace it. Reset by execve. Returns 0 on success, -1 where
/// unsupported.
int shipgate_set_nondumpable(void);

#endif
