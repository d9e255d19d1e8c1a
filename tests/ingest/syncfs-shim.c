/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for tests/ingest/test-cli.py: syncfs fails with EIO, as it does when the
 * kernel could not write back some of the filesystem's dirty pages (a failing disk). Ingest
 * must then publish nothing, since what it wrote may not be on the disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Ingest alone gets the shim: the processes it starts (ffprobe, ffmpeg, through /bin/sh or
 * not) run without it. In a sanitizer build the shim needs the sanitizer's runtime, which
 * they do not have: loading it there fails before they run. */
__attribute__((constructor)) static void keep_to_ingest(void)
{
        (void)unsetenv("LD_PRELOAD");
}

int syncfs(int fd)
{
        (void)fd;
        errno = EIO;
        return -1;
}
