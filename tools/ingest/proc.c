/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

extern char **environ;

const char *proc_guard_exe;

int proc_spawn(struct proc *p, char *const argv[])
{
        int out[2] = {-1, -1}, err[2] = {-1, -1}, r;
        posix_spawn_file_actions_t fa;
        struct strv av = {0};
        int fa_init = 0;

        *p = (struct proc){.out_fd = -1, .err_fd = -1};
        if (!argv || !argv[0] || !argv[0][0])
                return -EINVAL; /* nothing to run: the guard would be started alone */
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                goto out;
        }
        if ((r = -posix_spawn_file_actions_init(&fa)) < 0)
                goto out;
        fa_init = 1;
        /* dup2 clears close-on-exec on the targets; every other pipe end stays cloexec */
        if ((r = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) < 0 ||
            (r = -posix_spawn_file_actions_adddup2(&fa, out[1], 1)) < 0 ||
            (r = -posix_spawn_file_actions_adddup2(&fa, err[1], 2)) < 0)
                goto out;
        if (proc_guard_exe) {
                strv_add(&av, proc_guard_exe);
                strv_add(&av, "--exec-guard");
                strv_addf(&av, "%ld", (long)getpid());
        }
        for (size_t i = 0; argv[i]; i++)
                strv_add(&av, argv[i]);
        if (av.oom) {
                r = -ENOMEM;
                goto out;
        }
        r = -posix_spawnp(&p->pid, av.v[0], &fa, NULL, av.v, environ);
        if (r < 0)
                goto out;
        p->out_fd = out[0];
        p->err_fd = err[0];
        out[0] = err[0] = -1;
        (void)fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
        (void)fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
        r = 0;
out:
        if (fa_init)
                posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 2; i++) {
                if (out[i] >= 0)
                        close(out[i]);
                if (err[i] >= 0)
                        close(err[i]);
        }
        strv_done(&av);
        return r;
}

static void progress_line(struct proc *p, const char *l)
{
        if (strncmp(l, "out_time_us=", 12) == 0) {
                char *end;
                long long us = strtoll(l + 12, &end, 10);
                if (end != l + 12 && us >= 0)
                        p->out_time = (double)us / 1e6;
        } else if (strncmp(l, "speed=", 6) == 0) {
                char *end;
                double s = strtod(l + 6, &end);
                if (end != l + 6 && s >= 0)
                        p->speed = s;
        }
}

static void tail_add(struct proc *p, const char *buf, size_t n)
{
        if (n >= PROC_TAIL_MAX - 1) {
                buf += n - (PROC_TAIL_MAX - 1);
                n = PROC_TAIL_MAX - 1;
        }
        if (p->tail_len + n > PROC_TAIL_MAX - 1) {
                size_t drop = p->tail_len + n - (PROC_TAIL_MAX - 1);
                memmove(p->tail, p->tail + drop, p->tail_len - drop);
                p->tail_len -= drop;
        }
        memcpy(p->tail + p->tail_len, buf, n);
        p->tail_len += n;
        p->tail[p->tail_len] = '\0';
}

int proc_pump(struct proc *p, int fd)
{
        char buf[4096];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        int r = n < 0 ? -errno : 1;
                        close(fd);
                        if (fd == p->out_fd)
                                p->out_fd = -1;
                        else
                                p->err_fd = -1;
                        return r;
                }
                if (fd == p->err_fd) {
                        tail_add(p, buf, (size_t)n);
                        continue;
                }
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == '\n') {
                                p->line[p->line_len] = '\0';
                                progress_line(p, p->line);
                                p->line_len = 0;
                        } else if (p->line_len < sizeof(p->line) - 1) {
                                p->line[p->line_len++] = buf[i];
                        }
                }
        }
}

int proc_reap(struct proc *p)
{
        if (!p->reaped) {
                while (waitpid(p->pid, &p->status, 0) < 0) {
                        if (errno != EINTR) {
                                p->status = 127 << 8;
                                break;
                        }
                }
                p->reaped = 1;
        }
        if (WIFEXITED(p->status))
                return WEXITSTATUS(p->status);
        if (WIFSIGNALED(p->status))
                return 128 + WTERMSIG(p->status);
        return 127;
}

void proc_kill(struct proc *p, int sig)
{
        if (p->pid > 0 && !p->reaped)
                (void)kill(p->pid, sig);
}

void proc_done(struct proc *p)
{
        if (p->out_fd >= 0)
                close(p->out_fd);
        if (p->err_fd >= 0)
                close(p->err_fd);
        p->out_fd = p->err_fd = -1;
}

const char *proc_tail(struct proc *p, unsigned nlines)
{
        size_t end = p->tail_len;
        while (end > 0 && p->tail[end - 1] == '\n')
                end--;
        p->tail[end] = '\0';
        size_t start = end;
        unsigned seen = 0;
        while (start > 0) {
                if (p->tail[start - 1] == '\n' && ++seen == nlines)
                        break;
                start--;
        }
        return p->tail + start;
}

int proc_capture(char *const argv[], size_t max, char **ret_out, const char **ret_err)
{
        static struct proc p;
        struct {
                char *p;
                size_t len;
        } o = {0};
        int r = proc_spawn(&p, argv);
        if (r < 0)
                return r;
        o.p = malloc(max + 1);
        if (!o.p) {
                proc_kill(&p, SIGKILL);
                r = -ENOMEM;
                goto out;
        }
        while (p.out_fd >= 0 || p.err_fd >= 0) {
                struct pollfd pf[2] = {{.fd = p.out_fd, .events = POLLIN},
                                       {.fd = p.err_fd, .events = POLLIN}};
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        proc_kill(&p, SIGKILL);
                        goto out;
                }
                if (pf[0].revents && p.out_fd >= 0) {
                        for (;;) {
                                /* Room for one byte past max: its arrival is what says the
                                 * output is too long (a cut one would pass for all of it). */
                                ssize_t n = read(p.out_fd, o.p + o.len, max + 1 - o.len);
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0 && errno == EAGAIN)
                                        break;
                                if (n <= 0) {
                                        close(p.out_fd);
                                        p.out_fd = -1;
                                        break;
                                }
                                o.len += (size_t)n;
                                if (o.len > max) {
                                        proc_kill(&p, SIGKILL);
                                        r = -E2BIG;
                                        goto out;
                                }
                        }
                }
                if (pf[1].revents && p.err_fd >= 0)
                        (void)proc_pump(&p, p.err_fd);
        }
        o.p[o.len] = '\0';
        r = proc_reap(&p);
        *ret_out = o.p;
        o.p = NULL;
        *ret_err = proc_tail(&p, 3);
out:
        if (!p.reaped)
                (void)proc_reap(&p);
        proc_done(&p);
        free(o.p);
        return r;
}

int proc_exec_guard(int argc, char **argv)
{
        if (argc < 2)
                return 127;
        char *end;
        long ppid = strtol(argv[0], &end, 10);
        if (*end != '\0')
                return 127;
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The parent may have died before the prctl took effect. */
        if (getppid() != (pid_t)ppid)
                return 127;
        execvp(argv[1], argv + 1);
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 127;
}
