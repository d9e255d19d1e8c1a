/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Write all of p[0..n) to fd, going on after short writes and EINTR. Returns 0, or -errno
 * from the write that failed (some of p may have been written before it).
 */
int fd_write_all(int fd, const void *p, size_t n);
