/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

/*
 * Take an exclusive flock() on path, created with mode when missing (never through a
 * symlink), without waiting: held until *ret_fd is closed (by exit at the latest, so a killed
 * process leaves no stale lock). Returns 0 with *ret_fd, -EBUSY while another open file
 * description holds it, or -errno.
 */
int lock_file_take(const char *path, mode_t mode, int *ret_fd);
