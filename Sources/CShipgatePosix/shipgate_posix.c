#define _GNU_SOURCE
#include "shipgate_posix.h"

#if defined(__linux__)
#include <sys/prctl.h>
int shipgate_become_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int shipgate_set_nondumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
#else
int shipgate_become_child_subreaper(void) { return -1; }
int shipgate_set_nondumpable(void) { return -1; }
#endif

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int shipgate_netns_hold(const char **what) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNET) != 0) {
        if (errno != EPERM) { *what = "unshare(CLONE_NEWNET)"; return -1; }
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) { *what = "unshare(CLONE_NEWUSER|CLONE_NEWNET)"; return -1; }
        char map[64];
        if (write_text("/proc/self/setgroups", "deny") != 0 && errno != ENOENT) { *what = "writing /proc/self/setgroups"; return -1; }
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
        if (write_text("/proc/self/uid_map", map) != 0) { *what = "writing /proc/self/uid_map"; return -1; }
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
        if (write_text("/proc/self/gid_map", map) != 0) { *what = "writing /proc/self/gid_map"; return -1; }
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) { *what = "socket()"; return -1; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) { *what = "reading the flags of lo"; close(sock); return -1; }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) { *what = "bringing lo up"; close(sock); return -1; }
    close(sock);
    if (write(1, "ready\n", 6) != 6) { *what = "writing to stdout"; return -1; }
    char buffer[256];
    for (;;) {
        ssize_t n = read(0, buffer, sizeof buffer);
        if (n == 0) return 0;
        if (n < 0 && errno != EINTR) return 0;
    }
}

int shipgate_netns_exec(int pid, char *const argv[], const char **what) {
    char path[64];
    struct stat mine, theirs;
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    if (stat("/proc/self/ns/user", &mine) != 0 || stat(path, &theirs) != 0) { *what = "reading user namespaces"; return -1; }
    if (mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { *what = "opening the job's user namespace"; return -1; }
        int rc = setns(fd, CLONE_NEWUSER);
        int saved = errno;
        close(fd);
        if (rc != 0) { errno = saved; *what = "entering the job's user namespace"; return -1; }
    }
    snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { *what = "opening the job's network namespace"; return -1; }
    int rc = setns(fd, CLONE_NEWNET);
    int saved = errno;
    close(fd);
    if (rc != 0) { errno = saved; *what = "entering the job's network namespace"; return -1; }
    execvp(argv[0], argv);
    *what = "exec";
    return -1;
}
int shipgate_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
#else
int shipgate_pipe_cloexec(int fds[2]) { return pipe(fds); }
int shipgate_netns_hold(const char **what) { *what = "network namespaces (Linux only)"; return -1; }
int shipgate_netns_exec(int pid, char *const argv[], const char **what) { (void)pid; (void)argv; *what = "network namespaces (Linux only)"; return -1; }
#endif

#include <errno.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/fs.h>
#include <sys/ioctl.h>
#endif

int shipgate_copy_file(int in, int out) {
#if defined(__linux__)
    if (ioctl(out, FICLONE, in) == 0) return 0;
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0) return 0;
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) break;
        return -1;
    }
#endif
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = read(in, buffer, sizeof buffer);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buffer + done, (size_t)(n - done));
            if (w < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            done += w;
        }
    }
}
