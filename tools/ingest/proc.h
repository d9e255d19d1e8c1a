/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Child processes (ffmpeg, ffprobe) started with posix_spawn, never through a shell.
 * stdout is a pipe carrying ffmpeg's "-progress pipe:1" key=value lines; stderr is a pipe
 * whose last few KiB are kept to show why a run failed.
 *
 * Children are started through "sluice-ingest --exec-guard PPID PROGRAM ARGS...", which
 * asks the kernel to kill the child when ingest dies (PR_SET_PDEATHSIG) and then execs
 * PROGRAM: a killed ingest must not leave encoders writing into a temporary directory.
 */

#include <stddef.h>
#include <sys/types.h>

#define PROC_TAIL_MAX 4096

struct proc {
        pid_t pid;
        int out_fd, err_fd; /* -1 once at EOF */
        char line[512];
        size_t line_len;
        char tail[PROC_TAIL_MAX];
        size_t tail_len;
        double out_time; /* seconds of output written, from out_time_us */
        double speed;
        int status; /* wait status once reaped */
        int reaped;
};

/* The path of our own executable, used as the exec guard; set once at start-up. */
extern const char *proc_guard_exe;

/*
 * proc_spawn: start argv[0] (looked up in PATH) with stdin from /dev/null and stdout/stderr
 * piped as above. Returns 0 or -errno (-EINVAL for an empty argv or program name). On
 * success p->pid is set and the fds are non-blocking.
 */
int proc_spawn(struct proc *p, char *const argv[]);

/*
 * proc_pump: read what is available on fd (p->out_fd or p->err_fd), update progress or the
 * stderr tail. Returns 1 on EOF (the fd is closed and set to -1), 0 otherwise, -errno.
 */
int proc_pump(struct proc *p, int fd);

/* proc_reap: wait for p to exit (blocking). Returns its exit code, or 128+signal. */
int proc_reap(struct proc *p);

/* proc_kill: send sig to a running child (no-op once reaped). */
void proc_kill(struct proc *p, int sig);

/* proc_done: close any fds left open. */
void proc_done(struct proc *p);

/* proc_tail: the last nlines lines of p's stderr, pointing into p->tail (NUL-terminated). */
const char *proc_tail(struct proc *p, unsigned nlines);

/*
 * proc_capture: run argv to completion and collect its stdout (at most max bytes) and the
 * tail of its stderr. Returns the exit code (>= 0) or -errno: -E2BIG when stdout runs past
 * max bytes (the child is killed). *ret_out is malloc'd and the caller's, *ret_err points
 * into a static buffer valid until the next call.
 */
int proc_capture(char *const argv[], size_t max, char **ret_out, const char **ret_err);

/* The exit code of a child whose program could not be run (as a shell's). */
#define PROC_EXEC_FAILED 127

/*
 * proc_exec_guard: the child side of the guard (argv after "--exec-guard"). Never returns
 * on success; returns PROC_EXEC_FAILED when the exec fails.
 */
int proc_exec_guard(int argc, char **argv);
