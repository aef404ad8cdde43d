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

/// `shipgate __netns hold`: moves this process into a new network namespace (a new user
/// namespace too when it may not create one directly, mapping its own uid and gid), brings the
/// loopback interface up, writes "ready\n" to stdout, then blocks until stdin reaches EOF (the
/// job ended, or shipgate died). Must run single-threaded. Returns 0 when stdin closed; -1 with
/// errno and `*what` naming the failed step when the namespace cannot be made.
int shipgate_netns_hold(const char **what);

/// `shipgate __netns join PID -- ARGV…`: enters the network namespace of process `pid` (and its
/// user namespace when that differs from ours), then execvp(argv[0], argv). Must run
/// single-threaded. Returns only on failure: -1 with errno and `*what` set.
int shipgate_netns_exec(int pid, char *const argv[], const char **what);

/// pipe2(fds, O_CLOEXEC): a pipe no child inherits by accident. Returns 0, or -1 with errno.
int shipgate_pipe_cloexec(int fds[2]);

/// Copies the whole of `in` (from its current offset) to `out`: a reflink where the file system
/// shares blocks (btrfs, XFS), else copy_file_range, else read/write. Returns 0, or -1 with errno.
int shipgate_copy_file(int in, int out);

#endif
