/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/*
 * The descriptor limit at start-up: the soft RLIMIT_NOFILE is raised to the hard one (a login
 * shell's soft limit, often 1024, is under what one worker's file cache alone may hold). Then
 * a warning when even the hard limit is under 'caches' (the workers' file caches and a margin
 * for the rest: hot files would be reopened for requests, their cached descriptors giving way,
 * store.md), and a note when it is under 'caches' + 'conns' (the connections allowed: past
 * the limit, accepts wait for descriptors). An operator who wants a lower limit lowers the
 * hard one. Before the sandbox filter (it takes no setrlimit).
 */
void nofile_raise(uint64_t caches, uint64_t conns);
