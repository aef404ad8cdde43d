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

#include <stdint.h>
#include <sys/types.h>

// The process supervisor's system calls (Linux; elsewhere they fail with ENOSYS).

/// Starts `path` with `argv` and exactly `envp` in working directory `cwd`: stdin /dev/null,
/// stdout and stderr both `out_fd`, every other descriptor closed, in a new process group led by
/// the child, with an empty signal mask and every signal below SIGRTMIN at its default disposition.
/// posix_spawn (glibc uses clone(CLONE_VM|CLONE_VFORK), so no page tables are copied). Returns
/// 0 and sets `*pid`, or an errno (the child's failing chdir or exec is reported here too).
int shipgate_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int out_fd, pid_t *pid);

/// pidfd_open(2): a descriptor that becomes readable when process `pid` exits. -1 with errno.
int shipgate_pidfd_open(pid_t pid);

/// An epoll instance (close-on-exec). -1 with errno.
int shipgate_epoll_create(void);
/// Watches `fd` for input (level-triggered); events carry `token`. 0, or -1 with errno.
int shipgate_epoll_add(int epfd, int fd, uint64_t token);
/// Stops watching `fd`. 0, or -1 with errno.
int shipgate_epoll_remove(int epfd, int fd);
/// Waits up to `timeout_ms` (-1: forever) for events; writes up to `max` tokens. Returns their
/// count, 0 on timeout, -1 with errno (EINTR included).
int shipgate_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// A non-blocking, close-on-exec eventfd. -1 with errno.
int shipgate_eventfd(void);
/// Makes `fd` non-blocking. 0, or -1 with errno.
int shipgate_set_nonblocking(int fd);

#endif
