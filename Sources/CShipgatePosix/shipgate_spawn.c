#define _GNU_SOURCE
#include "shipgate_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

int shipgate_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int out_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    // The standard signals back to their defaults: an ignored SIGPIPE or SIGINT must not reach a
    // step. (glibc refuses its two internal signals, 32 and 33, here and leaves them ignored in
    // every child it spawns.) Not the real-time signals from SIGRTMIN on: nobody ignores them,
    // and each costs a system call in the child while the parent waits.
    sigset_t empty, all;
    sigemptyset(&empty);
    sigemptyset(&all);
    for (int sig = 1; sig < SIGRTMIN; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&all, sig);
    if (rc == 0) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (rc == 0) rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attributes, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &empty);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &all);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return rc;
}

int shipgate_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int shipgate_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int shipgate_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int shipgate_epoll_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int shipgate_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}

int shipgate_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#else
int shipgate_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int out_fd, pid_t *pid) {
    (void)path; (void)argv; (void)envp; (void)cwd; (void)out_fd; (void)pid;
    return ENOSYS;
}
int shipgate_pidfd_open(pid_t pid) { (void)pid; errno = ENOSYS; return -1; }
int shipgate_epoll_create(void) { errno = ENOSYS; return -1; }
int shipgate_epoll_add(int epfd, int fd, uint64_t token) { (void)epfd; (void)fd; (void)token; errno = ENOSYS; return -1; }
int shipgate_epoll_remove(int epfd, int fd) { (void)epfd; (void)fd; errno = ENOSYS; return -1; }
int shipgate_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    (void)epfd; (void)tokens; (void)max; (void)timeout_ms; errno = ENOSYS; return -1;
}
int shipgate_eventfd(void) { errno = ENOSYS; return -1; }
#endif

int shipgate_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
