/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for test_fill_wait.py. While the file named by SLUICE_SLOW_SYNC_FLAG
 * exists, fsync(2) and fdatasync(2) each take SLUICE_SLOW_SYNC_MS longer, as on a disk that is
 * busy with other writes: a fill's commit (its temp file's fsync, then LMDB's) is slow while
 * its body is already whole.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static const char *flag;
static long delay_ms;

__attribute__((constructor)) static void shim_init(void)
{
        const char *ms = getenv("SLUICE_SLOW_SYNC_MS");

        real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
        real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
        flag = getenv("SLUICE_SLOW_SYNC_FLAG");
        delay_ms = ms ? strtol(ms, NULL, 10) : 0;
}

static void slow(void)
{
        struct timespec ts;

        if (!flag || delay_ms <= 0 || access(flag, F_OK) != 0)
                return;
        ts.tv_sec = delay_ms / 1000;
        ts.tv_nsec = (delay_ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0)
                ;
}

int fsync(int fd)
{
        slow();
        return real_fsync(fd);
}

int fdatasync(int fd)
{
        slow();
        return real_fdatasync(fd);
}
