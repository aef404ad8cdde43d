// bench/floor/spawn-floor.c — the floor for bench/run.sh: the least a runner must do to run N
// shell steps the way shipgate does, with nothing else: posix_spawn `/bin/sh -e -c true` in a
// process group of its own, stdout+stderr into a pipe, at most P at once, one poll loop reading
// the pipes, waitpid for the exits.
//
// usage: spawn-floor N [P]   (built by bench/run.sh with cc -O2)
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct slot { pid_t pid; int fd; };

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000, p = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 1 || p < 1 || p > 256) { fprintf(stderr, "usage: spawn-floor N [P]\n"); return 2; }
    struct slot slots[256];
    int started = 0, done = 0, running = 0;
    char *child[] = {"/bin/sh", "-e", "-c", "true", NULL};
    char buf[65536];
    while (done < n) {
        while (running < p && started < n) {
            int fds[2];
            if (pipe2(fds, O_CLOEXEC) != 0) { perror("pipe2"); return 1; }
            posix_spawn_file_actions_t fa;
            posix_spawnattr_t at;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
            posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
            posix_spawnattr_init(&at);
            posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
            posix_spawnattr_setpgroup(&at, 0);
            pid_t pid;
            if (posix_spawn(&pid, "/bin/sh", &fa, &at, child, environ) != 0) { perror("posix_spawn"); return 1; }
            posix_spawn_file_actions_destroy(&fa);
            posix_spawnattr_destroy(&at);
            close(fds[1]);
            slots[running++] = (struct slot){pid, fds[0]};
            started++;
        }
        struct pollfd pfd[256];
        for (int i = 0; i < running; i++) pfd[i] = (struct pollfd){slots[i].fd, POLLIN, 0};
        if (poll(pfd, running, -1) < 0) continue;
        for (int i = running - 1; i >= 0; i--) {
            if (!pfd[i].revents) continue;
            if (read(slots[i].fd, buf, sizeof buf) > 0) continue;
            close(slots[i].fd);  // end of file: the step is over
            int status;
            waitpid(slots[i].pid, &status, 0);
            slots[i] = slots[--running];
            done++;
        }
    }
    return 0;
}
