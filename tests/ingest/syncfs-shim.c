/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for tests/ingest/test-cli.py: syncfs fails with EIO, as it does when the
 * kernel could not write back some of the filesystem's dirty pages (a failing disk). Ingest
 * must then publish nothing, since what it wrote may not be on the disk.
 */
#include <errno.h>
#include <unistd.h>

int syncfs(int fd)
{
        (void)fd;
        errno = EIO;
        return -1;
}
