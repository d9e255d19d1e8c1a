/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for test_damage.py. While the file named by SLUICE_SHIM_FLAG exists, fstat
 * reports a file of SLUICE_SHIM_FROM bytes as SLUICE_SHIM_TO bytes: the edge then takes a file
 * that shrank before it looked for one that shrinks between its look and its read, a window
 * too narrow for a test to hit from outside.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_fstat)(int, struct stat *);
static const char *flag;
static long long from = -1, to = -1;

__attribute__((constructor)) static void shim_init(void)
{
        const char *f = getenv("SLUICE_SHIM_FROM"), *t = getenv("SLUICE_SHIM_TO");

        real_fstat = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
        flag = getenv("SLUICE_SHIM_FLAG");
        if (f && t) {
                from = atoll(f);
                to = atoll(t);
        }
}

int fstat(int fd, struct stat *sb)
{
        int r = real_fstat(fd, sb);

        if (r == 0 && S_ISREG(sb->st_mode) && sb->st_size == from && flag &&
            access(flag, F_OK) == 0)
                sb->st_size = to;
        return r;
}
